#include "runtime/input_position.h"

#include "core/byte_codec.h"
#include "state/exactly_once.h"

namespace streamrec::runtime {
namespace {

constexpr uint8_t kFormat = 1;

}  // namespace

InputPosition::Verdict InputPosition::Admit(const Record& record) {
  if (record.offset >= 0) next_offsets_[record.partition] = record.offset + 1;
  int32_t source = -1;
  uint64_t seq = 0;
  auto header = record.Header(state::kSourceMarkHeader);
  if (!header || !state::ParseSourceMark(*header, &source, &seq)) {
    ++unmarked_;
    ++admitted_;
    return Verdict::kUnmarked;
  }
  uint64_t& mark = marks_[{record.partition, source}];
  if (seq <= mark) {
    ++duplicates_;
    return Verdict::kDuplicate;
  }
  mark = seq;
  ++admitted_;
  return Verdict::kNew;
}

std::optional<int64_t> InputPosition::next_offset(int32_t partition) const {
  auto it = next_offsets_.find(partition);
  if (it == next_offsets_.end()) return std::nullopt;
  return it->second;
}

uint64_t InputPosition::mark(int32_t partition, int32_t source_partition) const {
  auto it = marks_.find({partition, source_partition});
  return it == marks_.end() ? 0 : it->second;
}

std::string InputPosition::Encode() const {
  ByteWriter w;
  w.Put<uint8_t>(kFormat);
  w.Put<uint32_t>(static_cast<uint32_t>(next_offsets_.size()));
  for (const auto& [p, off] : next_offsets_) {
    w.Put<uint32_t>(static_cast<uint32_t>(p));
    w.Put<int64_t>(off);
  }
  w.Put<uint32_t>(static_cast<uint32_t>(marks_.size()));
  for (const auto& [key, seq] : marks_) {
    w.Put<uint32_t>(static_cast<uint32_t>(key.first));
    w.Put<uint32_t>(static_cast<uint32_t>(key.second));
    w.Put<uint64_t>(seq);
  }
  w.Put<int64_t>(duplicates_);
  w.Put<int64_t>(unmarked_);
  w.Put<int64_t>(admitted_);
  return w.Take();
}

Result<InputPosition> InputPosition::Decode(std::string_view bytes) {
  ByteReader r(bytes);
  InputPosition pos;
  uint8_t format = 0;
  uint32_t n = 0;
  if (!r.Get(&format) || format != kFormat) return Status::Corruption("input position: unknown format");
  if (!r.Get(&n) || n > bytes.size()) return Status::Corruption("input position: truncated");
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t p = 0;
    int64_t off = 0;
    if (!r.Get(&p) || !r.Get(&off)) return Status::Corruption("input position: truncated offsets");
    pos.next_offsets_[static_cast<int32_t>(p)] = off;
  }
  if (!r.Get(&n) || n > bytes.size()) return Status::Corruption("input position: truncated");
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t p = 0, s = 0;
    uint64_t seq = 0;
    if (!r.Get(&p) || !r.Get(&s) || !r.Get(&seq)) return Status::Corruption("input position: truncated marks");
    pos.marks_[{static_cast<int32_t>(p), static_cast<int32_t>(s)}] = seq;
  }
  if (!r.Get(&pos.duplicates_) || !r.Get(&pos.unmarked_) || !r.Get(&pos.admitted_) || !r.AtEnd()) {
    return Status::Corruption("input position: bad counters");
  }
  return pos;
}

}  // namespace streamrec::runtime
