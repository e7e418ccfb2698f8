#pragma once

// Runs the `streamrec` binary (or any program) as a child process for e2e tests: its own
// process group, stdout/stderr to files, bounded waits, killed on destruction.

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace streamrec::testing {

class ScratchDir {
 public:
  ScratchDir() {
    char tmpl[] = "/tmp/streamrec-e2e-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// True if `program` is on PATH (or an executable path).
inline bool HaveProgram(const std::string& program) {
  return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

// Runs `command` under sh with stdin from `stdin_text`, killed after `timeout_s`; returns
// its exit status (124 on timeout) and its stdout in *out (stderr in *err if given).
inline int RunShell(const ScratchDir& dir, const std::string& command,
                    const std::string& stdin_text, int timeout_s, std::string* out,
                    std::string* err = nullptr) {
  static int n = 0;
  const std::string base = dir.File("cmd" + std::to_string(n++));
  WriteFile(base + ".in", stdin_text);
  WriteFile(base + ".sh", command + "\n");
  const std::string full = "timeout -k 5 " + std::to_string(timeout_s) + " sh " + base + ".sh < " +
                           base + ".in > " + base + ".out 2> " + base + ".err";
  const int status = std::system(full.c_str());
  if (out != nullptr) *out = ReadFile(base + ".out");
  if (err != nullptr) *err = ReadFile(base + ".err");
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

class Subprocess {
 public:
  // Starts argv[0] with stdin from `stdin_path` ("" = /dev/null), stdout/stderr to files.
  Subprocess(const std::vector<std::string>& argv, const std::string& out_path,
             const std::string& err_path, const std::string& stdin_path = "")
      : out_path_(out_path), err_path_(err_path) {
    // Everything the child needs is built before fork(): in a multi-threaded parent the
    // child may only make async-signal-safe calls (no malloc) until exec.
    std::vector<std::string> args_copy = argv;
    std::vector<char*> args;
    for (auto& a : args_copy) args.push_back(a.data());
    args.push_back(nullptr);
    const std::string in_path = stdin_path.empty() ? "/dev/null" : stdin_path;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::setpgid(0, 0);
      const int in = ::open(in_path.c_str(), O_RDONLY);
      const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Subprocess() {
    if (pid_ > 0 && !exited_) {
      ::kill(-pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  // Waits up to `timeout`; the exit code, 128+signal, or -1 if still running.
  int Wait(std::chrono::milliseconds timeout) {
    if (exited_) return code_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      int status = 0;
      const pid_t r = ::waitpid(pid_, &status, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return code_;
      }
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  void Signal(int sig) {
    if (!exited_) ::kill(pid_, sig);
  }
  std::string out() const { return ReadFile(out_path_); }
  std::string err() const { return ReadFile(err_path_); }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  int code_ = -1;
  std::string out_path_, err_path_;
};

// Runs to completion (killed after `timeout_s`); returns the exit code.
inline int RunToEnd(const ScratchDir& dir, const std::vector<std::string>& argv, std::string* out,
                    std::string* err, const std::string& stdin_text = "", int timeout_s = 120) {
  static int n = 0;
  const std::string base = dir.File("run" + std::to_string(n++));
  std::string in_path;
  if (!stdin_text.empty()) {
    in_path = base + ".in";
    WriteFile(in_path, stdin_text);
  }
  Subprocess p(argv, base + ".out", base + ".err", in_path);
  int code = p.Wait(std::chrono::seconds(timeout_s));
  if (code < 0) {
    p.Signal(SIGKILL);
    code = p.Wait(std::chrono::seconds(10));
  }
  if (out != nullptr) *out = p.out();
  if (err != nullptr) *err = p.err();
  return code;
}

}  // namespace streamrec::testing
