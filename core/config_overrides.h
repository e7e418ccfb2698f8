#pragma once

#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"

namespace streamrec {

// Applies "key=PATH" overrides in order (`streamrec --set-file`): each key is set to the
// whole content of the file at PATH, trailing line breaks removed, so a secret such as
// kafka.sasl.password comes from a mounted Kubernetes Secret, never from a command line or
// a ConfigMap. The value is kept verbatim (a string, whatever YAML it looks like). An
// unreadable file is an error naming the key and the path, never the content.
Status ApplyFileOverrides(Config* config, const std::vector<std::string>& overrides);

}  // namespace streamrec
