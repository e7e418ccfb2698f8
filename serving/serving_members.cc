#include "serving/serving_members.h"

#include <algorithm>

#include <simdjson.h>

#include "core/json_writer.h"

namespace streamrec::serving {

int32_t KafkaMurmur2(std::string_view key) {
  // Kafka's Utils.murmur2 (the Java client), as librdkafka's rd_murmur2.
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t m = 0x5bd1e995;
  constexpr int r = 24;
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  const size_t length = key.size();
  uint32_t h = kSeed ^ static_cast<uint32_t>(length);
  const size_t blocks = length / 4;
  for (size_t i = 0; i < blocks; ++i) {
    const size_t o = i * 4;
    uint32_t k = static_cast<uint32_t>(data[o]) | (static_cast<uint32_t>(data[o + 1]) << 8) |
                 (static_cast<uint32_t>(data[o + 2]) << 16) | (static_cast<uint32_t>(data[o + 3]) << 24);
    k *= m;
    k ^= k >> r;
    k *= m;
    h *= m;
    h ^= k;
  }
  const size_t tail = blocks * 4;
  switch (length & 3) {
    case 3:
      h ^= static_cast<uint32_t>(data[tail + 2]) << 16;
      [[fallthrough]];
    case 2:
      h ^= static_cast<uint32_t>(data[tail + 1]) << 8;
      [[fallthrough]];
    case 1:
      h ^= static_cast<uint32_t>(data[tail]);
      h *= m;
  }
  h ^= h >> 13;
  h *= m;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

int32_t PartitionForKey(std::string_view key, int32_t partitions) {
  const uint32_t h = static_cast<uint32_t>(KafkaMurmur2(key)) & 0x7fffffffu;
  return static_cast<int32_t>(h % static_cast<uint32_t>(std::max(1, partitions)));
}

std::string EncodeServingMember(const ServingMember& member) {
  JsonWriter w;
  w.BeginObject();
  w.Key("replica").String(member.replica_id);
  w.Key("http").String(member.http_address);
  w.Key("partitions").BeginArray();
  for (int32_t p : member.partitions) w.Int(p);
  w.EndArray();
  w.Key("partition_count").Int(member.partition_count);
  w.Key("generation").Int(member.generation);
  w.Key("windows_loaded").Bool(member.windows_loaded);
  w.Key("announced_ms").Int(member.announced_ms);
  w.EndObject();
  return w.Release();
}

Result<ServingMember> DecodeServingMember(std::string_view json) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS) {
    return Status::InvalidArgument("serving member announcement is not valid JSON");
  }
  simdjson::dom::object obj;
  if (doc.get(obj) != simdjson::SUCCESS) return Status::InvalidArgument("serving member announcement is not an object");
  ServingMember m;
  std::string_view sv;
  if (obj["replica"].get(sv) != simdjson::SUCCESS || sv.empty()) {
    return Status::InvalidArgument("serving member announcement has no replica");
  }
  m.replica_id = std::string(sv);
  if (obj["http"].get(sv) != simdjson::SUCCESS || sv.empty()) {
    return Status::InvalidArgument("serving member announcement has no http address");
  }
  m.http_address = std::string(sv);
  int64_t n = 0;
  if (obj["partition_count"].get(n) != simdjson::SUCCESS || n < 0 || n > (1 << 20)) {
    return Status::InvalidArgument("serving member announcement has no valid partition_count");
  }
  m.partition_count = static_cast<int32_t>(n);
  simdjson::dom::array partitions;
  if (obj["partitions"].get(partitions) != simdjson::SUCCESS) {
    return Status::InvalidArgument("serving member announcement has no partitions");
  }
  for (simdjson::dom::element e : partitions) {
    if (e.get(n) != simdjson::SUCCESS || n < 0 || n >= m.partition_count) {
      return Status::InvalidArgument("serving member announcement names a partition outside [0, partition_count)");
    }
    m.partitions.push_back(static_cast<int32_t>(n));
  }
  std::sort(m.partitions.begin(), m.partitions.end());
  if (obj["generation"].get(n) == simdjson::SUCCESS) m.generation = n;
  bool loaded = false;
  if (obj["windows_loaded"].get(loaded) == simdjson::SUCCESS) m.windows_loaded = loaded;
  if (obj["announced_ms"].get(n) == simdjson::SUCCESS) m.announced_ms = n;
  return m;
}

void ServingMembers::SetSelf(std::string self_id) {
  MutexLock lock(&mu_);
  self_id_ = std::move(self_id);
}

std::string ServingMembers::self_id() const {
  MutexLock lock(&mu_);
  return self_id_;
}

Status ServingMembers::Apply(const std::string& key, std::optional<std::string_view> value) {
  if (!value) {
    MutexLock lock(&mu_);
    members_.erase(key);
    Rebuild();
    return Status::Ok();
  }
  Result<ServingMember> decoded = DecodeServingMember(*value);
  if (!decoded.ok()) return decoded.status();
  if (decoded->replica_id != key) {
    return Status::InvalidArgument("serving member announcement of '" + decoded->replica_id + "' under key '" + key + "'");
  }
  // One partition: the log's order is the announcements' order.
  MutexLock lock(&mu_);
  members_[key] = std::move(decoded).value();
  Rebuild();
  return Status::Ok();
}

void ServingMembers::Rebuild() {
  owners_.clear();
  partition_count_ = 0;
  for (const auto& [id, m] : members_) partition_count_ = std::max(partition_count_, m.partition_count);
  std::map<int32_t, const ServingMember*> best;
  for (const auto& [id, m] : members_) {
    if (m.partition_count != partition_count_) continue;  // from before the topic grew
    for (int32_t p : m.partitions) {
      const ServingMember*& b = best[p];
      if (b == nullptr || (m.windows_loaded && !b->windows_loaded) ||
          (m.windows_loaded == b->windows_loaded && m.announced_ms > b->announced_ms)) {
        b = &m;
      }
    }
  }
  for (const auto& [p, m] : best) owners_[p] = m->replica_id;
}

ServingRoute ServingMembers::RouteUser(std::string_view user_id) const {
  ServingRoute route;
  MutexLock lock(&mu_);
  if (partition_count_ <= 0) return route;
  route.partition = PartitionForKey(user_id, partition_count_);
  auto owner = owners_.find(route.partition);
  if (owner == owners_.end()) return route;
  auto member = members_.find(owner->second);
  if (member == members_.end()) return route;
  route.owned = true;
  route.owner_id = member->second.replica_id;
  route.owner_address = member->second.http_address;
  route.local = !self_id_.empty() && route.owner_id == self_id_;
  return route;
}

std::string ServingMembers::OwnerOf(int32_t partition) const {
  MutexLock lock(&mu_);
  auto it = owners_.find(partition);
  return it == owners_.end() ? std::string() : it->second;
}

std::vector<ServingMember> ServingMembers::Members() const {
  MutexLock lock(&mu_);
  std::vector<ServingMember> out;
  for (const auto& [id, m] : members_) out.push_back(m);
  return out;
}

}  // namespace streamrec::serving
