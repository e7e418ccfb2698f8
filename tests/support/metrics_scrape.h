#pragma once

// Reading a running `streamrec`'s Prometheus text exposition in end-to-end tests. The test
// target links cpp-httplib (PkgConfig::HTTPLIB).

#include <httplib.h>

#include <sstream>
#include <string>
#include <vector>

namespace streamrec::testing {

// The value of the first sample of `name` whose labels include every one of `labels`
// (`k="v"`), or -1 when there is none.
inline double MetricSample(const std::string& metrics, const std::string& name,
                           const std::vector<std::string>& labels) {
  std::istringstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, name.size(), name) != 0) continue;
    if (line.size() <= name.size() || (line[name.size()] != '{' && line[name.size()] != ' ')) continue;
    bool all = true;
    for (const std::string& l : labels) all = all && line.find(l) != std::string::npos;
    if (!all) continue;
    return std::stod(line.substr(line.rfind(' ') + 1));
  }
  return -1;
}

// GET /metrics on 127.0.0.1:`port`; empty when it does not answer 200.
inline std::string ScrapeMetrics(int port) {
  httplib::Client client("127.0.0.1", port);
  client.set_connection_timeout(5);
  client.set_read_timeout(10);
  auto res = client.Get("/metrics");
  return res && res->status == 200 ? res->body : "";
}

}  // namespace streamrec::testing
