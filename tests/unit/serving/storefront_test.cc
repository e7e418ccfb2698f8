#include "serving/storefront.h"

#include <string>

#include <gtest/gtest.h>

#include "tests/support/subprocess.h"

namespace streamrec::serving {
namespace {

TEST(StorefrontTest, EveryPageFileIsEmbeddedByteForByte) {
  for (const char* name : {"index.html", "app.js", "style.css"}) {
    const EmbeddedFile* file = FindStorefrontFile(name);
    ASSERT_NE(file, nullptr) << name;
    EXPECT_EQ(file->path, name);
    EXPECT_EQ(std::string(file->bytes), streamrec::testing::ReadFile(std::string(STREAMREC_SOURCE_DIR) +
                                                                     "/serving/storefront/" + name))
        << name;
  }
  EXPECT_EQ(StorefrontFiles().size(), 3u);
  EXPECT_EQ(FindStorefrontFile("nope.js"), nullptr);
  EXPECT_EQ(FindStorefrontFile(""), nullptr);
  EXPECT_EQ(FindStorefrontFile("../index.html"), nullptr);
}

TEST(StorefrontTest, ContentTypesByExtension) {
  EXPECT_EQ(StorefrontContentType("index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(StorefrontContentType("app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(StorefrontContentType("style.css"), "text/css; charset=utf-8");
  EXPECT_EQ(StorefrontContentType("logo.svg"), "image/svg+xml");
  EXPECT_EQ(StorefrontContentType("shot.png"), "image/png");
  EXPECT_EQ(StorefrontContentType("data.json"), "application/json");
  EXPECT_EQ(StorefrontContentType("archive.tar"), "application/octet-stream");
  EXPECT_EQ(StorefrontContentType("js"), "application/octet-stream");
}

}  // namespace
}  // namespace streamrec::serving
