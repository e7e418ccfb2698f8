#include "apps/model_binary.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
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

}  // namespace streamrec::apps
