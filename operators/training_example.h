#pragma once

#include "core/records.h"
#include "operators/user_window.h"
#include "streams/click_event.h"

namespace streamrec::operators {

// The training example of an event (DESIGN §4): user, positive item, event type, reward
// weight, event time, and the user's window BEFORE the event (item keys and times,
// oldest first). The one definition: the user stage forwards it on
// `streamrec.training-examples` and the batch layer trains its model on the same
// examples. Pure; thread-safe.
TrainingExample MakeTrainingExample(const ClickEvent& event, const UserWindow& window_before, double weight);

}  // namespace streamrec::operators
