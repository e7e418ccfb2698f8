#include "operators/lambda.h"

#include "core/byte_codec.h"
#include "state/encoding.h"

namespace streamrec::operators {
namespace {

constexpr uint8_t kStateFormat = 1;
constexpr uint8_t kEntryFormat = 1;

void PutOffsets(ByteWriter* w, const std::map<int32_t, int64_t>& m) {
  w->Put<uint32_t>(static_cast<uint32_t>(m.size()));
  for (const auto& [p, o] : m) {
    w->Put<int32_t>(p);
    w->Put<int64_t>(o);
  }
}

bool GetOffsets(ByteReader* r, std::map<int32_t, int64_t>* m) {
  uint32_t n = 0;
  if (!r->Get(&n) || n > r->remaining() / 12) return false;
  for (uint32_t i = 0; i < n; ++i) {
    int32_t p = 0;
    int64_t o = 0;
    if (!r->Get(&p) || !r->Get(&o)) return false;
    (*m)[p] = o;
  }
  return true;
}

}  // namespace

void BatchViewInbox::Offer(BatchViewRef ref) {
  std::lock_guard<std::mutex> lock(mu_);
  if (latest_ && latest_->version >= ref.version) return;
  latest_ = std::make_shared<const BatchViewRef>(std::move(ref));
}

std::shared_ptr<const BatchViewRef> BatchViewInbox::Latest() const {
  std::lock_guard<std::mutex> lock(mu_);
  return latest_;
}

CutoffSide SideOf(int64_t first, int64_t next, int64_t cutoff) {
  if (next <= cutoff) return CutoffSide::kBefore;
  if (first >= cutoff) return CutoffSide::kAfter;
  return CutoffSide::kStraddles;
}

std::string LambdaState::Encode() const {
  ByteWriter w;
  w.Put<uint8_t>(kStateFormat);
  w.Put<int64_t>(version);
  w.Put<int32_t>(item_partitions);
  PutOffsets(&w, base);
  PutOffsets(&w, journal_from);
  w.Put<uint8_t>(rebuild_lists ? 1 : 0);
  w.Put<int64_t>(created_ms);  // optional on read: states written before it end above
  return w.Take();
}

Result<LambdaState> LambdaState::Decode(std::string_view bytes) {
  ByteReader r(bytes);
  uint8_t format = 0;
  LambdaState s;
  if (!r.Get(&format) || format != kStateFormat) return Status::Corruption("lambda state: unknown format");
  uint8_t rebuild = 0;
  if (!r.Get(&s.version) || !r.Get(&s.item_partitions) || !GetOffsets(&r, &s.base) ||
      !GetOffsets(&r, &s.journal_from) || !r.Get(&rebuild)) {
    return Status::Corruption("lambda state: truncated");
  }
  if (!r.AtEnd() && (!r.Get(&s.created_ms) || !r.AtEnd())) return Status::Corruption("lambda state: truncated");
  s.rebuild_lists = rebuild != 0;
  return s;
}

std::string JournalEntry::Encode() const {
  ByteWriter w;
  w.Put<uint8_t>(kEntryFormat);
  w.Put<int64_t>(first);
  w.Put<int64_t>(next);
  w.Put<int64_t>(peer_first);
  w.Put<uint8_t>(static_cast<uint8_t>((main ? 1 : 0) | (peer ? 2 : 0)));
  w.PutBytes(message.data(), message.size());
  return w.Take();
}

Result<JournalEntry> JournalEntry::Decode(std::string_view bytes) {
  ByteReader r(bytes);
  uint8_t format = 0, flags = 0;
  JournalEntry e;
  if (!r.Get(&format) || format != kEntryFormat) return Status::Corruption("lambda journal: unknown format");
  if (!r.Get(&e.first) || !r.Get(&e.next) || !r.Get(&e.peer_first) || !r.Get(&flags)) {
    return Status::Corruption("lambda journal: truncated");
  }
  e.main = (flags & 1) != 0;
  e.peer = (flags & 2) != 0;
  e.message.assign(bytes.substr(bytes.size() - r.remaining()));
  return e;
}

std::string JournalKey(int32_t source_partition, int64_t next, int64_t input_offset) {
  std::string k = kJournalPrefix;
  state::PutBigEndian64(&k, static_cast<uint64_t>(static_cast<uint32_t>(source_partition)));
  state::PutBigEndian64(&k, static_cast<uint64_t>(next));
  state::PutBigEndian64(&k, static_cast<uint64_t>(input_offset));
  return k;
}

bool ParseJournalKey(std::string_view key, int32_t* source_partition, int64_t* next) {
  if (key.size() != 25 || key[0] != kJournalPrefix[0]) return false;
  *source_partition = static_cast<int32_t>(state::DecodeBigEndian64(key.data() + 1));
  *next = static_cast<int64_t>(state::DecodeBigEndian64(key.data() + 9));
  return true;
}

}  // namespace streamrec::operators
