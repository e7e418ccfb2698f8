#include "training/snapshot.h"

#include <c10/util/Exception.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "core/byte_codec.h"
#include "core/file_system.h"
#include "core/id_hash.h"
#include "training/flat_json.h"
#include "training/snapshot_format.h"
#include "training/two_tower.h"

namespace streamrec::training {

namespace fs = streamrec::file_system;

// ---------------------------------------------------------------------------------
// File layouts.
namespace snapshot_format {
namespace {
constexpr char kParamsMagic[] = "SRPARAM1";
constexpr char kIdsMagic[] = "SRIDS001";
constexpr char kItemsMagic[] = "SRITEMS1";

bool ReadMagic(ByteReader* r, const char* magic) {
  char buf[8];
  return r->GetBytes(buf, 8) && std::memcmp(buf, magic, 8) == 0;
}

template <typename A, typename B>
void PutPairs(ByteWriter* w, const std::vector<std::pair<A, B>>& v) {
  w->Put<uint64_t>(v.size());
  for (const auto& [a, b] : v) {
    w->Put<A>(a);
    w->Put<B>(b);
  }
}

template <typename A, typename B>
bool GetPairs(ByteReader* r, std::vector<std::pair<A, B>>* v) {
  uint64_t n = 0;
  if (!r->Get(&n) || n > r->remaining() / (sizeof(A) + sizeof(B))) return false;
  v->resize(n);
  for (auto& [a, b] : *v) {
    if (!r->Get(&a) || !r->Get(&b)) return false;
  }
  return true;
}

bool AllFinite(const float* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(p[i])) return false;
  }
  return true;
}
}  // namespace

std::string EncodeParams(TwoTowerModel& model) {
  ByteWriter w;
  w.PutBytes(kParamsMagic, 8);
  auto params = model->named_parameters(/*recurse=*/true);
  w.Put<uint32_t>(static_cast<uint32_t>(params.size()));
  for (const auto& p : params) {
    torch::Tensor t = p.value().detach().to(torch::kCPU, torch::kFloat32).contiguous();
    w.PutString(p.key());
    w.Put<uint32_t>(static_cast<uint32_t>(t.dim()));
    for (int64_t s : t.sizes()) w.Put<int64_t>(s);
    w.PutBytes(t.data_ptr<float>(), static_cast<size_t>(t.numel()) * sizeof(float));
  }
  return std::move(w.buffer());
}

Status DecodeParamsInto(std::string_view bytes, TwoTowerModel& model, bool side_tables_may_lack) {
  ByteReader r(bytes);
  if (!ReadMagic(&r, kParamsMagic)) return Status::Corruption("params: bad magic");
  uint32_t count = 0;
  if (!r.Get(&count)) return Status::Corruption("params: truncated");
  auto params = model->named_parameters(/*recurse=*/true);
  auto is_side = [](const std::string& name) {
    return name == "categories.weight" || name == "brands.weight";
  };
  size_t side_tables = 0;
  for (const auto& p : params) side_tables += is_side(p.key()) ? 1 : 0;
  const bool lacks_side = side_tables_may_lack && count + side_tables == params.size();
  if (count != params.size() && !lacks_side) {
    return Status::Corruption("params: " + std::to_string(count) + " tensors, model has " +
                              std::to_string(params.size()));
  }
  torch::NoGradGuard no_grad;
  for (uint32_t i = 0; i < count; ++i) {
    std::string name;
    uint32_t rank = 0;
    if (!r.GetString(&name) || !r.Get(&rank) || rank > 8) {
      return Status::Corruption("params: truncated header");
    }
    std::vector<int64_t> sizes(rank);
    for (auto& s : sizes) {
      if (!r.Get(&s) || s < 0) return Status::Corruption("params: bad sizes of " + name);
    }
    torch::Tensor* dst = params.find(name);
    if (dst == nullptr) return Status::Corruption("params: unknown tensor " + name);
    if (lacks_side && is_side(name)) return Status::Corruption("params: unexpected " + name);
    if (dst->sizes().vec() != sizes) {
      return Status::Corruption("params: shape mismatch for " + name);
    }
    torch::Tensor cpu = torch::empty(sizes, torch::kFloat32);
    const size_t n = static_cast<size_t>(cpu.numel());
    if (!r.GetBytes(cpu.data_ptr<float>(), n * sizeof(float))) {
      return Status::Corruption("params: truncated data of " + name);
    }
    if (!AllFinite(cpu.data_ptr<float>(), n)) {
      return Status::Corruption("params: NaN or Inf in " + name);
    }
    dst->copy_(cpu);
  }
  if (!r.AtEnd()) return Status::Corruption("params: trailing bytes");
  return Status::Ok();
}

std::string EncodeIds(const IdMaps& ids) {
  ByteWriter w;
  w.PutBytes(kIdsMagic, 8);
  PutPairs(&w, ids.users);
  PutPairs(&w, ids.items);
  PutPairs(&w, ids.categories);
  w.Put<uint64_t>(ids.item_names.size());
  for (const auto& [k, name] : ids.item_names) {
    w.Put<uint64_t>(k);
    w.PutString(name);
  }
  PutPairs(&w, ids.item_categories);
  PutPairs(&w, ids.item_brands);
  return std::move(w.buffer());
}

Result<IdMaps> DecodeIds(std::string_view bytes) {
  ByteReader r(bytes);
  IdMaps ids;
  if (!ReadMagic(&r, kIdsMagic)) return Status::Corruption("ids: bad magic");
  if (!GetPairs(&r, &ids.users) || !GetPairs(&r, &ids.items) || !GetPairs(&r, &ids.categories)) {
    return Status::Corruption("ids: truncated table");
  }
  uint64_t n = 0;
  if (!r.Get(&n) || n > r.remaining() / 12) return Status::Corruption("ids: truncated names");
  ids.item_names.resize(n);
  for (auto& [k, name] : ids.item_names) {
    if (!r.Get(&k) || !r.GetString(&name)) return Status::Corruption("ids: truncated names");
  }
  if (!GetPairs(&r, &ids.item_categories)) return Status::Corruption("ids: bad item categories");
  // Item brands came later: a snapshot without them ends here.
  if (!r.AtEnd() && (!GetPairs(&r, &ids.item_brands) || !r.AtEnd())) {
    return Status::Corruption("ids: bad item brands");
  }
  return ids;
}

std::string EncodeItems(const ItemMatrix& items) {
  ByteWriter w;
  w.PutBytes(kItemsMagic, 8);
  w.Put<uint64_t>(items.keys.size());
  w.Put<int64_t>(items.dim);
  for (uint64_t k : items.keys) w.Put<uint64_t>(k);
  for (const auto& id : items.ids) w.PutString(id);
  w.PutBytes(items.embeddings.data(), items.embeddings.size() * sizeof(float));
  return std::move(w.buffer());
}

Result<ItemMatrix> DecodeItems(std::string_view bytes) {
  ByteReader r(bytes);
  ItemMatrix m;
  uint64_t n = 0;
  if (!ReadMagic(&r, kItemsMagic)) return Status::Corruption("items: bad magic");
  if (!r.Get(&n) || !r.Get(&m.dim) || m.dim <= 0 || m.dim > 65536 ||
      n > r.remaining() / (8 + 4 + 4 * static_cast<uint64_t>(m.dim))) {
    return Status::Corruption("items: bad header");
  }
  m.keys.resize(n);
  m.ids.resize(n);
  for (auto& k : m.keys) {
    if (!r.Get(&k)) return Status::Corruption("items: truncated keys");
  }
  for (auto& id : m.ids) {
    if (!r.GetString(&id)) return Status::Corruption("items: truncated ids");
  }
  m.embeddings.resize(n * static_cast<uint64_t>(m.dim));
  if (!r.GetBytes(m.embeddings.data(), m.embeddings.size() * sizeof(float)) || !r.AtEnd()) {
    return Status::Corruption("items: embedding matrix does not match its shape");
  }
  if (!AllFinite(m.embeddings.data(), m.embeddings.size())) {
    return Status::Corruption("items: NaN or Inf in item embeddings");
  }
  return m;
}

std::string Checksum(std::string_view bytes) {
  char buf[24];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(HashId(bytes)));
  return buf;
}

std::string CombinedChecksum(const std::string& params, const std::string& items,
                             const std::string& ids) {
  return Checksum(params + ":" + items + ":" + ids);
}

Status WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::IoError("cannot create " + path);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.flush();
  if (!out) return Status::IoError("cannot write " + path);
  return Status::Ok();
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::IoError("cannot read " + path);
  return ss.str();
}

}  // namespace snapshot_format

// ---------------------------------------------------------------------------------
// Manifest and announcement.

std::string SnapshotManifest::ToJson() const {
  FlatJson j;
  j.SetInt("format", format);
  j.SetInt("version", version);
  j.SetInt("step", step);
  j.SetInt("examples", examples);
  j.SetInt("watermark_ms", watermark_ms);
  j.SetInt("created_ms", created_ms);
  j.SetInt("num_items", num_items);
  j.SetInt("num_users", num_users);
  j.SetDouble("last_loss", std::isfinite(last_loss) ? last_loss : 0.0);
  j.SetInt("model.embedding_dim", model.embedding_dim);
  j.SetInt("model.hidden_dim", model.hidden_dim);
  j.SetInt("model.output_dim", model.output_dim);
  j.SetInt("model.user_capacity", model.user_capacity);
  j.SetInt("model.item_capacity", model.item_capacity);
  j.SetInt("model.category_capacity", model.category_capacity);
  j.SetInt("model.brand_capacity", model.brand_capacity);
  j.SetBool("model.use_user_id", model.use_user_id);
  j.SetString("model.history_encoder", HistoryEncoderName(model.history_encoder));
  j.SetInt("model.max_history", model.max_history);
  j.SetInt("model.history_window_s", model.history_window_s);
  j.SetDouble("model.temperature", model.temperature);
  j.SetString("params_checksum", params_checksum);
  j.SetString("items_checksum", items_checksum);
  j.SetString("ids_checksum", ids_checksum);
  j.SetString("checksum", checksum);
  if (!ranker_checksum.empty()) j.SetString("ranker_checksum", ranker_checksum);
  return j.Serialize();
}

Result<SnapshotManifest> SnapshotManifest::FromJson(std::string_view json) {
  auto parsed = FlatJson::Parse(json);
  if (!parsed.ok()) return parsed.status().WithContext("manifest");
  const FlatJson& j = *parsed;
  SnapshotManifest m;
  Status first_error;
  auto get_int = [&](const char* key, int64_t* out) {
    auto v = j.GetInt(key);
    if (v.ok()) {
      *out = *v;
    } else if (first_error.ok()) {
      first_error = v.status();
    }
  };
  auto get_str = [&](const char* key, std::string* out) {
    auto v = j.GetString(key);
    if (v.ok()) {
      *out = *v;
    } else if (first_error.ok()) {
      first_error = v.status();
    }
  };
  get_int("format", &m.format);
  get_int("version", &m.version);
  get_int("step", &m.step);
  get_int("examples", &m.examples);
  get_int("watermark_ms", &m.watermark_ms);
  get_int("created_ms", &m.created_ms);
  get_int("num_items", &m.num_items);
  get_int("num_users", &m.num_users);
  get_int("model.embedding_dim", &m.model.embedding_dim);
  get_int("model.hidden_dim", &m.model.hidden_dim);
  get_int("model.output_dim", &m.model.output_dim);
  get_int("model.user_capacity", &m.model.user_capacity);
  get_int("model.item_capacity", &m.model.item_capacity);
  get_int("model.category_capacity", &m.model.category_capacity);
  // Absent in snapshots written before item side features: no brand table.
  if (auto brands = j.GetInt("model.brand_capacity"); brands.ok()) m.model.brand_capacity = *brands;
  get_int("model.max_history", &m.model.max_history);
  get_int("model.history_window_s", &m.model.history_window_s);
  get_str("params_checksum", &m.params_checksum);
  get_str("items_checksum", &m.items_checksum);
  get_str("ids_checksum", &m.ids_checksum);
  get_str("checksum", &m.checksum);
  std::string encoder;
  get_str("model.history_encoder", &encoder);
  if (!first_error.ok()) return first_error.WithContext("manifest");
  if (!ParseHistoryEncoder(encoder, &m.model.history_encoder)) {
    return Status::InvalidArgument("manifest: unknown history encoder " + encoder);
  }
  auto loss = j.GetDouble("last_loss");
  auto tau = j.GetDouble("model.temperature");
  auto uid = j.GetBool("model.use_user_id");
  if (!loss.ok() || !tau.ok() || !uid.ok()) {
    return Status::InvalidArgument("manifest: missing last_loss, temperature or use_user_id");
  }
  if (auto ranker = j.GetString("ranker_checksum"); ranker.ok()) m.ranker_checksum = *ranker;
  m.last_loss = *loss;
  m.model.temperature = *tau;
  m.model.use_user_id = *uid;
  if (m.format != 1) {
    return Status::InvalidArgument("manifest: unsupported format " + std::to_string(m.format));
  }
  const auto& o = m.model;
  if (o.embedding_dim <= 0 || o.output_dim <= 0 || o.hidden_dim < 0 || o.user_capacity <= 0 ||
      o.item_capacity <= 0 || o.category_capacity < 0 || o.brand_capacity < 0 || !(o.temperature > 0) ||
      m.num_items < 0 || m.num_users < 0) {
    return Status::InvalidArgument("manifest: invalid model shape");
  }
  return m;
}

ModelAnnouncement ModelAnnouncement::FromManifest(const SnapshotManifest& m) {
  ModelAnnouncement a;
  a.version = m.version;
  a.path = m.dir;
  a.step = m.step;
  a.watermark_ms = m.watermark_ms;
  a.created_ms = m.created_ms;
  a.num_items = m.num_items;
  a.dim = m.model.output_dim;
  a.checksum = m.checksum;
  return a;
}

std::string ModelAnnouncement::ToJson() const {
  FlatJson j;
  j.SetString("component", component);
  j.SetInt("version", version);
  j.SetString("path", path);
  j.SetInt("step", step);
  j.SetInt("watermark_ms", watermark_ms);
  j.SetInt("created_ms", created_ms);
  j.SetInt("num_items", num_items);
  j.SetInt("dim", dim);
  j.SetString("checksum", checksum);
  return j.Serialize();
}

Result<ModelAnnouncement> ModelAnnouncement::FromJson(std::string_view json) {
  auto parsed = FlatJson::Parse(json);
  if (!parsed.ok()) return parsed.status().WithContext("model announcement");
  const FlatJson& j = *parsed;
  auto component = j.GetString("component");
  auto version = j.GetInt("version");
  auto path = j.GetString("path");
  auto checksum = j.GetString("checksum");
  if (!component.ok() || !version.ok() || !path.ok() || !checksum.ok()) {
    return Status::InvalidArgument(
        "model announcement: component, version, path and checksum are required");
  }
  ModelAnnouncement a;
  a.component = *component;
  a.version = *version;
  a.path = *path;
  a.checksum = *checksum;
  if (auto v = j.GetInt("step"); v.ok()) a.step = *v;
  if (auto v = j.GetInt("watermark_ms"); v.ok()) a.watermark_ms = *v;
  if (auto v = j.GetInt("created_ms"); v.ok()) a.created_ms = *v;
  if (auto v = j.GetInt("num_items"); v.ok()) a.num_items = *v;
  if (auto v = j.GetInt("dim"); v.ok()) a.dim = *v;
  return a;
}

std::string SnapshotDirName(const std::string& store, int64_t version) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "v%010lld", static_cast<long long>(version));
  return fs::JoinPath(store, buf);
}

std::vector<int64_t> ListSnapshotVersions(const std::string& store) {
  std::vector<int64_t> out;
  auto names = fs::ListDirectory(store);
  if (!names.ok()) return out;  // no store yet: no snapshots
  for (const std::string& name : *names) {
    if (name.size() != 11 || name[0] != 'v') continue;
    char* endp = nullptr;
    long long v = std::strtoll(name.c_str() + 1, &endp, 10);
    if (*endp != '\0' || v <= 0) continue;
    if (!fs::Exists(fs::JoinPath(fs::JoinPath(store, name), snapshot_format::kManifestFile))) {
      continue;
    }
    out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<std::string> LatestSnapshotDir(const std::string& store) {
  auto versions = ListSnapshotVersions(store);
  if (versions.empty()) return Status::NotFound("no snapshot in " + store);
  return SnapshotDirName(store, versions.back());
}

// ---------------------------------------------------------------------------------
// Reader.

struct ModelSnapshot::Rep {
  SnapshotManifest manifest;
  snapshot_format::ItemMatrix items;
  std::unordered_map<uint64_t, int64_t> item_index;  // key -> index in items
  std::unordered_map<uint64_t, int64_t> item_rows;   // key -> embedding row
  std::unordered_map<uint64_t, int64_t> user_rows;
  TwoTowerModel model{nullptr};
};

ModelSnapshot::ModelSnapshot(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
ModelSnapshot::~ModelSnapshot() = default;

const SnapshotManifest& ModelSnapshot::manifest() const { return rep_->manifest; }
const std::vector<uint64_t>& ModelSnapshot::item_keys() const { return rep_->items.keys; }
const std::vector<std::string>& ModelSnapshot::item_ids() const { return rep_->items.ids; }
const std::vector<float>& ModelSnapshot::item_embeddings() const {
  return rep_->items.embeddings;
}

int64_t ModelSnapshot::ItemIndex(uint64_t item_key) const {
  auto it = rep_->item_index.find(item_key);
  return it == rep_->item_index.end() ? -1 : it->second;
}

Result<SnapshotManifest> ReadSnapshotManifest(const std::string& dir) {
  auto text = snapshot_format::ReadFile(fs::JoinPath(dir, snapshot_format::kManifestFile));
  if (!text.ok()) return text.status();
  auto manifest = SnapshotManifest::FromJson(*text);
  if (!manifest.ok()) return manifest.status().WithContext(dir);
  manifest->dir = dir;
  return manifest;
}

Result<std::shared_ptr<const ModelSnapshot>> ModelSnapshot::Load(const std::string& dir) {
  namespace sf = snapshot_format;
  try {
    auto rep = std::make_unique<Rep>();
    auto manifest = ReadSnapshotManifest(dir);
    if (!manifest.ok()) return manifest.status();
    rep->manifest = std::move(manifest).value();

    auto params = sf::ReadFile(fs::JoinPath(dir, sf::kParamsFile));
    auto items = sf::ReadFile(fs::JoinPath(dir, sf::kItemsFile));
    auto ids = sf::ReadFile(fs::JoinPath(dir, sf::kIdsFile));
    if (!params.ok()) return params.status();
    if (!items.ok()) return items.status();
    if (!ids.ok()) return ids.status();
    const auto& m = rep->manifest;
    if (sf::Checksum(*params) != m.params_checksum || sf::Checksum(*items) != m.items_checksum ||
        sf::Checksum(*ids) != m.ids_checksum ||
        sf::CombinedChecksum(m.params_checksum, m.items_checksum, m.ids_checksum) != m.checksum) {
      return Status::Corruption(dir + ": checksum mismatch");
    }

    auto item_matrix = sf::DecodeItems(*items);
    if (!item_matrix.ok()) return item_matrix.status().WithContext(dir);
    rep->items = std::move(item_matrix).value();
    if (rep->items.dim != m.model.output_dim ||
        static_cast<int64_t>(rep->items.keys.size()) != m.num_items) {
      return Status::Corruption(dir + ": item matrix shape disagrees with the manifest");
    }
    for (size_t i = 0; i < rep->items.keys.size(); ++i) {
      rep->item_index.emplace(rep->items.keys[i], static_cast<int64_t>(i));
    }

    auto id_maps = sf::DecodeIds(*ids);
    if (!id_maps.ok()) return id_maps.status().WithContext(dir);
    for (const auto& [k, row] : id_maps->items) {
      if (row < 1 || row > m.model.item_capacity) return Status::Corruption(dir + ": item row");
      rep->item_rows.emplace(k, row);
    }
    for (const auto& [k, row] : id_maps->users) {
      if (row < 1 || row > m.model.user_capacity) return Status::Corruption(dir + ": user row");
      rep->user_rows.emplace(k, row);
    }

    rep->model = TwoTowerModel(m.model);
    STREAMREC_RETURN_IF_ERROR(sf::DecodeParamsInto(*params, rep->model).WithContext(dir));
    rep->model->eval();
    return std::shared_ptr<const ModelSnapshot>(new ModelSnapshot(std::move(rep)));
  } catch (const c10::Error& e) {
    return Status::Internal(dir + ": libtorch: " + e.what_without_backtrace());
  }
}

Result<std::vector<float>> ModelSnapshot::UserEmbedding(uint64_t user_key,
                                                        const std::vector<uint64_t>& history_keys,
                                                        const std::vector<int64_t>& history_ts_ms,
                                                        int64_t now_ms) const {
  if (!history_ts_ms.empty() && history_ts_ms.size() != history_keys.size()) {
    return Status::InvalidArgument("history keys and timestamps differ in length");
  }
  try {
    auto uit = rep_->user_rows.find(user_key);
    const int64_t user_row = uit == rep_->user_rows.end() ? 0 : uit->second;
    std::vector<int64_t> rows;
    rows.reserve(history_keys.size());
    for (uint64_t k : history_keys) {
      auto it = rep_->item_rows.find(k);
      rows.push_back(it == rep_->item_rows.end() ? 0 : it->second);
    }
    std::vector<int64_t> ts = history_ts_ms;
    if (ts.empty()) ts.assign(rows.size(), now_ms);
    UserFeatures f = BuildUserFeatures({user_row}, {rows}, {ts}, {now_ms}, rep_->manifest.model);
    torch::NoGradGuard no_grad;
    torch::Tensor u = rep_->model->UserTower(f).contiguous();
    const float* p = u.data_ptr<float>();
    return std::vector<float>(p, p + u.numel());
  } catch (const c10::Error& e) {
    return Status::Internal(std::string("user tower: ") + e.what_without_backtrace());
  }
}

std::vector<float> ModelSnapshot::ScoreAllItems(const std::vector<float>& user_vec) const {
  const int64_t d = dim();
  const int64_t n = num_items();
  std::vector<float> scores(static_cast<size_t>(n), 0.0f);
  if (static_cast<int64_t>(user_vec.size()) != d) return scores;
  const float inv_tau = static_cast<float>(1.0 / rep_->manifest.model.temperature);
  const float* e = rep_->items.embeddings.data();
  for (int64_t i = 0; i < n; ++i) {
    float s = 0;
    for (int64_t j = 0; j < d; ++j) s += e[i * d + j] * user_vec[j];
    scores[i] = s * inv_tau;
  }
  return scores;
}

}  // namespace streamrec::training
