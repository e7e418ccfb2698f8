#include "core/file_system.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace streamrec::file_system {
namespace {

void Touch(const std::string& path, const std::string& bytes = "x") {
  std::ofstream(path, std::ios::binary) << bytes;
}

class FileSystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto dir = MakeTempDirectory("streamrec-fs-test-");
    ASSERT_TRUE(dir.ok()) << dir.status().ToString();
    root_ = *dir;
  }
  void TearDown() override {
    // Not RemoveAll: the clean-up must not depend on the code under test.
    if (!root_.empty()) std::system(("rm -rf '" + root_ + "'").c_str());
  }
  std::string P(const std::string& rel) const { return JoinPath(root_, rel); }

  std::string root_;
};

TEST(FileSystemPathTest, JoinPath) {
  EXPECT_EQ(JoinPath("a", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
  EXPECT_EQ(JoinPath("a/", "/b"), "a/b");
  EXPECT_EQ(JoinPath("/", "b"), "/b");
  EXPECT_EQ(JoinPath("", "b"), "b");
  EXPECT_EQ(JoinPath("a", ""), "a");
}

TEST(FileSystemPathTest, BaseName) {
  EXPECT_EQ(BaseName("/models/v0000000007"), "v0000000007");
  EXPECT_EQ(BaseName("/models/v0000000007//"), "v0000000007");
  EXPECT_EQ(BaseName("v7"), "v7");
  EXPECT_EQ(BaseName("/"), "/");
  EXPECT_EQ(BaseName(""), "");
}

TEST_F(FileSystemTest, MakeTempDirectoryIsNewAndPrivate) {
  EXPECT_TRUE(IsDirectory(root_));
  struct stat st;
  ASSERT_EQ(stat(root_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  auto other = MakeTempDirectory("streamrec-fs-test-");
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, root_);
  EXPECT_TRUE(RemoveAll(*other).ok());
}

TEST_F(FileSystemTest, CreateDirectoriesNestedAndIdempotent) {
  const std::string deep = P("a/b//c/");
  ASSERT_TRUE(CreateDirectories(deep).ok());
  EXPECT_TRUE(IsDirectory(P("a/b/c")));
  EXPECT_TRUE(CreateDirectories(deep).ok());
  EXPECT_TRUE(CreateDirectories(P("a")).ok());
  EXPECT_EQ(CreateDirectories("").code(), Status::Code::kInvalidArgument);
}

TEST_F(FileSystemTest, CreateDirectoriesFailsOverAFile) {
  Touch(P("f"));
  EXPECT_EQ(CreateDirectories(P("f")).code(), Status::Code::kAlreadyExists);
  EXPECT_FALSE(CreateDirectories(P("f/sub")).ok());
  EXPECT_FALSE(IsDirectory(P("f")));
}

TEST_F(FileSystemTest, ExistsIsDirectoryFileSize) {
  Touch(P("five"), "12345");
  EXPECT_TRUE(Exists(P("five")));
  EXPECT_FALSE(IsDirectory(P("five")));
  EXPECT_FALSE(Exists(P("none")));
  auto size = FileSize(P("five"));
  ASSERT_TRUE(size.ok());
  EXPECT_EQ(*size, 5u);
  EXPECT_EQ(FileSize(P("none")).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(FileSize(root_).status().code(), Status::Code::kInvalidArgument);
}

TEST_F(FileSystemTest, ListDirectorySortedWithoutDots) {
  Touch(P("b"));
  Touch(P("a"));
  ASSERT_TRUE(CreateDirectories(P("c")).ok());
  auto names = ListDirectory(root_);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ListDirectory(P("none")).status().code(), Status::Code::kNotFound);
  EXPECT_FALSE(ListDirectory(P("a")).ok());
}

TEST_F(FileSystemTest, RemoveAllRemovesATree) {
  ASSERT_TRUE(CreateDirectories(P("t/x/y/z")).ok());
  Touch(P("t/1"));
  Touch(P("t/x/2"));
  Touch(P("t/x/y/z/3"));
  ASSERT_TRUE(CreateDirectories(P("t/empty")).ok());
  ASSERT_TRUE(RemoveAll(P("t")).ok());
  EXPECT_FALSE(Exists(P("t")));
  EXPECT_TRUE(IsDirectory(root_));
}

TEST_F(FileSystemTest, RemoveAllFileAndMissingPath) {
  Touch(P("f"));
  EXPECT_TRUE(RemoveAll(P("f")).ok());
  EXPECT_FALSE(Exists(P("f")));
  EXPECT_TRUE(RemoveAll(P("f")).ok());
  EXPECT_TRUE(RemoveAll(P("no/such/dir")).ok());
  EXPECT_EQ(RemoveAll("").code(), Status::Code::kInvalidArgument);
}

TEST_F(FileSystemTest, RemoveAllDoesNotFollowSymbolicLinks) {
  ASSERT_TRUE(CreateDirectories(P("outside")).ok());
  Touch(P("outside/keep"));
  ASSERT_TRUE(CreateDirectories(P("t")).ok());
  ASSERT_EQ(symlink(P("outside").c_str(), P("t/link").c_str()), 0);
  ASSERT_EQ(symlink(P("outside").c_str(), P("toplink").c_str()), 0);
  ASSERT_TRUE(RemoveAll(P("t")).ok());
  ASSERT_TRUE(RemoveAll(P("toplink")).ok());
  EXPECT_FALSE(Exists(P("t")));
  struct stat st;
  EXPECT_NE(lstat(P("toplink").c_str(), &st), 0);
  EXPECT_TRUE(Exists(P("outside/keep")));
}

TEST_F(FileSystemTest, RemoveAllManyEntries) {
  // More entries than one readdir buffer holds, so removal after listing matters.
  ASSERT_TRUE(CreateDirectories(P("many")).ok());
  for (int i = 0; i < 2000; ++i) Touch(P("many/entry-with-a-long-name-" + std::to_string(i)));
  ASSERT_TRUE(RemoveAll(P("many")).ok());
  EXPECT_FALSE(Exists(P("many")));
}

TEST_F(FileSystemTest, RenameDirectory) {
  ASSERT_TRUE(CreateDirectories(P(".tmp-v1")).ok());
  Touch(P(".tmp-v1/manifest.json"));
  ASSERT_TRUE(Rename(P(".tmp-v1"), P("v1")).ok());
  EXPECT_FALSE(Exists(P(".tmp-v1")));
  EXPECT_TRUE(Exists(P("v1/manifest.json")));
  // Onto a non-empty directory it fails and leaves both in place.
  ASSERT_TRUE(CreateDirectories(P("v2")).ok());
  Touch(P("v2/f"));
  EXPECT_FALSE(Rename(P("v2"), P("v1")).ok());
  EXPECT_TRUE(Exists(P("v2/f")));
  EXPECT_EQ(Rename(P("none"), P("v3")).code(), Status::Code::kNotFound);
}

TEST(FileSystemTempTest, TempDirectoryPathHonoursTmpdir) {
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old ? old : "";
  setenv("TMPDIR", "/var/tmp", 1);
  EXPECT_EQ(TempDirectoryPath(), "/var/tmp");
  setenv("TMPDIR", "", 1);
  EXPECT_EQ(TempDirectoryPath(), "/tmp");
  if (old) {
    setenv("TMPDIR", saved.c_str(), 1);
  } else {
    unsetenv("TMPDIR");
  }
}

}  // namespace
}  // namespace streamrec::file_system
