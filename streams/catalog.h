#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace streamrec {

// One entry of the compacted `items` topic (DESIGN §2), key item_id:
// {"item_id":..,"category":..,"brand":..,"available":true[,"title":..]}.
struct CatalogItem {
  std::string item_id;
  std::string category;  // may be empty
  std::string brand;     // may be empty
  bool available = true;
  std::string title;  // optional, UTF-8; omitted from JSON when empty

  friend bool operator==(const CatalogItem& a, const CatalogItem& b) {
    return a.item_id == b.item_id && a.category == b.category && a.brand == b.brand &&
           a.available == b.available && a.title == b.title;
  }
};

std::string EncodeCatalogItem(const CatalogItem& item);
// Parses an `items` value; item_id is required and non-empty, the rest optional.
Result<CatalogItem> ParseCatalogItem(std::string_view json);

// The genres of MovieLens-100k in u.item column order (u.genre).
const std::vector<std::string>& MovieLensGenres();

// Reads a MovieLens `u.item` file ("id|title|release|video release|url|19 genre flags",
// ISO-8859-1): the category is the first genre whose flag is 1 ("unknown" when none), the
// brand is empty, the title is converted to UTF-8. Errors name the file and line.
Result<std::vector<CatalogItem>> ReadMovieLensItems(const std::string& path);

}  // namespace streamrec
