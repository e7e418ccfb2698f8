#pragma once

// Where the tests find external data (MovieLens-100k, the golden-metrics split).
//
// The repository carries no data set. Tests that need one look under
// $STREAMREC_DATA_DIR, or, when that is unset, under `<repo>/../shared/data` (the
// development machines' layout). A test whose data is absent calls GTEST_SKIP() with
// MissingTestData()'s message, so a bare clone reports it as skipped, never failed:
//
//   const auto ml = testing::MovieLensDir();
//   if (!ml) GTEST_SKIP() << testing::MissingTestData("ml-100k");
//
// Everything else runs on the synthetic generator (streams/synthetic_clicks.h).

#include <sys/stat.h>

#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>

namespace streamrec::testing {

// The data root: $STREAMREC_DATA_DIR when set and non-empty, else
// STREAMREC_SOURCE_DIR/../shared/data (STREAMREC_SOURCE_DIR is the repository root,
// passed by tests/CMakeLists.txt).
inline std::string TestDataRoot() {
  const char* env = std::getenv("STREAMREC_DATA_DIR");
  if (env != nullptr && *env != '\0') return env;
#ifdef STREAMREC_SOURCE_DIR
  return std::string(STREAMREC_SOURCE_DIR) + "/../shared/data";
#else
  return "../shared/data";
#endif
}

inline bool TestFileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// TestDataRoot()/`relative` when that folder holds every file in `required`.
inline std::optional<std::string> FindTestData(const std::string& relative,
                                               std::initializer_list<const char*> required) {
  const std::string dir = TestDataRoot() + "/" + relative;
  for (const char* file : required) {
    if (!TestFileExists(dir + "/" + file)) return std::nullopt;
  }
  return dir;
}

// MovieLens-100k (u.data, u.item) as distributed by GroupLens.
inline std::optional<std::string> MovieLensDir() {
  return FindTestData("ml-100k", {"u.data", "u.item"});
}

// The golden split and the reference library's metric values on it (DESIGN §7).
inline std::optional<std::string> GoldenMetricsDir() {
  return FindTestData("golden-metrics", {"predictions.tsv", "train.tsv", "test.tsv", "metrics.json"});
}

// The reason a test gives when it skips for want of `relative`.
inline std::string MissingTestData(const std::string& relative) {
  return "test data " + TestDataRoot() + "/" + relative +
         " not found: set STREAMREC_DATA_DIR to the folder that holds " + relative +
         "/ (default <repo>/../shared/data)";
}

}  // namespace streamrec::testing
