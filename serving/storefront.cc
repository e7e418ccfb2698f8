#include "serving/storefront.h"

namespace streamrec::serving {
namespace {

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

const EmbeddedFile* FindStorefrontFile(std::string_view path) {
  for (const EmbeddedFile& file : StorefrontFiles()) {
    if (file.path == path) return &file;
  }
  return nullptr;
}

std::string_view StorefrontContentType(std::string_view path) {
  if (EndsWith(path, ".html")) return "text/html; charset=utf-8";
  if (EndsWith(path, ".js")) return "text/javascript; charset=utf-8";
  if (EndsWith(path, ".css")) return "text/css; charset=utf-8";
  if (EndsWith(path, ".svg")) return "image/svg+xml";
  if (EndsWith(path, ".png")) return "image/png";
  if (EndsWith(path, ".json")) return "application/json";
  return "application/octet-stream";
}

}  // namespace streamrec::serving
