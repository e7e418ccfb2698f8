#include "streams/catalog.h"

#include <fstream>

#include <simdjson.h>

#include "streams/json_writer.h"

namespace streamrec {

std::string EncodeCatalogItem(const CatalogItem& item) {
  std::string out = "{\"item_id\":";
  AppendJsonString(&out, item.item_id);
  out += ",\"category\":";
  AppendJsonString(&out, item.category);
  out += ",\"brand\":";
  AppendJsonString(&out, item.brand);
  out += ",\"available\":";
  out += item.available ? "true" : "false";
  if (!item.title.empty()) {
    out += ",\"title\":";
    AppendJsonString(&out, item.title);
  }
  out += "}";
  return out;
}

Result<CatalogItem> ParseCatalogItem(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(json.data(), json.size()).get(root); err) {
    return Status::InvalidArgument(std::string("catalog item: not valid JSON: ") +
                                   simdjson::error_message(err));
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) return Status::InvalidArgument("catalog item: not an object");
  CatalogItem item;
  std::string_view s;
  if (obj["item_id"].get_string().get(s) || s.empty()) {
    return Status::InvalidArgument("catalog item: item_id missing, empty or not a string");
  }
  item.item_id = std::string(s);
  if (!obj["category"].get_string().get(s)) item.category = std::string(s);
  if (!obj["brand"].get_string().get(s)) item.brand = std::string(s);
  if (!obj["title"].get_string().get(s)) item.title = std::string(s);
  bool available = true;
  if (!obj["available"].get_bool().get(available)) item.available = available;
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
