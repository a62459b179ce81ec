// Strategy specs, voting and DeepConf arithmetic on hand-made inputs (no model).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "keytok/strategy.hpp"

namespace keytok {
namespace {

TEST(StrategySpec, ParsesEveryStrategy) {
  EXPECT_EQ(parse_strategy("greedy")->kind, StrategyKind::greedy);
  EXPECT_EQ(parse_strategy("sample")->kind, StrategyKind::sample);
  EXPECT_EQ(parse_strategy("branch")->kind, StrategyKind::branch);
  auto sc = parse_strategy("sc:8").value();
  EXPECT_EQ(sc.kind, StrategyKind::self_consistency);
  EXPECT_EQ(sc.n, 8);
  EXPECT_EQ(sc.name(), "sc:8");
  auto dc = parse_strategy("deepconf:256").value();
  EXPECT_EQ(dc.n, 256);
  EXPECT_EQ(dc.name(), "deepconf:256");
  EXPECT_TRUE(dc.validate().ok());
}

TEST(StrategySpec, RejectsBadSpecs) {
  for (const char* bad : {"beam", "", "sc", "sc:", "sc:x", "sc:0", "sc:-1", "sc:257", "greedy:3", "sc:8x"}) {
    auto p = parse_strategy(bad);
    ASSERT_FALSE(p.ok()) << bad;
    EXPECT_EQ(p.status().code(), StatusCode::invalid_argument) << bad;
  }
  EXPECT_NE(parse_strategy("beam").status().message().find("unknown strategy"), std::string::npos);
  EXPECT_NE(parse_strategy("sc:300").status().message().find("1..256"), std::string::npos);
}

TEST(StrategySpec, BudgetMustCoverOneTokenPerStartingPath) {
  StrategyParams p = parse_strategy("sc:8").value();
  p.budget_tokens = 7;
  const Status s = p.validate();
  EXPECT_EQ(s.code(), StatusCode::invalid_argument);
  EXPECT_NE(s.message().find("below what one answer needs"), std::string::npos) << s.message();
  p.budget_tokens = 8;
  EXPECT_TRUE(p.validate().ok());
  p.budget_tokens = -1;
  EXPECT_FALSE(p.validate().ok());
  EXPECT_FALSE(make_strategy(StrategyParams{.kind = StrategyKind::branch, .branch = {.alternatives = 1}}).ok());
}

TEST(StrategySpec, LiveSequencesIncludePromptHolder) {
  EXPECT_EQ(parse_strategy("greedy")->max_live_sequences(), 1);
  EXPECT_EQ(parse_strategy("sc:8")->max_live_sequences(), 8);
  EXPECT_EQ(parse_strategy("deepconf:8")->max_live_sequences(), 5);  // 4 warm-up + prompt
  EXPECT_EQ(parse_strategy("deepconf:1")->max_live_sequences(), 2);
}

Ballot ballot(std::optional<std::string> a, double w = 1.0, double lp = -1.0, bool votes = true) {
  return Ballot{.answer = std::move(a), .weight = w, .mean_logprob = lp, .votes = votes};
}

TEST(Vote, MajorityPicksMostCommon) {
  const std::vector<Ballot> b = {ballot("3"), ballot("4"), ballot("4"), ballot("5")};
  const Vote v = combine_ballots(b, CombineRule::majority);
  ASSERT_TRUE(v.answer);
  EXPECT_EQ(*v.answer, "4");
  ASSERT_EQ(v.tallies.size(), 3u);
  EXPECT_EQ(v.tallies[0].count, 2);
  // Both "4" ballots have mean logprob -1: the tie goes to the lower index.
  EXPECT_EQ(v.chosen_path, 1);
}

TEST(Vote, TieGoesToFirstSeenAnswer) {
  const std::vector<Ballot> b = {ballot("7"), ballot("9"), ballot("9"), ballot("7")};
  EXPECT_EQ(*combine_ballots(b, CombineRule::majority).answer, "7");
  const std::vector<Ballot> c = {ballot("9"), ballot("7"), ballot("7"), ballot("9")};
  EXPECT_EQ(*combine_ballots(c, CombineRule::majority).answer, "9");
}

TEST(Vote, ChosenPathIsBestLogprobAmongWinners) {
  const std::vector<Ballot> b = {ballot("1", 1, -0.9), ballot("1", 1, -0.2), ballot("2", 1, -0.1)};
  const Vote v = combine_ballots(b, CombineRule::majority);
  EXPECT_EQ(*v.answer, "1");
  EXPECT_EQ(v.chosen_path, 1);
}

TEST(Vote, PathsWithoutAnswerDoNotVote) {
  const std::vector<Ballot> b = {ballot(std::nullopt), ballot(std::nullopt), ballot("5")};
  const Vote v = combine_ballots(b, CombineRule::majority);
  EXPECT_EQ(*v.answer, "5");
  EXPECT_EQ(v.chosen_path, 2);
  const std::vector<Ballot> none = {ballot(std::nullopt, 1, -0.5), ballot(std::nullopt, 1, -0.1)};
  const Vote n = combine_ballots(none, CombineRule::majority);
  EXPECT_FALSE(n.answer);
  EXPECT_TRUE(n.tallies.empty());
  EXPECT_EQ(n.chosen_path, 1);  // still report the most likely text
}

TEST(Vote, AllPrunedGivesNoAnswerButAText) {
  const std::vector<Ballot> b = {ballot("1", 1, -0.3, false), ballot("2", 1, -0.1, false)};
  for (CombineRule r : {CombineRule::majority, CombineRule::weighted, CombineRule::best_logprob}) {
    const Vote v = combine_ballots(b, r);
    EXPECT_FALSE(v.answer) << combine_rule_name(r);
    EXPECT_EQ(v.chosen_path, 1);
  }
  EXPECT_EQ(combine_ballots({}, CombineRule::majority).chosen_path, -1);
}

TEST(Vote, WeightedCanOverruleCount) {
  const std::vector<Ballot> b = {ballot("1", 0.1), ballot("1", 0.1), ballot("2", 0.9)};
  EXPECT_EQ(*combine_ballots(b, CombineRule::majority).answer, "1");
  const Vote w = combine_ballots(b, CombineRule::weighted);
  EXPECT_EQ(*w.answer, "2");
  EXPECT_NEAR(w.tallies[0].weight, 0.9, 1e-12);
}

TEST(Vote, BestTakesHighestMeanLogprob) {
  const std::vector<Ballot> b = {ballot("1", 1, -0.5), ballot("1", 1, -0.4), ballot("2", 1, -0.05),
                                 ballot(std::nullopt, 1, -0.01), ballot("3", 1, 0.0, false)};
  const Vote v = combine_ballots(b, CombineRule::best_logprob);
  EXPECT_EQ(*v.answer, "2");
  EXPECT_EQ(v.chosen_path, 2);
}

TEST(DeepConf, TokenConfidenceIsMinusMeanLogprob) {
  const std::vector<Alternative> top = {{1, 0.5f}, {2, 0.25f}};
  EXPECT_NEAR(token_confidence(top), -(std::log(0.5) + std::log(0.25)) / 2, 1e-6);
  EXPECT_EQ(token_confidence({}), 0.0);
  // A peaked distribution (tiny runner-up) is more confident than a flat one.
  const std::vector<Alternative> peaked = {{1, 0.99f}, {2, 0.001f}};
  const std::vector<Alternative> flat = {{1, 0.5f}, {2, 0.49f}};
  EXPECT_GT(token_confidence(peaked), token_confidence(flat));
}

TEST(DeepConf, LowestWindowMean) {
  const std::vector<float> v = {5, 5, 1, 1, 5, 5};
  EXPECT_NEAR(lowest_window_mean(v, 2), 1.0, 1e-9);
  EXPECT_NEAR(lowest_window_mean(v, 3), 7.0 / 3, 1e-9);
  EXPECT_NEAR(lowest_window_mean(v, 100), 22.0 / 6, 1e-9);  // shorter than the window: the mean
  EXPECT_EQ(lowest_window_mean({}, 4), 0.0);
}

TEST(DeepConf, ThresholdIsPercentileOfWarmup) {
  const std::vector<double> w = {1, 2, 3, 4, 5};
  EXPECT_NEAR(deepconf_threshold(w, 90.0f), 1.4, 1e-9);   // 10th percentile: keeps ~90%
  EXPECT_NEAR(deepconf_threshold(w, 10.0f), 4.6, 1e-9);   // 90th percentile: keeps ~10%
  EXPECT_NEAR(deepconf_threshold(w, 100.0f), 1.0, 1e-9);
  EXPECT_EQ(deepconf_threshold({}, 90.0f), 0.0);
}

TEST(GenerationJson, HoldsTreeVoteAndCost) {
  GenerationResult r;
  r.strategy = "branch";
  r.paths.push_back(PathResult{.id = 0, .tokens = {1, 2, 3}, .key = {false, true, false}, .text = "a 4",
                               .answer = "4", .stop_reason = "eog"});
  r.paths.push_back(PathResult{.id = 1, .parent = 0, .fork_index = 1, .tokens = {1, 5}, .text = "b",
                               .stop_reason = "pruned", .votes = false});
  r.forks.push_back(ForkPoint{.path = 0, .index = 1, .entropy = 2.5f, .margin = 0.1f,
                              .alternatives = {{2, 0.4f, "x", 0}, {5, 0.3f, "y", 1}}});
  r.vote = combine_ballots(std::vector<Ballot>{ballot("4"), ballot(std::nullopt, 1, -1, false)},
                           CombineRule::majority);
  r.cost.generated_tokens = 4;
  const auto j = nlohmann::json::parse(generation_to_json(r));
  EXPECT_EQ(j["strategy"], "branch");
  EXPECT_EQ(j["answer"], "4");
  EXPECT_EQ(j["cost"]["generated_tokens"], 4);
  ASSERT_EQ(j["paths"].size(), 2u);
  EXPECT_EQ(j["paths"][1]["answer"], nullptr);
  EXPECT_EQ(j["paths"][1]["n_own_tokens"], 1);
  EXPECT_EQ(j["paths"][0]["key_positions"], nlohmann::json::array({1}));
  EXPECT_EQ(j["forks"][0]["alternatives"][1]["path"], 1);
  EXPECT_EQ(j["vote"]["tallies"][0]["count"], 1);
}

}  // namespace
}  // namespace keytok
