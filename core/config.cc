#include "core/config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <sstream>

namespace streamrec {

struct Config::Rep {
  YAML::Node root{YAML::NodeType::Map};
};

namespace {

std::vector<std::string> SplitKey(std::string_view key) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= key.size()) {
    size_t dot = key.find('.', start);
    if (dot == std::string_view::npos) dot = key.size();
    parts.emplace_back(key.substr(start, dot - start));
    start = dot + 1;
  }
  return parts;
}

// Looks a dotted key up without creating nodes. A mapping key that itself contains dots
// ("kafka: {security.protocol: x}") is found by trying the longest remaining suffix too.
YAML::Node Find(const YAML::Node& node, const std::vector<std::string>& parts, size_t i) {
  if (i == parts.size()) return node;
  if (!node.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  std::string joined;
  for (size_t j = i; j < parts.size(); ++j) {
    if (j > i) joined += '.';
    joined += parts[j];
    const YAML::Node child = node[joined];
    if (child.IsDefined()) {
      YAML::Node found = Find(child, parts, j + 1);
      if (found.IsDefined()) return found;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

void FlattenInto(const YAML::Node& node, const std::string& prefix,
                 std::map<std::string, std::string>* out) {
  if (node.IsScalar()) {
    (*out)[prefix] = node.Scalar();
    return;
  }
  if (!node.IsMap()) return;
  for (const auto& kv : node) {
    const std::string key = kv.first.as<std::string>();
    FlattenInto(kv.second, prefix.empty() ? key : prefix + "." + key, out);
  }
}

template <typename T>
Result<T> GetAs(const YAML::Node& root, std::string_view key, T def, const char* type_name) {
  const YAML::Node node = Find(root, SplitKey(key), 0);
  if (!node.IsDefined() || node.IsNull()) return def;
  if (!node.IsScalar()) {
    return Status::InvalidArgument("config key '" + std::string(key) + "' must be a " +
                                   type_name + ", not a map or list");
  }
  try {
    return node.as<T>();
  } catch (const YAML::Exception&) {
    return Status::InvalidArgument("config key '" + std::string(key) + "' must be a " +
                                   type_name + ", got '" + node.Scalar() + "'");
  }
}

}  // namespace

Config::Config() : rep_(new Rep) {}
Config::~Config() { delete rep_; }
Config::Config(const Config& other) : rep_(new Rep) { rep_->root = YAML::Clone(other.rep_->root); }
Config& Config::operator=(const Config& other) {
  if (this != &other) rep_->root = YAML::Clone(other.rep_->root);
  return *this;
}

Result<Config> Config::FromYamlString(std::string_view yaml) {
  Config config;
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    if (root.IsNull() || !root.IsDefined()) return config;
    if (!root.IsMap()) return Status::InvalidArgument("config: top level must be a mapping");
    config.rep_->root = root;
  } catch (const YAML::Exception& e) {
    return Status::InvalidArgument(std::string("config: ") + e.what());
  }
  return config;
}

Result<Config> Config::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot open config file '" + path + "'");
  std::stringstream buffer;
  buffer << in.rdbuf();
  Result<Config> config = FromYamlString(buffer.str());
  if (!config.ok()) return config.status().WithContext(path);
  return config;
}

Status Config::Set(std::string_view dotted_key, std::string_view value) {
  if (dotted_key.empty()) return Status::InvalidArgument("config override has an empty key");
  const std::vector<std::string> parts = SplitKey(dotted_key);
  for (const auto& p : parts) {
    if (p.empty()) {
      return Status::InvalidArgument("config key '" + std::string(dotted_key) + "' is malformed");
    }
  }
  // Walk by copy-assigned handles: yaml-cpp nodes are references into the tree.
  YAML::Node node = rep_->root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node child = node[parts[i]];
    if (child.IsDefined() && !child.IsMap() && !child.IsNull()) {
      return Status::InvalidArgument("config key '" + std::string(dotted_key) + "': '" +
                                     parts[i] + "' is not a mapping");
    }
    if (!child.IsDefined() || child.IsNull()) node[parts[i]] = YAML::Node(YAML::NodeType::Map);
    node.reset(node[parts[i]]);
  }
  node[parts.back()] = std::string(value);
  return Status::Ok();
}

Status Config::ApplyOverrides(const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) {
    const size_t eq = o.find('=');
    if (eq == std::string::npos || eq == 0) {
      return Status::InvalidArgument("config override '" + o + "' is not of the form key=value");
    }
    STREAMREC_RETURN_IF_ERROR(Set(std::string_view(o).substr(0, eq), std::string_view(o).substr(eq + 1)));
  }
  return Status::Ok();
}

bool Config::Has(std::string_view dotted_key) const {
  return Find(rep_->root, SplitKey(dotted_key), 0).IsDefined();
}

Result<std::string> Config::GetString(std::string_view key, std::string_view def) const {
  return GetAs<std::string>(rep_->root, key, std::string(def), "string");
}
Result<int64_t> Config::GetInt(std::string_view key, int64_t def) const {
  return GetAs<int64_t>(rep_->root, key, def, "integer");
}
Result<double> Config::GetDouble(std::string_view key, double def) const {
  return GetAs<double>(rep_->root, key, def, "number");
}
Result<bool> Config::GetBool(std::string_view key, bool def) const {
  return GetAs<bool>(rep_->root, key, def, "boolean");
}

std::map<std::string, std::string> Config::Flatten(std::string_view prefix) const {
  std::map<std::string, std::string> out;
  const YAML::Node node = prefix.empty() ? rep_->root : Find(rep_->root, SplitKey(prefix), 0);
  if (node.IsDefined()) FlattenInto(node, "", &out);
  return out;
}

std::string Config::ToYaml() const {
  YAML::Emitter emitter;
  emitter << rep_->root;
  return emitter.c_str();
}

}  // namespace streamrec
