#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/config.h"

namespace streamrec::apps {

// What every subcommand receives after the command line is parsed: the merged
// configuration (YAML file from --config, then --set key=value overrides).
struct CommandContext {
  Config config;
  // The command line exactly as main() received it (argv[argc] == nullptr): what a
  // command that needs a model hands unchanged to streamrec-model (apps/model_binary.h).
  char** argv = nullptr;
};

// Runs a parsed subcommand; returns the process exit code.
using RunFn = std::function<int(const CommandContext&)>;

// Adds a subcommand's options to `sub` and returns the function that runs it.
using SetupFn = std::function<RunFn(CLI::App* sub)>;

// Self-registration of a subcommand: each apps/cmd_*.cc defines one static
// CommandRegistration, so adding a subcommand touches no shared file.
// Registration happens during static initialisation, before main().
class CommandRegistration {
 public:
  CommandRegistration(std::string name, std::string description, SetupFn setup);
};

struct RegisteredCommand {
  std::string name;
  std::string description;
  // Empty for a model command whose code is not in this binary (the torch-free
  // `streamrec`): main() hands its whole command line to streamrec-model.
  SetupFn setup;
};

// All subcommands, sorted by name: those registered in this binary, and every model
// command (below) that is not, with an empty `setup`.
std::vector<RegisteredCommand> RegisteredCommands();

// The subcommands that need a model (LibTorch), with their one-line help. Their code
// (apps/cmd_run.cc, cmd_eval.cc, cmd_bench.cc) is compiled only into streamrec-model,
// where each registers with ModelCommandDescription(name); the torch-free `streamrec`
// lists them in its --help and hands them to streamrec-model (apps/model_binary.h), so
// their help text lives here, once. `stage trainer|serving` is handled by `stage`
// (apps/stage_command.h).
struct ModelCommand {
  const char* name;
  const char* description;
};
const std::vector<ModelCommand>& ModelCommands();

// The description of model command `name`; aborts if it is not one (a programming error
// caught by the first run of the binary).
std::string ModelCommandDescription(const std::string& name);

}  // namespace streamrec::apps
