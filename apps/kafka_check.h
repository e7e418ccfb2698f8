#pragma once

#include <string>

#include "core/config.h"

namespace streamrec::apps {

// Exit code of a command stopped by SIGINT/SIGTERM before it could start its work.
inline constexpr int kInterruptedExitCode = 130;

// Every command that talks to Kafka calls this before its work: waits (bounded, see
// streams/broker_check.h) for the cluster at `brokers` (with the `kafka:` properties of
// `config`) to answer, saying on stderr after a second what it waits for. Returns 0 when
// it answered; otherwise prints "streamrec <command>: cannot reach Kafka at ... (tried:
// ...)" and returns 1, or kInterruptedExitCode when a stop signal came first (polled in
// short slices, so Ctrl-C is prompt). Install the stop handlers first.
int RequireKafka(const std::string& command, const Config& config, const std::string& brokers);

}  // namespace streamrec::apps
