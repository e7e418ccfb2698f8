#include "serving/model_registry.h"

#include "core/metrics.h"

namespace streamrec::serving {

ModelRegistryMetrics::ModelRegistryMetrics(const std::string& component) {
  auto& registry = *MetricsRegistry();
  version_ = &prometheus::BuildGauge()
                  .Name("streamrec_model_version")
                  .Help("Model version being served, by component")
                  .Register(registry)
                  .Add({{"component", component}});
  created_ = &prometheus::BuildGauge()
                  .Name("streamrec_model_created_timestamp_seconds")
                  .Help("When the model version being served was written (Unix time; 0: "
                        "unknown or none served yet), by component")
                  .Register(registry)
                  .Add({{"component", component}});
  swap_seconds_ = &prometheus::BuildHistogram()
                       .Name("streamrec_model_swap_seconds")
                       .Help("Time to load, validate and swap in a model version")
                       .Register(registry)
                       .Add({{"component", component}},
                            prometheus::Histogram::BucketBoundaries{
                                0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60});
  auto& loads = prometheus::BuildCounter()
                    .Name("streamrec_model_loads_total")
                    .Help("Announced model versions by outcome: loaded, refused (failed "
                          "validation, old version kept), stale (not newer than the one served)")
                    .Register(registry);
  loaded_ = &loads.Add({{"component", component}, {"result", "loaded"}});
  refused_ = &loads.Add({{"component", component}, {"result", "refused"}});
  stale_ = &loads.Add({{"component", component}, {"result", "stale"}});
}

void ModelRegistryMetrics::SetVersion(int64_t version, int64_t created_ms) {
  version_->Set(static_cast<double>(version));
  created_->Set(created_ms > 0 ? static_cast<double>(created_ms) / 1000.0 : 0.0);
}

void ModelRegistryMetrics::ObserveSwapSeconds(double seconds) { swap_seconds_->Observe(seconds); }

void ModelRegistryMetrics::CountLoad(const char* result) {
  const std::string r(result);
  if (r == "loaded") {
    loaded_->Increment();
  } else if (r == "refused") {
    refused_->Increment();
  } else {
    stale_->Increment();
  }
}

}  // namespace streamrec::serving
