#include "streams/catalog.h"

#include <gtest/gtest.h>

#include "core/id_hash.h"

namespace streamrec {
namespace {

TEST(ParseCatalogItemTest, ParsesFieldsAndDefaults) {
  auto item = ParseCatalogItem(
      R"({"item_id":"sku-9","category":"shoes","brand":"acme","available":false,"x":1,"title":"T\u00e9"})");
  ASSERT_TRUE(item.ok()) << item.status().ToString();
  EXPECT_EQ(item->item_id, "sku-9");
  EXPECT_EQ(item->item_key, HashId("sku-9"));
  EXPECT_EQ(item->category, "shoes");
  EXPECT_EQ(item->brand, "acme");
  EXPECT_FALSE(item->available);
  EXPECT_EQ(item->title, "T\xC3\xA9");

  auto minimal = ParseCatalogItem(R"({"item_id":"a"})");
  ASSERT_TRUE(minimal.ok());
  EXPECT_TRUE(minimal->available);
  EXPECT_EQ(minimal->category, "");
  EXPECT_EQ(minimal->title, "");

  auto nulls = ParseCatalogItem(R"({"item_id":"a","category":null,"available":null})");
  ASSERT_TRUE(nulls.ok()) << nulls.status().ToString();
  EXPECT_TRUE(nulls->available);
}

TEST(ParseCatalogItemTest, RejectsBadInput) {
  EXPECT_EQ(ParseCatalogItem("{").status().message(), "items message is not valid JSON");
  EXPECT_EQ(ParseCatalogItem("[1]").status().message(), "items message is not a JSON object");
  EXPECT_EQ(ParseCatalogItem(R"({"category":"x"})").status().message(),
            "items message has no item_id");
  EXPECT_EQ(ParseCatalogItem(R"({"item_id":7})").status().message(), "item_id must be a string");
  EXPECT_EQ(ParseCatalogItem(R"({"item_id":""})").status().message(), "item_id is empty");
  EXPECT_EQ(ParseCatalogItem(R"({"item_id":"a","available":"yes"})").status().message(),
            "available must be a bool");
  EXPECT_EQ(ParseCatalogItem(R"({"item_id":"a","brand":3})").status().message(),
            "brand must be a string");
  EXPECT_EQ(ParseCatalogItem(R"({"item_id":"a","title":[]})").status().message(),
            "title must be a string");
  const std::string long_id(300, 'x');
  EXPECT_EQ(ParseCatalogItem(R"({"item_id":")" + long_id + R"("})").status().message(),
            "item_id is 300 bytes, the limit is 256");
}

}  // namespace
}  // namespace streamrec
