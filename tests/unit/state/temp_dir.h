#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace streamrec::testing {

// A fresh directory under $TMPDIR, removed with everything in it on destruction (kept
// when STREAMREC_KEEP_TEST_DIRS is set, for post-mortems).
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "streamrec-test-XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    path_ = p ? p : "";
  }
  ~TempDir() {
    if (std::getenv("STREAMREC_KEEP_TEST_DIRS") != nullptr) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace streamrec::testing
