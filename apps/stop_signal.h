#pragma once

#include <chrono>

namespace streamrec::apps {

// SIGINT/SIGTERM handling for long-running subcommands. Install once on the main thread
// before starting workers; any thread may poll or wait. The first signal asks for a
// clean shutdown; a second one exits at once (status 130). A shutdown still running
// kShutdownBoundSeconds after the first signal is cut short: a message on stderr and exit
// status 1 (SIGALRM; nothing else in the process may use alarm()). The stop paths are
// bounded on their own (Kafka: 5 s, StageRunnerOptions::shutdown_timeout_ms) and take a
// few seconds; this is the last resort against a hang (a peer paused mid-request, a
// stuck disk). It is not 10 s: on the loaded 2-core CI machine a clean stop of `run`
// with a backlog (local work: the stages' last commits, RocksDB flushes, the trainer's
// final steps and snapshot) was measured past 10 s.
constexpr unsigned kShutdownBoundSeconds = 30;
void InstallStopSignalHandlers();
bool StopRequested();
// Waits until a stop is requested or `timeout` passes; true when a stop was requested.
bool WaitForStop(std::chrono::milliseconds timeout);
// Requests a stop from code (as if signalled once).
void RequestStop();

}  // namespace streamrec::apps
