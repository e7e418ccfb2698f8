#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/thread_annotations.h"

namespace streamrec::serving {

// The partition of `clicks` a record keyed `key` lands in: the Java client's
// murmur2 partitioner, which every streamrec producer uses (partitioner=murmur2_random;
// a non-empty key is never random): (murmur2(key) & 0x7fffffff) % partitions.
// `partitions` must be >= 1.
int32_t PartitionForKey(std::string_view key, int32_t partitions);
// Kafka's Utils.murmur2 of the key's bytes (as a signed Java int, bit for bit).
int32_t KafkaMurmur2(std::string_view key);

// One serving replica's announcement on `streamrec.serving-members` (key: replica_id;
// a tombstone on a clean leave). JSON: {"replica","http","partitions":[..],
// "partition_count","generation","windows_loaded","announced_ms"}.
struct ServingMember {
  std::string replica_id;
  // HOST:PORT where the other replicas reach its HTTP API.
  std::string http_address;
  // The `clicks` partitions it owns (its consumer group assignment), ascending.
  std::vector<int32_t> partitions;
  // How many partitions `clicks` has (the routing modulus).
  int32_t partition_count = 0;
  // Counts this replica's announcements since its start (a new process starts at 1).
  int64_t generation = 0;
  // Whether its windows were rebuilt (every owned partition read to its end offset as of
  // its assignment): an owner still rebuilding loses a tie to one that is not.
  bool windows_loaded = false;
  // Wall-clock ms when announced: the newest claim of a partition wins.
  int64_t announced_ms = 0;
};

std::string EncodeServingMember(const ServingMember& member);
Result<ServingMember> DecodeServingMember(std::string_view json);

// Where a request for one user is answered.
struct ServingRoute {
  bool local = true;         // answer here (this replica owns the user, or no one does)
  bool owned = false;        // some replica (maybe this one) claims the user's partition
  int32_t partition = -1;    // the user's clicks partition (-1: not known yet)
  std::string owner_id;      // the owner's replica id (when owned)
  std::string owner_address; // the owner's HTTP address (when owned)
};

// The membership directory: every replica's latest announcement, read from the members
// topic, and who owns each `clicks` partition. The owner of a partition is, among the
// members that claim it, one with its windows loaded if any, then the newest announcement
// (then the smallest replica id): during a rebalance the old owner's stale claim loses to
// the new owner's as soon as that one is announced. Thread-safe: the membership loop
// applies, HTTP workers route.
class ServingMembers {
 public:
  ServingMembers() = default;

  // This replica's id (set once its HTTP address is known; "" before).
  void SetSelf(std::string self_id) LOCKS_EXCLUDED(mu_);
  std::string self_id() const LOCKS_EXCLUDED(mu_);
  // A record of the members topic: a value announces (or replaces) member `key`, nullopt
  // (a tombstone) removes it. A value that does not decode is refused (InvalidArgument),
  // the directory unchanged.
  Status Apply(const std::string& key, std::optional<std::string_view> value) LOCKS_EXCLUDED(mu_);
  // Where to answer a request for `user_id`.
  ServingRoute RouteUser(std::string_view user_id) const LOCKS_EXCLUDED(mu_);
  // The replica id owning `partition` ("" when none claims it).
  std::string OwnerOf(int32_t partition) const LOCKS_EXCLUDED(mu_);
  // Every known member, by replica id.
  std::vector<ServingMember> Members() const LOCKS_EXCLUDED(mu_);

 private:
  void Rebuild() EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  std::string self_id_ GUARDED_BY(mu_);
  std::map<std::string, ServingMember> members_ GUARDED_BY(mu_);
  // partition -> the member owning it (an index into members_ by id).
  std::map<int32_t, std::string> owners_ GUARDED_BY(mu_);
  int32_t partition_count_ GUARDED_BY(mu_) = 0;
};

}  // namespace streamrec::serving
