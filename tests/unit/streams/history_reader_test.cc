#include "streams/history_reader.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "core/id_hash.h"
#include "streams/catalog.h"
#include "tests/support/test_data.h"

namespace streamrec {
namespace {

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/streamrec-history-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }

 private:
  std::string path_;
};

HistoryReaderOptions Format(HistoryFormat f) {
  HistoryReaderOptions o;
  o.format = f;
  return o;
}

TEST(HistoryReader, MovieLensSecondsBecomeMilliseconds) {
  TempDir dir;
  const std::string p = dir.Write(
      "u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\r\n\n22\t377\t1\t878887116\n");
  auto events = ReadHistoryFile(p, Format(HistoryFormat::kMovieLens), false, false);
  ASSERT_TRUE(events.ok()) << events.status().ToString();
  ASSERT_EQ(events->size(), 3u);
  EXPECT_EQ((*events)[0].user_id, "196");
  EXPECT_EQ((*events)[0].item_id, "242");
  EXPECT_EQ((*events)[0].ts_ms, 881250949000);
  // A rating is a watched film: a purchase (filtered by serving's seen filter).
  EXPECT_EQ((*events)[0].event, EventType::kPurchase);
  EXPECT_EQ((*events)[1].ts_ms, 891717742000);
  EXPECT_EQ((*events)[2].user_id, "22");
  // Sorted by time: 878887116 < 881250949 < 891717742.
  auto sorted = ReadHistoryFile(p, Format(HistoryFormat::kMovieLens), false, true);
  ASSERT_TRUE(sorted.ok());
  EXPECT_EQ((*sorted)[0].user_id, "22");
  EXPECT_EQ((*sorted)[1].user_id, "196");
  EXPECT_EQ((*sorted)[2].user_id, "186");
}

TEST(HistoryReader, MovieLensRatingEvents) {
  TempDir dir;
  const std::string p = dir.Write(
      "u.data", "1\t1\t1\t881250949\n1\t2\t3\t881250949\n1\t3\t4\t881250949\n1\t4\t5\t881250949\n");
  HistoryReaderOptions o = Format(HistoryFormat::kMovieLens);
  o.movielens_rating_events = true;
  auto events = ReadHistoryFile(p, o, false, false);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ((*events)[0].event, EventType::kView);
  EXPECT_EQ((*events)[1].event, EventType::kClick);
  EXPECT_EQ((*events)[2].event, EventType::kAddToCart);
  EXPECT_EQ((*events)[3].event, EventType::kPurchase);
}

TEST(HistoryReader, BadLinesNameFileAndLineAndSkipBadContinues) {
  TempDir dir;
  const std::string p = dir.Write(
      "u.data",
      "1\t1\t3\t881250949\n1\t2\t3\n1\t3\tx\t881250949\n1\t4\t3\t12\n1\t5\t3\t881250950\n");
  auto strict = ReadHistoryFile(p, Format(HistoryFormat::kMovieLens), false, false);
  ASSERT_FALSE(strict.ok());
  EXPECT_EQ(
      strict.status().message(),
      p + ":2: bad_line: expected 4 tab-separated fields (user item rating timestamp), got 3");

  auto reader = HistoryReader::Open(p, Format(HistoryFormat::kMovieLens));
  ASSERT_TRUE(reader.ok());
  ClickEvent e;
  ASSERT_TRUE((*reader)->Next(&e).value());
  EXPECT_EQ(
      (*reader)->Next(&e).status().message(),
      p + ":2: bad_line: expected 4 tab-separated fields (user item rating timestamp), got 3");
  EXPECT_EQ((*reader)->line(), "1\t2\t3");
  EXPECT_EQ((*reader)->Next(&e).status().message(),
            p + ":3: bad_line: rating \"x\" is not an integer");
  // 12 s after the epoch is before 2000: the clicks validation applies.
  EXPECT_EQ((*reader)->Next(&e).status().message(),
            p + ":4: bad_timestamp: ts 12000 is before 1990-01-01 (631152000000 ms); ts is epoch "
                "milliseconds");
  ASSERT_TRUE((*reader)->Next(&e).value());
  EXPECT_EQ(e.item_id, "5");
  EXPECT_EQ((*reader)->line_number(), 5);
  EXPECT_FALSE((*reader)->Next(&e).value());

  HistoryReadStats stats;
  auto skipped = ReadHistoryFile(p, Format(HistoryFormat::kMovieLens), true, false, &stats);
  ASSERT_TRUE(skipped.ok());
  EXPECT_EQ(skipped->size(), 2u);
  EXPECT_EQ(stats.events, 2);
  EXPECT_EQ(stats.skipped, 3);
  EXPECT_NE(stats.first_skipped.message().find(":2:"), std::string::npos);
}

TEST(HistoryReader, JsonlUsesTheClickParser) {
  TempDir dir;
  const std::string p = dir.Write(
      "h.jsonl",
      R"({"user_id":"u1","item_id":"i1","event":"view","ts":1732270000001,"session_id":"s"})"
      "\n"
      R"({"user_id":"u1","item_id":"i1","event":"like","ts":1732270000002})"
      "\n");
  auto reader = HistoryReader::Open(p, Format(HistoryFormat::kJsonl));
  ASSERT_TRUE(reader.ok());
  ClickEvent e;
  ASSERT_TRUE((*reader)->Next(&e).value());
  EXPECT_EQ(e.session_id, "s");
  EXPECT_EQ(e.event, EventType::kView);
  EXPECT_EQ(
      (*reader)->Next(&e).status().message(),
      p + R"(:2: unknown_event_type: event "like" is not one of view, click, add_to_cart, purchase)");
}

TEST(HistoryReader, CsvWithAndWithoutHeader) {
  TempDir dir;
  const std::string plain = dir.Write(
      "a.csv", "u1,i1,click,1732270000000\n\"u,2\",\"i\"\"2\",purchase,1732270000001,s9\n");
  auto a = ReadHistoryFile(plain, Format(HistoryFormat::kCsv), false, false);
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_EQ(a->size(), 2u);
  EXPECT_EQ((*a)[1].user_id, "u,2");
  EXPECT_EQ((*a)[1].item_id, "i\"2");
  EXPECT_EQ((*a)[1].event, EventType::kPurchase);
  EXPECT_EQ((*a)[1].session_id, "s9");

  const std::string headed =
      dir.Write("b.csv", "user_id,price,ts,event,item_id\nu7,3.5,1732270000005,view,i8\n");
  auto b = ReadHistoryFile(headed, Format(HistoryFormat::kCsv), false, false);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  ASSERT_EQ(b->size(), 1u);
  EXPECT_EQ((*b)[0].user_id, "u7");
  EXPECT_EQ((*b)[0].item_id, "i8");
  EXPECT_EQ((*b)[0].ts_ms, 1732270000005);
  EXPECT_EQ((*b)[0].event, EventType::kView);

  const std::string bad =
      dir.Write("c.csv", "u1,i1,click,soon\nu1,,click,1732270000000\n\"open,i,click,1\n");
  auto reader = HistoryReader::Open(bad, Format(HistoryFormat::kCsv));
  ASSERT_TRUE(reader.ok());
  ClickEvent e;
  EXPECT_EQ((*reader)->Next(&e).status().message(),
            bad + ":1: wrong_type: ts \"soon\" is not an integer (epoch milliseconds)");
  EXPECT_EQ((*reader)->Next(&e).status().message(), bad + ":2: empty_id: item_id is empty");
  EXPECT_EQ((*reader)->Next(&e).status().message(), bad + ":3: bad_line: unterminated quote");
}

TEST(HistoryReader, MissingFileAndFormatNames) {
  EXPECT_EQ(HistoryReader::Open("/nonexistent/x", Format(HistoryFormat::kCsv)).status().code(),
            Status::Code::kIoError);
  EXPECT_EQ(ParseHistoryFormat("movielens").value(), HistoryFormat::kMovieLens);
  EXPECT_EQ(ParseHistoryFormat("jsonl").value(), HistoryFormat::kJsonl);
  EXPECT_EQ(ParseHistoryFormat("csv").value(), HistoryFormat::kCsv);
  EXPECT_FALSE(ParseHistoryFormat("parquet").ok());
}

TEST(Catalog, MovieLensItemsFirstGenreIsTheCategory) {
  const auto ml = testing::MovieLensDir();
  if (!ml) GTEST_SKIP() << testing::MissingTestData("ml-100k");
  auto items = ReadMovieLensItems(*ml + "/u.item");
  ASSERT_TRUE(items.ok()) << items.status().ToString();
  // The shared copy of u.item has 1681 lines (item 267, "unknown", is absent).
  ASSERT_EQ(items->size(), 1681u);
  // 1|Toy Story (1995)|...|0|0|0|1|1|1|0|... → Animation (the first set flag).
  EXPECT_EQ((*items)[0].item_id, "1");
  EXPECT_EQ((*items)[0].title, "Toy Story (1995)");
  EXPECT_EQ((*items)[0].category, "Animation");
  // 2|GoldenEye (1995)|...|0|1|1|0|... → Action.
  EXPECT_EQ((*items)[1].category, "Action");
  EXPECT_EQ((*items)[2].category, "Thriller");
  for (const auto& item : *items) {
    auto back = ParseCatalogItem(EncodeCatalogItem(item));  // titles are valid UTF-8 now
    ASSERT_TRUE(back.ok()) << item.item_id << ": " << back.status().ToString();
    EXPECT_EQ(*back, item);
  }
}

TEST(Catalog, EncodeParse) {
  CatalogItem item{"sku-1", "shoes", "acme", false, "", HashId("sku-1")};
  EXPECT_EQ(EncodeCatalogItem(item),
            R"({"item_id":"sku-1","category":"shoes","brand":"acme","available":false})");
  EXPECT_EQ(ParseCatalogItem(EncodeCatalogItem(item)).value(), item);
  EXPECT_FALSE(ParseCatalogItem(R"({"category":"x"})").ok());
  EXPECT_FALSE(ParseCatalogItem("[").ok());
}

}  // namespace
}  // namespace streamrec
