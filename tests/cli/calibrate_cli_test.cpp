// Calibration through the real binary: on the model's own answers (calibrate --prompts), and
// automatically on first use, cached by the model file's identity (label cli).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/cli_runner.hpp"

namespace keytok::testing {
namespace {

namespace fs = std::filesystem;

#define REQUIRE_FILE(var, file)                                 \
  const std::string var = test_model_or_empty(file);            \
  if (var.empty()) GTEST_SKIP() << file << " absent; run scripts/fetch_models.sh --tests"

constexpr char kSmol[] = "SmolLM2-135M-Instruct.Q4_1.gguf";
constexpr char kGemma[] = "gemma-3-270m-q4_k_m.gguf";

std::vector<fs::path> files_in(const std::string& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(CliCalibrate, OnTheModelsOwnAnswersToAPromptFile) {
  REQUIRE_FILE(model, kSmol);
  const std::string dir = temp_dir("cal_prompts");
  write_file(dir + "/p.txt",
             "Name three colours.\n{\"id\": \"sky\", \"category\": \"facts\", \"prompt\": \"Why is the sky blue?\"}\n"
             "Write one sentence about cats.\n");
  const CliRun r = run_keytok({"calibrate", "-m", model, "--prompts", dir + "/p.txt", "--generate", "16",
                               "--key-fraction", "0.1", "-o", dir + "/cal.json", "--dump", dir + "/d.jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = nlohmann::json::parse(r.out);
  EXPECT_EQ(out["calibration"], dir + "/cal.json");
  EXPECT_EQ(out["method"], "generate");
  const int n = out["n_positions"].get<int>();
  EXPECT_GE(n, 20);
  EXPECT_LE(n, 3 * 16);
  EXPECT_NEAR(out["achieved_fraction"].get<double>(), 0.1, 1.0 / n + 1e-9);
  const auto cal = nlohmann::json::parse(read_file(dir + "/cal.json"));
  EXPECT_EQ(cal["method"], "generate");
  EXPECT_EQ(cal["n_prompts"], 3);
  EXPECT_EQ(cal["n_predict"], 16);
  EXPECT_EQ(cal["text_source"], dir + "/p.txt");
  EXPECT_EQ(cal["model"]["sha256"], "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53");
  // The dump has one line per answer token, tagged with the prompt's id.
  const std::string dump = read_file(dir + "/d.jsonl");
  EXPECT_EQ(std::count(dump.begin(), dump.end(), '\n'), n);
  EXPECT_NE(dump.find("{\"prompt\":\"sky\",\"category\":\"facts\",\"index\":0,"), std::string::npos) << dump;

  // analyze picks the file up when given, and says so.
  const CliRun a = run_keytok({"analyze", "-m", model, "-p", "Hi.", "--generate", "4", "--calibration",
                               dir + "/cal.json"});
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(nlohmann::json::parse(a.out)["rule_source"], "calibration " + dir + "/cal.json");
}

TEST(CliCalibrate, BadInputFailsWithExitOneAndAMessage) {
  REQUIRE_FILE(model, kSmol);
  const std::string dir = temp_dir("cal_bad");
  write_file(dir + "/bad.jsonl", "Fine prompt.\n{\"prompt\": 12}\n");
  CliRun r = run_keytok({"calibrate", "-m", model, "--prompts", dir + "/bad.jsonl", "-o", dir + "/c.json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "keytok calibrate: error: " + dir +
                       "/bad.jsonl:2: a JSON line needs a non-empty \"prompt\" (or \"question\") string\n");
  EXPECT_FALSE(fs::exists(dir + "/c.json"));

  r = run_keytok({"calibrate", "-m", model, "--prompts", "builtin", "--text", dir + "/bad.jsonl"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("pass either --text FILE"), std::string::npos) << r.err;
  r = run_keytok({"calibrate", "-m", model});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("pass either --text FILE"), std::string::npos) << r.err;
  r = run_keytok({"calibrate", "-m", model, "--prompts", dir + "/none.txt"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.err, "keytok calibrate: error: prompt file not found: " + dir + "/none.txt\n");
}

// The first use of a model without a calibration calibrates it once, says so, and caches the
// result by the file's content; a copy of the file reuses it; another model gets its own.
TEST(CliCalibrate, AutomaticCalibrationRunsOnceAndIsReused) {
  REQUIRE_FILE(smol, kSmol);
  REQUIRE_FILE(gemma, kGemma);
  const std::string dir = temp_dir("autocal");
  const std::vector<std::string> env = {"KEYTOK_CACHE=" + dir + "/cache"};
  const std::string cal_dir = dir + "/cache/calibrations";
  const std::vector<std::string> args = {"analyze", "-m", smol, "-p", "Name two planets.", "--generate", "8"};

  CliRun first = run_keytok(args, 600, env);
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.err.find("no key-token calibration for"), std::string::npos) << first.err;
  EXPECT_NE(first.err.find("calibrated in "), std::string::npos) << first.err;
  const auto cached = files_in(cal_dir);
  ASSERT_EQ(cached.size(), 1u);
  const std::string smol_cal = cached[0].string();
  EXPECT_EQ(cached[0].filename().string().rfind("b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53.builtin-", 0), 0u);
  const auto summary = nlohmann::json::parse(first.out);
  EXPECT_EQ(summary["rule_source"], "auto-calibration " + smol_cal);
  const auto cal = nlohmann::json::parse(read_file(smol_cal));
  EXPECT_EQ(cal["method"], "generate");
  EXPECT_EQ(cal["n_prompts"], 52);
  EXPECT_EQ(cal["key_fraction"], 0.08);
  const auto written = fs::last_write_time(smol_cal);

  // Second run: reused, nothing said, the file untouched, the same rule.
  CliRun second = run_keytok(args, 600, env);
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_EQ(second.err, "");
  EXPECT_EQ(nlohmann::json::parse(second.out)["rule"], summary["rule"]);
  EXPECT_EQ(nlohmann::json::parse(second.out)["rule_source"], "auto-calibration " + smol_cal);
  EXPECT_EQ(fs::last_write_time(smol_cal), written);

  // A copy under another name is the same model file: it reuses the calibration.
  fs::copy_file(smol, dir + "/renamed.gguf");
  std::vector<std::string> copy_args = args;
  copy_args[2] = dir + "/renamed.gguf";
  CliRun copy = run_keytok(copy_args, 600, env);
  ASSERT_EQ(copy.exit_code, 0) << copy.err;
  EXPECT_EQ(copy.err, "");
  EXPECT_EQ(nlohmann::json::parse(copy.out)["rule_source"], "auto-calibration " + smol_cal);

  // Another model gets its own.
  std::vector<std::string> gemma_args = args;
  gemma_args[2] = gemma;
  CliRun other = run_keytok(gemma_args, 600, env);
  ASSERT_EQ(other.exit_code, 0) << other.err;
  EXPECT_NE(other.err.find("no key-token calibration for"), std::string::npos) << other.err;
  const auto both = files_in(cal_dir);
  ASSERT_EQ(both.size(), 2u);
  EXPECT_NE(nlohmann::json::parse(other.out)["rule_source"], summary["rule_source"]);

  // Opting out gives the fixed default rule, even with a cached calibration, and calibrates
  // nothing: not for a model that has none either.
  std::vector<std::string> off = args;
  off.push_back("--no-auto-calibrate");
  CliRun fixed = run_keytok(off, 600, env);
  ASSERT_EQ(fixed.exit_code, 0) << fixed.err;
  EXPECT_EQ(fixed.err, "");
  EXPECT_EQ(nlohmann::json::parse(fixed.out)["rule_source"], "default rule");
  EXPECT_EQ(nlohmann::json::parse(fixed.out)["rule"], "entropy >= 2.000 nats");
  CliRun fresh = run_keytok(off, 600, {"KEYTOK_CACHE=" + dir + "/empty-cache"});
  ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_EQ(nlohmann::json::parse(fresh.out)["rule_source"], "default rule");
  EXPECT_FALSE(fs::exists(dir + "/empty-cache/calibrations"));
  EXPECT_EQ(files_in(cal_dir).size(), 2u);
}

// A calibration records the model file it was made for; using it with another file of the same
// vocabulary (here the same model with one weight byte changed) is refused.
TEST(CliCalibrate, RefusesACalibrationMadeForAnotherModelFile) {
  REQUIRE_FILE(model, kSmol);
  const std::string dir = temp_dir("cal_other_file");
  write_file(dir + "/p.txt", "Name three colours.\nWhy is the sky blue?\nWrite a sentence about cats.\n");
  CliRun r = run_keytok({"calibrate", "-m", model, "--prompts", dir + "/p.txt", "--generate", "12", "-o",
                         dir + "/cal.json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string bytes = read_file(model);
  bytes[bytes.size() - 100] ^= 1;  // the last tensor's data: the file still loads
  write_file(dir + "/changed.gguf", bytes);
  r = run_keytok({"analyze", "-m", dir + "/changed.gguf", "-p", "Hi.", "--generate", "2", "--calibration",
                  dir + "/cal.json"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("was made for another model file (sha256 b179c9523d0e)"), std::string::npos) << r.err;
}

TEST(CliModels, ListsKnownModelsAndResolvesShortNames) {
  REQUIRE_FILE(model, kSmol);
  const CliRun r = run_keytok({"models", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto rows = nlohmann::json::parse(r.out);
  ASSERT_GE(rows.size(), 4u);
  EXPECT_EQ(rows[0]["name"], "qwen2.5-coder-0.5b");
  EXPECT_EQ(rows[0]["default"], true);
  EXPECT_EQ(rows[2]["name"], "smollm2-135m");
  EXPECT_EQ(rows[2]["installed"], true);
  EXPECT_EQ(rows[2]["path"], model);
  EXPECT_EQ(rows[2]["architecture"], "llama");
  EXPECT_EQ(rows[2]["n_vocab"], 49152);
  EXPECT_EQ(rows[2]["chat_template"], "yes");
  EXPECT_EQ(rows[2]["size_bytes"], 98362432);

  const CliRun table = run_keytok({"models"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_EQ(table.out.rfind("NAME ", 0), 0u) << table.out;
  EXPECT_NE(table.out.find("qwen2.5-coder-0.5b*"), std::string::npos) << table.out;

  // -m takes a short name.
  const CliRun by_name = run_keytok({"analyze", "-m", "smollm2-135m", "-p", "Hi.", "--generate", "2",
                                     "--no-auto-calibrate"});
  ASSERT_EQ(by_name.exit_code, 0) << by_name.err;
  EXPECT_EQ(nlohmann::json::parse(by_name.out)["model"], "Smollm2 135M 8k Lc100K Mix1 Ep2");

  const CliRun unknown = run_keytok({"analyze", "-m", "llama-9000", "-p", "Hi.", "--generate", "2"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("no file 'llama-9000' and no known model of that name"), std::string::npos) << unknown.err;

  const std::string empty = temp_dir("no_models");
  const CliRun absent = run_keytok({"analyze", "-m", "qwen2.5-coder-1.5b", "-p", "Hi.", "--generate", "2"}, 60,
                                   {"KEYTOK_MODELS_DIR=" + empty});
  EXPECT_EQ(absent.exit_code, 1);
  EXPECT_NE(absent.err.find("is not installed at " + empty + "/qwen2.5-coder-1.5b-instruct.gguf; run "
                            "scripts/fetch_models.sh qwen2.5-coder-1.5b"),
            std::string::npos)
      << absent.err;
}

}  // namespace
}  // namespace keytok::testing
