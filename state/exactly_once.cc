#include "state/exactly_once.h"

#include <algorithm>
#include <charconv>

#include "core/byte_codec.h"
#include "state/encoding.h"

namespace streamrec::state {
namespace {

constexpr uint8_t kOutboxFormat = 1;
constexpr char kNextSequence[] = "outbox.next_sequence";
constexpr char kEpoch[] = "outbox.epoch";
constexpr char kReplayUntil[] = "outbox.replay_until";

std::string OffsetKey(std::string_view topic, int32_t partition) {
  return "offset/" + std::string(topic) + "/" + std::to_string(partition);
}

std::string LastRecordKey(std::string_view topic, int32_t partition) {
  return "last-record/" + std::string(topic) + "/" + std::to_string(partition);
}

}  // namespace

namespace {

template <typename T>
bool ParseNumber(std::string_view text, T* out) {
  if (text.empty()) return false;
  auto r = std::from_chars(text.data(), text.data() + text.size(), *out);
  return r.ec == std::errc() && r.ptr == text.data() + text.size();
}

}  // namespace

std::string FormatSourceMark(int32_t source_partition, uint64_t sequence) {
  return std::to_string(source_partition) + ":" + std::to_string(sequence);
}

std::string FormatSourceMark(const SourceMark& mark) {
  std::string s = FormatSourceMark(mark.partition, mark.sequence);
  if (mark.epoch == 0 && mark.first_offset < 0) return s;
  return s + "@" + std::to_string(mark.epoch) + ":" + std::to_string(mark.first_offset) + "-" +
         std::to_string(mark.next_offset);
}

bool ParseSourceMark(std::string_view text, SourceMark* mark) {
  SourceMark m;
  const size_t colon = text.find(':');
  if (colon == std::string_view::npos) return false;
  if (!ParseNumber(text.substr(0, colon), &m.partition) || m.partition < 0) return false;
  std::string_view rest = text.substr(colon + 1);
  const size_t at = rest.find('@');
  if (!ParseNumber(rest.substr(0, at), &m.sequence)) return false;
  if (at != std::string_view::npos) {
    rest = rest.substr(at + 1);
    const size_t c2 = rest.find(':');
    if (c2 == std::string_view::npos || !ParseNumber(rest.substr(0, c2), &m.epoch)) return false;
    rest = rest.substr(c2 + 1);
    const size_t dash = rest.find('-');
    if (dash == std::string_view::npos || !ParseNumber(rest.substr(0, dash), &m.first_offset) ||
        !ParseNumber(rest.substr(dash + 1), &m.next_offset) || m.first_offset < 0 ||
        m.next_offset < m.first_offset) {
      return false;
    }
  }
  *mark = m;
  return true;
}

bool ParseSourceMark(std::string_view mark, int32_t* source_partition, uint64_t* sequence) {
  SourceMark m;
  if (!ParseSourceMark(mark, &m)) return false;
  *source_partition = m.partition;
  *sequence = m.sequence;
  return true;
}

namespace {
constexpr uint8_t kPositionFormat = 2;
}  // namespace

std::string SourcePosition::Encode() const {
  ByteWriter w;
  w.Put<uint8_t>(kPositionFormat);
  w.Put<uint64_t>(epoch);
  w.Put<uint64_t>(sequence);
  w.Put<int64_t>(next_offset);
  w.Put<int64_t>(peer_next_offset);
  return w.Take();
}

Result<SourcePosition> SourcePosition::Decode(std::string_view bytes) {
  SourcePosition p;
  if (bytes.size() == 8) {  // before epochs: the bare sequence
    p.sequence = DecodeFixed64(bytes.data());
    return p;
  }
  ByteReader r(bytes);
  uint8_t format = 0;
  if (!r.Get(&format) || format != kPositionFormat || !r.Get(&p.epoch) || !r.Get(&p.sequence) ||
      !r.Get(&p.next_offset) || !r.Get(&p.peer_next_offset) || !r.AtEnd()) {
    return Status::Corruption("dedup mark: bad value");
  }
  return p;
}

Admission JudgeSourceMark(const SourceMark& mark, bool has_peer, bool known, SourcePosition* pos) {
  Admission a;
  if (!known) {
    a.apply = true;
    a.apply_peer = has_peer;
    *pos = SourcePosition{mark.epoch, mark.sequence, mark.next_offset, has_peer ? mark.next_offset : -1};
    return a;
  }
  if (mark.epoch == pos->epoch) {
    if (mark.sequence <= pos->sequence) {
      a.duplicate = true;
      return a;
    }
    a.apply = true;
    a.apply_peer = has_peer;
    pos->sequence = mark.sequence;
    pos->next_offset = std::max(pos->next_offset, mark.next_offset);
    if (has_peer) pos->peer_next_offset = std::max(pos->peer_next_offset, mark.next_offset);
    return a;
  }
  // Another epoch: its source reprocesses input from an earlier offset. Only offsets
  // decide; a message that carries no offsets cannot be judged and is applied, loudly.
  if (mark.first_offset < 0) {
    a.apply = a.overlap = a.restart = true;
    a.apply_peer = has_peer;
    *pos = SourcePosition{mark.epoch, mark.sequence, -1, -1};
    return a;
  }
  if (mark.first_offset >= pos->next_offset) {
    a.apply = true;
  } else if (mark.next_offset > pos->next_offset) {
    a.apply = a.overlap = true;
  }
  if (has_peer) {
    if (mark.first_offset >= pos->peer_next_offset) {
      a.apply_peer = true;
    } else if (mark.next_offset > pos->peer_next_offset) {
      a.apply_peer = a.overlap = true;
    }
    if (a.apply_peer) pos->peer_next_offset = mark.next_offset;
  }
  if (a.apply) {
    // From here on the new epoch's sequence decides.
    a.restart = true;
    pos->epoch = mark.epoch;
    pos->sequence = mark.sequence;
    pos->next_offset = mark.next_offset;
  }
  a.duplicate = !a.apply && !a.apply_peer;
  return a;
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

Result<std::optional<RecordIdentity>> MetaTable::LoadLastRecord(std::string_view topic, int32_t partition) const {
  auto v = db_->Get(cf_, LastRecordKey(topic, partition));
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<RecordIdentity>();
  if ((*v)->size() != 24) return Status::Corruption("meta: bad last-record value");
  RecordIdentity id;
  id.offset = static_cast<int64_t>(DecodeFixed64((*v)->data()));
  id.timestamp_ms = static_cast<int64_t>(DecodeFixed64((*v)->data() + 8));
  id.digest = DecodeFixed64((*v)->data() + 16);
  return std::optional<RecordIdentity>(id);
}

void MetaTable::PutLastRecord(StateWriteBatch* batch, std::string_view topic, int32_t partition,
                              const RecordIdentity& last) const {
  std::string v;
  PutFixed64(&v, static_cast<uint64_t>(last.offset));
  PutFixed64(&v, static_cast<uint64_t>(last.timestamp_ms));
  PutFixed64(&v, last.digest);
  batch->Put(cf_, LastRecordKey(topic, partition), v);
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
  fresh_ = !v->has_value();
  next_ = v->value_or(1);
  auto epoch = meta_->LoadU64(kEpoch);
  if (!epoch.ok()) return epoch.status();
  epoch_ = epoch->value_or(0);  // 0: a store from before epochs
  auto until = meta_->LoadU64(kReplayUntil);
  if (!until.ok()) return until.status();
  replay_until_ = until->has_value() ? static_cast<int64_t>(**until) : -1;
  return Status::Ok();
}

void Outbox::StartEpoch(StateWriteBatch* batch, uint64_t epoch, int64_t replay_until) {
  epoch_ = epoch;
  replay_until_ = replay_until;
  fresh_ = false;
  meta_->PutU64(batch, kEpoch, epoch);
  meta_->PutU64(batch, kReplayUntil, static_cast<uint64_t>(replay_until));
  SaveSequence(batch);
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

Result<Admission> DedupFilter::Admit(const SourceMark& mark, bool has_peer) {
  auto position = Position(mark.partition);
  if (!position.ok()) return position.status();
  SourcePosition pos = position->value_or(SourcePosition{});
  Admission a = JudgeSourceMark(mark, has_peer, position->has_value(), &pos);
  if (a.apply || a.apply_peer) marks_->Put(Key64(static_cast<uint64_t>(mark.partition)), pos.Encode());
  return a;
}

Result<bool> DedupFilter::Admit(int32_t source_partition, uint64_t sequence) {
  SourceMark m;
  m.partition = source_partition;
  m.sequence = sequence;
  auto a = Admit(m, /*has_peer=*/false);
  if (!a.ok()) return a.status();
  return a->apply;
}

Result<std::optional<SourcePosition>> DedupFilter::Position(int32_t source_partition) const {
  auto v = marks_->Get(Key64(static_cast<uint64_t>(source_partition)));
  if (!v.ok()) return v.status();
  if (!v->has_value()) return std::optional<SourcePosition>();
  auto p = SourcePosition::Decode(**v);
  if (!p.ok()) return p.status();
  return std::optional<SourcePosition>(*p);
}

Result<uint64_t> DedupFilter::Mark(int32_t source_partition) const {
  auto p = Position(source_partition);
  if (!p.ok()) return p.status();
  return p->has_value() ? (*p)->sequence : uint64_t{0};
}

}  // namespace streamrec::state
