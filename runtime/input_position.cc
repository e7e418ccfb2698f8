#include "runtime/input_position.h"

#include "core/byte_codec.h"
#include "state/exactly_once.h"

namespace streamrec::runtime {
namespace {

constexpr uint8_t kFormatBeforeEpochs = 1;  // marks were bare sequences
constexpr uint8_t kFormat = 2;

}  // namespace

InputPosition::Verdict InputPosition::Admit(const Record& record) {
  if (record.offset >= 0) next_offsets_[record.partition] = record.offset + 1;
  state::SourceMark mark;
  auto header = record.Header(state::kSourceMarkHeader);
  if (!header || !state::ParseSourceMark(*header, &mark)) {
    ++unmarked_;
    ++admitted_;
    return Verdict::kUnmarked;
  }
  const auto key = std::make_pair(record.partition, mark.partition);
  auto it = marks_.find(key);
  const bool known = it != marks_.end();
  state::SourcePosition pos = known ? it->second : state::SourcePosition{};
  // Within an epoch the sequence decides; a new epoch (the source's store was lost and
  // it replays its input) is applied from the source offsets not applied yet.
  const state::Admission a = state::JudgeSourceMark(mark, /*has_peer=*/false, known, &pos);
  if (!a.apply) {
    ++duplicates_;
    return Verdict::kDuplicate;
  }
  marks_[key] = pos;
  if (a.restart) ++restarts_;
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
  return it == marks_.end() ? 0 : it->second.sequence;
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
  for (const auto& [key, pos] : marks_) {
    w.Put<uint32_t>(static_cast<uint32_t>(key.first));
    w.Put<uint32_t>(static_cast<uint32_t>(key.second));
    w.Put<uint64_t>(pos.epoch);
    w.Put<uint64_t>(pos.sequence);
    w.Put<int64_t>(pos.next_offset);
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
  if (!r.Get(&format) || (format != kFormat && format != kFormatBeforeEpochs)) {
    return Status::Corruption("input position: unknown format");
  }
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
    state::SourcePosition mark;
    if (!r.Get(&p) || !r.Get(&s)) return Status::Corruption("input position: truncated marks");
    if (format == kFormat && (!r.Get(&mark.epoch) || !r.Get(&mark.sequence) || !r.Get(&mark.next_offset))) {
      return Status::Corruption("input position: truncated marks");
    }
    if (format == kFormatBeforeEpochs && !r.Get(&mark.sequence)) {
      return Status::Corruption("input position: truncated marks");
    }
    pos.marks_[{static_cast<int32_t>(p), static_cast<int32_t>(s)}] = mark;
  }
  if (!r.Get(&pos.duplicates_) || !r.Get(&pos.unmarked_) || !r.Get(&pos.admitted_) || !r.AtEnd()) {
    return Status::Corruption("input position: bad counters");
  }
  return pos;
}

}  // namespace streamrec::runtime
