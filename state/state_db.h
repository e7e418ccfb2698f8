#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace streamrec::state {

// Options of one RocksDB instance (one per stage partition).
struct StateDbOptions {
  // Directory of the database; created when missing.
  std::string path;
  // Column families besides "default" (which always exists): one per logical table.
  std::vector<std::string> column_families;
  // Column families whose Merge() adds counters (CounterMergeOperator); a subset of
  // column_families.
  std::vector<std::string> counter_column_families;
  // Open read-only (inspection of a stopped stage's state). Default false.
  bool read_only = false;
  // fsync the WAL on every Write. Default false: a process crash (kill -9) loses nothing
  // written, since the WAL is in the OS page cache; only a machine crash could.
  bool sync_writes = false;
  // Memtable size per column family. Default 16 MiB.
  size_t write_buffer_size = 16 << 20;
  // Name used as the `store` label of the streamrec_state_* metrics ("" = no metrics).
  std::string metrics_name;
  // Read every SST file and check its block checksums when opening (RocksDB's
  // VerifyChecksum), so a flipped bit on disk stops the open with Corruption instead of
  // surfacing later, mid-processing, on whichever read hits it. Costs one sequential read
  // of the store (a partition store is megabytes). The MANIFEST and WAL are checked by
  // RocksDB's open itself (paranoid_checks). Default true.
  bool verify_checksums_on_open = true;
};

// The memory budget every StateDb of this process shares (issue 12: one budget per stage
// process instead of caches and buffers per partition store, which grew with the number
// of partitions and column families: RocksDB 7 gives each column family its own 8 MiB
// block cache, and each can hold 2 x write_buffer_size of memtables). One LRU cache holds
// the data, index and filter blocks of every store, and every memtable is charged to it
// (RocksDB's WriteBufferManager): when the memtables reach half the budget, RocksDB
// flushes the largest. Applies to stores opened afterwards; a budget of 0 bytes is
// refused. Default 256 MiB (kDefaultProcessMemoryBudget; config `state.memory_budget_mb`,
// applied at start by every `streamrec` command). Thread-safe.
inline constexpr size_t kDefaultProcessMemoryBudget = size_t{256} << 20;
Status SetProcessMemoryBudget(size_t bytes);
// The budget in force and the bytes it holds now (cached blocks and memtables).
size_t ProcessMemoryBudget();
size_t ProcessMemoryInUse();

// What a corrupted store's error says to do (appended to Corruption errors of Open).
inline constexpr char kCorruptStoreAdvice[] =
    "the store cannot be used: stop the stage, move the directory aside (keep it for "
    "inspection) and start again: that partition's state is then rebuilt from what Kafka "
    "still holds of its input (docs/DESIGN.md §3, \"Epochs\"), or restore it from a "
    "checkpoint (--checkpoint); with the changelog on (changelog.enabled) the stage does this "
    "itself and restores the store from its changelog";

// Names a column family of an open StateDb (from StateDb::ColumnFamily); only
// meaningful for the StateDb that returned it.
using ColumnFamilyId = int;

// Writes applied atomically by StateDb::Write. Thread-compatible.
class StateWriteBatch {
 public:
  StateWriteBatch();
  ~StateWriteBatch();
  StateWriteBatch(const StateWriteBatch&) = delete;
  StateWriteBatch& operator=(const StateWriteBatch&) = delete;

  void Put(ColumnFamilyId cf, std::string_view key, std::string_view value);
  void Merge(ColumnFamilyId cf, std::string_view key, std::string_view operand);
  void Delete(ColumnFamilyId cf, std::string_view key);
  void Clear();
  int Count() const;
  size_t DataSize() const;
  // One operation of a batch: Put (value = the value), Merge (value = the operand) or
  // Delete (value empty).
  enum class Op { kPut, kMerge, kDelete };
  // Calls `fn(cf, key, op, value)` for every Put, Merge and Delete in the batch, in order
  // (a key written twice is reported twice). What the changelog logs (state/changelog.h).
  Status ForEachOp(
      const std::function<void(ColumnFamilyId, std::string_view, Op, std::string_view)>& fn) const;

 private:
  friend class StateDb;
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

// Iterates one column family in key order, optionally restricted to a key prefix.
// Not thread-safe; must not outlive its StateDb.
class StateIterator {
 public:
  virtual ~StateIterator() = default;
  virtual bool Valid() const = 0;
  virtual void Next() = 0;
  virtual std::string_view key() const = 0;
  virtual std::string_view value() const = 0;
  // Non-OK when iteration stopped on an error rather than at the end.
  virtual Status status() const = 0;
};

// Bulk load of one column family of a store built offline (the batch view): entries in
// strictly ascending key order go straight into an SST file that Finish() ingests
// (RocksDB's SstFileWriter + IngestExternalFile), with no WAL, memtable or flush, which
// made up most of writing a batch view through write batches. Nothing is visible before
// Finish(); a loader destroyed unfinished leaves the store as it was. Thread-compatible;
// must not outlive its StateDb.
class StateBulkLoader {
 public:
  virtual ~StateBulkLoader() = default;
  // InvalidArgument if `key` is not above the previous key.
  virtual Status Put(std::string_view key, std::string_view value) = 0;
  // Ingests what was put (nothing to do when nothing was).
  virtual Status Finish() = 0;
  virtual uint64_t entries() const = 0;
};

// Write statistics for write amplification: bytes the application wrote vs bytes
// RocksDB wrote to disk (WAL + flushes + compactions).
struct StateDbStats {
  uint64_t user_bytes_written = 0;
  uint64_t wal_bytes_written = 0;
  uint64_t flush_bytes_written = 0;
  uint64_t compaction_bytes_written = 0;
  uint64_t live_sst_bytes = 0;
  uint64_t memtable_bytes = 0;  // active and immutable memtables, every column family
  double WriteAmplification() const {
    return user_bytes_written == 0
               ? 0.0
               : static_cast<double>(wal_bytes_written + flush_bytes_written + compaction_bytes_written) /
                     static_cast<double>(user_bytes_written);
  }
};

// One RocksDB instance with every column family open (default included); handles are
// destroyed before the DB is closed. Reads and writes may come from any thread (RocksDB
// is thread-safe), but a stage task uses it from its processing thread only.
class StateDb {
 public:
  static Result<std::unique_ptr<StateDb>> Open(const StateDbOptions& options);
  ~StateDb();
  StateDb(const StateDb&) = delete;
  StateDb& operator=(const StateDb&) = delete;

  // The id of a column family by name; NotFound if it was not opened.
  Result<ColumnFamilyId> ColumnFamily(std::string_view name) const;
  // The name of an open column family; NotFound for an unknown id.
  Result<std::string> ColumnFamilyName(ColumnFamilyId cf) const;
  // The names of every open column family ("default" included).
  const std::vector<std::string>& ColumnFamilyNames() const;

  // Applies the batch atomically (all of it or nothing, also across a crash).
  Status Write(StateWriteBatch* batch);
  // The value, std::nullopt when absent.
  Result<std::optional<std::string>> Get(ColumnFamilyId cf, std::string_view key) const;
  // The values of `keys`, in their order: one call for many keys, cheaper than a Get each
  // (the changelog reads a commit's merged keys this way); fastest with keys sorted
  // ascending (bytewise), which RocksDB's batched lookup then need not sort.
  Result<std::vector<std::optional<std::string>>> MultiGet(ColumnFamilyId cf,
                                                           const std::vector<std::string_view>& keys) const;
  // Iterator over the keys starting with `prefix` ("" = all).
  std::unique_ptr<StateIterator> NewIterator(ColumnFamilyId cf, std::string_view prefix = "") const;

  // A consistent on-disk copy (hard links where possible) in `dir`, which must not
  // exist. Call right after a commit so the copy's offsets and state agree.
  Status Checkpoint(const std::string& dir);
  // Flushes memtables to SST files.
  Status Flush();
  // A bulk loader for `cf` (StateBulkLoader); its file lives in the store's directory
  // until ingested.
  Result<std::unique_ptr<StateBulkLoader>> NewBulkLoader(ColumnFamilyId cf);
  StateDbStats Stats() const;
  const std::string& path() const;

 private:
  struct Rep;
  explicit StateDb(std::unique_ptr<Rep> rep);
  // The write history's check at open (state_db.cc, kIntegrityFamily): Corruption when
  // writes are missing from the middle of the store's history or a column family it had
  // is gone (not in `listed`, the families RocksDB listed before the open).
  static Status CheckWriteHistory(Rep* rep, const std::vector<std::string>& listed);
  std::unique_ptr<Rep> rep_;
};

// Encodes a counter vector (the CounterMergeOperator's value format: doubles,
// little-endian) and decodes it (missing values read as 0).
std::string EncodeCounter(const std::vector<double>& values);
std::string EncodeCounter(double value);
std::vector<double> DecodeCounter(std::string_view bytes);

}  // namespace streamrec::state
