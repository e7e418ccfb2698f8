#pragma once

// Running external clients (kcat, python3) from integration tests, bounded in time.

#include <unistd.h>

#include <sys/wait.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace streamrec::testing {

// A temporary directory removed with everything in it on destruction.
class ScratchDir {
 public:
  ScratchDir() {
    char tmpl[] = "/tmp/streamrec-it-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// True if `program` is on PATH (or an executable path).
inline bool HaveProgram(const std::string& program) {
  return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
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

}  // namespace streamrec::testing
