#include "operators/training_example.h"

namespace streamrec::operators {

TrainingExample MakeTrainingExample(const ClickEvent& e, const UserWindow& window_before, double weight) {
  TrainingExample ex;
  ex.user_key = e.user_key;
  ex.user_id = e.user_id;
  ex.item_key = e.item_key;
  ex.item_id = e.item_id;
  ex.event = e.event;
  ex.weight = static_cast<float>(weight);
  ex.ts_ms = e.ts_ms;
  ex.history_keys.reserve(window_before.size());
  ex.history_ts_ms.reserve(window_before.size());
  for (const auto& entry : window_before.entries()) {
    ex.history_keys.push_back(entry.item_key);
    ex.history_ts_ms.push_back(entry.ts_ms);
  }
  return ex;
}

}  // namespace streamrec::operators
