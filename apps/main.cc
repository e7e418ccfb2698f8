// The `streamrec` command: parses the command line, builds the configuration and runs
// the chosen subcommand. Subcommands live in apps/cmd_*.cc and register themselves. The
// same main() is in both executables (apps/model_binary.h): in the torch-free
// `streamrec` a command that needs a model is parsed no further than its name and handed,
// with the whole command line, to streamrec-model.
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "apps/command.h"
#include "apps/model_binary.h"
#include "core/config.h"
#include "core/config_overrides.h"
#include "core/heap_settings.h"
#include "core/logging.h"
#include "state/state_db.h"

int main(int argc, char** argv) {
  using streamrec::apps::RunFn;
  CLI::App app{
      "streamrec: a streaming, real-time recommender on Kafka.\n"
      "Run `streamrec run` for a demo on the embedded broker, `streamrec SUBCOMMAND --help` "
      "for each subcommand."};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("streamrec ") + STREAMREC_VERSION);

  std::string config_file;
  std::vector<std::string> overrides;
  std::vector<std::string> file_overrides;
  std::string log_level = "warn";
  app.add_option("-c,--config", config_file, "YAML configuration file")->check(CLI::ExistingFile);
  app.add_option("--set", overrides, "Override a config key: --set operators.window.size=30")
      ->take_all();
  app.add_option("--set-file", file_overrides,
                 "Set a config key to a file's content (trailing line breaks removed), after "
                 "--set: --set-file kafka.sasl.password=/etc/streamrec-secrets/password");
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")
      ->capture_default_str();

  std::map<CLI::App*, RunFn> runners;
  std::map<CLI::App*, std::string> model_commands;  // not in this binary
  for (const auto& cmd : streamrec::apps::RegisteredCommands()) {
    CLI::App* sub = app.add_subcommand(cmd.name, cmd.description);
    if (!cmd.setup) {
      // Its options (and --help) are streamrec-model's: take the rest of the line as is.
      sub->prefix_command();
      sub->set_help_flag();
      model_commands[sub] = cmd.name;
      continue;
    }
    sub->fallthrough();
    runners[sub] = cmd.setup(sub);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // A word where the subcommand belongs: name it (CLI11 only says one is required).
    if (app.get_subcommands().empty()) {
      for (const std::string& word : app.remaining()) {
        if (word.empty() || word[0] == '-') continue;
        std::string known;
        for (const auto& cmd : streamrec::apps::RegisteredCommands()) {
          known += (known.empty() ? "" : ", ") + cmd.name;
        }
        std::fprintf(stderr, "streamrec: unknown subcommand '%s' (one of: %s; see --help)\n", word.c_str(),
                     known.c_str());
        return 2;
      }
    }
    // --help and --version exit 0; every usage error exits 2, as the subcommands' own checks.
    return app.exit(e) == 0 ? 0 : 2;
  }
  for (CLI::App* sub : app.get_subcommands()) {
    auto it = model_commands.find(sub);
    if (it != model_commands.end()) return streamrec::apps::ExecModelBinary(argv, it->second);
  }

  if (auto st = streamrec::InitLogging(log_level); !st.ok()) {
    std::fprintf(stderr, "streamrec: %s\n", st.message().c_str());
    return 2;
  }
  streamrec::apps::CommandContext ctx;
  ctx.argv = argv;
  if (!config_file.empty()) {
    auto loaded = streamrec::Config::FromFile(config_file);
    if (!loaded.ok()) {
      std::fprintf(stderr, "streamrec: %s\n", loaded.status().message().c_str());
      return 2;
    }
    ctx.config = std::move(loaded).value();
  }
  if (auto st = ctx.config.ApplyOverrides(overrides); !st.ok()) {
    std::fprintf(stderr, "streamrec: %s\n", st.message().c_str());
    return 2;
  }
  if (auto st = streamrec::ApplyFileOverrides(&ctx.config, file_overrides); !st.ok()) {
    std::fprintf(stderr, "streamrec: --set-file: %s\n", st.message().c_str());
    return 2;
  }
  // One RocksDB memory budget for every state store this process opens (state/README.md).
  auto budget_mb = ctx.config.GetInt("state.memory_budget_mb",
                                     static_cast<int64_t>(streamrec::state::kDefaultProcessMemoryBudget >> 20));
  if (!budget_mb.ok() || *budget_mb <= 0 || *budget_mb > (int64_t{1} << 30)) {
    std::fprintf(stderr, "streamrec: state.memory_budget_mb must be a number of MiB above 0%s%s\n",
                 budget_mb.ok() ? "" : ": ", budget_mb.ok() ? "" : budget_mb.status().message().c_str());
    return 2;
  }
  if (auto st = streamrec::state::SetProcessMemoryBudget(static_cast<size_t>(*budget_mb) << 20); !st.ok()) {
    std::fprintf(stderr, "streamrec: %s\n", st.message().c_str());
    return 2;
  }
  std::unique_ptr<streamrec::HeapTrimmer> heap_trimmer;
  for (CLI::App* sub : app.get_subcommands()) {
    // The commands that run until stopped keep their memory flat (core/heap_settings.h).
    if (sub->get_name() == "stage" || sub->get_name() == "run") {
      streamrec::ApplyLongRunningHeapSettings();
      heap_trimmer = streamrec::HeapTrimmer::Start(std::chrono::seconds(30));
    }
    auto it = runners.find(sub);
    if (it != runners.end() && it->second) return it->second(ctx);
  }
  std::fprintf(stderr, "streamrec: no subcommand given; see --help\n");
  return 2;
}
