#pragma once

#include <string>

#include "core/status.h"

namespace streamrec::apps {

// The `streamrec` command is two executables built from the same apps/ sources:
// - `streamrec`, torch-free: broker, produce, replay, topics, `stage user|item`, every
//   --help and --version; it starts in milliseconds;
// - streamrec-model, the same program with the commands that need a model (LibTorch:
//   run, eval, bench, `stage trainer|serving`), installed beside it. Loading LibTorch's
//   ~300 shared libraries takes 0.5-1 s before main(), which `streamrec` never pays.
// For a model command, `streamrec` becomes streamrec-model (execv, the same argv): the
// process, its pid, stdin/stdout/stderr, signal dispositions and exit status are the
// model binary's own, as if it had been started directly.

// The path of streamrec-model: beside this executable (its real path, through
// /proc/self/exe, so a symlink to `streamrec` elsewhere still finds it).
Result<std::string> ModelBinaryPath();

// Replaces this process with streamrec-model running `argv` (main's, unchanged) for
// `command` (e.g. "run", "stage trainer"). Returns only if that fails: prints why on
// stderr, naming the path it looked for, and returns kModelBinaryMissing.
int ExecModelBinary(char** argv, const std::string& command);

// The exit status when streamrec-model cannot be started (as a shell's "command not
// found").
inline constexpr int kModelBinaryMissing = 127;

}  // namespace streamrec::apps
