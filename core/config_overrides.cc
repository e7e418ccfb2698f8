#include "core/config_overrides.h"

#include <fstream>
#include <sstream>

namespace streamrec {

Status ApplyFileOverrides(Config* config, const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) {
    const size_t eq = o.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == o.size()) {
      return Status::InvalidArgument("config file override '" + o + "' is not of the form key=path");
    }
    const std::string key = o.substr(0, eq);
    const std::string path = o.substr(eq + 1);
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::NotFound("config key '" + key + "': cannot open '" + path + "'");
    std::stringstream buffer;
    buffer << in.rdbuf();
    if (in.bad()) return Status::Internal("config key '" + key + "': cannot read '" + path + "'");
    std::string value = buffer.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    STREAMREC_RETURN_IF_ERROR(config->Set(key, value));
  }
  return Status::Ok();
}

}  // namespace streamrec
