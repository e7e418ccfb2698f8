// Parse + validate throughput of ClickEventParser against simdjson's own DOM parse of the
// same lines, in the same run (one core). Lines come from the synthetic generator (a
// realistic mix of ids and sessions) plus a 1% share of invalid lines.
#include <string>
#include <vector>

#include <benchmark/benchmark.h>
#include <simdjson.h>

#include "streams/click_event.h"
#include "streams/synthetic_clicks.h"

namespace {

const std::vector<std::string>& Lines() {
  static const std::vector<std::string> lines = [] {
    std::vector<std::string> out;
    streamrec::SyntheticClickGenerator g{streamrec::SyntheticOptions()};
    for (int i = 0; i < 100000; ++i) {
      if (i % 100 == 99) {
        out.push_back(
            R"({"user_id":"user-1","item_id":"item-1","event":"like","ts":1732270000000})");
      } else {
        out.push_back(streamrec::EncodeClickEvent(g.Next()));
      }
    }
    return out;
  }();
  return lines;
}

int64_t TotalBytes() {
  int64_t n = 0;
  for (const auto& l : Lines()) n += static_cast<int64_t>(l.size());
  return n;
}

// ClickEventParser: copy into a padded buffer, DOM parse, field extraction, validation,
// id hashing, std::string copies of the ids.
void BM_ClickEventParseValidate(benchmark::State& state) {
  const auto& lines = Lines();
  streamrec::ClickEventParser parser;
  int64_t ok = 0;
  for (auto _ : state) {
    for (const auto& line : lines) {
      streamrec::ClickParseResult r = parser.Parse(line);
      ok += r.ok();
      benchmark::DoNotOptimize(r);
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(lines.size()));
  state.SetBytesProcessed(state.iterations() * TotalBytes());
  state.counters["accepted_share"] =
      static_cast<double>(ok) / (static_cast<double>(state.iterations()) * lines.size());
}
BENCHMARK(BM_ClickEventParseValidate)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// simdjson's raw DOM parse of the same lines, already padded (no copy), touching nothing:
// the floor for any parser built on it.
void BM_SimdjsonRawParse(benchmark::State& state) {
  std::vector<simdjson::padded_string> lines;
  for (const auto& l : Lines()) lines.emplace_back(l);
  simdjson::dom::parser parser;
  for (auto _ : state) {
    for (const auto& line : lines) {
      simdjson::dom::element doc;
      auto err = parser.parse(line).get(doc);
      benchmark::DoNotOptimize(err);
      benchmark::DoNotOptimize(doc);
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(lines.size()));
  state.SetBytesProcessed(state.iterations() * TotalBytes());
}
BENCHMARK(BM_SimdjsonRawParse)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace

BENCHMARK_MAIN();
