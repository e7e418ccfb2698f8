#pragma once

#include <string_view>
#include <vector>

namespace streamrec::serving {

// One file of the storefront page (serving/storefront/), embedded into the binary at
// build time by cmake/EmbedFiles.cmake: nothing is read from disk at run time.
struct EmbeddedFile {
  std::string_view path;   // relative to serving/storefront/, e.g. "app.js"
  std::string_view bytes;  // the file's content, as in the source tree
};

// Every embedded storefront file (generated storefront_files.cc).
const std::vector<EmbeddedFile>& StorefrontFiles();

// The embedded file at `path` (relative, e.g. "index.html"); nullptr when there is none.
const EmbeddedFile* FindStorefrontFile(std::string_view path);

// The Content-Type to serve `path` with, by its extension (text types with
// charset=utf-8); "application/octet-stream" for an extension it does not know.
std::string_view StorefrontContentType(std::string_view path);

}  // namespace streamrec::serving
