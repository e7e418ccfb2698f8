#pragma once

// Directory and path helpers on plain POSIX calls (stat, mkdir, rename, openat,
// fdopendir/readdir, unlinkat, mkdtemp), for code that is linked with LibTorch.
//
// Why not std::filesystem: a pip (CUDA) LibTorch 2.x links parts of libstdc++
// statically (gcc-toolset's libstdc++_nonshared.a) and re-exports them, among them
// std::filesystem::remove_all. libtorch.so comes before libstdc++.so.6 in our binaries'
// library search order, so our calls bound to LibTorch's copy, which jumped to address 0
// (issue 16: the trainer died at its first snapshot clean-up). glibc's C functions have
// no such second copy. scripts/check_torch_symbols.sh lists any std:: symbol that a given
// LibTorch exports and our binaries import.
//
// Paths are byte strings as the OS sees them; no normalisation, no `~`. Symbolic links
// are never followed by RemoveAll (the link itself is removed). All functions are
// thread-safe (they share no state) but not atomic with respect to other processes.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace streamrec::file_system {

// `dir` + "/" + `name`, without doubling a slash; an empty side yields the other.
std::string JoinPath(std::string_view dir, std::string_view name);

// The last component ("/a/b/" -> "b", "b" -> "b", "/" -> "/"), like `basename(1)`.
std::string BaseName(std::string_view path);

// True when `path` names anything (following symbolic links, as stat(2) does).
bool Exists(const std::string& path);

// True when `path` is a directory (following symbolic links).
bool IsDirectory(const std::string& path);

// Size in bytes of the regular file at `path`.
Result<uint64_t> FileSize(const std::string& path);

// Names of the entries of directory `path` (not "." and ".."), sorted bytewise.
Result<std::vector<std::string>> ListDirectory(const std::string& path);

// `mkdir -p path` with mode 0755 (less the umask). Ok when it already is a directory;
// an error when it or one of its parents exists and is not one.
Status CreateDirectories(const std::string& path);

// `rm -rf path`: removes a file, a symbolic link (not its target) or a whole directory
// tree, depth first. Ok when `path` does not exist. On an error it goes on removing what
// it can and returns the first error. An empty path is InvalidArgument.
Status RemoveAll(const std::string& path);

// rename(2): atomic within one file system; replaces an existing file or an empty
// directory at `to`, fails on a non-empty one.
Status Rename(const std::string& from, const std::string& to);

// $TMPDIR when set and non-empty, else "/tmp" (as std::filesystem::temp_directory_path).
std::string TempDirectoryPath();

// A new, empty, private (0700) directory `<TempDirectoryPath()>/<prefix>XXXXXX`.
Result<std::string> MakeTempDirectory(std::string_view prefix);

}  // namespace streamrec::file_system
