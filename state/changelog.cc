#include "state/changelog.h"

#include <string_view>
#include <unordered_set>

#include "core/byte_codec.h"

namespace streamrec::state {
namespace {

constexpr uint8_t kRecordKind = 1;
constexpr uint8_t kMarkerKind = 2;
constexpr uint8_t kMarkerFormat = 1;
// A pending-family key naming a commit's pending set (never a Kafka record key).
constexpr uint8_t kPendingSetKind = 3;

}  // namespace

std::string ChangelogPendingSetKey(uint64_t commit) {
  std::string out(1, static_cast<char>(kPendingSetKind));
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((commit >> shift) & 0xff));
  return out;
}

bool IsLoggedKey(std::string_view cf_name, std::string_view key) {
  if (cf_name == kChangelogPendingFamily) return false;
  if (cf_name == "meta" && key.substr(0, sizeof(kChangelogMetaPrefix) - 1) == kChangelogMetaPrefix) return false;
  return true;
}

std::string EncodeChangelogRecordKey(std::string_view cf_name, std::string_view key) {
  std::string out;
  out.reserve(2 + cf_name.size() + key.size());
  out.push_back(static_cast<char>(kRecordKind));
  out.push_back(static_cast<char>(static_cast<uint8_t>(cf_name.size())));
  out.append(cf_name.data(), cf_name.size());
  out.append(key.data(), key.size());
  return out;
}

std::string ChangelogMarkerKey() { return std::string(1, static_cast<char>(kMarkerKind)); }

Result<ChangelogKey> DecodeChangelogKey(std::string_view bytes) {
  ChangelogKey k;
  if (bytes.empty()) return Status::Corruption("changelog: empty record key");
  const uint8_t kind = static_cast<uint8_t>(bytes[0]);
  if (kind == kMarkerKind && bytes.size() == 1) {
    k.marker = true;
    return k;
  }
  if (kind != kRecordKind || bytes.size() < 2) return Status::Corruption("changelog: unknown record key");
  const size_t n = static_cast<uint8_t>(bytes[1]);
  if (bytes.size() < 2 + n || n == 0) return Status::Corruption("changelog: truncated record key");
  k.cf_name.assign(bytes.data() + 2, n);
  k.key.assign(bytes.data() + 2 + n, bytes.size() - 2 - n);
  return k;
}

std::string ChangelogMarker::Encode() const {
  ByteWriter w;
  w.Put<uint8_t>(kMarkerFormat);
  w.Put<uint64_t>(writer);
  w.Put<uint64_t>(commit);
  w.Put<int64_t>(source_next_offset);
  return w.Take();
}

Result<ChangelogMarker> ChangelogMarker::Decode(std::string_view bytes) {
  ByteReader r(bytes);
  ChangelogMarker m;
  uint8_t format = 0;
  if (!r.Get(&format) || format != kMarkerFormat || !r.Get(&m.writer) || !r.Get(&m.commit) ||
      !r.Get(&m.source_next_offset) || !r.AtEnd()) {
    return Status::Corruption("changelog: bad commit marker");
  }
  return m;
}

Status ChangelogRestorer::Add(const ChangelogEntry& entry) {
  auto key = DecodeChangelogKey(entry.key);
  if (!key.ok()) return key.status().WithContext("changelog offset " + std::to_string(entry.offset));
  if (key->marker) {
    if (!entry.value) return Status::Corruption("changelog: a marker without a value at " + std::to_string(entry.offset));
    auto marker = ChangelogMarker::Decode(*entry.value);
    if (!marker.ok()) return marker.status().WithContext("changelog offset " + std::to_string(entry.offset));
    for (const auto& b : buffered_) {
      if (b.value) {
        batch_.Put(b.cf, b.key, *b.value);
      } else {
        batch_.Delete(b.cf, b.key);
      }
    }
    summary_.records += static_cast<int64_t>(buffered_.size());
    buffered_.clear();
    summary_.commits += 1;
    summary_.last_marker = *marker;
    summary_.next_offset = entry.offset + 1;
    // Only at a marker: the store holds whole commits at every write.
    if (batch_.DataSize() >= batch_bytes_) {
      STREAMREC_RETURN_IF_ERROR(db_->Write(&batch_));
      batch_.Clear();
    }
    return Status::Ok();
  }
  auto cf = db_->ColumnFamily(key->cf_name);
  if (!cf.ok()) {
    return Status::Corruption("changelog offset " + std::to_string(entry.offset) + " names column family '" +
                              key->cf_name + "', which this store does not have (another stage's changelog?)");
  }
  buffered_.push_back(Buffered{*cf, std::move(key->key), entry.key, entry.value});
  return Status::Ok();
}

Result<RestoreSummary> ChangelogRestorer::Finish() {
  if (batch_.Count() > 0) {
    STREAMREC_RETURN_IF_ERROR(db_->Write(&batch_));
    batch_.Clear();
  }
  summary_.discarded = static_cast<int64_t>(buffered_.size());
  summary_.torn_keys.clear();
  for (auto& b : buffered_) summary_.torn_keys.push_back(std::move(b.encoded_key));
  buffered_.clear();
  return summary_;
}

Status ChangelogScan::Add(const ChangelogEntry& entry) {
  auto key = DecodeChangelogKey(entry.key);
  if (!key.ok()) return key.status().WithContext("changelog offset " + std::to_string(entry.offset));
  if (!key->marker) {
    torn_keys.push_back(entry.key);
    return Status::Ok();
  }
  if (!entry.value) return Status::Corruption("changelog: a marker without a value at " + std::to_string(entry.offset));
  auto marker = ChangelogMarker::Decode(*entry.value);
  if (!marker.ok()) return marker.status().WithContext("changelog offset " + std::to_string(entry.offset));
  markers.push_back(*marker);
  torn_keys.clear();
  return Status::Ok();
}

}  // namespace streamrec::state

namespace streamrec::state {
namespace {
constexpr char kWriterKey[] = "changelog.writer";
constexpr char kAckedKey[] = "changelog.acked_offset";
constexpr char kCommitKey[] = "changelog.commit";
}  // namespace

std::string EncodeChangelogValue(std::string_view value) {
  std::string out;
  out.reserve(value.size() + 1);
  out.push_back('\x01');
  out.append(value.data(), value.size());
  return out;
}

Result<std::optional<std::string>> DecodeChangelogValue(std::string_view kafka_value) {
  if (kafka_value.empty()) return std::optional<std::string>();
  if (kafka_value[0] != '\x01') return Status::Corruption("changelog: unknown value format");
  return std::optional<std::string>(std::string(kafka_value.substr(1)));
}

Status ChangelogWriter::Load() {
  auto writer = meta_->LoadU64(kWriterKey);
  if (!writer.ok()) return writer.status();
  writer_ = writer->value_or(0);
  auto acked = meta_->LoadU64(kAckedKey);
  if (!acked.ok()) return acked.status();
  acked_offset_ = acked->has_value() ? static_cast<int64_t>(**acked) : -1;
  auto commit = meta_->LoadU64(kCommitKey);
  if (!commit.ok()) return commit.status();
  commit_ = commit->value_or(0);
  unsent_.clear();
  set_keys_.clear();
  carried_.clear();
  entries_of_commit_.clear();
  acked_.clear();
  auto it = db_->NewIterator(pending_cf_);
  for (; it->Valid(); it->Next()) {
    const std::string_view key = it->key();
    carried_.emplace_back(key);
    if (key.empty() || static_cast<uint8_t>(key[0]) != kPendingSetKind) {
      unsent_.emplace(std::string(key), Unsent{});  // a key's own entry
      continue;
    }
    ByteReader r(it->value());
    while (!r.AtEnd()) {
      std::string k;
      if (!r.GetString(&k)) return Status::Corruption("changelog: bad pending set in " + db_->path());
      unsent_.emplace(std::move(k), Unsent{});
    }
  }
  STREAMREC_RETURN_IF_ERROR(it->status());
  // The outbox is not tracked in the pending family: all of it goes out again.
  auto outbox = db_->ColumnFamily(kOutboxFamily);
  if (!outbox.ok()) return Status::Ok();  // a store without an outbox (tests)
  auto ot = db_->NewIterator(*outbox);
  for (; ot->Valid(); ot->Next()) {
    Unsent u;
    u.pending = false;
    unsent_.emplace(EncodeChangelogRecordKey(kOutboxFamily, ot->key()), std::move(u));
  }
  return ot->status();
}

void ChangelogWriter::SetWriter(StateWriteBatch* batch, uint64_t writer, int64_t acked_offset) {
  writer_ = writer;
  acked_offset_ = acked_offset;
  meta_->PutU64(batch, kWriterKey, writer);
  meta_->PutU64(batch, kAckedKey, static_cast<uint64_t>(acked_offset));
}

void ChangelogWriter::MarkUnsent(StateWriteBatch* batch, const std::string& encoded_key) {
  if (!unsent_.insert_or_assign(encoded_key, Unsent{}).second) return;
  batch->Put(pending_cf_, encoded_key, "");
  carried_.push_back(encoded_key);
}

Status ChangelogWriter::MarkAllUnsent(StateWriteBatch* batch) {
  for (const std::string& name : db_->ColumnFamilyNames()) {
    if (name == kChangelogPendingFamily) continue;
    auto cf = db_->ColumnFamily(name);
    if (!cf.ok()) return cf.status();
    auto it = db_->NewIterator(*cf);
    for (; it->Valid(); it->Next()) {
      if (IsLoggedKey(name, it->key())) MarkUnsent(batch, EncodeChangelogRecordKey(name, it->key()));
    }
    STREAMREC_RETURN_IF_ERROR(it->status());
  }
  return Status::Ok();
}

Status ChangelogWriter::Track(StateWriteBatch* batch) {
  struct Touched {
    std::string key;
    bool pending;
    Unsent what;
  };
  std::vector<Touched> touched;
  Status named;
  STREAMREC_RETURN_IF_ERROR(batch->ForEachOp([&](ColumnFamilyId cf, std::string_view key, StateWriteBatch::Op op,
                                                 std::string_view value) {
    if (cf == pending_cf_) return;
    auto it = cf_names_.find(cf);
    if (it == cf_names_.end()) {
      auto name = db_->ColumnFamilyName(cf);
      if (!name.ok()) {
        named = name.status();
        return;
      }
      it = cf_names_.emplace(cf, *name).first;
    }
    if (!IsLoggedKey(it->second, key)) return;
    Touched t{EncodeChangelogRecordKey(it->second, key), Pending(it->second, op), Unsent{}};
    if (op == StateWriteBatch::Op::kPut) {
      t.what.kind = Unsent::Kind::kValue;
      t.what.value.assign(value.data(), value.size());
    } else if (op == StateWriteBatch::Op::kDelete) {
      t.what.kind = Unsent::Kind::kTombstone;
    }
    touched.push_back(std::move(t));
  }));
  STREAMREC_RETURN_IF_ERROR(named);
  // Acknowledged entries leave the pending family, except a key's own entry that
  // MarkUnsent put again since (carried to the next commit: the later Put wins).
  std::unordered_set<std::string_view> carried;
  for (const std::string& k : acked_) {
    const bool own_entry = !k.empty() && static_cast<uint8_t>(k[0]) != kPendingSetKind;
    if (own_entry && carried.empty() && !carried_.empty()) carried.insert(carried_.begin(), carried_.end());
    if (own_entry && carried.count(k) > 0) continue;
    batch->Delete(pending_cf_, k);
  }
  acked_.clear();
  const size_t listed = set_keys_.size();
  for (Touched& t : touched) {
    auto u = unsent_.find(t.key);
    // Unsent and pending already: listed in this commit's set, or carried to it.
    const bool was_pending = u != unsent_.end() && u->second.pending;
    if (t.pending && !was_pending) set_keys_.push_back(t.key);
    t.what.pending = t.pending || was_pending;
    if (u == unsent_.end()) {
      unsent_.emplace(std::move(t.key), std::move(t.what));
    } else {
      u->second = std::move(t.what);  // the last operation decides
    }
  }
  if (set_keys_.size() != listed) {
    ByteWriter w;
    for (const std::string& k : set_keys_) w.PutString(k);
    batch->Put(pending_cf_, ChangelogPendingSetKey(commit_ + 1), w.Take());
  }
  meta_->PutU64(batch, kCommitKey, commit_ + 1);
  if (acked_dirty_) {
    meta_->PutU64(batch, kAckedKey, static_cast<uint64_t>(acked_offset_));
    acked_dirty_ = false;
  }
  return Status::Ok();
}

Result<ChangelogWriter::CommitRecords> ChangelogWriter::Take(int64_t source_next_offset) {
  CommitRecords out;
  if (unsent_.empty()) return out;
  // The counter Track saved with the last write (commit_ + 1), so the marker's commit is
  // never reused by a later instance of the task.
  out.commit = ++commit_;
  out.records.reserve(unsent_.size() + 1);
  // The keys to read (merged ones), one batched lookup per column family: record keys
  // sort by family name, then store key, so each family's keys come sorted and together.
  std::vector<size_t> read_records;
  std::vector<std::string_view> read_keys;
  std::string_view read_family;
  auto read_pending = [&]() -> Status {
    if (read_keys.empty()) return Status::Ok();
    auto cf = db_->ColumnFamily(read_family);
    if (!cf.ok()) return cf.status();
    auto values = db_->MultiGet(*cf, read_keys);
    if (!values.ok()) return values.status();
    for (size_t i = 0; i < read_records.size(); ++i) out.records[read_records[i]].value = std::move((*values)[i]);
    read_records.clear();
    read_keys.clear();
    return Status::Ok();
  };
  for (auto& [k, what] : unsent_) {
    out.records.push_back(ChangelogEntry{-1, k, std::nullopt});
    if (what.kind == Unsent::Kind::kValue) {
      out.records.back().value = std::move(what.value);
    } else if (what.kind == Unsent::Kind::kRead) {
      // Parsed in place (EncodeChangelogRecordKey's layout): kind, name length, name, key.
      const std::string_view bytes(k);
      const size_t n = bytes.size() >= 2 ? static_cast<uint8_t>(bytes[1]) : 0;
      if (bytes.size() < 2 || static_cast<uint8_t>(bytes[0]) != kRecordKind || n == 0 || bytes.size() < 2 + n) {
        return Status::Corruption("changelog: bad unsent record key");
      }
      const std::string_view family = bytes.substr(2, n);
      if (family != read_family) {
        STREAMREC_RETURN_IF_ERROR(read_pending());
        read_family = family;
      }
      read_records.push_back(out.records.size() - 1);
      read_keys.push_back(bytes.substr(2 + n));
    }
  }
  STREAMREC_RETURN_IF_ERROR(read_pending());
  unsent_.clear();
  // This commit's acknowledgement clears its pending set and the entries carried to it.
  std::vector<std::string> entries = std::move(carried_);
  carried_.clear();
  if (!set_keys_.empty()) entries.push_back(ChangelogPendingSetKey(out.commit));
  set_keys_.clear();
  entries_of_commit_[out.commit] = std::move(entries);
  ChangelogMarker marker{writer_, out.commit, source_next_offset};
  out.records.push_back(ChangelogEntry{-1, ChangelogMarkerKey(), marker.Encode()});
  return out;
}

void ChangelogWriter::OnDelivered(uint64_t commit, int64_t offset) {
  auto it = entries_of_commit_.find(commit);
  if (it == entries_of_commit_.end()) return;  // not this instance's
  for (std::string& k : it->second) acked_.push_back(std::move(k));
  entries_of_commit_.erase(it);
  if (offset + 1 > acked_offset_) {
    acked_offset_ = offset + 1;
    acked_dirty_ = true;
  }
}

}  // namespace streamrec::state
