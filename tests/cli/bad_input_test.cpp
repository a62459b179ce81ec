// Bad input: one clear message and a non-zero exit, never a crash or a hang.
#include <gtest/gtest.h>

#include <filesystem>

#include "cli/cli_runner.hpp"

namespace keytok::testing {
namespace {

// A clean failure: non-zero, not a signal (128+), not a timeout, message contains `needle`.
void expect_clean_failure(const CliRun& r, const std::string& needle) {
  EXPECT_NE(r.exit_code, 0) << r.err;
  EXPECT_LT(r.exit_code, 124) << "crashed or hung: " << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr was: " << r.err;
}

#define REQUIRE_MODEL(var)                                                             \
  const std::string var = default_model_or_empty();                                    \
  if (var.empty()) GTEST_SKIP() << "default model absent; run scripts/fetch_models.sh"

TEST(CliBadInput, MissingModelFile) {
  expect_clean_failure(run_keytok({"analyze", "-m", "/nonexistent/model.gguf", "-p", "hi", "--generate", "4"}),
                       "model file not found");
}

TEST(CliBadInput, ModelPathIsADirectory) {
  const std::string dir = temp_dir("dirmodel");
  expect_clean_failure(run_keytok({"analyze", "-m", dir, "-p", "hi", "--generate", "4"}), "directory");
}

TEST(CliBadInput, FileThatIsNotGguf) {
  const std::string dir = temp_dir("notgguf");
  write_file(dir + "/fake.gguf", "this is plain text, not a model\n");
  expect_clean_failure(run_keytok({"analyze", "-m", dir + "/fake.gguf", "-p", "hi", "--generate", "4"}),
                       "not a GGUF file");
  write_file(dir + "/empty.gguf", "");
  expect_clean_failure(run_keytok({"analyze", "-m", dir + "/empty.gguf", "-p", "hi", "--generate", "4"}),
                       "not a GGUF file");
}

TEST(CliBadInput, TruncatedGguf) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("truncated");
  const std::string body = read_file(model);
  for (std::size_t keep : {std::size_t{16}, std::size_t{4096}, body.size() / 2}) {
    write_file(dir + "/cut.gguf", body.substr(0, keep));
    const CliRun r = run_keytok({"analyze", "-m", dir + "/cut.gguf", "-p", "hi", "--generate", "4"});
    EXPECT_NE(r.exit_code, 0) << keep;
    EXPECT_LT(r.exit_code, 124) << "crashed or hung at " << keep << ": " << r.err;
    EXPECT_TRUE(r.err.find("truncated") != std::string::npos || r.err.find("could not load") != std::string::npos)
        << keep << ": " << r.err;
  }
}

TEST(CliBadInput, EmptyText) {
  const std::string dir = temp_dir("empty");
  write_file(dir + "/empty.txt", "");
  expect_clean_failure(run_keytok({"analyze", "--text", dir + "/empty.txt"}), "empty");
}

TEST(CliBadInput, MissingTextFile) {
  expect_clean_failure(run_keytok({"analyze", "--text", "/nonexistent/text.txt"}), "text file not found");
}

TEST(CliBadInput, InvalidUtf8Text) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("utf8");
  write_file(dir + "/bad.txt", "valid start \xC3\x28 then broken");
  expect_clean_failure(run_keytok({"analyze", "-m", model, "--text", dir + "/bad.txt"}), "not valid UTF-8");
}

TEST(CliBadInput, UnknownFlagAndSubcommand) {
  expect_clean_failure(run_keytok({"analyze", "--bogus-flag", "1"}), "bogus");
  expect_clean_failure(run_keytok({"frobnicate"}), "frobnicate");
  const CliRun none = run_keytok({});
  EXPECT_NE(none.exit_code, 0);
}

TEST(CliBadInput, NonsenseNumbers) {
  expect_clean_failure(run_keytok({"analyze", "-p", "hi", "--generate", "-5"}), "--generate");
  expect_clean_failure(run_keytok({"analyze", "-p", "hi", "--generate", "abc"}), "--generate");
  expect_clean_failure(run_keytok({"calibrate", "--text", "x.txt", "--key-fraction", "1.5"}), "between 0 and 1");
  expect_clean_failure(run_keytok({"calibrate", "--text", "x.txt", "--key-fraction", "0"}), "between 0 and 1");
  expect_clean_failure(run_keytok({"calibrate", "--text", "x.txt", "--key-fraction", "-0.1"}), "between 0 and 1");
  expect_clean_failure(run_keytok({"analyze", "-p", "hi", "--generate", "4", "--ctx", "-1"}), "--ctx");
  expect_clean_failure(run_keytok({"analyze", "-p", "hi", "--generate", "4", "--margin-threshold", "2"}),
                       "--margin-threshold");
}

TEST(CliBadInput, TinyContextAndPromptLongerThanContext) {
  REQUIRE_MODEL(model);
  std::string long_prompt;
  for (int i = 0; i < 400; ++i) long_prompt += "word ";
  expect_clean_failure(run_keytok({"analyze", "-m", model, "--ctx", "16", "-p", long_prompt, "--generate", "4"}),
                       "--ctx");
  // llama.cpp clamps the batch to a tiny context; keytok must follow, not trip its assert.
  const CliRun tiny = run_keytok({"analyze", "-m", model, "--ctx", "1", "-p", "hi", "--generate", "2"});
  EXPECT_LT(tiny.exit_code, 124) << tiny.err;
}

TEST(CliBadInput, UnknownChatTemplate) {
  REQUIRE_MODEL(model);
  expect_clean_failure(run_keytok({"analyze", "-m", model, "--chat-template", "nonsense", "-p", "hi", "--generate", "2"}),
                       "unknown chat template");
}

TEST(CliBadInput, ConflictingModes) {
  expect_clean_failure(run_keytok({"analyze"}), "nothing to analyze");
  expect_clean_failure(run_keytok({"analyze", "--generate", "4"}), "--prompt");
}

TEST(CliBadInput, BadCalibrationFile) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("badcal");
  write_file(dir + "/cal.json", R"({"format":"keytok-calibration","version":99})");
  expect_clean_failure(run_keytok({"analyze", "-m", model, "-p", "hi", "--generate", "2", "--calibration",
                                   dir + "/cal.json"}),
                       "version");
}

TEST(CliHelp, EverySubcommandHasHelpWithAnExample) {
  for (const std::string sub : {"analyze", "calibrate", "demo"}) {
    const CliRun r = run_keytok({sub, "--help"});
    EXPECT_EQ(r.exit_code, 0) << sub;
    EXPECT_NE(r.out.find("Example"), std::string::npos) << sub << ": " << r.out;
  }
  const CliRun top = run_keytok({"--help"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.out.find("analyze"), std::string::npos);
}

}  // namespace
}  // namespace keytok::testing
