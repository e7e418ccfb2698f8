#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

namespace streamrec {

// Runs `call` on a thread of its own and waits for its result until `deadline`. For a
// library call that can block for good (librdkafka's assign during a close, which waits
// for a reply its group handler may have dropped): when the deadline passes first, the
// thread is detached and left running, and nullopt is returned. Whatever `call` reaches
// must then outlive that thread: the caller leaks it (a process that is stopping anyway).
// `call` must not throw. Thread-safe; the calling thread blocks until one of the two.
template <typename T>
std::optional<T> CallBefore(std::chrono::steady_clock::time_point deadline, std::function<T()> call) {
  auto reply = std::make_shared<std::promise<T>>();
  std::future<T> answered = reply->get_future();
  std::thread caller([reply, call = std::move(call)] { reply->set_value(call()); });
  if (answered.wait_until(deadline) != std::future_status::ready) {
    caller.detach();
    return std::nullopt;
  }
  caller.join();
  return answered.get();
}

}  // namespace streamrec
