// Bad input: one clear message and the exact exit code (1 for a failed command, CLI11's code for
// a bad flag, 2 for an unknown subcommand), never a crash or a hang.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/cli_runner.hpp"

namespace keytok::testing {
namespace {

// CLI11's exit codes (CLI::ExitCodes).
constexpr int kValidationError = 105;
constexpr int kRequiredError = 106;
constexpr int kExtrasError = 109;

#define REQUIRE_MODEL(var)                                                             \
  const std::string var = default_model_or_empty();                                    \
  if (var.empty()) GTEST_SKIP() << "default model absent; run scripts/fetch_models.sh"

TEST(CliBadInput, MissingModelFile) {
  EXPECT_TRUE(exits_with(run_keytok({"analyze", "-m", "/nonexistent/model.gguf", "-p", "hi", "--generate", "4"}), 1,
                         "keytok analyze: error: model file not found: /nonexistent/model.gguf; pass -m PATH"));
}

TEST(CliBadInput, ModelPathIsADirectory) {
  const std::string dir = temp_dir("dirmodel");
  EXPECT_TRUE(exits_with(run_keytok({"analyze", "-m", dir, "-p", "hi", "--generate", "4"}), 1,
                         "keytok analyze: error: model path is a directory, not a GGUF file: " + dir));
}

TEST(CliBadInput, FileThatIsNotGguf) {
  const std::string dir = temp_dir("notgguf");
  write_file(dir + "/fake.gguf", "this is plain text, not a model\n");
  EXPECT_TRUE(exits_with(run_keytok({"analyze", "-m", dir + "/fake.gguf", "-p", "hi", "--generate", "4"}), 1,
                         "keytok analyze: error: not a GGUF file (no 'GGUF' magic at the start): " + dir));
  write_file(dir + "/empty.gguf", "");
  EXPECT_TRUE(exits_with(run_keytok({"analyze", "-m", dir + "/empty.gguf", "-p", "hi", "--generate", "4"}), 1,
                         "keytok analyze: error: not a GGUF file (no 'GGUF' magic at the start): " + dir));
}

TEST(CliBadInput, TruncatedGguf) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("truncated");
  const std::string body = read_file(model);
  const std::string cut = dir + "/cut.gguf";
  // Shorter than the header, or cut inside the metadata: keytok's own pre-check names where
  // (src/llama/gguf_precheck.hpp); cut in the tensor data: llama.cpp refuses it, keytok says so.
  write_file(cut, body.substr(0, 16));
  EXPECT_TRUE(exits_with(run_keytok({"analyze", "-m", cut, "-p", "hi", "--generate", "4"}), 1,
                         "keytok analyze: error: GGUF file is truncated (16 bytes, shorter than its header): " + cut));
  write_file(cut, body.substr(0, 4096));
  EXPECT_TRUE(exits_with(run_keytok({"analyze", "-m", cut, "-p", "hi", "--generate", "4"}), 1,
                         "keytok analyze: error: GGUF file " + cut +
                             " is truncated or corrupt: key 24 ('tokenizer.ggml.tokens') says its "
                             "array holds 49152 strings, but only 2989 bytes remain"));
  write_file(cut, body.substr(0, body.size() / 2));
  EXPECT_TRUE(exits_with(run_keytok({"analyze", "-m", cut, "-p", "hi", "--generate", "4"}), 1,
                         "keytok analyze: error: llama.cpp could not load " + cut +
                             " (truncated or corrupt GGUF, or an unsupported architecture)"));
}

TEST(CliBadInput, EmptyText) {
  const std::string dir = temp_dir("empty");
  write_file(dir + "/empty.txt", "");
  EXPECT_TRUE(exits_with(run_keytok({"analyze", "--text", dir + "/empty.txt"}), 1,
                         "keytok analyze: error: the text in " + dir + "/empty.txt is empty"));
}

TEST(CliBadInput, MissingTextFile) {
  EXPECT_TRUE(exits_with(run_keytok({"analyze", "--text", "/nonexistent/text.txt"}), 1,
                         "keytok analyze: error: text file not found: /nonexistent/text.txt"));
}

TEST(CliBadInput, InvalidUtf8Text) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("utf8");
  write_file(dir + "/bad.txt", "valid start \xC3\x28 then broken");
  EXPECT_TRUE(exits_with(run_keytok({"analyze", "-m", model, "--text", dir + "/bad.txt"}), 1,
                         "keytok analyze: error: text is not valid UTF-8 (first bad byte at offset 12)"));
}

TEST(CliBadInput, UnknownFlagAndSubcommand) {
  EXPECT_TRUE(exits_with(run_keytok({"analyze", "--bogus-flag", "1"}), kExtrasError,
                         "The following arguments were not expected: 1 --bogus-flag"));
  EXPECT_TRUE(exits_with(run_keytok({"frobnicate"}), 2,
                         "keytok: error: unknown subcommand 'frobnicate'; run `keytok --help` for the list"));
  EXPECT_TRUE(exits_with(run_keytok({}), kRequiredError, "A subcommand is required"));
}

TEST(CliBadInput, NonsenseNumbers) {
  EXPECT_TRUE(exits_with(run_keytok({"analyze", "-p", "hi", "--generate", "-5"}), kValidationError,
                         "--generate: must be >= 1 (got -5)\n"));
  EXPECT_TRUE(exits_with(run_keytok({"analyze", "-p", "hi", "--generate", "abc"}), kValidationError,
                         "--generate: must be a whole number >= 1 (got abc)\n"));
  for (const char* bad : {"1.5", "0", "-0.1"}) {
    EXPECT_TRUE(exits_with(run_keytok({"calibrate", "--text", "x.txt", "--key-fraction", bad}), kValidationError,
                           std::string("--key-fraction: must be a number strictly between 0 and 1 (e.g. 0.08), got ") +
                               bad + "\n"));
  }
  EXPECT_TRUE(exits_with(run_keytok({"analyze", "-p", "hi", "--generate", "4", "--ctx", "-1"}), kValidationError,
                         "--ctx: must be >= 0 (got -1)\n"));
  EXPECT_TRUE(exits_with(run_keytok({"analyze", "-p", "hi", "--generate", "4", "--margin-threshold", "2"}),
                         kValidationError, "--margin-threshold: Value 2 not in range 0.000000 to 1.000000\n"));
}

// Every whole-number flag that must not be negative (or must be positive) says so plainly,
// through the one validator in tools/cli/cli_common (CLI11's own printed DBL_MAX's 309 digits).
TEST(CliBadInput, NegativeCountsGetAPlainMessage) {
  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Case> cases = {
      {{"analyze", "-p", "hi", "--threads", "-3"}, "--threads: must be >= 0 (got -3)\n"},
      {{"analyze", "-p", "hi", "--top-k", "-1"}, "--top-k: must be >= 0 (got -1)\n"},
      {{"analyze", "-p", "hi", "--entropy-threshold", "-1"}, "--entropy-threshold: must be >= 0 (got -1)\n"},
      {{"demo", "-n", "0"}, "--n-predict: must be >= 1 (got 0)\n"},
      {{"calibrate", "--prompts", "builtin", "--generate", "-5"}, "--generate: must be >= 1 (got -5)\n"},
      {{"generate", "-p", "hi", "--max-tokens", "0"}, "--max-tokens: must be >= 1 (got 0)\n"},
      {{"sweep", "--tasks", "t.jsonl", "--max-tokens", "-1"}, "--max-tokens: must be >= 0 (got -1)\n"},
      {{"sweep", "--tasks", "t.jsonl", "--limit", "-2"}, "--limit: must be >= 0 (got -2)\n"},
      {{"bench", "--tasks", "t.jsonl", "--limit", "-1"}, "--limit: must be >= 0 (got -1)\n"},
      {{"bench", "--tasks", "t.jsonl", "--ctx", "2.5"}, "--ctx: must be a whole number >= 0 (got 2.5)\n"},
  };
  for (const Case& c : cases) {
    const CliRun r = run_keytok(c.args);
    EXPECT_TRUE(exits_with(r, kValidationError, c.message)) << c.args[0] << " " << c.args[c.args.size() - 2];
    EXPECT_EQ(r.err.find("0000"), std::string::npos) << r.err;
  }
}

TEST(CliBadInput, TinyContextAndPromptLongerThanContext) {
  REQUIRE_MODEL(model);
  std::string long_prompt;
  for (int i = 0; i < 400; ++i) long_prompt += "word ";
  // llama.cpp rounds the context up to a multiple of 256 (the --ctx help says so): --ctx 16
  // and --ctx 1 both get 256 positions.
  EXPECT_TRUE(exits_with(run_keytok({"analyze", "-m", model, "--ctx", "16", "-p", long_prompt, "--generate", "4"}), 1,
                         "keytok analyze: error: needs 410 positions but the context holds 256; raise it with --ctx"));
  const CliRun tiny = run_keytok({"analyze", "-m", model, "--ctx", "1", "-p", "hi", "--generate", "2"});
  ASSERT_TRUE(exits_with(tiny, 0, ""));
  const auto summary = nlohmann::json::parse(tiny.out);
  EXPECT_EQ(summary["n_tokens"], 2);
  EXPECT_EQ(summary["stop_reason"], "length");
}

TEST(CliBadInput, UnknownChatTemplate) {
  REQUIRE_MODEL(model);
  EXPECT_TRUE(exits_with(
      run_keytok({"analyze", "-m", model, "--chat-template", "nonsense", "-p", "hi", "--generate", "2"}), 1,
      "keytok analyze: error: unknown chat template 'nonsense'; use a llama.cpp built-in name such as chatml"));
}

TEST(CliBadInput, ConflictingModes) {
  EXPECT_TRUE(exits_with(run_keytok({"analyze"}), 1,
                         "keytok analyze: error: nothing to analyze; pass --text FILE, or --prompt P --generate N"));
  EXPECT_TRUE(exits_with(run_keytok({"analyze", "--generate", "4"}), 1,
                         "keytok analyze: error: --generate needs --prompt P"));
}

TEST(CliBadInput, BadCalibrationFile) {
  REQUIRE_MODEL(model);
  const std::string dir = temp_dir("badcal");
  write_file(dir + "/cal.json", R"({"format":"keytok-calibration","version":99})");
  EXPECT_TRUE(exits_with(
      run_keytok({"analyze", "-m", model, "-p", "hi", "--generate", "2", "--calibration", dir + "/cal.json"}), 1,
      "keytok analyze: error: " + dir + "/cal.json has calibration format version 99, this keytok reads 1"));
}

// The subcommands `keytok --help` lists, in its order; the test below fails when one is added
// or removed without updating this list.
const std::vector<std::string> kSubcommands = {"analyze", "calibrate", "demo",    "tasks",  "fit",
                                               "sweep",   "generate",  "bench",   "merge",  "longctx", "forks",
                                               "models",  "serve"};

TEST(CliHelp, TopLevelHelpListsEverySubcommand) {
  const CliRun top = run_keytok({"--help"});
  ASSERT_TRUE(exits_with(top, 0, ""));
  EXPECT_EQ(top.err, "");
  std::istringstream in(top.out.substr(top.out.find("Subcommands:\n") + 13));
  std::vector<std::string> listed;
  for (std::string line; std::getline(in, line) && line.rfind("  ", 0) == 0;) {
    std::istringstream words(line);
    listed.emplace_back();
    words >> listed.back();
  }
  EXPECT_EQ(listed, kSubcommands) << top.out;
}

TEST(CliHelp, EverySubcommandHasHelpWithAnExample) {
  for (const std::string& sub : kSubcommands) {
    const CliRun r = run_keytok({sub, "--help"});
    EXPECT_TRUE(exits_with(r, 0, "")) << sub;
    EXPECT_EQ(r.err, "") << sub;
    EXPECT_NE(r.out.find("Usage: keytok " + sub + " [OPTIONS]"), std::string::npos) << sub << ": " << r.out;
    EXPECT_NE(r.out.find("Example"), std::string::npos) << sub << ": " << r.out;
  }
}

// With its required arguments given, every subcommand refuses a flag it does not know; without
// them, the five that have some name the missing one.
TEST(CliHelp, EverySubcommandRejectsAnUnknownFlagAndNamesMissingArguments) {
  const std::map<std::string, std::vector<std::string>> required = {
      {"fit", {"counts.csv"}}, {"generate", {"-p", "hi"}}, {"bench", {"--tasks", "t.jsonl"}},
      {"merge", {"a.jsonl", "-o", "m.jsonl"}}, {"longctx", {"--text", "t.txt"}}};
  for (const std::string& sub : kSubcommands) {
    std::vector<std::string> args = {sub};
    if (required.count(sub) > 0) {
      const std::vector<std::string>& more = required.at(sub);
      args.insert(args.end(), more.begin(), more.end());
    }
    args.push_back("--bogus-flag");
    EXPECT_TRUE(exits_with(run_keytok(args), kExtrasError, "The following argument was not expected: --bogus-flag\n"))
        << sub;
  }
  EXPECT_TRUE(exits_with(run_keytok({"fit"}), kRequiredError, "input is required\n"));
  EXPECT_TRUE(exits_with(run_keytok({"generate"}), kRequiredError, "--prompt is required\n"));
  EXPECT_TRUE(exits_with(run_keytok({"bench"}), kRequiredError, "--tasks is required\n"));
  EXPECT_TRUE(exits_with(run_keytok({"merge"}), kRequiredError, "files is required\n"));
  EXPECT_TRUE(exits_with(run_keytok({"merge", "a.jsonl"}), kRequiredError, "--output is required\n"));
  EXPECT_TRUE(exits_with(run_keytok({"longctx"}), kRequiredError, "--text is required\n"));
}

}  // namespace
}  // namespace keytok::testing

namespace keytok::testing {
namespace {

// `serve` refuses what cannot work before it loads anything.
TEST(CliServe, BadSettingsFailBeforeLoading) {
  EXPECT_TRUE(exits_with(run_keytok({"serve", "--max-paths", "100", "--sequences", "64"}), 1,
                         "keytok serve: error: --max-paths 100 exceeds --sequences 64; a request could never be "
                         "admitted\n"));
  EXPECT_TRUE(exits_with(run_keytok({"serve", "--web-dir", "/no/such/dir"}), 1,
                         "keytok serve: error: --web-dir /no/such/dir is not a directory\n"));
  EXPECT_TRUE(exits_with(run_keytok({"serve", "--port", "70000"}), kValidationError,
                         "--port: Value 70000 not in range 0 to 65535\n"));
  EXPECT_TRUE(exits_with(run_keytok({"serve", "-m", "/no/such/model.gguf"}), 1, "model file not found"));
}

}  // namespace
}  // namespace keytok::testing
