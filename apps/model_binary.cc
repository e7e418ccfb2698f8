#include "apps/model_binary.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

namespace streamrec::apps {

Result<std::string> ModelBinaryPath() {
  std::vector<char> buf(4096);
  const ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n < 0) return Status::IoError(std::string("readlink /proc/self/exe: ") + std::strerror(errno));
  std::string self(buf.data(), static_cast<size_t>(n));
  const size_t slash = self.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : self.substr(0, slash);
  return dir + "/" + STREAMREC_MODEL_BINARY_NAME;
}

int ExecModelBinary(char** argv, const std::string& command) {
  auto path = ModelBinaryPath();
  if (!path.ok()) {
    std::fprintf(stderr, "streamrec: '%s' needs %s (LibTorch), which could not be located: %s\n",
                 command.c_str(), STREAMREC_MODEL_BINARY_NAME, path.status().message().c_str());
    return kModelBinaryMissing;
  }
  // Nothing is buffered yet; flushed anyway, as execv discards what is.
  std::fflush(stdout);
  std::fflush(stderr);
  execv(path->c_str(), argv);
  const int error = errno;
  std::fprintf(stderr,
               "streamrec: '%s' needs %s (LibTorch), installed beside streamrec; cannot run %s: %s\n",
               command.c_str(), STREAMREC_MODEL_BINARY_NAME, path->c_str(), std::strerror(error));
  return kModelBinaryMissing;
}

Status CheckModelBinary() {
  auto path = ModelBinaryPath();
  if (!path.ok()) return path.status();
  if (::access(path->c_str(), X_OK) != 0) {
    return Status::NotFound(std::string(STREAMREC_MODEL_BINARY_NAME) + " (LibTorch) is not installed beside streamrec: " +
                            *path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

Result<int> RunModelBinary(const std::vector<std::string>& args, const std::function<bool()>& stop) {
  STREAMREC_RETURN_IF_ERROR(CheckModelBinary());
  auto path = ModelBinaryPath();
  if (!path.ok()) return path.status();
  // Built before fork(): the child of a multi-threaded parent may not allocate.
  std::vector<std::string> all = {*path};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = ::fork();
  if (pid < 0) return Status::IoError(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::execv(argv[0], argv.data());
    ::_exit(kModelBinaryMissing);
  }
  bool signalled = false;
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0 && errno != EINTR) return Status::IoError(std::string("waitpid: ") + std::strerror(errno));
    if (!signalled && stop && stop()) {
      ::kill(pid, SIGTERM);
      signalled = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::vector<std::string> GlobalArguments(char** argv, const std::string& command) {
  std::vector<std::string> out;
  if (argv == nullptr || argv[0] == nullptr) return out;
  for (char** a = argv + 1; *a != nullptr; ++a) {
    const std::string arg = *a;
    if (arg == command) break;
    out.push_back(arg);
    // Options whose value is a separate word (a value could be spelled like a command).
    if ((arg == "-c" || arg == "--config" || arg == "--log-level") && a[1] != nullptr) {
      out.push_back(*++a);
    }
  }
  return out;
}

}  // namespace streamrec::apps
