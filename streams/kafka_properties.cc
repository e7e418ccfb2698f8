#include "streams/kafka_properties.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace streamrec {

KafkaProperties KafkaPropertiesFromConfig(const Config& config) { return config.Flatten("kafka"); }

std::string ResolveBrokers(const Config& config, const std::string& brokers_flag) {
  if (!brokers_flag.empty()) return brokers_flag;
  const auto props = KafkaPropertiesFromConfig(config);
  auto it = props.find("bootstrap.servers");
  if (it != props.end()) return it->second;
  it = props.find("metadata.broker.list");
  if (it != props.end()) return it->second;
  return "";
}

Status WriteBootstrapFile(const std::string& path, const std::string& servers) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return Status::IoError("cannot write " + tmp);
    out << servers << "\n";
    if (!out.flush()) return Status::IoError("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IoError("cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

Result<std::string> ReadBootstrapFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::IoError("cannot read bootstrap file " + path);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  if (line.empty()) return Status::InvalidArgument("bootstrap file " + path + " is empty");
  return line;
}

Result<std::string> RequireBrokers(const Config& config, const std::string& brokers_flag,
                                   const std::string& bootstrap_file) {
  std::string brokers = ResolveBrokers(config, brokers_flag);
  if (brokers.empty() && !bootstrap_file.empty()) {
    auto from_file = ReadBootstrapFile(bootstrap_file);
    if (!from_file.ok()) return from_file.status();
    brokers = *from_file;
  }
  if (brokers.empty()) {
    return Status::InvalidArgument(
        "no brokers: pass --brokers HOST:PORT, --bootstrap-file F or kafka.bootstrap.servers");
  }
  return brokers;
}

}  // namespace streamrec
