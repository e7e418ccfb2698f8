#include "batch/batch_manifest.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <simdjson.h>
#include <xxhash.h>

#include "core/file_system.h"
#include "core/json_writer.h"

namespace streamrec::batch {
namespace {

constexpr char kVersionPrefix[] = "batch-v";
constexpr char kTempPrefix[] = ".batch-tmp.";

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// The version number of a "batch-v<digits>" name, or -1.
int64_t ParseVersionName(const std::string& name) {
  const size_t n = std::strlen(kVersionPrefix);
  if (name.size() <= n || name.compare(0, n, kVersionPrefix) != 0) return -1;
  int64_t v = 0;
  for (size_t i = n; i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9' || v > (int64_t{1} << 50)) return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

// Every regular file under `dir`, as paths relative to it, sorted.
Status ListFiles(const std::string& dir, const std::string& rel, std::vector<std::string>* out) {
  auto names = file_system::ListDirectory(file_system::JoinPath(dir, rel));
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    const std::string child = rel.empty() ? name : rel + "/" + name;
    if (file_system::IsDirectory(file_system::JoinPath(dir, child))) {
      STREAMREC_RETURN_IF_ERROR(ListFiles(dir, child, out));
    } else {
      out->push_back(child);
    }
  }
  return Status::Ok();
}

Status WriteFileSynced(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::IoError("cannot write " + path + ": " + std::strerror(errno));
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      ::close(fd);
      return Status::IoError("cannot write " + path + ": " + why);
    }
    done += static_cast<size_t>(n);
  }
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced) return Status::IoError("cannot fsync " + path);
  return Status::Ok();
}

void WriteModelSummary(JsonWriter* j, const BatchModelSummary& model) {
  j->BeginObject();
  j->Key("dir").String(model.dir);
  j->Key("epochs").Int(model.epochs);
  j->Key("examples").Int(model.examples);
  j->Key("steps").Int(model.steps);
  j->Key("final_loss").Double(model.final_loss);
  j->Key("num_items").Int(model.num_items);
  j->Key("num_users").Int(model.num_users);
  j->Key("train_seconds").Double(model.train_seconds);
  j->EndObject();
}

Status ParseModelSummary(simdjson::dom::element obj, BatchModelSummary* model) {
  std::string_view dir;
  bool ok = obj["dir"].get_string().get(dir) == simdjson::SUCCESS;
  model->dir = std::string(dir);
  ok = ok && obj["epochs"].get_int64().get(model->epochs) == simdjson::SUCCESS;
  ok = ok && obj["examples"].get_int64().get(model->examples) == simdjson::SUCCESS;
  ok = ok && obj["steps"].get_int64().get(model->steps) == simdjson::SUCCESS;
  ok = ok && obj["final_loss"].get_double().get(model->final_loss) == simdjson::SUCCESS;
  ok = ok && obj["num_items"].get_int64().get(model->num_items) == simdjson::SUCCESS;
  ok = ok && obj["num_users"].get_int64().get(model->num_users) == simdjson::SUCCESS;
  ok = ok && obj["train_seconds"].get_double().get(model->train_seconds) == simdjson::SUCCESS;
  if (!ok) return Status::Corruption("batch model summary: dir, epochs, examples, steps, final_loss, num_items, "
                                     "num_users and train_seconds are required");
  if (model->dir.empty() || model->dir[0] == '/' || model->dir.find("..") != std::string::npos) {
    return Status::Corruption("batch model summary: dir '" + model->dir + "' leaves the version directory");
  }
  return Status::Ok();
}

}  // namespace

std::string ModelSummaryToJson(const BatchModelSummary& summary) {
  JsonWriter j;
  WriteModelSummary(&j, summary);
  return j.Release();
}

Result<BatchModelSummary> ModelSummaryFromJson(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS || !root.is_object()) {
    return Status::Corruption("batch model summary: not a JSON object");
  }
  BatchModelSummary m;
  STREAMREC_RETURN_IF_ERROR(ParseModelSummary(root, &m));
  return m;
}

Result<std::string> FileChecksum(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::IoError("cannot read " + path + ": " + std::strerror(errno));
  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  std::vector<char> buf(1 << 20);
  Status st;
  while (true) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      st = Status::IoError("cannot read " + path + ": " + std::strerror(errno));
      break;
    }
    XXH3_64bits_update(state, buf.data(), static_cast<size_t>(n));
  }
  ::close(fd);
  const uint64_t digest = XXH3_64bits_digest(state);
  XXH3_freeState(state);
  if (!st.ok()) return st;
  return Hex64(digest);
}

std::string VersionDirName(int64_t version) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%s%06lld", kVersionPrefix, static_cast<long long>(version));
  return buf;
}

std::vector<int64_t> ListVersions(const std::string& root) {
  std::vector<int64_t> out;
  auto names = file_system::ListDirectory(root);
  if (!names.ok()) return out;
  for (const std::string& name : *names) {
    const int64_t v = ParseVersionName(name);
    if (v < 0) continue;
    if (!file_system::Exists(file_system::JoinPath(file_system::JoinPath(root, name), kManifestFileName))) continue;
    out.push_back(v);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<BatchManifest> ReadManifest(const std::string& dir) {
  const std::string path = file_system::JoinPath(dir, kManifestFileName);
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::NotFound("no manifest at " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  auto m = BatchManifest::FromJson(ss.str());
  if (!m.ok()) return m.status().WithContext(path);
  m->dir = dir;
  return m;
}

Result<BatchManifest> LatestVersion(const std::string& root) {
  const std::vector<int64_t> versions = ListVersions(root);
  if (versions.empty()) return Status::NotFound("no batch view version under " + root);
  return ReadManifest(file_system::JoinPath(root, VersionDirName(versions.back())));
}

Status VerifyVersion(const BatchManifest& manifest) {
  for (const ManifestFile& f : manifest.files) {
    const std::string path = file_system::JoinPath(manifest.dir, f.path);
    auto size = file_system::FileSize(path);
    if (!size.ok()) return Status::Corruption(path + " is missing: " + size.status().message());
    if (*size != f.bytes) {
      return Status::Corruption(path + " has " + std::to_string(*size) + " bytes, the manifest says " +
                                std::to_string(f.bytes));
    }
    auto sum = FileChecksum(path);
    if (!sum.ok()) return sum.status();
    if (*sum != f.xxh3) return Status::Corruption(path + ": checksum " + *sum + ", the manifest says " + f.xxh3);
  }
  return Status::Ok();
}

std::string BatchManifest::ToJson() const {
  JsonWriter j;
  j.BeginObject();
  j.Key("format").Int(format);
  j.Key("view").String(view);
  j.Key("version").Int(version);
  j.Key("created_ms").Int(created_ms);
  j.Key("build_seconds").Double(build_seconds);
  j.Key("source").BeginObject();
  if (source.kind == BatchSource::Kind::kFile) {
    j.Key("kind").String("file");
    j.Key("path").String(source.path);
    j.Key("format").String(source.format);
    j.Key("lines").Int(source.lines);
  } else {
    j.Key("kind").String("topic");
    j.Key("topic").String(source.topic);
    j.Key("partitions").BeginArray();
    for (const PartitionRange& p : source.partitions) {
      j.BeginObject().Key("partition").Int(p.partition).Key("start").Int(p.start).Key("end").Int(p.end).EndObject();
    }
    j.EndArray();
  }
  j.EndObject();
  j.Key("counts").BeginObject();
  j.Key("records").Int(records);
  j.Key("events").Int(events);
  j.Key("rejected").Int(rejected);
  j.Key("items").Int(items);
  j.Key("pairs").Int(pairs);
  j.Key("neighbor_lists").Int(neighbor_lists);
  j.Key("total_weight").Double(total_weight);
  j.Key("max_event_ts_ms").Int(max_event_ts_ms);
  j.EndObject();
  j.Key("options").BeginObject();
  j.Key("similarity").String(similarity);
  j.Key("top_k").Int(top_k);
  j.Key("window_size").Int(window_size);
  j.Key("window_horizon_ms").Int(window_horizon_ms);
  j.Key("cooc_half_life_s").Double(cooc_half_life_s);
  j.Key("popularity_half_life_ms").Int(popularity_half_life_ms);
  j.Key("estimator_array_size").Int(estimator_array_size);
  j.Key("estimator_hashes").Int(estimator_hashes);
  j.Key("estimator_alpha").Double(estimator_alpha);
  j.EndObject();
  j.Key("model");
  if (has_model) {
    WriteModelSummary(&j, model);
  } else {
    j.Null();
  }
  j.Key("files").BeginArray();
  for (const ManifestFile& f : files) {
    j.BeginObject().Key("path").String(f.path).Key("bytes").Int(static_cast<int64_t>(f.bytes));
    j.Key("xxh3").String(f.xxh3).EndObject();
  }
  j.EndArray();
  j.EndObject();
  return j.Release() + "\n";
}

Result<BatchManifest> BatchManifest::FromJson(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS || !root.is_object()) {
    return Status::Corruption("batch manifest: not a JSON object");
  }
  BatchManifest m;
  Status error;
  auto fail = [&](const std::string& what) {
    if (error.ok()) error = Status::Corruption("batch manifest: " + what);
  };
  auto get_int = [&](simdjson::dom::element obj, const char* key, int64_t* out) {
    if (obj[key].get_int64().get(*out) != simdjson::SUCCESS) fail(std::string("no integer ") + key);
  };
  auto get_uint = [&](simdjson::dom::element obj, const char* key, uint64_t* out) {
    int64_t v = 0;
    get_int(obj, key, &v);
    *out = static_cast<uint64_t>(v);
  };
  auto get_double = [&](simdjson::dom::element obj, const char* key, double* out) {
    if (obj[key].get_double().get(*out) != simdjson::SUCCESS) fail(std::string("no number ") + key);
  };
  auto get_string = [&](simdjson::dom::element obj, const char* key, std::string* out) {
    std::string_view v;
    if (obj[key].get_string().get(v) != simdjson::SUCCESS) {
      fail(std::string("no string ") + key);
    } else {
      *out = std::string(v);
    }
  };
  get_int(root, "format", &m.format);
  if (error.ok() && m.format != 1) return Status::Corruption("batch manifest: unknown format " + std::to_string(m.format));
  get_string(root, "view", &m.view);
  get_int(root, "version", &m.version);
  get_int(root, "created_ms", &m.created_ms);
  get_double(root, "build_seconds", &m.build_seconds);
  simdjson::dom::element source, counts, options, files;
  if (root["source"].get(source) != simdjson::SUCCESS || root["counts"].get(counts) != simdjson::SUCCESS ||
      root["options"].get(options) != simdjson::SUCCESS || root["files"].get(files) != simdjson::SUCCESS) {
    return Status::Corruption("batch manifest: source, counts, options and files are required");
  }
  std::string kind;
  get_string(source, "kind", &kind);
  if (kind == "file") {
    m.source.kind = BatchSource::Kind::kFile;
    get_string(source, "path", &m.source.path);
    get_string(source, "format", &m.source.format);
    get_int(source, "lines", &m.source.lines);
  } else if (kind == "topic") {
    m.source.kind = BatchSource::Kind::kTopic;
    get_string(source, "topic", &m.source.topic);
    simdjson::dom::array parts;
    if (source["partitions"].get_array().get(parts) != simdjson::SUCCESS) fail("no partitions");
    for (simdjson::dom::element p : parts) {
      PartitionRange r;
      int64_t partition = 0;
      get_int(p, "partition", &partition);
      r.partition = static_cast<int32_t>(partition);
      get_int(p, "start", &r.start);
      get_int(p, "end", &r.end);
      m.source.partitions.push_back(r);
    }
  } else {
    fail("source.kind is neither file nor topic");
  }
  get_int(counts, "records", &m.records);
  get_int(counts, "events", &m.events);
  get_int(counts, "rejected", &m.rejected);
  get_int(counts, "items", &m.items);
  get_int(counts, "pairs", &m.pairs);
  get_int(counts, "neighbor_lists", &m.neighbor_lists);
  get_double(counts, "total_weight", &m.total_weight);
  get_int(counts, "max_event_ts_ms", &m.max_event_ts_ms);
  get_string(options, "similarity", &m.similarity);
  get_int(options, "top_k", &m.top_k);
  get_int(options, "window_size", &m.window_size);
  get_int(options, "window_horizon_ms", &m.window_horizon_ms);
  get_double(options, "cooc_half_life_s", &m.cooc_half_life_s);
  get_int(options, "popularity_half_life_ms", &m.popularity_half_life_ms);
  get_int(options, "estimator_array_size", &m.estimator_array_size);
  get_int(options, "estimator_hashes", &m.estimator_hashes);
  get_double(options, "estimator_alpha", &m.estimator_alpha);
  simdjson::dom::element model;
  if (root["model"].get(model) == simdjson::SUCCESS && model.is_object()) {
    m.has_model = true;
    Status st = ParseModelSummary(model, &m.model);
    if (!st.ok() && error.ok()) error = st;
  }
  simdjson::dom::array file_list;
  if (files.get_array().get(file_list) != simdjson::SUCCESS) fail("files is not an array");
  for (simdjson::dom::element f : file_list) {
    ManifestFile mf;
    get_string(f, "path", &mf.path);
    get_uint(f, "bytes", &mf.bytes);
    get_string(f, "xxh3", &mf.xxh3);
    if (mf.path.empty() || mf.path[0] == '/' || mf.path.find("..") != std::string::npos) {
      fail("file path '" + mf.path + "' leaves the version directory");
    }
    m.files.push_back(std::move(mf));
  }
  if (!error.ok()) return error;
  return m;
}

Result<std::unique_ptr<VersionBuilder>> VersionBuilder::Begin(const std::string& root) {
  STREAMREC_RETURN_IF_ERROR(file_system::CreateDirectories(root));
  // Leftovers of runs that were killed: ".batch-tmp.<pid>.<n>" whose process is gone.
  auto names = file_system::ListDirectory(root);
  if (!names.ok()) return names.status();
  const std::string prefix = kTempPrefix;
  for (const std::string& name : *names) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const long pid = std::strtol(name.c_str() + prefix.size(), nullptr, 10);
    if (pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM)) continue;  // still running
    (void)file_system::RemoveAll(file_system::JoinPath(root, name));
  }
  for (int n = 0; n < 1000; ++n) {
    const std::string dir =
        file_system::JoinPath(root, prefix + std::to_string(::getpid()) + "." + std::to_string(n));
    if (::mkdir(dir.c_str(), 0755) == 0) {
      return std::unique_ptr<VersionBuilder>(new VersionBuilder(root, dir));
    }
    if (errno != EEXIST) return Status::IoError("cannot create " + dir + ": " + std::strerror(errno));
  }
  return Status::Internal("no free temporary directory name under " + root);
}

VersionBuilder::~VersionBuilder() {
  if (!committed_) (void)file_system::RemoveAll(dir_);
}

Result<BatchManifest> VersionBuilder::Commit(BatchManifest manifest) {
  if (committed_) return Status::FailedPrecondition("version already committed");
  std::vector<std::string> files;
  STREAMREC_RETURN_IF_ERROR(ListFiles(dir_, "", &files));
  manifest.files.clear();
  for (const std::string& rel : files) {
    if (rel == kManifestFileName) continue;
    const std::string path = file_system::JoinPath(dir_, rel);
    auto size = file_system::FileSize(path);
    if (!size.ok()) return size.status();
    auto sum = FileChecksum(path);
    if (!sum.ok()) return sum.status();
    manifest.files.push_back({rel, *size, *sum});
  }
  // The next free number; another run may take it between our look and our rename, so a
  // rename onto an existing version tries the one after.
  std::vector<int64_t> existing = ListVersions(root_);
  int64_t version = existing.empty() ? 1 : existing.back() + 1;
  for (int attempt = 0; attempt < 100; ++attempt, ++version) {
    const std::string target = file_system::JoinPath(root_, VersionDirName(version));
    if (file_system::Exists(target)) continue;
    manifest.version = version;
    STREAMREC_RETURN_IF_ERROR(WriteFileSynced(file_system::JoinPath(dir_, kManifestFileName), manifest.ToJson()));
    Status renamed = file_system::Rename(dir_, target);
    if (!renamed.ok()) {
      if (file_system::Exists(target)) continue;
      return renamed;
    }
    committed_ = true;
    manifest.dir = target;
    return manifest;
  }
  return Status::Internal("no free version number under " + root_);
}

}  // namespace streamrec::batch
