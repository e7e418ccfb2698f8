#include "operators/state_inspection.h"

#include <filesystem>

#include "operators/batch_view_store.h"

namespace streamrec::operators {

Result<BatchView> ReadItemStageState(const std::string& state_dir, int32_t num_partitions) {
  BatchView view;
  for (int32_t p = 0; p < num_partitions; ++p) {
    const std::string path = state_dir + "/item-" + std::to_string(p);
    if (!std::filesystem::exists(path)) continue;
    STREAMREC_RETURN_IF_ERROR(ReadItemStateDb(path, p, num_partitions, &view));
  }
  return view;
}

}  // namespace streamrec::operators
