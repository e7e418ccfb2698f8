#include "streams/catalog.h"

#include <fstream>

#include <simdjson.h>

#include "core/id_hash.h"
#include "core/json_writer.h"

namespace streamrec {

std::string EncodeCatalogItem(const CatalogItem& item) {
  JsonWriter w;
  w.BeginObject()
      .Key("item_id").String(item.item_id)
      .Key("category").String(item.category)
      .Key("brand").String(item.brand)
      .Key("available").Bool(item.available);
  if (!item.title.empty()) w.Key("title").String(item.title);
  w.EndObject();
  return w.Release();
}

namespace {

// Optional string field: absent or null is fine, any other type is an error.
Status GetOptionalString(simdjson::dom::object& obj, const char* name, std::string* out) {
  simdjson::dom::element el;
  if (obj[name].get(el) != simdjson::SUCCESS || el.is_null()) return Status::Ok();
  std::string_view sv;
  if (el.get(sv) != simdjson::SUCCESS) {
    return Status::InvalidArgument(std::string(name) + " must be a string");
  }
  *out = std::string(sv);
  return Status::Ok();
}

}  // namespace

Result<CatalogItem> ParseCatalogItem(std::string_view json) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS) {
    return Status::InvalidArgument("items message is not valid JSON");
  }
  simdjson::dom::object obj;
  if (doc.get(obj) != simdjson::SUCCESS) {
    return Status::InvalidArgument("items message is not a JSON object");
  }
  CatalogItem item;
  simdjson::dom::element id_el;
  if (obj["item_id"].get(id_el) != simdjson::SUCCESS) {
    return Status::InvalidArgument("items message has no item_id");
  }
  std::string_view id;
  if (id_el.get(id) != simdjson::SUCCESS) return Status::InvalidArgument("item_id must be a string");
  if (id.empty()) return Status::InvalidArgument("item_id is empty");
  if (id.size() > kMaxItemIdBytes) {
    return Status::InvalidArgument("item_id is " + std::to_string(id.size()) +
                                   " bytes, the limit is " + std::to_string(kMaxItemIdBytes));
  }
  item.item_id = std::string(id);
  item.item_key = HashId(item.item_id);
  STREAMREC_RETURN_IF_ERROR(GetOptionalString(obj, "category", &item.category));
  STREAMREC_RETURN_IF_ERROR(GetOptionalString(obj, "brand", &item.brand));
  STREAMREC_RETURN_IF_ERROR(GetOptionalString(obj, "title", &item.title));
  simdjson::dom::element avail;
  if (obj["available"].get(avail) == simdjson::SUCCESS && !avail.is_null()) {
    bool b = true;
    if (avail.get(b) != simdjson::SUCCESS) return Status::InvalidArgument("available must be a bool");
    item.available = b;
  }
  return item;
}

const std::vector<std::string>& MovieLensGenres() {
  static const std::vector<std::string> genres = {
      "unknown",     "Action", "Adventure", "Animation", "Children's", "Comedy",  "Crime",
      "Documentary", "Drama",  "Fantasy",   "Film-Noir", "Horror",     "Musical", "Mystery",
      "Romance",     "Sci-Fi", "Thriller",  "War",       "Western"};
  return genres;
}

namespace {

std::string Latin1ToUtf8(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (char ch : in) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x80) {
      out.push_back(ch);
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

std::vector<std::string_view> Split(std::string_view line, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = line.find(sep, start);
    if (pos == std::string_view::npos) {
      out.push_back(line.substr(start));
      return out;
    }
    out.push_back(line.substr(start, pos - start));
    start = pos + 1;
  }
}

}  // namespace

Result<std::vector<CatalogItem>> ReadMovieLensItems(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot open " + path);
  const auto& genres = MovieLensGenres();
  std::vector<CatalogItem> items;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto fields = Split(line, '|');
    if (fields.size() != 5 + genres.size()) {
      return Status::InvalidArgument(path + ":" + std::to_string(line_no) + ": expected " +
                                     std::to_string(5 + genres.size()) +
                                     " '|'-separated fields, got " + std::to_string(fields.size()));
    }
    if (fields[0].empty()) {
      return Status::InvalidArgument(path + ":" + std::to_string(line_no) + ": empty item id");
    }
    CatalogItem item;
    item.item_id = std::string(fields[0]);
    item.item_key = HashId(item.item_id);
    item.title = Latin1ToUtf8(fields[1]);
    item.category = "unknown";
    bool found = false;
    for (size_t g = 0; g < genres.size(); ++g) {
      const std::string_view flag = fields[5 + g];
      if (flag != "0" && flag != "1") {
        return Status::InvalidArgument(path + ":" + std::to_string(line_no) + ": genre flag " +
                                       genres[g] + " is \"" + std::string(flag) +
                                       "\", expected 0 or 1");
      }
      if (flag == "1" && !found) {
        item.category = genres[g];
        found = true;
      }
    }
    items.push_back(std::move(item));
  }
  if (in.bad()) return Status::IoError("error reading " + path);
  return items;
}

}  // namespace streamrec
