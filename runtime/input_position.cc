#include "runtime/input_position.h"

#include "state/encoding.h"
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
  state::ByteWriter w;
  w.U8(kFormat);
  w.U32(static_cast<uint32_t>(next_offsets_.size()));
  for (const auto& [p, off] : next_offsets_) {
    w.U32(static_cast<uint32_t>(p));
    w.I64(off);
  }
  w.U32(static_cast<uint32_t>(marks_.size()));
  for (const auto& [key, seq] : marks_) {
    w.U32(static_cast<uint32_t>(key.first));
    w.U32(static_cast<uint32_t>(key.second));
    w.U64(seq);
  }
  w.I64(duplicates_);
  w.I64(unmarked_);
  w.I64(admitted_);
  return w.Take();
}

Result<InputPosition> InputPosition::Decode(std::string_view bytes) {
  state::ByteReader r(bytes);
  InputPosition pos;
  uint8_t format = 0;
  uint32_t n = 0;
  if (!r.U8(&format) || format != kFormat) return Status::Corruption("input position: unknown format");
  if (!r.U32(&n) || n > bytes.size()) return Status::Corruption("input position: truncated");
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t p = 0;
    int64_t off = 0;
    if (!r.U32(&p) || !r.I64(&off)) return Status::Corruption("input position: truncated offsets");
    pos.next_offsets_[static_cast<int32_t>(p)] = off;
  }
  if (!r.U32(&n) || n > bytes.size()) return Status::Corruption("input position: truncated");
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t p = 0, s = 0;
    uint64_t seq = 0;
    if (!r.U32(&p) || !r.U32(&s) || !r.U64(&seq)) return Status::Corruption("input position: truncated marks");
    pos.marks_[{static_cast<int32_t>(p), static_cast<int32_t>(s)}] = seq;
  }
  if (!r.I64(&pos.duplicates_) || !r.I64(&pos.unmarked_) || !r.I64(&pos.admitted_) || !r.done()) {
    return Status::Corruption("input position: bad counters");
  }
  return pos;
}

}  // namespace streamrec::runtime
