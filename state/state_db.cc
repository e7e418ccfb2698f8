#include "state/state_db.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <cstdarg>
#include <cstdio>
#include <mutex>
#include <new>

#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/merge_operator.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_writer.h>
#include <rocksdb/statistics.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>
#include <rocksdb/write_buffer_manager.h>
#include <spdlog/spdlog.h>

#include "core/metrics.h"
#include "state/counter_merge.h"

namespace streamrec::state {
namespace {

// A full disk is named as such, with the store and what to do: the stage stops and,
// once there is space again, a restart resumes from the last commit (the failed write
// was not applied: RocksDB writes a batch to the memtable only after its WAL record).
Status NoSpace(const rocksdb::Status& s, std::string_view what, const std::string& path) {
  return Status::IoError(std::string(what) + ": no space left on the device of the state directory (" + path +
                         "): " + s.ToString() +
                         "; nothing of the failed commit was applied: free space or grow the volume, then "
                         "restart the stage, which resumes from its last commit");
}

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsIOError()) return Status::IoError(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) return Status::Unavailable(msg);
  return Status::Internal(msg);
}

// Counter addition as a RocksDB merge operator. No exception leaves it.
class CounterMergeOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing_value,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    try {
      std::string_view existing;
      if (existing_value != nullptr) existing = std::string_view(existing_value->data(), existing_value->size());
      return AddCounters(existing_value != nullptr ? &existing : nullptr,
                         std::string_view(value.data(), value.size()), new_value);
    } catch (const std::bad_alloc&) {
      return false;
    }
  }
  const char* Name() const override { return "streamrec.CounterAdd"; }
};

// RocksDB's info log, sent to spdlog instead of a LOG file in the store: a LOG file on a
// full disk fails like any file, and librocksdb 7.8 (Debian's, built with assertions)
// aborts the process when its logger writes to that failed file again (from the
// SstFileManager's recovery thread), before the stage could report "no space". Warnings
// and errors only (info_log_level). Called from RocksDB's threads; no exception leaves it.
class SpdlogRocksLogger : public rocksdb::Logger {
 public:
  explicit SpdlogRocksLogger(std::string path) : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), path_(std::move(path)) {}
  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override { Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    char buffer[1024];
    va_list copy;
    va_copy(copy, ap);
    const int n = std::vsnprintf(buffer, sizeof(buffer), format, copy);
    va_end(copy);
    if (n < 0) return;
    size_t len = std::min(static_cast<size_t>(n), sizeof(buffer) - 1);
    while (len > 0 && (buffer[len - 1] == '\n' || buffer[len - 1] == ' ')) buffer[--len] = '\0';
    try {
      if (level >= rocksdb::InfoLogLevel::ERROR_LEVEL) {
        spdlog::error("[rocksdb {}] {}", path_, buffer);
      } else {
        spdlog::warn("[rocksdb {}] {}", path_, buffer);
      }
    } catch (const std::exception&) {
      // Logging must not fail a RocksDB thread; spdlog reports its own errors.
    }
  }

 private:
  const std::string path_;
};

struct StateMetrics {
  prometheus::Counter* writes = nullptr;
  prometheus::Counter* write_bytes = nullptr;
  prometheus::Counter* reads = nullptr;
  prometheus::Histogram* write_seconds = nullptr;
  // Process-wide (no labels): the memory budget's size and what it holds, set after each
  // write so that /metrics shows the budget filling (issue 12 item 5).
  prometheus::Gauge* budget_bytes = nullptr;
  prometheus::Gauge* budget_in_use_bytes = nullptr;
  prometheus::Gauge* memtable_bytes = nullptr;
};

StateMetrics MetricsFor(const std::string& store) {
  auto registry = MetricsRegistry();
  static auto& writes = prometheus::BuildCounter()
                            .Name("streamrec_state_writes_total")
                            .Help("Atomic WriteBatches applied to a state store")
                            .Register(*registry);
  static auto& bytes = prometheus::BuildCounter()
                           .Name("streamrec_state_write_bytes_total")
                           .Help("Bytes of WriteBatches applied to a state store")
                           .Register(*registry);
  static auto& reads = prometheus::BuildCounter()
                           .Name("streamrec_state_reads_total")
                           .Help("Point reads from a state store")
                           .Register(*registry);
  static auto& seconds = prometheus::BuildHistogram()
                             .Name("streamrec_state_write_seconds")
                             .Help("Latency of applying one WriteBatch")
                             .Register(*registry);
  static auto& budget = prometheus::BuildGauge()
                            .Name("streamrec_state_memory_budget_bytes")
                            .Help("The process's RocksDB memory budget (state.memory_budget_mb)")
                            .Register(*registry)
                            .Add({});
  static auto& in_use = prometheus::BuildGauge()
                            .Name("streamrec_state_memory_in_use_bytes")
                            .Help("What the budget holds: cached blocks and the memtables "
                                  "charged to it, every state store of the process")
                            .Register(*registry)
                            .Add({});
  static auto& memtables = prometheus::BuildGauge()
                               .Name("streamrec_state_memtable_bytes")
                               .Help("Memtable bytes of every state store of the process "
                                     "(flushed at half the budget)")
                               .Register(*registry)
                               .Add({});
  StateMetrics m;
  m.budget_bytes = &budget;
  m.budget_in_use_bytes = &in_use;
  m.memtable_bytes = &memtables;
  m.writes = &writes.Add({{"store", store}});
  m.write_bytes = &bytes.Add({{"store", store}});
  m.reads = &reads.Add({{"store", store}});
  m.write_seconds = &seconds.Add({{"store", store}}, LatencyBuckets());
  return m;
}

class RocksIterator : public StateIterator {
 public:
  RocksIterator(std::unique_ptr<rocksdb::Iterator> it, std::string prefix)
      : it_(std::move(it)), prefix_(std::move(prefix)) {
    it_->Seek(prefix_);
  }
  bool Valid() const override { return it_->Valid() && it_->key().starts_with(prefix_); }
  void Next() override { it_->Next(); }
  std::string_view key() const override { return {it_->key().data(), it_->key().size()}; }
  std::string_view value() const override { return {it_->value().data(), it_->value().size()}; }
  Status status() const override { return FromRocks(it_->status(), "iterating"); }

 private:
  std::unique_ptr<rocksdb::Iterator> it_;
  std::string prefix_;
};

}  // namespace

bool AddCounters(const std::string_view* existing, std::string_view operand, std::string* out) {
  if (operand.size() % 8 != 0) return false;
  if (existing != nullptr && existing->size() % 8 != 0) return false;
  const size_t n_existing = existing == nullptr ? 0 : existing->size() / 8;
  const size_t n = std::max(n_existing, operand.size() / 8);
  out->assign(n * 8, '\0');
  for (size_t i = 0; i < n; ++i) {
    double a = 0, b = 0;
    if (i < n_existing) std::memcpy(&a, existing->data() + i * 8, 8);
    if (i < operand.size() / 8) std::memcpy(&b, operand.data() + i * 8, 8);
    const double sum = a + b;
    std::memcpy(out->data() + i * 8, &sum, 8);
  }
  return true;
}

std::string EncodeCounter(const std::vector<double>& values) {
  std::string out(values.size() * 8, '\0');
  for (size_t i = 0; i < values.size(); ++i) std::memcpy(out.data() + i * 8, &values[i], 8);
  return out;
}

std::string EncodeCounter(double value) { return EncodeCounter(std::vector<double>{value}); }

std::vector<double> DecodeCounter(std::string_view bytes) {
  std::vector<double> out(bytes.size() / 8);
  for (size_t i = 0; i < out.size(); ++i) std::memcpy(&out[i], bytes.data() + i * 8, 8);
  return out;
}

// ---------------------------------------------------------------------------------------
// The process's memory budget (SetProcessMemoryBudget).

namespace {

struct MemoryBudget {
  size_t bytes = 0;
  std::shared_ptr<rocksdb::Cache> cache;
  std::shared_ptr<rocksdb::WriteBufferManager> write_buffers;
};

std::mutex& BudgetMutex() {
  static std::mutex m;
  return m;
}

// Guarded by BudgetMutex(); replaced, never changed in place, so a store keeps the
// budget it was opened with.
std::shared_ptr<const MemoryBudget>& BudgetSlot() {
  static std::shared_ptr<const MemoryBudget> budget;
  return budget;
}

std::shared_ptr<const MemoryBudget> MakeBudget(size_t bytes) {
  auto b = std::make_shared<MemoryBudget>();
  b->bytes = bytes;
  b->cache = rocksdb::NewLRUCache(bytes);
  // Memtables charged to the cache, flushed at half the budget; writers never stall
  // (a stage thread must not block on another store's flush).
  b->write_buffers = std::make_shared<rocksdb::WriteBufferManager>(bytes / 2, b->cache, /*allow_stall=*/false);
  return b;
}

std::shared_ptr<const MemoryBudget> CurrentBudget() {
  std::lock_guard<std::mutex> lock(BudgetMutex());
  auto& slot = BudgetSlot();
  if (slot == nullptr) slot = MakeBudget(kDefaultProcessMemoryBudget);
  return slot;
}

}  // namespace

Status SetProcessMemoryBudget(size_t bytes) {
  if (bytes == 0) return Status::InvalidArgument("the state memory budget must be above 0 bytes");
  auto budget = MakeBudget(bytes);
  std::lock_guard<std::mutex> lock(BudgetMutex());
  BudgetSlot() = std::move(budget);
  return Status::Ok();
}

size_t ProcessMemoryBudget() { return CurrentBudget()->bytes; }

size_t ProcessMemoryInUse() { return CurrentBudget()->cache->GetUsage(); }

// ---------------------------------------------------------------------------------------

struct StateWriteBatch::Rep {
  rocksdb::WriteBatch batch;
};

StateWriteBatch::StateWriteBatch() : rep_(std::make_unique<Rep>()) {}
StateWriteBatch::~StateWriteBatch() = default;

// A ColumnFamilyId is the RocksDB column-family id itself. A batch is built before it
// meets a DB, so operations name the family through this stand-in handle, which
// rocksdb::WriteBatch only asks for its id and comparator.
namespace {
class IdHandle : public rocksdb::ColumnFamilyHandle {
 public:
  explicit IdHandle(uint32_t id) : id_(id) {}
  const std::string& GetName() const override { return name_; }
  uint32_t GetID() const override { return id_; }
  rocksdb::Status GetDescriptor(rocksdb::ColumnFamilyDescriptor*) override {
    return rocksdb::Status::NotSupported();
  }
  const rocksdb::Comparator* GetComparator() const override { return rocksdb::BytewiseComparator(); }

 private:
  uint32_t id_;
  std::string name_;
};
}  // namespace

// The store's own record of its write history, in a column family of its own (hidden
// from ColumnFamilyNames and ColumnFamily): every Write adds 1 to kWrites (a counter
// merge) and puts the write's number in kLastWrite, in the same batch. A store that lost
// writes from the middle of its history (a MANIFEST truncated at a record boundary names
// an older set of SST files and an older WAL, the WALs after it are gone, and RocksDB
// replays the WALs that are left: issue 14 measured 2,845 events lost silently) has
// fewer merged increments than its last write's number. kFamilies lists the column
// families the store had, so one whose creation record was cut is noticed too (RocksDB
// would recreate it empty). Created before every other family, so any cut that leaves
// another family leaves this one.
constexpr char kIntegrityFamily[] = "streamrec-integrity";
constexpr char kWrites[] = "writes";
constexpr char kLastWrite[] = "last";
constexpr char kFamilies[] = "families";

struct StateDb::Rep {
  StateDbOptions options;
  std::vector<std::string> names;  // index = ColumnFamilyId
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::ColumnFamilyHandle* integrity = nullptr;  // also in all_handles
  std::vector<rocksdb::ColumnFamilyHandle*> all_handles;  // handles + integrity
  uint64_t writes = 0;  // the number of the last write (kLastWrite)
  std::unique_ptr<rocksdb::DB> db;
  std::shared_ptr<rocksdb::Statistics> statistics;
  rocksdb::WriteOptions write_options;
  StateMetrics metrics;
  bool has_metrics = false;
  uint64_t bulk_loads = 0;  // names each bulk-load file apart
  // The budget the DB was opened with; outlives it (~Rep's body closes the DB first).
  std::shared_ptr<const MemoryBudget> budget;

  ~Rep() {
    if (db) {
      for (auto* h : all_handles) db->DestroyColumnFamilyHandle(h);
      handles.clear();
      all_handles.clear();
      db->Close();
      db.reset();
    }
  }
};

void StateWriteBatch::Put(ColumnFamilyId cf, std::string_view key, std::string_view value) {
  IdHandle h(static_cast<uint32_t>(cf));
  rep_->batch.Put(&h, rocksdb::Slice(key.data(), key.size()), rocksdb::Slice(value.data(), value.size()));
}
void StateWriteBatch::Merge(ColumnFamilyId cf, std::string_view key, std::string_view operand) {
  IdHandle h(static_cast<uint32_t>(cf));
  rep_->batch.Merge(&h, rocksdb::Slice(key.data(), key.size()),
                    rocksdb::Slice(operand.data(), operand.size()));
}
void StateWriteBatch::Delete(ColumnFamilyId cf, std::string_view key) {
  IdHandle h(static_cast<uint32_t>(cf));
  rep_->batch.Delete(&h, rocksdb::Slice(key.data(), key.size()));
}
void StateWriteBatch::Clear() { rep_->batch.Clear(); }
int StateWriteBatch::Count() const { return static_cast<int>(rep_->batch.Count()); }
size_t StateWriteBatch::DataSize() const { return rep_->batch.GetDataSize(); }

namespace {
// Lists the operations of a rocksdb::WriteBatch. No exception leaves it (the callback is
// ours and does not throw).
class OpLister : public rocksdb::WriteBatch::Handler {
 public:
  using Fn = std::function<void(ColumnFamilyId, std::string_view, StateWriteBatch::Op, std::string_view)>;
  explicit OpLister(const Fn& fn) : fn_(fn) {}
  rocksdb::Status PutCF(uint32_t cf, const rocksdb::Slice& key, const rocksdb::Slice& value) override {
    return Report(cf, key, StateWriteBatch::Op::kPut, value);
  }
  rocksdb::Status MergeCF(uint32_t cf, const rocksdb::Slice& key, const rocksdb::Slice& value) override {
    return Report(cf, key, StateWriteBatch::Op::kMerge, value);
  }
  rocksdb::Status DeleteCF(uint32_t cf, const rocksdb::Slice& key) override {
    return Report(cf, key, StateWriteBatch::Op::kDelete, rocksdb::Slice());
  }
  rocksdb::Status SingleDeleteCF(uint32_t cf, const rocksdb::Slice& key) override {
    return Report(cf, key, StateWriteBatch::Op::kDelete, rocksdb::Slice());
  }
  rocksdb::Status DeleteRangeCF(uint32_t, const rocksdb::Slice&, const rocksdb::Slice&) override {
    return rocksdb::Status::NotSupported("range deletions cannot be listed key by key");
  }

 private:
  rocksdb::Status Report(uint32_t cf, const rocksdb::Slice& key, StateWriteBatch::Op op, const rocksdb::Slice& value) {
    fn_(static_cast<ColumnFamilyId>(cf), std::string_view(key.data(), key.size()), op,
        std::string_view(value.data(), value.size()));
    return rocksdb::Status::OK();
  }
  const Fn& fn_;
};
}  // namespace

Status StateWriteBatch::ForEachOp(
    const std::function<void(ColumnFamilyId, std::string_view, Op, std::string_view)>& fn) const {
  OpLister lister(fn);
  rocksdb::Status s = rep_->batch.Iterate(&lister);
  if (!s.ok()) return Status::Internal("listing the operations of a write batch: " + s.ToString());
  return Status::Ok();
}

StateDb::StateDb(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
StateDb::~StateDb() = default;

namespace {
double CounterValue(const std::string& bytes) {
  const std::vector<double> v = DecodeCounter(bytes);
  return v.empty() ? 0.0 : v[0];
}
std::string JoinNames(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  std::string out;
  for (const auto& n : names) out += n + "\n";
  return out;
}
}  // namespace

Status StateDb::CheckWriteHistory(Rep* rep, const std::vector<std::string>& listed) {
  if (rep->integrity == nullptr) return Status::Ok();  // read-only, a store from before it
  const std::string& path = rep->options.path;
  auto inconsistent = [&](const std::string& what) {
    return Status::Corruption("state store " + path + " is corrupted (" + what +
                              ": writes were lost from the middle of its history, e.g. a truncated MANIFEST or a "
                              "lost WAL); " + kCorruptStoreAdvice);
  };
  std::string last, writes, families;
  rocksdb::Status s = rep->db->Get(rocksdb::ReadOptions(), rep->integrity, kLastWrite, &last);
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "reading the write history of " + path);
  s = rep->db->Get(rocksdb::ReadOptions(), rep->integrity, kWrites, &writes);
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "reading the write history of " + path);
  s = rep->db->Get(rocksdb::ReadOptions(), rep->integrity, kFamilies, &families);
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "reading the write history of " + path);
  const double last_n = CounterValue(last);
  const double writes_n = CounterValue(writes);
  if (last_n != writes_n) {
    return inconsistent("it holds " + std::to_string(static_cast<uint64_t>(writes_n)) + " of the " +
                        std::to_string(static_cast<uint64_t>(last_n)) + " writes its last write counted");
  }
  // Every family the store had must have been there before this open (RocksDB recreates a
  // family whose creation record was cut, empty).
  size_t at = 0;
  while (at < families.size()) {
    const size_t end = families.find('\n', at);
    const std::string name = families.substr(at, end == std::string::npos ? std::string::npos : end - at);
    at = end == std::string::npos ? families.size() : end + 1;
    if (!name.empty() && std::find(listed.begin(), listed.end(), name) == listed.end()) {
      return inconsistent("its column family '" + name + "' is gone");
    }
  }
  rep->writes = static_cast<uint64_t>(last_n);
  if (rep->options.read_only) return Status::Ok();
  const std::string now = JoinNames(rep->names);
  if (now == families) return Status::Ok();
  rocksdb::WriteBatch batch;
  batch.Put(rep->integrity, kFamilies, now);
  batch.Put(rep->integrity, kLastWrite, EncodeCounter(static_cast<double>(rep->writes + 1)));
  batch.Merge(rep->integrity, kWrites, EncodeCounter(1.0));
  rocksdb::WriteOptions wo;
  wo.sync = rep->options.sync_writes;
  s = rep->db->Write(wo, &batch);
  if (s.IsNoSpace()) return NoSpace(s, "writing to " + path, path);
  if (!s.ok()) return FromRocks(s, "recording the column families of " + path);
  rep->writes += 1;
  return Status::Ok();
}

Result<std::unique_ptr<StateDb>> StateDb::Open(const StateDbOptions& options) {
  auto rep = std::make_unique<Rep>();
  rep->options = options;
  rep->statistics = rocksdb::CreateDBStatistics();

  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.statistics = rep->statistics;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 2;
  db_options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  db_options.info_log = std::make_shared<SpdlogRocksLogger>(options.path);
  // A MANIFEST or WAL record that fails its checksum fails the open (RocksDB's default,
  // stated because the corruption handling below relies on it).
  db_options.paranoid_checks = true;
  rep->budget = CurrentBudget();
  db_options.write_buffer_manager = rep->budget->write_buffers;
  rocksdb::BlockBasedTableOptions table_options;
  table_options.block_cache = rep->budget->cache;
  // Index and filter blocks in the budget too, not held per open table outside it.
  table_options.cache_index_and_filter_blocks = true;
  table_options.pin_l0_filter_and_index_blocks_in_cache = true;
  // Most reads of the item stage are of keys that are not there yet (a pair seen for the
  // first time): a Bloom filter per table answers those without its index and data
  // blocks (~1% false positives at 10 bits a key, cached in the budget with the index).
  table_options.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  std::shared_ptr<rocksdb::TableFactory> table_factory(rocksdb::NewBlockBasedTableFactory(table_options));

  auto cf_options_for = [&](const std::string& name) {
    rocksdb::ColumnFamilyOptions cf;
    cf.write_buffer_size = options.write_buffer_size;
    // A memtable allocates its arena in blocks of write_buffer_size / 8 (2 MiB) by
    // default, so every column family of every partition store that holds a single
    // entry took 2 MiB: 7 families x 16 partitions is 224 MiB before anything is
    // flushed. Small blocks make a memtable's memory follow its content.
    cf.arena_block_size = std::min<size_t>(options.write_buffer_size / 8, size_t{64} << 10);
    cf.table_factory = table_factory;
    if (std::find(options.counter_column_families.begin(), options.counter_column_families.end(),
                  name) != options.counter_column_families.end()) {
      cf.merge_operator = std::make_shared<CounterMergeOperator>();
    }
    return cf;
  };

  std::vector<std::string> names = options.column_families;
  names.erase(std::remove(names.begin(), names.end(), rocksdb::kDefaultColumnFamilyName), names.end());
  names.erase(std::remove(names.begin(), names.end(), kIntegrityFamily), names.end());
  names.push_back(rocksdb::kDefaultColumnFamilyName);
  // Every existing column family must be opened too.
  std::vector<std::string> existing;
  if (rocksdb::DB::ListColumnFamilies(db_options, options.path, &existing).ok()) {
    for (const auto& e : existing) {
      if (e != kIntegrityFamily && std::find(names.begin(), names.end(), e) == names.end()) names.push_back(e);
    }
  }
  const bool had_integrity = std::find(existing.begin(), existing.end(), kIntegrityFamily) != existing.end();
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  if (!options.read_only || had_integrity) {
    // First: RocksDB creates missing families in this order.
    rocksdb::ColumnFamilyOptions integrity = cf_options_for(kIntegrityFamily);
    integrity.merge_operator = std::make_shared<CounterMergeOperator>();
    descriptors.emplace_back(kIntegrityFamily, integrity);
  }
  for (const auto& n : names) descriptors.emplace_back(n, cf_options_for(n));
  // Every family flushes with the others, in one atomic MANIFEST group: the SST files a
  // MANIFEST names are then one cut of every family, which the write history above
  // relies on (without it, one family's flush can be cut from the MANIFEST while
  // another's is kept, and the lost writes do not show in the history's family).
  db_options.atomic_flush = true;

  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (options.read_only) {
    s = rocksdb::DB::OpenForReadOnly(db_options, options.path, descriptors, &rep->handles, &raw);
  } else {
    std::error_code ec;
    std::filesystem::create_directories(options.path, ec);
    s = rocksdb::DB::Open(db_options, options.path, descriptors, &rep->handles, &raw);
  }
  if (s.IsCorruption()) {
    return Status::Corruption("state store " + options.path + " is corrupted (" + s.ToString() + "); " +
                              kCorruptStoreAdvice);
  }
  if (s.IsNoSpace()) return NoSpace(s, "opening state db " + options.path, options.path);
  if (!s.ok()) return FromRocks(s, "opening state db " + options.path);
  rep->db.reset(raw);
  rep->all_handles = rep->handles;
  if (descriptors.front().name == kIntegrityFamily) {
    rep->integrity = rep->handles.front();
    rep->handles.erase(rep->handles.begin());
  }
  rep->names = names;
  if (options.verify_checksums_on_open) {
    rocksdb::Status verified = rep->db->VerifyChecksum();
    if (!verified.ok()) {  // ~Rep closes the DB
      if (verified.IsCorruption()) {
        return Status::Corruption("state store " + options.path + " is corrupted (" + verified.ToString() +
                                  "); " + kCorruptStoreAdvice);
      }
      return FromRocks(verified, "verifying the checksums of state db " + options.path);
    }
  }
  STREAMREC_RETURN_IF_ERROR(CheckWriteHistory(rep.get(), existing));
  rep->write_options.sync = options.sync_writes;
  if (!options.metrics_name.empty()) {
    rep->metrics = MetricsFor(options.metrics_name);
    rep->has_metrics = true;
  }
  return std::unique_ptr<StateDb>(new StateDb(std::move(rep)));
}

Result<std::string> StateDb::ColumnFamilyName(ColumnFamilyId cf) const {
  for (size_t i = 0; i < rep_->names.size(); ++i) {
    if (static_cast<ColumnFamilyId>(rep_->handles[i]->GetID()) == cf) return rep_->names[i];
  }
  return Status::NotFound("no column family with id " + std::to_string(cf) + " in " + rep_->options.path);
}

const std::vector<std::string>& StateDb::ColumnFamilyNames() const { return rep_->names; }

Result<ColumnFamilyId> StateDb::ColumnFamily(std::string_view name) const {
  for (size_t i = 0; i < rep_->names.size(); ++i) {
    if (rep_->names[i] == name) return static_cast<ColumnFamilyId>(rep_->handles[i]->GetID());
  }
  return Status::NotFound("no column family '" + std::string(name) + "' in " + rep_->options.path);
}

namespace {
rocksdb::ColumnFamilyHandle* HandleFor(const std::vector<rocksdb::ColumnFamilyHandle*>& handles,
                                       ColumnFamilyId cf) {
  for (auto* h : handles) {
    if (static_cast<ColumnFamilyId>(h->GetID()) == cf) return h;
  }
  return nullptr;
}
}  // namespace

Status StateDb::Write(StateWriteBatch* batch) {
  const auto start = std::chrono::steady_clock::now();
  const size_t bytes = batch->DataSize();
  rocksdb::WriteBatch& b = batch->rep_->batch;
  rocksdb::Status s;
  if (rep_->integrity != nullptr) {
    // The write history (kIntegrityFamily), in the same batch, taken out again after.
    b.SetSavePoint();
    b.Put(rep_->integrity, kLastWrite, EncodeCounter(static_cast<double>(rep_->writes + 1)));
    b.Merge(rep_->integrity, kWrites, EncodeCounter(1.0));
    s = rep_->db->Write(rep_->write_options, &b);
    rocksdb::Status rolled = b.RollbackToSavePoint();
    if (s.ok() && !rolled.ok()) s = rolled;
    if (s.ok()) rep_->writes += 1;
  } else {
    s = rep_->db->Write(rep_->write_options, &b);
  }
  if (s.IsNoSpace()) return NoSpace(s, "writing batch to " + rep_->options.path, rep_->options.path);
  if (!s.ok()) return FromRocks(s, "writing batch to " + rep_->options.path);
  if (rep_->has_metrics) {
    rep_->metrics.writes->Increment();
    rep_->metrics.write_bytes->Increment(static_cast<double>(bytes));
    rep_->metrics.write_seconds->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    const MemoryBudget& budget = *rep_->budget;
    rep_->metrics.budget_bytes->Set(static_cast<double>(budget.bytes));
    rep_->metrics.budget_in_use_bytes->Set(static_cast<double>(budget.cache->GetUsage()));
    rep_->metrics.memtable_bytes->Set(static_cast<double>(budget.write_buffers->memory_usage()));
  }
  return Status::Ok();
}

Result<std::optional<std::string>> StateDb::Get(ColumnFamilyId cf, std::string_view key) const {
  auto* h = HandleFor(rep_->handles, cf);
  if (h == nullptr) return Status::InvalidArgument("unknown column family id");
  rocksdb::PinnableSlice value;
  rocksdb::Status s = rep_->db->Get(rocksdb::ReadOptions(), h, rocksdb::Slice(key.data(), key.size()), &value);
  if (rep_->has_metrics) rep_->metrics.reads->Increment();
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return FromRocks(s, "reading " + rep_->options.path);
  return std::optional<std::string>(value.ToString());
}

Result<std::vector<std::optional<std::string>>> StateDb::MultiGet(ColumnFamilyId cf,
                                                                   const std::vector<std::string_view>& keys) const {
  auto* h = HandleFor(rep_->handles, cf);
  if (h == nullptr) return Status::InvalidArgument("unknown column family id");
  std::vector<rocksdb::Slice> slices;
  slices.reserve(keys.size());
  for (std::string_view k : keys) slices.emplace_back(k.data(), k.size());
  std::vector<rocksdb::PinnableSlice> values(keys.size());
  std::vector<rocksdb::Status> statuses(keys.size());
  // Told sorted only when they are: RocksDB's batched lookup trusts the flag.
  const bool sorted = std::is_sorted(keys.begin(), keys.end());
  rep_->db->MultiGet(rocksdb::ReadOptions(), h, slices.size(), slices.data(), values.data(), statuses.data(),
                     sorted);
  if (rep_->has_metrics) rep_->metrics.reads->Increment(static_cast<double>(keys.size()));
  std::vector<std::optional<std::string>> out(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    if (!statuses[i].ok()) return FromRocks(statuses[i], "reading " + rep_->options.path);
    out[i] = values[i].ToString();
  }
  return out;
}

std::unique_ptr<StateIterator> StateDb::NewIterator(ColumnFamilyId cf, std::string_view prefix) const {
  auto* h = HandleFor(rep_->handles, cf);
  if (h == nullptr) h = rep_->db->DefaultColumnFamily();
  std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(rocksdb::ReadOptions(), h));
  return std::make_unique<RocksIterator>(std::move(it), std::string(prefix));
}

Status StateDb::Checkpoint(const std::string& dir) {
  rocksdb::Checkpoint* raw = nullptr;
  rocksdb::Status s = rocksdb::Checkpoint::Create(rep_->db.get(), &raw);
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  if (!s.ok()) return FromRocks(s, "creating checkpoint object");
  return FromRocks(checkpoint->CreateCheckpoint(dir), "checkpoint to " + dir);
}

Status StateDb::Flush() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  rocksdb::Status s = rep_->db->Flush(fo, rep_->all_handles);
  if (s.IsNoSpace()) return NoSpace(s, "flushing " + rep_->options.path, rep_->options.path);
  return FromRocks(s, "flushing " + rep_->options.path);
}

StateDbStats StateDb::Stats() const {
  StateDbStats st;
  auto& s = *rep_->statistics;
  st.user_bytes_written = s.getTickerCount(rocksdb::BYTES_WRITTEN);
  st.wal_bytes_written = s.getTickerCount(rocksdb::WAL_FILE_BYTES);
  st.flush_bytes_written = s.getTickerCount(rocksdb::FLUSH_WRITE_BYTES);
  st.compaction_bytes_written = s.getTickerCount(rocksdb::COMPACT_WRITE_BYTES);
  for (auto* h : rep_->handles) {
    uint64_t v = 0;
    if (rep_->db->GetIntProperty(h, "rocksdb.total-sst-files-size", &v)) st.live_sst_bytes += v;
    if (rep_->db->GetIntProperty(h, "rocksdb.cur-size-all-mem-tables", &v)) st.memtable_bytes += v;
  }
  return st;
}

const std::string& StateDb::path() const { return rep_->options.path; }

namespace {

class SstBulkLoader final : public StateBulkLoader {
 public:
  SstBulkLoader(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, std::string file)
      : db_(db), cf_(cf), file_(std::move(file)), writer_(rocksdb::EnvOptions(), db->GetOptions(cf), cf) {}
  ~SstBulkLoader() override {
    if (!finished_ && opened_) std::remove(file_.c_str());
  }

  Status Open() {
    STREAMREC_RETURN_IF_ERROR(FromRocks(writer_.Open(file_), "opening bulk-load file " + file_));
    opened_ = true;
    return Status::Ok();
  }
  Status Put(std::string_view key, std::string_view value) override {
    if (finished_) return Status::FailedPrecondition("bulk load of " + file_ + " already finished");
    // SstFileWriter refuses a key not above the previous one (InvalidArgument).
    rocksdb::Status s = writer_.Put(rocksdb::Slice(key.data(), key.size()), rocksdb::Slice(value.data(), value.size()));
    if (!s.ok()) return FromRocks(s, "bulk-load write to " + file_ + " (keys must come in ascending order)");
    ++entries_;
    return Status::Ok();
  }
  Status Finish() override {
    if (finished_) return Status::Ok();
    finished_ = true;
    if (entries_ == 0) {  // SstFileWriter refuses to finish an empty file
      std::remove(file_.c_str());
      return Status::Ok();
    }
    rocksdb::Status s = writer_.Finish();
    if (s.IsNoSpace()) return NoSpace(s, "finishing bulk-load file " + file_, file_);
    if (!s.ok()) return FromRocks(s, "finishing bulk-load file " + file_);
    rocksdb::IngestExternalFileOptions ingest;
    ingest.move_files = true;  // a rename (hard link), not a copy
    s = db_->IngestExternalFile(cf_, {file_}, ingest);
    std::remove(file_.c_str());  // gone already when moved; a leftover otherwise
    if (s.IsNoSpace()) return NoSpace(s, "ingesting " + file_, file_);
    return FromRocks(s, "ingesting " + file_);
  }
  uint64_t entries() const override { return entries_; }

 private:
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
  std::string file_;
  rocksdb::SstFileWriter writer_;
  uint64_t entries_ = 0;
  bool opened_ = false;
  bool finished_ = false;
};

}  // namespace

Result<std::unique_ptr<StateBulkLoader>> StateDb::NewBulkLoader(ColumnFamilyId cf) {
  if (rep_->options.read_only) return Status::FailedPrecondition(rep_->options.path + " is open read-only");
  auto* h = HandleFor(rep_->handles, cf);
  if (h == nullptr) return Status::InvalidArgument("unknown column family id");
  const std::string file =
      rep_->options.path + "/bulk-load-" + std::to_string(cf) + "-" + std::to_string(++rep_->bulk_loads) + ".sst";
  auto loader = std::make_unique<SstBulkLoader>(rep_->db.get(), h, file);
  STREAMREC_RETURN_IF_ERROR(loader->Open());
  return std::unique_ptr<StateBulkLoader>(std::move(loader));
}

}  // namespace streamrec::state
