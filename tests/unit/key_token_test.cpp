// KeyTokenDetector rules, quantile calibration and the calibration file round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <random>
#include <vector>

#include "keytok/key_token.hpp"

namespace keytok {

// GoogleTest prints a KeyRule parameter by name ("entropy") instead of its bytes; found by ADL,
// so it lives in KeyRule's namespace (internal linkage: test-only).
static void PrintTo(KeyRule rule, std::ostream* os) { *os << key_rule_name(rule); }

namespace {

TEST(KeyTokenDetector, FlagsUniformDistributionNotOneHot) {
  const KeyTokenDetector det;  // default rule: entropy >= 2.0 nats
  std::vector<float> uniform(64, 0.0f);  // ln 64 = 4.16 nats
  std::vector<float> one_hot(64, -1e4f);
  one_hot[3] = 0.0f;
  EXPECT_TRUE(det.is_key(compute_token_stats(uniform, 0)));
  EXPECT_FALSE(det.is_key(compute_token_stats(one_hot, 3)));
  EXPECT_EQ(det.source(), "default rule");
  EXPECT_EQ(det.describe(), "entropy >= 2.000 nats");
}

TEST(KeyTokenDetector, RulesCombineSignals) {
  const KeyTokenParams p{.rule = KeyRule::both, .entropy_threshold_nats = 1.0f, .margin_threshold = 0.2f};
  EXPECT_TRUE(KeyTokenDetector(p).is_key(1.5f, 0.1f));
  EXPECT_FALSE(KeyTokenDetector(p).is_key(1.5f, 0.3f));
  EXPECT_FALSE(KeyTokenDetector(p).is_key(0.5f, 0.1f));
  KeyTokenParams e = p;
  e.rule = KeyRule::either;
  EXPECT_TRUE(KeyTokenDetector(e).is_key(1.5f, 0.3f));
  EXPECT_TRUE(KeyTokenDetector(e).is_key(0.5f, 0.1f));
  EXPECT_FALSE(KeyTokenDetector(e).is_key(0.5f, 0.3f));
  KeyTokenParams m = p;
  m.rule = KeyRule::margin;
  EXPECT_TRUE(KeyTokenDetector(m).is_key(0.0f, 0.2f));
  EXPECT_FALSE(KeyTokenDetector(m).is_key(9.0f, 0.21f));
}

TEST(KeyTokenParams, ValidateRejectsNonsense) {
  EXPECT_FALSE((KeyTokenParams{.entropy_threshold_nats = -1.0f}).validate().ok());
  EXPECT_FALSE((KeyTokenParams{.margin_threshold = 1.5f}).validate().ok());
  EXPECT_FALSE((KeyTokenParams{.entropy_threshold_nats = NAN}).validate().ok());
  EXPECT_TRUE(KeyTokenParams{}.validate().ok());
  EXPECT_FALSE(parse_key_rule("entropyy").ok());
  EXPECT_EQ(*parse_key_rule("either"), KeyRule::either);
}

class Calibrate : public ::testing::TestWithParam<KeyRule> {};

TEST_P(Calibrate, FlagsRequestedFractionOfSyntheticSignals) {
  std::mt19937 rng(11);
  std::exponential_distribution<float> ent(1.0f);
  std::uniform_real_distribution<float> mar(0.0f, 1.0f);
  std::vector<float> e(5000), m(5000);
  for (std::size_t i = 0; i < e.size(); ++i) e[i] = ent(rng), m[i] = mar(rng);
  for (double q : {0.02, 0.08, 0.25}) {
    auto p = calibrate_thresholds(e, m, GetParam(), q);
    ASSERT_TRUE(p.ok()) << p.status().to_string();
    EXPECT_EQ(p->rule, GetParam());
    EXPECT_NEAR(flagged_fraction(*p, e, m), q, 0.002) << key_rule_name(GetParam()) << " q=" << q;
  }
}

INSTANTIATE_TEST_SUITE_P(AllRules, Calibrate,
                         ::testing::Values(KeyRule::entropy, KeyRule::margin, KeyRule::both, KeyRule::either),
                         [](const auto& info) { return std::string(key_rule_name(info.param)); });

TEST(Calibrate, EntropyThresholdSitsBetweenQuantileNeighbours) {
  std::vector<float> e = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f};
  std::vector<float> m(e.size(), 0.5f);
  auto p = calibrate_thresholds(e, m, KeyRule::entropy, 0.2);  // the top 2 of 10
  ASSERT_TRUE(p.ok());
  EXPECT_NEAR(p->entropy_threshold_nats, 0.85f, 1e-6);
  EXPECT_DOUBLE_EQ(flagged_fraction(*p, e, m), 0.2);
}

TEST(Calibrate, RejectsFractionOutsideOpenUnitInterval) {
  std::vector<float> e = {1.0f, 2.0f}, m = {0.1f, 0.2f};
  for (double q : {0.0, 1.0, -0.5, 1.5, static_cast<double>(NAN)}) {
    EXPECT_EQ(calibrate_thresholds(e, m, KeyRule::entropy, q).status().code(), StatusCode::invalid_argument);
  }
  EXPECT_FALSE(calibrate_thresholds({}, {}, KeyRule::entropy, 0.1).ok());
}

TEST(CalibrationFile, RoundTrips) {
  Calibration c;
  c.params = {.rule = KeyRule::either, .entropy_threshold_nats = 1.25f, .margin_threshold = 0.0625f};
  c.key_fraction = 0.08;
  c.achieved_fraction = 0.0801;
  c.n_positions = 1234;
  c.model_name = "SmolLM2 135M Instruct";
  c.n_vocab = 49152;
  c.model_file_size = 98362432;
  c.text_source = "/tmp/text.txt";
  c.model_sha256 = std::string(64, 'a');
  c.method = "generate";
  c.n_prompts = 52;
  c.n_predict = 64;
  const std::string path = ::testing::TempDir() + "/cal_roundtrip.json";
  ASSERT_TRUE(save_calibration(c, path).ok());
  auto r = load_calibration(path);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->params.rule, c.params.rule);
  EXPECT_FLOAT_EQ(r->params.entropy_threshold_nats, c.params.entropy_threshold_nats);
  EXPECT_FLOAT_EQ(r->params.margin_threshold, c.params.margin_threshold);
  EXPECT_DOUBLE_EQ(r->key_fraction, c.key_fraction);
  EXPECT_DOUBLE_EQ(r->achieved_fraction, c.achieved_fraction);
  EXPECT_EQ(r->n_positions, c.n_positions);
  EXPECT_EQ(r->model_name, c.model_name);
  EXPECT_EQ(r->n_vocab, c.n_vocab);
  EXPECT_EQ(r->model_file_size, c.model_file_size);
  EXPECT_EQ(r->text_source, c.text_source);
  EXPECT_EQ(r->model_sha256, c.model_sha256);
  EXPECT_EQ(r->method, c.method);
  EXPECT_EQ(r->n_prompts, c.n_prompts);
  EXPECT_EQ(r->n_predict, c.n_predict);
}

// Files written before the model identity and the method existed still load, as text
// calibrations of an unknown model file.
// A version-1 calibration file with only the fields every version wrote, plus `extra` (a JSON
// member list such as "\"method\":\"text\"").
std::string write_v1_calibration(const std::string& name, const std::string& extra) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << R"({"format":"keytok-calibration","version":1,"rule":"entropy",
    "entropy_threshold_nats":2.5,"margin_threshold":0.1,"key_fraction":0.08,"achieved_fraction":0.08,
    "n_positions":500,"model":{"name":"m","n_vocab":49152,"file_size":1},)" << extra << "}";
  return path;
}

TEST(CalibrationFile, ReadsFilesWithoutTheNewerFields) {
  auto r = load_calibration(write_v1_calibration("cal_old.json", R"("text_source":"t.txt")"));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->method, "text");
  EXPECT_EQ(r->model_sha256, "");
  EXPECT_EQ(r->n_prompts, 0);
  EXPECT_FLOAT_EQ(r->params.entropy_threshold_nats, 2.5f);
}

TEST(CalibrationFile, RejectsAnUnknownMethod) {
  auto r = load_calibration(write_v1_calibration("cal_method.json", R"("method":"guess")"));
  EXPECT_EQ(r.status().code(), StatusCode::format_error);
  EXPECT_NE(r.status().message().find("unknown calibration method 'guess'"), std::string::npos);
}

TEST(CalibrationFile, RejectsWrongFormatVersionAndGarbage) {
  const std::string dir = ::testing::TempDir();
  auto write = [&](const std::string& name, const std::string& body) {
    std::ofstream(dir + "/" + name) << body;
    return dir + "/" + name;
  };
  auto v2 = load_calibration(write("v2.json", R"({"format":"keytok-calibration","version":2})"));
  EXPECT_EQ(v2.status().code(), StatusCode::format_error);
  EXPECT_NE(v2.status().message().find("version"), std::string::npos);
  auto other = load_calibration(write("other.json", R"({"format":"something-else","version":1})"));
  EXPECT_EQ(other.status().code(), StatusCode::format_error);
  auto garbage = load_calibration(write("garbage.json", "not json at all"));
  EXPECT_EQ(garbage.status().code(), StatusCode::format_error);
  auto missing = load_calibration(write("missing.json", R"({"format":"keytok-calibration","version":1})"));
  EXPECT_EQ(missing.status().code(), StatusCode::format_error);
  EXPECT_EQ(load_calibration(dir + "/does-not-exist.json").status().code(), StatusCode::not_found);
}

}  // namespace
}  // namespace keytok
