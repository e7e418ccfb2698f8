#include "stages/stage_state.h"

#include <algorithm>
#include <cctype>

#include "core/file_system.h"

namespace streamrec::stages {
namespace {

// "<stage>-<digits>"
bool IsPartitionStore(const std::string& name, const std::string& stage) {
  const std::string prefix = stage + "-";
  if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return false;
  return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()), name.end(),
                     [](unsigned char c) { return std::isdigit(c) != 0; });
}

}  // namespace

Result<std::vector<std::string>> ResetStageState(const std::string& stage, const std::string& state_dir,
                                                 const std::string& model_dir) {
  std::vector<std::string> removed;
  if (stage == "user" || stage == "item") {
    if (!file_system::IsDirectory(state_dir)) return removed;
    auto names = file_system::ListDirectory(state_dir);
    if (!names.ok()) return names.status().WithContext("listing " + state_dir);
    for (const std::string& name : *names) {
      const std::string base = file_system::BaseName(name);
      if (!IsPartitionStore(base, stage)) continue;
      const std::string path = file_system::JoinPath(state_dir, base);
      STREAMREC_RETURN_IF_ERROR(file_system::RemoveAll(path).WithContext("removing " + path));
      removed.push_back(path);
    }
    std::sort(removed.begin(), removed.end());
    return removed;
  }
  if (stage == "trainer") {
    if (model_dir.empty() || !file_system::Exists(model_dir)) return removed;
    STREAMREC_RETURN_IF_ERROR(file_system::RemoveAll(model_dir).WithContext("removing " + model_dir));
    removed.push_back(model_dir);
    return removed;
  }
  if (stage == "serving") return removed;
  return Status::InvalidArgument("unknown stage '" + stage + "'");
}

std::string StartOverHint(const std::string& stage, const std::string& state_dir, const std::string& model_dir) {
  if (stage == "trainer") {
    return "restart with --reset-state (removes the model store " + model_dir +
           "; the trainer starts from fresh parameters), or point trainer.model_dir at an empty directory";
  }
  return "restart with --reset-state (removes this stage's partition stores " + state_dir + "/" + stage +
         "-* and, with the changelog on, discards what its changelog holds)";
}

}  // namespace streamrec::stages
