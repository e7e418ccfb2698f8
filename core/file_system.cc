#include "core/file_system.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace streamrec::file_system {
namespace {

Status ErrnoStatus(const char* what, const std::string& path, int err) {
  std::string msg = std::string(what) + " " + path + ": " + std::strerror(err);
  if (err == ENOENT) return Status::NotFound(std::move(msg));
  return Status::IoError(std::move(msg));
}

// Removes `name` inside the directory open as `parent_fd` (AT_FDCWD for a plain path).
// `shown` is the path used in messages.
Status RemoveAt(int parent_fd, const char* name, const std::string& shown) {
  struct stat st;
  if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return ErrnoStatus("cannot stat", shown, errno);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (unlinkat(parent_fd, name, 0) != 0 && errno != ENOENT) {
      return ErrnoStatus("cannot remove", shown, errno);
    }
    return Status::Ok();
  }
  // O_NOFOLLOW: if `name` was swapped for a symbolic link since fstatat, fail rather
  // than descend into the link's target.
  const int fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("cannot open", shown, errno);
  DIR* dir = fdopendir(fd);
  if (dir == nullptr) {
    const int err = errno;
    close(fd);
    return ErrnoStatus("cannot read", shown, err);
  }
  // Names first, removal after: removing entries while readdir walks the same stream
  // is allowed but leaves unspecified whether later entries are seen.
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = readdir(dir)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      names.emplace_back(e->d_name);
    }
    errno = 0;
  }
  Status first = errno != 0 ? ErrnoStatus("cannot read", shown, errno) : Status::Ok();
  for (const auto& n : names) {
    Status st_child = RemoveAt(dirfd(dir), n.c_str(), JoinPath(shown, n));
    if (first.ok() && !st_child.ok()) first = st_child;
  }
  closedir(dir);
  if (unlinkat(parent_fd, name, AT_REMOVEDIR) != 0 && errno != ENOENT && first.ok()) {
    first = ErrnoStatus("cannot remove", shown, errno);
  }
  return first;
}

}  // namespace

std::string JoinPath(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  if (name.empty()) return std::string(dir);
  std::string out(dir);
  if (out.back() == '/' && name.front() == '/') {
    out.pop_back();
  } else if (out.back() != '/' && name.front() != '/') {
    out.push_back('/');
  }
  out.append(name);
  return out;
}

std::string BaseName(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (path == "/") return "/";
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<uint64_t> FileSize(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return ErrnoStatus("cannot stat", path, errno);
  if (!S_ISREG(st.st_mode)) return Status::InvalidArgument(path + " is not a regular file");
  return static_cast<uint64_t>(st.st_size);
}

Result<std::vector<std::string>> ListDirectory(const std::string& path) {
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return ErrnoStatus("cannot open directory", path, errno);
  std::vector<std::string> names;
  errno = 0;
  while (const dirent* e = readdir(dir)) {
    if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
      names.emplace_back(e->d_name);
    }
    errno = 0;
  }
  const int err = errno;
  closedir(dir);
  if (err != 0) return ErrnoStatus("cannot read directory", path, err);
  std::sort(names.begin(), names.end());
  return names;
}

Status CreateDirectories(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("CreateDirectories: empty path");
  // Each prefix ending before a '/', then the whole path.
  for (size_t end = 1; end <= path.size(); ++end) {
    if (end != path.size() && path[end] != '/') continue;
    if (path[end - 1] == '/') continue;  // "a//b" or a trailing slash
    const std::string prefix = path.substr(0, end);
    if (mkdir(prefix.c_str(), 0755) == 0) continue;
    const int err = errno;
    if (err == EEXIST && IsDirectory(prefix)) continue;
    if (err == EEXIST) return Status::AlreadyExists(prefix + " exists and is not a directory");
    return ErrnoStatus("cannot create directory", prefix, err);
  }
  return Status::Ok();
}

Status RemoveAll(const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("RemoveAll: empty path");
  return RemoveAt(AT_FDCWD, path.c_str(), path);
}

Status Rename(const std::string& from, const std::string& to) {
  if (rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoStatus("cannot rename", from + " to " + to, errno);
  }
  return Status::Ok();
}

std::string TempDirectoryPath() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? std::string(tmp) : std::string("/tmp");
}

Result<std::string> MakeTempDirectory(std::string_view prefix) {
  std::string templ = JoinPath(TempDirectoryPath(), std::string(prefix) + "XXXXXX");
  if (mkdtemp(templ.data()) == nullptr) {
    return ErrnoStatus("cannot create temporary directory", templ, errno);
  }
  return templ;
}

}  // namespace streamrec::file_system
