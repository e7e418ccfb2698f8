#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "state/state_db.h"

namespace streamrec::state {

// A named table a processor reaches through ProcessorContext::GetStateStore. Stores are
// write-back caches over one column family of the task's StateDb: writes are kept in an
// overlay (visible to reads at once, repeated writes to a key collapsed) and go into the
// task's StateWriteBatch in PrepareCommit(), so they are applied atomically with the
// consumed offsets and the outbox. Used from the owning task's processing thread only.
class StateStore {
 public:
  virtual ~StateStore() = default;
  virtual const std::string& name() const = 0;
  // Adds the pending writes to the batch (called by the task right before it writes it).
  virtual void PrepareCommit() = 0;
  // Called by the task after its batch was written: pending writes are now in the DB.
  virtual void OnCommitted() = 0;
  // Called when the task discards its pending batch (not committed).
  virtual void OnAborted() = 0;
};

// Key -> bytes.
class KeyValueStore : public StateStore {
 public:
  KeyValueStore(std::string name, StateDb* db, ColumnFamilyId cf, StateWriteBatch* batch)
      : name_(std::move(name)), db_(db), cf_(cf), batch_(batch) {}

  const std::string& name() const override { return name_; }
  void PrepareCommit() override;
  void OnCommitted() override { overlay_.clear(); }
  void OnAborted() override { overlay_.clear(); }

  // Pending writes first, then the DB. nullopt when absent (or deleted).
  Result<std::optional<std::string>> Get(std::string_view key) const;
  void Put(std::string_view key, std::string_view value);
  void Delete(std::string_view key);
  // Deletes every entry, committed or pending (a pending delete per committed key, so
  // its cost is one scan of the column family; the lambda re-base, DESIGN §2).
  Status Clear();
  // Iterates the COMMITTED contents under `prefix` (pending writes are not seen).
  std::unique_ptr<StateIterator> ScanCommitted(std::string_view prefix = "") const {
    return db_->NewIterator(cf_, prefix);
  }

 private:
  std::string name_;
  StateDb* db_;
  ColumnFamilyId cf_;
  StateWriteBatch* batch_;
  std::unordered_map<std::string, std::optional<std::string>> overlay_;
  // The key of a lookup, copied into a buffer that keeps its capacity: a std::string made
  // per lookup allocates for keys over 15 bytes (C++17 maps have no string_view lookup).
  mutable std::string probe_;
};

// Key -> vector of double counters, updated by Merge (the counter merge operator:
// no read-modify-write on the write path). The column family must be listed in
// StateDbOptions::counter_column_families.
class CounterStore : public StateStore {
 public:
  CounterStore(std::string name, StateDb* db, ColumnFamilyId cf, StateWriteBatch* batch)
      : name_(std::move(name)), db_(db), cf_(cf), batch_(batch) {}

  const std::string& name() const override { return name_; }
  // One Merge per key with the sum of its pending deltas.
  void PrepareCommit() override;
  void OnCommitted() override { pending_.clear(); }
  void OnAborted() override { pending_.clear(); }

  void Add(std::string_view key, const std::vector<double>& delta);
  void Add(std::string_view key, double delta);
  // Deletes every counter, committed or pending: each committed key is deleted in the
  // commit before the deltas added after this call are merged (the lambda re-base).
  Status Clear();
  // Committed value plus pending deltas; an empty vector when absent.
  Result<std::vector<double>> Get(std::string_view key) const;
  // The first component (0 when absent).
  Result<double> GetScalar(std::string_view key) const;
  // GetScalar of each of `keys` (fastest sorted ascending), with one batched read of the
  // committed values (StateDb::MultiGet). A key with deltas pending whose committed
  // value is a scalar or absent is then written as a put of the sum (no merge operand).
  Result<std::vector<double>> GetScalars(const std::vector<std::string_view>& keys);
  std::unique_ptr<StateIterator> ScanCommitted(std::string_view prefix = "") const {
    return db_->NewIterator(cf_, prefix);
  }

 private:
  std::string name_;
  StateDb* db_;
  ColumnFamilyId cf_;
  StateWriteBatch* batch_;
  // A key's deltas since the last commit; `reset`: its committed value is deleted first.
  // `base_size`: the committed value when a read saw it while the key had deltas pending
  // (-1: not seen; 0: absent; 1: the scalar `base`): the commit then puts the sum, which
  // is the value the merge would have made, so that nothing reads it back (the
  // changelog sends a put's value from the batch).
  struct Pending {
    bool reset = false;
    int8_t base_size = -1;
    double base = 0;
    std::vector<double> delta;
  };
  // The pending entry of `key`, created (the key copied) when absent.
  Pending& PendingOf(std::string_view key);
  std::unordered_map<std::string, Pending> pending_;
  mutable std::string probe_;  // as KeyValueStore::probe_
};

}  // namespace streamrec::state
