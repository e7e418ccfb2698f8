#pragma once

#include <string_view>

#include <spdlog/spdlog.h>

#include "core/status.h"

namespace streamrec {

// Configures the process-wide spdlog logger: one-line records on stderr,
// "ts level [component] message", written around the active status line
// (core/status_line.h) when one is shown. Level is one of trace, debug, info, warn, error, off;
// the default is warn (quiet). Call once from main() before threads start.
Status InitLogging(std::string_view level);

}  // namespace streamrec
