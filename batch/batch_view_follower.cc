#include "batch/batch_view_follower.h"

#include <filesystem>
#include <vector>

#include <spdlog/spdlog.h>

#include "batch/batch_manifest.h"
#include "runtime/table_reader.h"
#include "streams/topics.h"

namespace streamrec::batch {
namespace {

// Whether `path` resolves (symlinks and ".." included) to a place inside `root`.
bool ResolvesInside(const std::string& path, const std::string& root) {
  std::error_code ec;
  const auto p = std::filesystem::weakly_canonical(path, ec);
  if (ec) return false;
  const auto r = std::filesystem::weakly_canonical(root, ec);
  if (ec || r.empty()) return false;
  auto pi = p.begin();
  for (auto ri = r.begin(); ri != r.end(); ++ri, ++pi) {
    if (ri->empty()) continue;  // a trailing separator
    if (pi == p.end() || *pi != *ri) return false;
  }
  return pi != p.end();
}

}  // namespace

Result<ServedModel> ServedModelFromConfig(const Config& config) {
  auto m = config.GetString("lambda.model", "online");
  if (!m.ok()) return m.status();
  if (*m == "online") return ServedModel::kOnline;
  if (*m == "batch") return ServedModel::kBatch;
  if (*m == "warm") return ServedModel::kWarm;
  return Status::InvalidArgument("lambda.model must be online, batch or warm, got '" + *m + "'");
}

const char* ServedModelName(ServedModel m) {
  switch (m) {
    case ServedModel::kOnline:
      return "online";
    case ServedModel::kBatch:
      return "batch";
    case ServedModel::kWarm:
      return "warm";
  }
  return "?";
}

Result<BatchViewFollowerOptions> BatchViewFollowerOptions::FromConfig(const Config& config,
                                                                      const std::string& brokers,
                                                                      const std::string& needed_by) {
  BatchViewFollowerOptions o;
  o.brokers = brokers;
  o.properties = KafkaPropertiesFromConfig(config);
  auto topics = TopicNames::FromConfig(config);
  if (!topics.ok()) return topics.status();
  o.topic = topics->batch_views;
  o.clicks_topic = topics->clicks;
  auto root = config.GetString("lambda.batch_dir", "");
  if (!root.ok()) return root.status();
  if (root->empty()) {
    return Status::InvalidArgument(needed_by + " needs lambda.batch_dir: the directory `streamrec batch --out` writes to");
  }
  o.root = *root;
  return o;
}

Result<operators::BatchViewRef> AdoptableView(const BatchAnnouncement& a, const BatchViewFollowerOptions& options) {
  if (a.view != options.view) return Status::InvalidArgument("view '" + a.view + "' is not " + options.view);
  if (a.source != "topic" || a.topic != options.clicks_topic) {
    return Status::InvalidArgument("its source is not the topic " + options.clicks_topic +
                                   " (a file's lines have no offsets to re-base to)");
  }
  if (a.cutoff.empty()) return Status::InvalidArgument("it names no cutoff");
  if (options.root.empty() || !ResolvesInside(a.path, options.root)) {
    return Status::FailedPrecondition("'" + a.path + "' is not inside lambda.batch_dir '" + options.root + "'");
  }
  auto manifest = ReadManifest(a.path);
  if (!manifest.ok()) return manifest.status();
  if (manifest->version != a.version) {
    return Status::InvalidArgument("the manifest in " + a.path + " is version " + std::to_string(manifest->version));
  }
  STREAMREC_RETURN_IF_ERROR(VerifyVersion(*manifest));
  operators::BatchViewRef ref;
  ref.version = a.version;
  ref.created_ms = a.created_ms;
  ref.view_dir = (std::filesystem::path(a.path) / kViewDirName).string();
  for (const auto& range : a.cutoff) ref.cutoff[range.partition] = range.end;
  if (manifest->has_model) ref.model_dir = (std::filesystem::path(a.path) / manifest->model.dir).string();
  return ref;
}

Result<std::unique_ptr<BatchViewFollower>> BatchViewFollower::Start(
    BatchViewFollowerOptions options, std::shared_ptr<operators::BatchViewInbox> inbox) {
  std::unique_ptr<BatchViewFollower> f(new BatchViewFollower());
  f->options_ = std::move(options);
  f->inbox_ = std::move(inbox);
  BatchViewFollower* self = f.get();
  f->thread_ = std::thread([self] {
    Status st = self->Run();
    if (!st.ok()) spdlog::error("[lambda] following {} stopped: {}", self->options_.topic, st.ToString());
  });
  return f;
}

BatchViewFollower::~BatchViewFollower() { Stop(); }

void BatchViewFollower::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

Status BatchViewFollower::Run() {
  runtime::TableReaderOptions to;
  to.brokers = options_.brokers;
  to.properties = options_.properties;
  to.topics = {options_.topic};
  to.name = "batch-views";
  auto reader = runtime::TableReader::Create(to);
  if (!reader.ok()) return reader.status();
  auto stopped = [this] { return stop_.load(); };
  STREAMREC_RETURN_IF_ERROR((*reader)->Start(stopped));
  std::vector<Record> records;
  while (!stop_) {
    records.clear();
    auto n = (*reader)->Poll(200, &records);
    if (!n.ok()) return n.status();
    for (const Record& r : records) {
      if (r.value.empty()) continue;  // a tombstone
      auto a = BatchAnnouncement::FromJson(r.value);
      if (!a.ok()) {
        spdlog::warn("[lambda] {}@{}: not a batch announcement: {}", options_.topic, r.offset, a.status().ToString());
        continue;
      }
      if (a->view != options_.view) continue;
      auto ref = AdoptableView(*a, options_);
      if (!ref.ok()) {
        spdlog::error("[lambda] batch view v{} ({}) is not adoptable: {}", a->version, a->path,
                      ref.status().ToString());
        continue;
      }
      spdlog::info("[lambda] batch view v{} ({}) offered", ref->version, a->path);
      inbox_->Offer(std::move(ref).value());
      ++offered_;
    }
    if ((*reader)->caught_up()) caught_up_ = true;
  }
  return (*reader)->Close();
}

}  // namespace streamrec::batch
