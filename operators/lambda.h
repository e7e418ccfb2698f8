#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "core/status.h"

namespace streamrec::operators {

// The speed layer's side of the lambda architecture (DESIGN §2 "Merging the layers").
// The item stage re-bases its state onto an adopted batch view: state = the batch view
// (everything consumed from `clicks` below the cutoff) + every cooc-delta part whose
// source offsets are at or above the cutoff. A part's source offsets come from its
// `streamrec.src` mark ([first, next) of the `clicks` partition it was computed from),
// so the split is exact whenever no part straddles the cutoff: the user stage's
// commits, and so its group offsets, are part boundaries (`streamrec batch
// --cutoff-group`), and a replaying user stage sends one event per part.

// A batch view the item stage can adopt (what `streamrec.batch` announces).
struct BatchViewRef {
  int64_t version = 0;
  // The version's `view/` RocksDB (the item stage's layout, operators/batch_view_store.h).
  std::string view_dir;
  // The cutoff: `clicks` partition -> end offset (exclusive) the batch view covers.
  std::map<int32_t, int64_t> cutoff;
  // When the batch layer wrote it (wall clock, ms; 0: unknown): the view's age.
  int64_t created_ms = 0;
  // The version's two-tower snapshot (training/snapshot.h layout; empty: written with
  // --no-model): what serving loads with lambda.model batch and the trainer starts from
  // with lambda.model warm.
  std::string model_dir;
};

// The newest batch view announced, handed from the thread that reads `streamrec.batch`
// to the item-stage tasks, which each adopt it at their next flush. Thread-safe.
class BatchViewInbox {
 public:
  // Keeps `ref` if its version is above the one held.
  void Offer(BatchViewRef ref);
  // Null until a view was offered.
  std::shared_ptr<const BatchViewRef> Latest() const;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const BatchViewRef> latest_;
};

// Where the source offsets [first, next) of a part lie relative to a cutoff.
enum class CutoffSide { kBefore, kAfter, kStraddles };
CutoffSide SideOf(int64_t first, int64_t next, int64_t cutoff);

// What the item stage stores of the lambda merge ("lambda" store, key "state").
struct LambdaState {
  int64_t version = 0;          // the adopted batch view (0: none)
  int32_t item_partitions = 0;  // P of the cooc-delta messages (0: none seen yet)
  // Parts of a source partition below base are in the adopted batch view: dropped.
  std::map<int32_t, int64_t> base;
  // The journal holds every part applied at or above this offset (absent: from 0).
  std::map<int32_t, int64_t> journal_from;
  // A view was adopted and the neighbour lists are still to be rebuilt (at the next
  // flush, from the committed counts).
  bool rebuild_lists = false;
  // The adopted view's creation time (BatchViewRef::created_ms; 0: unknown, or a state
  // written before it was kept).
  int64_t created_ms = 0;

  std::string Encode() const;
  static Result<LambdaState> Decode(std::string_view bytes);
};

// One applied cooc-delta message in the item stage's journal ("lambda" store, keys
// JournalKey), kept until a batch view's cutoff covers it: what a re-base applies again.
struct JournalEntry {
  int64_t first = -1;       // source offsets of its main part ([first, next))
  int64_t next = -1;
  int64_t peer_first = -1;  // its peer counts cover [peer_first, next)
  bool main = false;        // which parts were applied
  bool peer = false;
  std::string message;      // the cooc-delta message as received

  std::string Encode() const;
  static Result<JournalEntry> Decode(std::string_view bytes);
};

inline constexpr char kJournalPrefix[] = "j";
inline constexpr char kLambdaStateKey[] = "state";
// "j" + source partition + next offset + input offset (big-endian: ordered by next).
std::string JournalKey(int32_t source_partition, int64_t next, int64_t input_offset);
// The source partition and next offset of a journal key; false if it is not one.
bool ParseJournalKey(std::string_view key, int32_t* source_partition, int64_t* next);

}  // namespace streamrec::operators
