#include "apps/command.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

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

const std::vector<ModelCommand>& ModelCommands() {
  static const std::vector<ModelCommand> commands = {
      {"batch-model",
       "Train the batch layer's two-tower model on a training input written by `streamrec batch` (which runs "
       "it)"},
      {"bench", "Whole-system benchmarks: prequential evaluation of the served system, and its plots"},
      {"eval", "Offline ranking metrics: of a prediction file, or of the served recommender trained on a split"},
      {"run", "Run everything in one process: embedded broker, all stages, synthetic clicks, HTTP API"},
  };
  return commands;
}

std::string ModelCommandDescription(const std::string& name) {
  for (const ModelCommand& cmd : ModelCommands()) {
    if (name == cmd.name) return cmd.description;
  }
  std::fprintf(stderr, "streamrec: '%s' is not listed in apps/command.cc's ModelCommands()\n", name.c_str());
  std::abort();
}

std::vector<RegisteredCommand> RegisteredCommands() {
  std::vector<RegisteredCommand> out = Registry();
  for (const ModelCommand& model : ModelCommands()) {
    const bool here = std::any_of(out.begin(), out.end(),
                                  [&](const RegisteredCommand& cmd) { return cmd.name == model.name; });
    if (!here) out.push_back({model.name, model.description, SetupFn{}});
  }
  std::sort(out.begin(), out.end(),
            [](const RegisteredCommand& a, const RegisteredCommand& b) { return a.name < b.name; });
  return out;
}

}  // namespace streamrec::apps
