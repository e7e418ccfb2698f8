#include "state/exactly_once.h"

#include <charconv>

#include "core/byte_codec.h"
#include "state/encoding.h"

namespace streamrec::state {
namespace {

constexpr uint8_t kOutboxFormat = 1;
constexpr char kNextSequence[] = "outbox.next_sequence";

std::string OffsetKey(std::string_view topic, int32_t partition) {
  return "offset/" + std::string(topic) + "/" + std::to_string(partition);
}

}  // namespace

std::string FormatSourceMark(int32_t source_partition, uint64_t sequence) {
  return std::to_string(source_partition) + ":" + std::to_string(sequence);
}

bool ParseSourceMark(std::string_view mark, int32_t* source_partition, uint64_t* sequence) {
  const size_t colon = mark.find(':');
  if (colon == std::string_view::npos) return false;
  const char* b = mark.data();
  auto r1 = std::from_chars(b, b + colon, *source_partition);
  if (r1.ec != std::errc() || r1.ptr != b + colon || *source_partition < 0) return false;
  auto r2 = std::from_chars(b + colon + 1, b + mark.size(), *sequence);
  return r2.ec == std::errc() && r2.ptr == b + mark.size();
}

std::string EncodeOutboxMessage(const OutboxMessage& m) {
  ByteWriter w;
  w.Put<uint8_t>(kOutboxFormat);
  w.PutString(m.topic);
  w.Put<uint32_t>(static_cast<uint32_t>(m.partition));
  w.Put<uint8_t>(m.has_key ? 1 : 0);
  w.PutString(m.key);
  w.PutString(m.value);
  w.Put<int64_t>(m.timestamp_ms);
  w.Put<uint32_t>(static_cast<uint32_t>(m.headers.size()));
  for (const auto& [k, v] : m.headers) {
    w.PutString(k);
    w.PutString(v);
  }
  return w.Take();
}

Result<OutboxMessage> DecodeOutboxMessage(std::string_view bytes) {
  ByteReader r(bytes);
  OutboxMessage m;
  uint8_t format = 0, has_key = 0;
  uint32_t partition = 0, n = 0;
  if (!r.Get(&format) || format != kOutboxFormat) return Status::Corruption("outbox: unknown format");
  if (!r.GetString(&m.topic) || !r.Get(&partition) || !r.Get(&has_key) || !r.GetString(&m.key) ||
      !r.GetString(&m.value, 1u << 30) || !r.Get(&m.timestamp_ms) || !r.Get(&n) || n > bytes.size()) {
    return Status::Corruption("outbox: truncated message");
  }
  m.partition = static_cast<int32_t>(partition);
  m.has_key = has_key != 0;
  m.headers.resize(n);
  for (auto& [k, v] : m.headers) {
    if (!r.GetString(&k) || !r.GetString(&v)) return Status::Corruption("outbox: truncated header");
  }
  if (!r.AtEnd()) return Status::Corruption("outbox: trailing bytes");
  return m;
}

Result<std::optional<int64_t>> MetaTable::LoadOffset(std::string_view topic, int32_t partition) const {
  auto v = db_->Get(cf_, OffsetKey(topic, partition));
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<int64_t>();
  if ((*v)->size() != 8) return Status::Corruption("meta: bad offset value");
  return std::optional<int64_t>(static_cast<int64_t>(DecodeFixed64((*v)->data())));
}

void MetaTable::PutOffset(StateWriteBatch* batch, std::string_view topic, int32_t partition,
                          int64_t next_offset) const {
  std::string v;
  PutFixed64(&v, static_cast<uint64_t>(next_offset));
  batch->Put(cf_, OffsetKey(topic, partition), v);
}

Result<std::optional<uint64_t>> MetaTable::LoadU64(std::string_view name) const {
  auto v = db_->Get(cf_, name);
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<uint64_t>();
  if ((*v)->size() != 8) return Status::Corruption("meta: bad value of " + std::string(name));
  return std::optional<uint64_t>(DecodeFixed64((*v)->data()));
}

void MetaTable::PutU64(StateWriteBatch* batch, std::string_view name, uint64_t value) const {
  std::string v;
  PutFixed64(&v, value);
  batch->Put(cf_, name, v);
}

Status Outbox::Load() {
  auto v = meta_->LoadU64(kNextSequence);
  if (!v.ok()) return v.status();
  next_ = v->value_or(1);
  return Status::Ok();
}

uint64_t Outbox::Add(StateWriteBatch* batch, const OutboxMessage& message) {
  const uint64_t seq = next_++;
  batch->Put(cf_, Key64(seq), EncodeOutboxMessage(message));
  return seq;
}

void Outbox::SaveSequence(StateWriteBatch* batch) const { meta_->PutU64(batch, kNextSequence, next_); }

Result<std::vector<std::pair<uint64_t, OutboxMessage>>> Outbox::Pending() const {
  std::vector<std::pair<uint64_t, OutboxMessage>> out;
  auto it = db_->NewIterator(cf_);
  for (; it->Valid(); it->Next()) {
    if (it->key().size() != 8) return Status::Corruption("outbox: bad key");
    auto m = DecodeOutboxMessage(it->value());
    if (!m.ok()) return m.status();
    out.emplace_back(DecodeBigEndian64(it->key().data()), std::move(m).value());
  }
  STREAMREC_RETURN_IF_ERROR(it->status());
  return out;
}

void Outbox::Delete(StateWriteBatch* batch, uint64_t sequence) const { batch->Delete(cf_, Key64(sequence)); }

Result<bool> DedupFilter::Admit(int32_t source_partition, uint64_t sequence) {
  auto mark = Mark(source_partition);
  if (!mark.ok()) return mark.status();
  if (sequence <= *mark) return false;
  std::string v;
  PutFixed64(&v, sequence);
  marks_->Put(Key64(static_cast<uint64_t>(source_partition)), v);
  return true;
}

Result<uint64_t> DedupFilter::Mark(int32_t source_partition) const {
  auto v = marks_->Get(Key64(static_cast<uint64_t>(source_partition)));
  if (!v.ok()) return v.status();
  if (!v->has_value()) return uint64_t{0};
  if ((*v)->size() != 8) return Status::Corruption("dedup mark: bad value");
  return DecodeFixed64((*v)->data());
}

}  // namespace streamrec::state
