#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/thread_annotations.h"

namespace prometheus {
class Counter;
class Gauge;
class Histogram;
}  // namespace prometheus

namespace streamrec::serving {

// Model hot swap in TF Serving's vocabulary (docs/DESIGN.md §5): a Source announces the
// versions it aspires to serve, each with a Loader; the AspiredVersionsManager loads the
// newest one beside the version being served, validates it, and swaps it in atomically.
// Readers hold a ServableHandle (a shared_ptr), which keeps their version alive until
// they drop it, so requests in flight finish on the version they started with.

// What a reader holds while it uses a servable. Copyable; cheap.
template <typename T>
struct ServableHandle {
  std::shared_ptr<const T> servable;
  int64_t version = 0;

  const T* get() const { return servable.get(); }
  const T* operator->() const { return servable.get(); }
  const T& operator*() const { return *servable; }
  explicit operator bool() const { return servable != nullptr; }
};

// Loads and validates one version of a servable. Load() is called at most once, on the
// manager's loading thread; on success the servable is ready to serve and is unloaded
// (freed) when the last handle to it is dropped. A Loader that finds the version
// corrupt (checksum, shapes, NaN, failed sanity score) returns an error.
template <typename T>
class Loader {
 public:
  virtual ~Loader() = default;
  virtual Result<std::shared_ptr<const T>> Load() = 0;
};

// A version a Source would like served, with the loader that can load it.
template <typename T>
struct AspiredVersion {
  int64_t version = 0;
  std::unique_ptr<Loader<T>> loader;
  // When the version was written (wall clock, epoch ms; the announcement's created_ms);
  // 0: unknown. Exported as streamrec_model_created_timestamp_seconds once it serves.
  int64_t created_ms = 0;
};

// Announces aspired versions by calling the callback, on the Source's own thread (for
// the models-topic source: its consumer thread). The callback loads synchronously.
template <typename T>
class Source {
 public:
  using AspiredVersionsCallback = std::function<Status(std::vector<AspiredVersion<T>>)>;
  virtual ~Source() = default;
  virtual void SetAspiredVersionsCallback(AspiredVersionsCallback callback) = 0;
};

// Outcome counters and timings, one set per component. Not a template, so the metrics
// code lives in model_registry.cc. Thread-safe.
class ModelRegistryMetrics {
 public:
  explicit ModelRegistryMetrics(const std::string& component);
  // streamrec_model_version{component} and streamrec_model_created_timestamp_seconds
  // {component} (0 when created_ms is unknown): time() minus it is the served model's age.
  void SetVersion(int64_t version, int64_t created_ms = 0);
  // streamrec_model_swap_seconds{component}: load + validate + swap of a version.
  void ObserveSwapSeconds(double seconds);
  // streamrec_model_loads_total{component,result="loaded|refused|stale"}
  void CountLoad(const char* result);

 private:
  prometheus::Gauge* version_;
  prometheus::Gauge* created_;
  prometheus::Histogram* swap_seconds_;
  prometheus::Counter* loaded_;
  prometheus::Counter* refused_;
  prometheus::Counter* stale_;
};

struct AspiredVersionsManagerOptions {
  // The `component` label of streamrec_model_version and streamrec_model_swap_seconds
  // ("two_tower" for the recommender's model).
  std::string component = "two_tower";
};

// Serves the newest successfully loaded version of one servable stream with an
// availability-preserving policy: a new version is loaded and validated while the old
// one keeps serving, then swapped in with one pointer assignment; the only loaded
// version is never unloaded (a version that fails to load is refused and the old one
// stays); versions never go backwards (an announced version at or below the one being
// served is ignored). Threads: SetAspiredVersions from the Source's thread (calls are
// serialised); GetServableHandle from any number of serving threads. Thread-safe.
template <typename T>
class AspiredVersionsManager {
 public:
  using Options = AspiredVersionsManagerOptions;

  explicit AspiredVersionsManager(Options options = {})
      : options_(std::move(options)), metrics_(options_.component) {}

  AspiredVersionsManager(const AspiredVersionsManager&) = delete;
  AspiredVersionsManager& operator=(const AspiredVersionsManager&) = delete;

  // Makes `source` announce to this manager. The manager must outlive the source's use
  // of the callback.
  void ConnectSource(Source<T>* source) {
    source->SetAspiredVersionsCallback(
        [this](std::vector<AspiredVersion<T>> versions) {
          return SetAspiredVersions(std::move(versions));
        });
  }

  // Tries the aspired versions newer than the one being served, newest first, and swaps
  // in the first that loads. OK when one was swapped in or none was newer; otherwise the
  // error of the newest refused version (the old version keeps serving).
  Status SetAspiredVersions(std::vector<AspiredVersion<T>> versions) LOCKS_EXCLUDED(load_mu_) {
    MutexLock load_lock(&load_mu_);
    std::sort(versions.begin(), versions.end(),
              [](const AspiredVersion<T>& a, const AspiredVersion<T>& b) {
                return a.version > b.version;
              });
    Status first_error;
    for (AspiredVersion<T>& aspired : versions) {
      if (aspired.version <= version()) {
        metrics_.CountLoad("stale");
        continue;
      }
      const auto start = std::chrono::steady_clock::now();
      Result<std::shared_ptr<const T>> loaded =
          aspired.loader == nullptr ? Result<std::shared_ptr<const T>>(Status::InvalidArgument(
                                          "no loader"))
                                    : aspired.loader->Load();
      if (loaded.ok() && *loaded == nullptr) loaded = Status::Internal("loader returned null");
      if (!loaded.ok()) {
        metrics_.CountLoad("refused");
        Status refused = loaded.status().WithContext("version " +
                                                     std::to_string(aspired.version) +
                                                     " refused, still serving version " +
                                                     std::to_string(version()));
        if (first_error.ok()) first_error = refused;
        last_refusal_ = refused;
        continue;
      }
      {
        MutexLock lock(&mu_);
        current_ = ServableHandle<T>{std::move(loaded).value(), aspired.version};
      }
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      metrics_.CountLoad("loaded");
      metrics_.ObserveSwapSeconds(seconds);
      metrics_.SetVersion(aspired.version, aspired.created_ms);
      last_swap_seconds_ = seconds;
      // The newest loadable version is serving: older aspired versions are moot.
      for (AspiredVersion<T>& rest : versions) {
        if (rest.version < aspired.version) metrics_.CountLoad("stale");
      }
      return Status::Ok();
    }
    return first_error;
  }

  // The version being served, or Unavailable before the first successful load.
  Result<ServableHandle<T>> GetServableHandle() const LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    if (!current_) return Status::Unavailable(options_.component + ": no model version loaded");
    return current_;
  }

  // The version being served; 0 when none.
  int64_t version() const LOCKS_EXCLUDED(mu_) {
    MutexLock lock(&mu_);
    return current_.version;
  }

  // Seconds the last successful swap took (load + validate + swap); 0 before one.
  double last_swap_seconds() const LOCKS_EXCLUDED(load_mu_) {
    MutexLock lock(&load_mu_);
    return last_swap_seconds_;
  }
  // Why the last refused version was refused; OK when none was.
  Status last_refusal() const LOCKS_EXCLUDED(load_mu_) {
    MutexLock lock(&load_mu_);
    return last_refusal_;
  }

 private:
  const Options options_;
  ModelRegistryMetrics metrics_;

  // Serialises loads; held while a version loads (readers never take it).
  mutable Mutex load_mu_;
  double last_swap_seconds_ GUARDED_BY(load_mu_) = 0;
  Status last_refusal_ GUARDED_BY(load_mu_);

  // Guards the pointer swap only.
  mutable Mutex mu_;
  ServableHandle<T> current_ GUARDED_BY(mu_);
};

}  // namespace streamrec::serving
