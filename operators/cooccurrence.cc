#include "operators/cooccurrence.h"

#include <algorithm>
#include <cmath>

#include "core/byte_codec.h"

namespace streamrec::operators {
namespace {
constexpr uint8_t kCoocDeltaFormat = 2;
}  // namespace

double EventWeights::Of(EventType type) const {
  switch (type) {
    case EventType::kView: return view;
    case EventType::kClick: return click;
    case EventType::kAddToCart: return add_to_cart;
    case EventType::kPurchase: return purchase;
  }
  return click;
}

Result<EventWeights> EventWeights::FromConfig(const Config& config) {
  EventWeights w;
  struct Field {
    const char* key;
    double* value;
  } fields[] = {{"operators.weights.view", &w.view},
                {"operators.weights.click", &w.click},
                {"operators.weights.add_to_cart", &w.add_to_cart},
                {"operators.weights.purchase", &w.purchase}};
  for (auto& f : fields) {
    auto v = config.GetDouble(f.key, *f.value);
    if (!v.ok()) return v.status();
    if (!(*v >= 0) || !std::isfinite(*v)) {
      return Status::InvalidArgument(std::string(f.key) + " must be a finite number >= 0");
    }
    *f.value = *v;
  }
  return w;
}

void GeneratePairs(const std::vector<WindowEntry>& window_before, uint64_t item_key,
                   int64_t ts_ms, EventType event, const CoocOptions& options,
                   const std::function<void(uint64_t, uint64_t, double)>& emit) {
  const double base = options.weights.Of(event);
  if (base == 0) return;
  for (const auto& e : window_before) {
    if (e.item_key == item_key) continue;
    double w = base;
    if (options.half_life_s > 0) {
      const double gap_s = std::abs(static_cast<double>(ts_ms - e.ts_ms)) / 1000.0;
      w *= std::exp2(-gap_s / options.half_life_s);
    }
    emit(item_key, e.item_key, w);
    emit(e.item_key, item_key, w);
  }
}

void CoocAggregator::AddEvent(uint64_t item_key, std::string_view item_id, double weight,
                              int64_t ts_ms) {
  auto& c = counts_[item_key];
  c.item_key = item_key;
  c.weight += weight;
  c.occurrences += 1;
  c.last_ts_ms = std::max(c.last_ts_ms, ts_ms);
  weight_ += weight;
  ++events_;
  NoteId(item_key, item_id);
}

void CoocAggregator::AddPair(uint64_t a, uint64_t b, double weight) {
  auto& m = pairs_[a];
  auto [it, inserted] = m.emplace(b, weight);
  if (inserted) {
    ++num_pairs_;
  } else {
    it->second += weight;
  }
}

void CoocAggregator::NoteId(uint64_t key, std::string_view id) {
  if (ids_.find(key) == ids_.end()) ids_.emplace(key, std::string(id));
}

std::vector<std::vector<CoocDeltaMessage>> CoocAggregator::Drain(int32_t num_partitions,
                                                                 size_t max_pairs_per_message,
                                                                 std::vector<ItemCountDelta>* flush_counts) {
  if (num_partitions < 1) num_partitions = 1;
  if (max_pairs_per_message < 1) max_pairs_per_message = 1;
  std::vector<std::vector<CoocDeltaMessage>> out(static_cast<size_t>(num_partitions));
  if (empty()) return out;

  auto sorted = [](const std::unordered_map<uint64_t, ItemCountDelta>& m) {
    std::vector<ItemCountDelta> v;
    v.reserve(m.size());
    for (const auto& [k, c] : m) v.push_back(c);
    std::sort(v.begin(), v.end(),
              [](const ItemCountDelta& x, const ItemCountDelta& y) { return x.item_key < y.item_key; });
    return v;
  };
  const std::vector<ItemCountDelta> counts = sorted(counts_);
  if (flush_counts != nullptr) *flush_counts = counts;
  std::vector<uint64_t> items;
  items.reserve(pairs_.size());
  for (auto& [a, m] : pairs_) items.push_back(a);
  std::sort(items.begin(), items.end());

  auto id_of = [this](uint64_t k) -> const std::string& {
    static const std::string kEmpty;
    auto it = ids_.find(k);
    return it == ids_.end() ? kEmpty : it->second;
  };

  // Current (last) message per partition, with the ids it already carries.
  struct Open {
    CoocDeltaMessage* msg = nullptr;
    size_t pairs = 0;
    std::unordered_map<uint64_t, bool> has_id;
  };
  std::vector<Open> open(static_cast<size_t>(num_partitions));
  auto start = [&](int32_t p) -> Open& {
    auto& list = out[static_cast<size_t>(p)];
    list.emplace_back();
    list.back().num_item_partitions = num_partitions;
    Open& o = open[static_cast<size_t>(p)];
    o.msg = &list.back();
    o.pairs = 0;
    o.has_id.clear();
    return o;
  };
  auto note = [&](Open& o, uint64_t k) {
    if (o.has_id.emplace(k, true).second) o.msg->ids.emplace_back(k, id_of(k));
  };

  for (int32_t p = 0; p < num_partitions; ++p) {
    Open& o = start(p);
    o.msg->flush_events = events_;
    o.msg->flush_weight = weight_;
    for (const auto& c : counts) {
      if (ItemPartition(c.item_key, num_partitions) != p) continue;
      o.msg->counts.push_back(c);
      note(o, c.item_key);
    }
  }
  for (uint64_t a : items) {
    const int32_t p = ItemPartition(a, num_partitions);
    auto& m = pairs_[a];
    std::vector<std::pair<uint64_t, double>> nb(m.begin(), m.end());
    std::sort(nb.begin(), nb.end());
    size_t i = 0;
    while (i < nb.size()) {
      Open* o = &open[static_cast<size_t>(p)];
      if (o->pairs >= max_pairs_per_message) o = &start(p);
      const size_t take = std::min(nb.size() - i, max_pairs_per_message - o->pairs);
      PairGroup g;
      g.item_key = a;
      g.neighbors.assign(nb.begin() + static_cast<long>(i), nb.begin() + static_cast<long>(i + take));
      note(*o, a);
      for (const auto& [b, w] : g.neighbors) note(*o, b);
      o->msg->pairs.push_back(std::move(g));
      o->pairs += take;
      i += take;
    }
  }
  counts_.clear();
  pairs_.clear();
  ids_.clear();
  num_pairs_ = 0;
  events_ = 0;
  weight_ = 0;
  return out;
}

std::string EncodeCoocDeltaMessage(const CoocDeltaMessage& m) {
  ByteWriter w;
  w.Put<uint8_t>(kCoocDeltaFormat);
  w.Put<uint32_t>(static_cast<uint32_t>(m.num_item_partitions));
  w.Put<uint64_t>(m.flush_events);
  w.Put<double>(m.flush_weight);
  w.Put<uint32_t>(static_cast<uint32_t>(m.ids.size()));
  for (const auto& [k, id] : m.ids) {
    w.Put<uint64_t>(k);
    w.PutString(id);
  }
  for (const auto* list : {&m.counts, &m.peer_counts}) {
    w.Put<uint32_t>(static_cast<uint32_t>(list->size()));
    for (const auto& c : *list) {
      w.Put<uint64_t>(c.item_key);
      w.Put<double>(c.weight);
      w.Put<uint64_t>(c.occurrences);
      w.Put<int64_t>(c.last_ts_ms);
    }
  }
  w.Put<uint32_t>(static_cast<uint32_t>(m.pairs.size()));
  for (const auto& g : m.pairs) {
    w.Put<uint64_t>(g.item_key);
    w.Put<uint32_t>(static_cast<uint32_t>(g.neighbors.size()));
    for (const auto& [b, wt] : g.neighbors) {
      w.Put<uint64_t>(b);
      w.Put<double>(wt);
    }
  }
  return w.Take();
}

Result<CoocDeltaMessage> DecodeCoocDeltaMessage(std::string_view bytes) {
  ByteReader r(bytes);
  CoocDeltaMessage m;
  uint8_t format = 0;
  uint32_t parts = 0, n = 0;
  auto bad = [](const char* what) { return Status::Corruption(std::string("cooc delta: ") + what); };
  if (!r.Get(&format) || format != kCoocDeltaFormat) return bad("unknown format");
  if (!r.Get(&parts) || parts < 1 || parts > 100000) return bad("bad partition count");
  m.num_item_partitions = static_cast<int32_t>(parts);
  if (!r.Get(&m.flush_events) || !r.Get(&m.flush_weight)) return bad("truncated");
  // Every entry takes at least 8 bytes, which bounds each count by the message size.
  const uint32_t max_entries = static_cast<uint32_t>(bytes.size() / 8 + 1);
  if (!r.Get(&n) || n > max_entries) return bad("bad id count");
  m.ids.resize(n);
  for (auto& [k, id] : m.ids) {
    if (!r.Get(&k) || !r.GetString(&id, 1 << 16)) return bad("truncated id");
  }
  for (auto* list : {&m.counts, &m.peer_counts}) {
    if (!r.Get(&n) || n > max_entries) return bad("bad count count");
    list->resize(n);
    for (auto& c : *list) {
      if (!r.Get(&c.item_key) || !r.Get(&c.weight) || !r.Get(&c.occurrences) || !r.Get(&c.last_ts_ms)) {
        return bad("truncated count");
      }
    }
  }
  if (!r.Get(&n) || n > max_entries) return bad("bad pair group count");
  m.pairs.resize(n);
  for (auto& g : m.pairs) {
    uint32_t k = 0;
    if (!r.Get(&g.item_key) || !r.Get(&k) || k > max_entries) return bad("truncated pair group");
    g.neighbors.resize(k);
    for (auto& [b, wt] : g.neighbors) {
      if (!r.Get(&b) || !r.Get(&wt)) return bad("truncated pair");
    }
  }
  if (!r.AtEnd()) return bad("trailing bytes");
  return m;
}

}  // namespace streamrec::operators
