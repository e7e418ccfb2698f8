#include "runtime/stream_task.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <random>
#include <thread>

#include "runtime/stored_offset_check.h"

namespace streamrec::runtime {

StreamTask::StreamTask(const Topology& topology, int32_t partition, const StreamTaskOptions& options)
    : topology_(topology),
      partition_(partition),
      options_(options),
      clock_(options.clock != nullptr ? options.clock : &SystemClock()),
      schedule_(topology.name) {}

StreamTask::~StreamTask() {
  if (!processor_closed_) CloseProcessor();
  stores_.clear();
  changelog_.reset();
  outbox_.reset();
  meta_.reset();
  db_.reset();
}

Result<std::unique_ptr<StreamTask>> StreamTask::Open(const Topology& topology, int32_t partition,
                                                     const StreamTaskOptions& options) {
  if (topology.state_kind != StateKind::kPartitionStore) {
    return Status::InvalidArgument(topology.name + ": a stream task needs a partition-store topology");
  }
  std::unique_ptr<StreamTask> task(new StreamTask(topology, partition, options));
  STREAMREC_RETURN_IF_ERROR(task->Init());
  return task;
}

namespace {

// A random id, never 0: time plus random bits make a repeat negligible (only equality
// is compared).
uint64_t DrawId() {
  const uint64_t now_ms = static_cast<uint64_t>(SystemClock().NowMillis());
  uint64_t id = (now_ms << 16) ^ (std::random_device{}() & 0xffffu);
  return id == 0 ? 1 : id;
}

// Renames the directory `path` to "<path>.corrupted-<UTC time>" (a "-n" suffix when
// taken); the new name.
Result<std::string> MoveAside(const std::string& path) {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &utc);
  const std::string base = path + ".corrupted-" + stamp;
  std::string target = base;
  for (int n = 1; std::filesystem::exists(target); ++n) target = base + "-" + std::to_string(n);
  std::error_code ec;
  std::filesystem::rename(path, target, ec);
  if (ec) return Status::IoError("moving the corrupted store " + path + " to " + target + ": " + ec.message());
  return target;
}

}  // namespace

Status StreamTask::Init() {
  state::StateDbOptions db_options;
  db_options.path = options_.state_dir + "/" + topology_.name + "-" + std::to_string(partition_);
  db_options.column_families = {"meta", "outbox", state::kChangelogPendingFamily};
  for (const auto& s : topology_.stores) {
    db_options.column_families.push_back(s.name);
    if (s.kind == StoreSpec::Kind::kCounter) db_options.counter_column_families.push_back(s.name);
  }
  db_options.metrics_name = topology_.name;
  db_options.sync_writes = options_.sync_commits;
  // The previous owner of the partition (another process, after a rebalance) may still
  // hold the DB lock for a moment.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.open_retry_ms);
  auto open_db = [&]() -> Status {
    while (true) {
      auto db = state::StateDb::Open(db_options);
      if (db.ok()) {
        db_ = std::move(db).value();
        return Status::Ok();
      }
      // RocksDB's "IO error: While lock file: <dir>/LOCK: Resource temporarily unavailable"
      // (another process) or "IO error: lock hold by current process ...: <dir>/LOCK: ...".
      // Not any message with "lock" in it: "block checksum mismatch" is a corrupted store,
      // which waiting does not mend (it was retried for open_retry_ms).
      const bool locked = db.status().code() == Status::Code::kIoError &&
                          db.status().message().find("/LOCK") != std::string::npos;
      if (!locked || std::chrono::steady_clock::now() >= deadline) return db.status();
      if (options_.stop && options_.stop()) {
        return Status::Unavailable("stopped while " + db_options.path + " was still locked by its previous owner");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  };
  auto open_bookkeeping = [this]() -> Status {
    auto meta_cf = db_->ColumnFamily("meta");
    auto outbox_cf = db_->ColumnFamily("outbox");
    if (!meta_cf.ok()) return meta_cf.status();
    if (!outbox_cf.ok()) return outbox_cf.status();
    meta_ = std::make_unique<state::MetaTable>(db_.get(), *meta_cf);
    outbox_ = std::make_unique<state::Outbox>(db_.get(), *outbox_cf, meta_.get());
    STREAMREC_RETURN_IF_ERROR(outbox_->Load());
    if (options_.changelog != nullptr) {
      auto pending_cf = db_->ColumnFamily(state::kChangelogPendingFamily);
      if (!pending_cf.ok()) return pending_cf.status();
      changelog_ = std::make_unique<state::ChangelogWriter>(db_.get(), *pending_cf, meta_.get());
      STREAMREC_RETURN_IF_ERROR(changelog_->Load());
    }
    return Status::Ok();
  };
  auto remove_and_reopen = [&]() -> Status {
    changelog_.reset();
    outbox_.reset();
    meta_.reset();
    db_.reset();
    std::error_code ec;
    std::filesystem::remove_all(db_options.path, ec);
    if (ec) return Status::IoError("removing " + db_options.path + ": " + ec.message());
    STREAMREC_RETURN_IF_ERROR(open_db());
    return open_bookkeeping();
  };
  Status opened = open_db();
  if (opened.code() == Status::Code::kCorruption && options_.changelog != nullptr && options_.restore &&
      options_.rebuild_corrupted) {
    // The changelog holds the store as of its last complete commit: move the corrupted
    // copy aside (kept for inspection) and restore a new one from it, below.
    auto moved = MoveAside(db_options.path);
    if (!moved.ok()) return moved.status().WithContext(opened.ToString());
    std::string what = opened.message();
    what = what.substr(0, what.find(std::string("; ") + state::kCorruptStoreAdvice));
    spdlog::error("[{}] partition {}: {}; moved it to {} (kept for inspection) and restoring the store from "
                  "changelog {}",
                  topology_.name, partition_, what, *moved, options_.changelog->topic());
    restore_stats_.corrupted_moved_to = *moved;
    opened = open_db();
  }
  STREAMREC_RETURN_IF_ERROR(opened);
  STREAMREC_RETURN_IF_ERROR(open_bookkeeping());
  if (changelog_) STREAMREC_RETURN_IF_ERROR(PrepareChangelog(remove_and_reopen));
  if (changelog_ && options_.discard_state && !outbox_->fresh()) {
    spdlog::warn("[{}] partition {}: discarding the stored state (restored or local) and its changelog: starting "
                 "over",
                 topology_.name, partition_);
    STREAMREC_RETURN_IF_ERROR(ClearLogged());
  }
  // Where the stage was before (the group offset, committed before any commit's outputs
  // left): asked once, for a new store and to check an existing one.
  std::optional<int64_t> previous;
  if (options_.previous_end_offset) previous = options_.previous_end_offset();
  if (!outbox_->fresh() && previous) {
    auto offset = meta_->LoadOffset(topology_.source_topic, partition_);
    if (!offset.ok()) return offset.status();
    // A store that replays below its own bound is behind the group offset by design.
    if (offset->value_or(0) < *previous && *previous > outbox_->replay_until()) {
      // The store is behind outputs that already left: the tail of its WAL was lost (a
      // machine crash before the data reached the disk) or it was restored from an older
      // copy. Reusing its sequence would collide with what downstream applied, and its
      // pending state cannot be matched to it; it is rebuilt from the source instead, as a
      // lost store is (DESIGN §3, "Durability").
      spdlog::error("[{}] partition {}: the store ends at offset {} but outputs up to offset {} were already "
                    "produced (a lost WAL tail or an older copy): discarding it and rebuilding from the source",
                    topology_.name, partition_, offset->value_or(0), *previous);
      if (changelog_) {
        // Emptied key by key through a tracked write, so that the changelog records the
        // deletions too (a later restore must not bring the discarded state back).
        STREAMREC_RETURN_IF_ERROR(ClearLogged());
      } else {
        STREAMREC_RETURN_IF_ERROR(remove_and_reopen());
      }
    }
  }
  auto cf = [this](const std::string& name) { return db_->ColumnFamily(name); };
  if (outbox_->fresh()) {
    // No sequence: a new store, or one deleted or lost. Its sequence restarts at 1, so it
    // must not be mistaken downstream for re-sends of the previous store's: a new epoch.
    const uint64_t epoch = DrawId();
    state::StateWriteBatch batch;
    outbox_->StartEpoch(&batch, epoch, previous.value_or(-1));
    STREAMREC_RETURN_IF_ERROR(WriteTracked(&batch));
    if (previous && *previous > 0) {
      spdlog::warn("[{}] partition {}: no stored state but the stage ran before (group offset {}): new epoch "
                   "{}, offsets below {} are replayed record by record so that downstream applies each once",
                   topology_.name, partition_, *previous, epoch, *previous);
    }
  }
  for (const auto& s : topology_.stores) {
    auto id = cf(s.name);
    if (!id.ok()) return id.status();
    if (s.kind == StoreSpec::Kind::kCounter) {
      stores_[s.name] = std::make_unique<state::CounterStore>(s.name, db_.get(), *id, &batch_);
    } else {
      stores_[s.name] = std::make_unique<state::KeyValueStore>(s.name, db_.get(), *id, &batch_);
    }
  }
  auto offset = meta_->LoadOffset(topology_.source_topic, partition_);
  if (!offset.ok()) return offset.status();
  stored_offset_ = *offset;
  auto last = meta_->LoadLastRecord(topology_.source_topic, partition_);
  if (!last.ok()) return last.status();
  if (*last && stored_offset_ && (*last)->offset + 1 == *stored_offset_) stored_last_record_ = *last;
  processor_ = topology_.processor_supplier();
  if (!processor_) return Status::Internal("topology " + topology_.name + " made no processor");
  return processor_->Init(this).WithContext("initialising " + topology_.name + " processor");
}

Status StreamTask::ClearLogged() {
  state::StateWriteBatch clear;
  for (const std::string& name : db_->ColumnFamilyNames()) {
    if (name == state::kChangelogPendingFamily) continue;
    auto id = db_->ColumnFamily(name);
    if (!id.ok()) return id.status();
    auto it = db_->NewIterator(*id);
    for (; it->Valid(); it->Next()) {
      if (state::IsLoggedKey(name, it->key())) clear.Delete(*id, it->key());
    }
    STREAMREC_RETURN_IF_ERROR(it->status());
  }
  STREAMREC_RETURN_IF_ERROR(WriteTracked(&clear));
  return outbox_->Load();
}

Status StreamTask::WriteTracked(state::StateWriteBatch* batch) {
  if (changelog_) STREAMREC_RETURN_IF_ERROR(changelog_->Track(batch));
  return db_->Write(batch);
}

Status StreamTask::PrepareChangelog(const std::function<Status()>& reopen) {
  ChangelogSource* source = options_.changelog;
  const std::string where = source->topic() + ":" + std::to_string(partition_);
  auto marks = source->Watermarks(partition_);
  if (!marks.ok()) return marks.status().WithContext("reading the offsets of changelog " + where);
  const int64_t low = marks->first;
  const int64_t high = marks->second;
  state::StateWriteBatch batch;
  bool restore = outbox_->fresh() && options_.restore;
  if (!outbox_->fresh() && changelog_->writer() != 0) {
    // A local copy: did another writer commit after what this copy has acknowledged?
    const int64_t from = std::max(low, changelog_->acked_offset());
    state::ChangelogScan scan;
    if (from < high) {
      STREAMREC_RETURN_IF_ERROR(
          source->Read(partition_, from, high, [&](const state::ChangelogEntry& e) { return scan.Add(e); }));
    }
    uint64_t other = 0;
    for (const auto& m : scan.markers) {
      // Another writer, or this writer's commits that this copy never made (an older
      // copy of the same store, e.g. a checkpoint put back).
      if (m.writer != changelog_->writer() || m.commit > changelog_->commit()) other = m.writer;
    }
    if (other != 0) {
      spdlog::warn("[{}] partition {}: the local store is stale (writer {} committed to {} after it): replacing "
                   "it with the changelog",
                   topology_.name, partition_, other, where);
      STREAMREC_RETURN_IF_ERROR(reopen());
      restore_stats_.stale_copy = true;
      restore = true;
    } else {
      // A torn tail (this copy's, or of a writer that restored from it and died before
      // its first marker): its keys go out again with this copy's values.
      for (const std::string& k : scan.torn_keys) changelog_->MarkUnsent(&batch, k);
    }
  } else if (!outbox_->fresh()) {
    // A store from before the changelog: all of it goes out once.
    STREAMREC_RETURN_IF_ERROR(changelog_->MarkAllUnsent(&batch));
    changelog_->SetWriter(&batch, DrawId(), high);
  }
  if (restore) STREAMREC_RETURN_IF_ERROR(Restore(low, high, &batch));
  if (changelog_->writer() == 0) changelog_->SetWriter(&batch, DrawId(), high);
  restore_stats_.resent_keys = static_cast<int64_t>(changelog_->unsent());
  return WriteTracked(&batch);
}

Status StreamTask::Restore(int64_t low, int64_t high, state::StateWriteBatch* batch) {
  const std::string where = options_.changelog->topic() + ":" + std::to_string(partition_);
  if (high <= low) return Status::Ok();  // nothing logged yet: a new store
  if (low > 0) {
    // Retention deleted the start of the log (a compacted topic keeps it): a restore
    // would miss keys written only there.
    return Status::FailedPrecondition("changelog " + where + " starts at offset " + std::to_string(low) +
                                      ", not 0: records were deleted (a topic that is not compacted?), so the "
                                      "store cannot be restored from it; recreate the topic compacted, or reset "
                                      "the stage's state");
  }
  const auto started = std::chrono::steady_clock::now();
  spdlog::info("[{}] partition {}: restoring the store from {} (offsets {} to {})", topology_.name, partition_,
               where, low, high);
  state::ChangelogRestorer restorer(db_.get());
  STREAMREC_RETURN_IF_ERROR(options_.changelog->Read(
      partition_, low, high, [&](const state::ChangelogEntry& e) { return restorer.Add(e); }));
  auto summary = restorer.Finish();
  if (!summary.ok()) return summary.status().WithContext("restoring from " + where);
  // The restored bookkeeping: sequence, epoch, replay bound.
  STREAMREC_RETURN_IF_ERROR(outbox_->Load());
  for (const std::string& k : summary->torn_keys) changelog_->MarkUnsent(batch, k);
  changelog_->SetWriter(batch, DrawId(), summary->next_offset >= 0 ? summary->next_offset : low);
  restore_stats_.restored = true;
  restore_stats_.records = summary->records;
  restore_stats_.commits = summary->commits;
  restore_stats_.discarded = summary->discarded;
  restore_stats_.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  spdlog::info("[{}] partition {}: restored {} records of {} commits from {} in {:.3f} s ({} torn-tail records "
               "discarded); resuming at source offset {}",
               topology_.name, partition_, summary->records, summary->commits, where, restore_stats_.seconds,
               summary->discarded,
               summary->last_marker ? std::to_string(summary->last_marker->source_next_offset) : std::string("0"));
  return Status::Ok();
}

Result<state::ChangelogWriter::CommitRecords> StreamTask::TakeChangelog() {
  if (!changelog_) return state::ChangelogWriter::CommitRecords{};
  return changelog_->Take(stored_offset_.value_or(-1));
}

state::StateStore* StreamTask::store(const std::string& name) {
  auto it = stores_.find(name);
  return it == stores_.end() ? nullptr : it->second.get();
}

Result<std::vector<PendingOutput>> StreamTask::PendingOutbox() const {
  auto pending = outbox_->Pending();
  if (!pending.ok()) return pending.status();
  std::vector<PendingOutput> out;
  out.reserve(pending->size());
  for (auto& [seq, msg] : *pending) out.push_back(PendingOutput{seq, std::move(msg)});
  return out;
}

Result<bool> StreamTask::Process(const Record& record) {
  if (stored_offset_ && record.offset >= 0 && record.offset < *stored_offset_ && !next_offset_) {
    return false;  // already applied before the last commit
  }
  if (next_offset_ && record.offset >= 0 && record.offset < *next_offset_) return false;
  current_ = &record;
  Status st = processor_->Process(record);
  current_ = nullptr;
  if (!st.ok()) return st;
  if (record.offset >= 0) {
    next_offset_ = record.offset + 1;
    last_record_ = IdentifyRecord(record);
    if (!aggregate_first_offset_ && record.offset >= outbox_->replay_until()) aggregate_first_offset_ = record.offset;
  }
  ++records_since_commit_;
  STREAMREC_RETURN_IF_ERROR(schedule_.OnRecordTime(record.timestamp_ms));
  return true;
}

Status StreamTask::Punctuate() { return schedule_.OnWallClock(clock_->NowMillis()); }

void StreamTask::Forward(OutputRecord record) {
  Forwarded f;
  f.record = std::move(record);
  // Forwarded while processing a record: it carries that record alone.
  if (current_ != nullptr && current_->offset >= 0) {
    f.first_offset = current_->offset;
    f.next_offset = current_->offset + 1;
  }
  forwarded_.push_back(std::move(f));
}

void StreamTask::Schedule(int64_t interval_ms, PunctuationType type, Punctuator punctuator) {
  schedule_.Add(interval_ms, type, std::move(punctuator));
}

Result<std::vector<PendingOutput>> StreamTask::CommitState(bool closing) {
  STREAMREC_RETURN_IF_ERROR(processor_->Flush(closing).WithContext("flushing " + topology_.name));
  std::vector<PendingOutput> out;
  out.reserve(forwarded_.size());
  // Outputs of the flush carry the records aggregated since the last commit.
  const int64_t commit_next = next_offset_ ? *next_offset_ : stored_offset_.value_or(0);
  const int64_t aggregate_first = aggregate_first_offset_.value_or(commit_next);
  for (auto& f : forwarded_) {
    OutputRecord& r = f.record;
    state::OutboxMessage m;
    m.topic = std::move(r.topic);
    m.partition = r.partition;
    m.key = std::move(r.key);
    m.has_key = r.has_key;
    m.value = std::move(r.value);
    m.timestamp_ms = r.timestamp_ms;
    for (auto& h : r.headers) m.headers.emplace_back(std::move(h.key), std::move(h.value));
    const uint64_t seq = outbox_->next_sequence();
    state::SourceMark mark;
    mark.partition = partition_;
    mark.sequence = seq;
    mark.epoch = outbox_->epoch();
    mark.first_offset = f.first_offset >= 0 ? f.first_offset : aggregate_first;
    mark.next_offset = f.first_offset >= 0 ? f.next_offset : commit_next;
    m.headers.emplace_back(state::kSourceMarkHeader, state::FormatSourceMark(mark));
    outbox_->Add(&batch_, m);
    out.push_back(PendingOutput{seq, std::move(m)});
  }
  forwarded_.clear();
  outbox_->SaveSequence(&batch_);
  for (uint64_t seq : delivered_) outbox_->Delete(&batch_, seq);
  delivered_.clear();
  if (next_offset_) {
    meta_->PutOffset(&batch_, topology_.source_topic, partition_, *next_offset_);
    if (last_record_) meta_->PutLastRecord(&batch_, topology_.source_topic, partition_, *last_record_);
  }
  for (auto& [name, s] : stores_) s->PrepareCommit();
  Status st = WriteTracked(&batch_);
  batch_.Clear();
  if (!st.ok()) {
    for (auto& [name, s] : stores_) s->OnAborted();
    return st;
  }
  for (auto& [name, s] : stores_) s->OnCommitted();
  if (next_offset_) {
    stored_offset_ = next_offset_;
    stored_last_record_ = last_record_;
  }
  aggregate_first_offset_.reset();
  records_since_commit_ = 0;
  commit_requested_ = false;
  return out;
}

Status StreamTask::WriteDeliveries() {
  if (delivered_.empty()) return Status::Ok();
  state::StateWriteBatch batch;
  for (uint64_t seq : delivered_) outbox_->Delete(&batch, seq);
  delivered_.clear();
  return WriteTracked(&batch);
}

void StreamTask::CloseProcessor() {
  if (processor_ && !processor_closed_) processor_->Close();
  processor_closed_ = true;
}

}  // namespace streamrec::runtime
