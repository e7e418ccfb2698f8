// The two executables of the `streamrec` command (apps/model_binary.h): the torch-free
// `streamrec` runs what needs no model and hands the rest, with its command line, to
// streamrec-model; to a user the pair behaves as one program.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/subprocess.h"

namespace streamrec {
namespace {

using testing::RunToEnd;
using testing::ScratchDir;
using testing::Subprocess;
using testing::WriteFile;

const std::string kBinary = STREAMREC_BINARY;
const std::string kModelBinary =
    std::filesystem::path(STREAMREC_BINARY).parent_path().string() + "/streamrec-model";

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

// The real path of process `pid`'s executable.
std::string ExeOf(pid_t pid) {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).string();
}

// Help (stdout), usage errors (stderr) and exit codes are the same whichever binary runs
// the command: for model commands `streamrec` is streamrec-model (argv[0] aside, which
// both print as given).
TEST(CliModelBinary, EveryCommandAnswersAsStreamrecModelDoes) {
  ASSERT_TRUE(std::filesystem::exists(kModelBinary)) << kModelBinary;
  ScratchDir dir;
  const std::vector<std::vector<std::string>> commands = {
      {"--help"},
      {"--version"},
      {"run", "--help"},
      {"eval", "--help"},
      {"bench", "--help"},
      {"bench", "prequential", "--help"},
      {"stage", "--help"},
      {"produce", "--help"},
      {"run", "--rate", "0"},
      {"--log-level", "info", "--set", "trainer.device=cpu", "eval", "--k", "0", "--train", "a", "--test", "b"},
      {"stage", "trainer", "--dump-state", "--partitions", "1"},
      {"stage", "serving", "--metrics", "off"},
      {"runn"},
  };
  for (const auto& args : commands) {
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    std::vector<std::string> ours = {kBinary}, theirs = {kModelBinary};
    ours.insert(ours.end(), args.begin(), args.end());
    theirs.insert(theirs.end(), args.begin(), args.end());
    std::string out1, err1, out2, err2;
    const int code1 = RunToEnd(dir, ours, &out1, &err1);
    const int code2 = RunToEnd(dir, theirs, &out2, &err2);
    EXPECT_EQ(code1, code2) << joined << err1;
    EXPECT_EQ(out1, ReplaceAll(out2, kModelBinary, kBinary)) << joined;
    EXPECT_EQ(err1, ReplaceAll(err2, kModelBinary, kBinary)) << joined;
  }
  std::string out, err;
  ASSERT_EQ(RunToEnd(dir, {kBinary, "--help"}, &out, &err), 0) << err;
  for (const char* cmd : {"bench", "broker", "eval", "produce", "replay", "run", "stage", "topics"}) {
    EXPECT_NE(out.find(std::string("\n  ") + cmd + " "), std::string::npos) << cmd << " listed in " << out;
  }
}

// `stage serving` becomes streamrec-model in the same process: its pid runs
// streamrec-model, which installs its own stop handler; a SIGTERM sent to the pid that
// was started ends the wait for Kafka with 130 and streamrec-model's message.
TEST(CliModelBinary, AModelStageIsTheSameProcessAndAnswersSignals) {
  ScratchDir dir;
  Subprocess stage({kBinary, "stage", "serving", "--brokers", "127.0.0.1:1", "--metrics", "off",
                    "--state-dir", dir.File("state")},
                   dir.File("stage.out"), dir.File("stage.err"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (stage.err().find("waiting for Kafka") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline && stage.Wait(std::chrono::milliseconds(0)) < 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_NE(stage.err().find("streamrec stage serving: waiting for Kafka at 127.0.0.1:1"), std::string::npos)
      << stage.err();
  EXPECT_EQ(ExeOf(stage.pid()), std::filesystem::canonical(kModelBinary).string());
  stage.Signal(SIGTERM);
  EXPECT_EQ(stage.Wait(std::chrono::seconds(30)), 130) << stage.err();
  EXPECT_EQ(stage.out(), "");
}

// `streamrec` alone (no streamrec-model beside it) still runs what needs no model; a
// model command fails with 127 naming the file it looked for. Through a symlink the real
// directory is searched.
TEST(CliModelBinary, WithoutStreamrecModelOnlyModelCommandsFailAndSayWhy) {
  ScratchDir dir;
  const std::string alone = dir.File("streamrec");
  std::filesystem::copy_file(kBinary, alone);
  std::string out, err;
  EXPECT_EQ(RunToEnd(dir, {alone, "--version"}, &out, &err), 0) << err;
  EXPECT_EQ(RunToEnd(dir, {alone, "topics", "--help"}, &out, &err), 0) << err;
  EXPECT_EQ(RunToEnd(dir, {alone, "stage", "item", "--dump-state", "--partitions", "1", "--state-dir",
                           dir.File("none")},
                     &out, &err),
            0)
      << err;
  EXPECT_EQ(out, "# events 0 items 0 pairs 0\n");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"run", "--help"}, {"eval", "--k", "3"}, {"stage", "trainer", "--brokers", "x"},
        {"stage", "serving"}}) {
    std::vector<std::string> argv = {alone};
    argv.insert(argv.end(), args.begin(), args.end());
    out.clear();
    err.clear();
    EXPECT_EQ(RunToEnd(dir, argv, &out, &err), 127) << args[0] << " " << args[1];
    EXPECT_EQ(out, "");
    EXPECT_NE(err.find("needs streamrec-model (LibTorch), installed beside streamrec; cannot run " +
                       dir.File("streamrec-model") + ": No such file or directory"),
              std::string::npos)
        << err;
  }

  // `batch` is torch-free but trains its model with streamrec-model: without it, it
  // refuses before any work unless told --no-model.
  WriteFile(dir.File("h.csv"), "user_id,item_id,event,ts\nu1,i1,click,1732270000123\nu1,i2,click,1732270000124\n");
  EXPECT_EQ(RunToEnd(dir, {alone, "batch", dir.File("h.csv"), "--format", "csv", "--out", dir.File("v")}, &out, &err),
            127);
  EXPECT_NE(err.find("--no-model writes the views only"), std::string::npos) << err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("v")));
  EXPECT_EQ(RunToEnd(dir, {alone, "batch", dir.File("h.csv"), "--format", "csv", "--out", dir.File("v"), "--no-model"},
                     &out, &err),
            0)
      << err;

  const std::string link = dir.File("link-to-streamrec");
  std::filesystem::create_symlink(kBinary, link);
  EXPECT_EQ(RunToEnd(dir, {link, "run", "--help"}, &out, &err), 0) << err;
  EXPECT_NE(out.find("Usage: " + link + " run"), std::string::npos) << out;
}

}  // namespace
}  // namespace streamrec
