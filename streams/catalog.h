#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "streams/click_event.h"

namespace streamrec {

// The one definition of the compacted `items` topic's record (key item_id), written by
// `streamrec replay`/the generator and read by the trainer and serving:
// {"item_id":..,"category":..,"brand":..,"available":true[,"title":..]}.
struct CatalogItem {
  std::string item_id;
  std::string category;  // may be empty
  std::string brand;     // may be empty
  bool available = true;
  std::string title;      // optional, UTF-8; omitted from JSON when empty
  uint64_t item_key = 0;  // HashId(item_id), set by the parser and the file readers

  friend bool operator==(const CatalogItem& a, const CatalogItem& b) {
    return a.item_id == b.item_id && a.category == b.category && a.brand == b.brand &&
           a.available == b.available && a.title == b.title && a.item_key == b.item_key;
  }
};

// The longest item id an `items` record may carry: the same limit as `clicks`.
inline constexpr size_t kMaxItemIdBytes = kMaxIdBytes;

std::string EncodeCatalogItem(const CatalogItem& item);
// Parses an `items` value strictly: item_id a non-empty string of at most
// kMaxItemIdBytes; category, brand and title strings (or null) when present; available a
// bool (or null) when present; unknown fields ignored. Errors say which field is wrong.
// Thread-safe.
Result<CatalogItem> ParseCatalogItem(std::string_view json);

// The genres of MovieLens-100k in u.item column order (u.genre).
const std::vector<std::string>& MovieLensGenres();

// Reads a MovieLens `u.item` file ("id|title|release|video release|url|19 genre flags",
// ISO-8859-1): the category is the first genre whose flag is 1 ("unknown" when none), the
// brand is empty, the title is converted to UTF-8. Errors name the file and line.
Result<std::vector<CatalogItem>> ReadMovieLensItems(const std::string& path);

}  // namespace streamrec
