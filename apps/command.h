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
  SetupFn setup;
};

// All registered subcommands, sorted by name.
std::vector<RegisteredCommand> RegisteredCommands();

}  // namespace streamrec::apps
