#pragma once

#include <functional>
#include <string>
#include <vector>

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

// Runs streamrec-model as a CHILD process with `args` (argv[1..]) and waits for it: for a
// torch-free command that needs a model step in the middle of its work (`batch` runs
// `batch-model`). stdin/stdout/stderr are shared. While it runs, `stop` is polled: once it
// returns true the child gets SIGTERM (a terminal's Ctrl-C reaches it directly too) and
// is waited for. Returns the child's exit status (128 + signal when killed by one), or
// an error when it could not be started.
Result<int> RunModelBinary(const std::vector<std::string>& args, const std::function<bool()>& stop);

// Ok when streamrec-model is installed beside this executable (and executable);
// otherwise NotFound naming the path (so a command can refuse before its work).
Status CheckModelBinary();

// The global options of `argv` (main's), i.e. every argument before the subcommand
// `command`, for handing the same configuration to a child.
std::vector<std::string> GlobalArguments(char** argv, const std::string& command);

// The exit status when streamrec-model cannot be started (as a shell's "command not
// found").
inline constexpr int kModelBinaryMissing = 127;

}  // namespace streamrec::apps
