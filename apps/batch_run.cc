#include "apps/batch_run.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>

#include "apps/model_binary.h"

namespace streamrec::apps {

batch::ModelTrainerFn BatchModelTrainer(std::vector<std::string> global_args, int epochs, bool progress,
                                        batch::StopFn stop, std::function<void()> before) {
  return [global_args = std::move(global_args), epochs, progress, stop = std::move(stop),
          before = std::move(before)](const std::string& training_input,
                                      const std::string& model_dir) -> Result<batch::BatchModelSummary> {
    if (before) before();
    const std::string summary = model_dir + ".summary.json";
    std::vector<std::string> args = global_args;
    for (const char* a : {"batch-model", "--input"}) args.push_back(a);
    args.push_back(training_input);
    args.push_back("--out");
    args.push_back(model_dir);
    args.push_back("--summary");
    args.push_back(summary);
    args.push_back("--epochs");
    args.push_back(std::to_string(epochs));
    if (!progress) args.push_back("--no-progress");
    auto rc = RunModelBinary(args, stop);
    if (!rc.ok()) return rc.status().WithContext("the batch model");
    if (stop && stop()) return Status::Unavailable("stopped");
    if (*rc != 0) {
      return Status::Internal("streamrec-model batch-model exited with status " + std::to_string(*rc));
    }
    std::ifstream f(summary, std::ios::binary);
    std::stringstream text;
    text << f.rdbuf();
    auto parsed = batch::ModelSummaryFromJson(text.str());
    if (!parsed.ok()) return parsed.status().WithContext(summary);
    if (std::remove(summary.c_str()) != 0) return Status::IoError("cannot remove " + summary);
    return parsed;
  };
}

}  // namespace streamrec::apps
