#include "apps/command.h"

#include <algorithm>

namespace streamrec::apps {
namespace {

std::vector<RegisteredCommand>& Registry() {
  static std::vector<RegisteredCommand> commands;
  return commands;
}

}  // namespace

CommandRegistration::CommandRegistration(std::string name, std::string description, SetupFn setup) {
  Registry().push_back({std::move(name), std::move(description), std::move(setup)});
}

std::vector<RegisteredCommand> RegisteredCommands() {
  std::vector<RegisteredCommand> out = Registry();
  std::sort(out.begin(), out.end(),
            [](const RegisteredCommand& a, const RegisteredCommand& b) { return a.name < b.name; });
  return out;
}

}  // namespace streamrec::apps
