// The pure arithmetic of keytok forks (keytok/forks.hpp): outcome distances, a position's
// scores, the sampling plan, weighted AUROC and the weighted summary, on hand-computed cases
// and a synthetic population whose forking share is known.
#include "keytok/forks.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <set>

namespace keytok {
namespace {

using Answers = std::vector<std::optional<std::string>>;

// ---- outcome_tv -----------------------------------------------------------------------------

TEST(ForkMath, OutcomeTvOfEqualDisjointAndMixedLists) {
  const Answers a = {"1", "1", "2", "2"};
  EXPECT_EQ(outcome_tv(a, a), 0.0);
  EXPECT_EQ(outcome_tv(a, Answers{"3", "4"}), 1.0);
  EXPECT_EQ(outcome_tv(a, Answers{"1", "1", "1", "1"}), 0.5);
  // Lists of other lengths: {1: 1} against {1: .25, 2: .75}.
  EXPECT_DOUBLE_EQ(outcome_tv(Answers{"1"}, Answers{"1", "2", "2", "2"}), 0.75);
  // Order does not matter; the distance is symmetric.
  EXPECT_EQ(outcome_tv(Answers{"2", "1"}, Answers{"1", "2"}), 0.0);
  EXPECT_DOUBLE_EQ(outcome_tv(Answers{"1", "2", "2"}, Answers{"1"}),
                   outcome_tv(Answers{"1"}, Answers{"1", "2", "2"}));
}

TEST(ForkMath, OutcomeTvCountsNoAnswerAsItsOwnOutcome) {
  EXPECT_EQ(outcome_tv(Answers{std::nullopt, "1"}, Answers{"1", "1"}), 0.5);
  EXPECT_EQ(outcome_tv(Answers{std::nullopt, std::nullopt}, Answers{std::nullopt}), 0.0);
  EXPECT_EQ(outcome_tv(Answers{std::nullopt}, Answers{""}), 1.0);  // none is not ""
}

TEST(ForkMath, OutcomeTvIsZeroForAnEmptyList) {
  EXPECT_EQ(outcome_tv(Answers{}, Answers{"1"}), 0.0);
  EXPECT_EQ(outcome_tv(Answers{"1"}, Answers{}), 0.0);
}

// ---- score_fork_position --------------------------------------------------------------------

ForkCandidate candidate(float prob, Answers answers, std::int64_t tokens = 0) {
  return {.token = 1, .piece = "x", .prob = prob, .answers = std::move(answers), .tokens = tokens};
}

// Base answer "42". c0 (the greedy token, p .6) answers 42 three times in four; c1 (p .3)
// answers 7, 7, 7 and nothing; c2 (p .1) always 42.
//   changed shares: .25, 1, 0           -> p_change = .6*.25 + .3*1 + .1*0 = .45
//   tv(c1, c0) = (.75 + |.25-.75| + .25) / 2 = .75;  tv(c2, c0) = (.25 + .25) / 2 = .25
//   max_tv = .75;  expected_shift = .3*.75 + .1*.25 = .25
//   shifts against the base token's .25: c1 +.75, c2 -.25  -> max_shift = .75
ForkPosition hand_row(float scale) {
  ForkPosition row;
  row.candidates = {candidate(0.6f * scale, {"42", "42", "42", "7"}, 10),
                    candidate(0.3f * scale, {"7", "7", "7", std::nullopt}, 20),
                    candidate(0.1f * scale, {"42", "42", "42", "42"}, 5)};
  return row;
}

TEST(ForkMath, ScoresAPositionByHand) {
  ForkPosition row = hand_row(1.0f);
  score_fork_position(row, "42", 0.5f);
  EXPECT_NEAR(row.p_change, 0.45, 1e-6);
  EXPECT_DOUBLE_EQ(row.max_tv, 0.75);
  EXPECT_DOUBLE_EQ(row.max_shift, 0.75);
  EXPECT_NEAR(row.expected_shift, 0.25, 1e-6);
  EXPECT_TRUE(row.forks);
  EXPECT_EQ(row.tokens, 35);
  score_fork_position(row, "42", 0.8f);
  EXPECT_FALSE(row.forks);
}

TEST(ForkMath, RenormalisesCandidateProbabilities) {
  // The candidates' probabilities need not sum to 1 (the rest is below min_prob).
  ForkPosition row = hand_row(0.5f);
  score_fork_position(row, "42", 0.5f);
  EXPECT_NEAR(row.p_change, 0.45, 1e-6);
  EXPECT_NEAR(row.expected_shift, 0.25, 1e-6);
}

TEST(ForkMath, AThresholdOfExactlyTheShiftForks) {
  // A shift of 3/10 against fork_shift 0.3f (0.300000012): forks, as the definition says (>=).
  ForkPosition row;
  row.candidates = {candidate(0.7f, Answers(10, "a")),
                    candidate(0.3f, {"a", "a", "a", "a", "a", "a", "a", "b", "b", "b"})};
  score_fork_position(row, "a", 0.3f);
  EXPECT_NEAR(row.max_tv, 0.3, 1e-12);
  EXPECT_NEAR(row.max_shift, 0.3, 1e-12);
  EXPECT_TRUE(row.forks);
}

// An alternative whose completions spread over other answers as often as the base token's do
// moves the outcome distribution (large TV) without leaving the base answer more often: no fork.
TEST(ForkMath, ASpreadWithoutAShiftDoesNotFork) {
  ForkPosition row;
  row.candidates = {candidate(0.6f, {"a", "a", "b", "c"}), candidate(0.4f, {"a", "a", "d", "e"})};
  score_fork_position(row, "a", 0.5f);
  EXPECT_DOUBLE_EQ(row.max_tv, 0.5);
  EXPECT_DOUBLE_EQ(row.max_shift, 0.0);
  EXPECT_FALSE(row.forks);
  // One that leaves it: q rises from 0 to 1.
  row.candidates = {candidate(0.6f, {"a", "a", "a", "a"}), candidate(0.4f, {"b", "b", "c", "b"})};
  score_fork_position(row, "a", 0.5f);
  EXPECT_DOUBLE_EQ(row.max_shift, 1.0);
  EXPECT_TRUE(row.forks);
}

TEST(ForkMath, ABaseTokenAloneCannotFork) {
  ForkPosition row;
  row.candidates = {candidate(1.0f, {"1", "2"})};
  score_fork_position(row, "1", 0.1f);
  EXPECT_DOUBLE_EQ(row.p_change, 0.5);
  EXPECT_EQ(row.max_tv, 0.0);
  EXPECT_EQ(row.expected_shift, 0.0);
  EXPECT_FALSE(row.forks);
}

// relabel_forks applies the definition to stored rows as scoring them at that threshold would:
// the hand row (max shift .75), a base token alone (never a fork) and a row not studied.
TEST(ForkMath, RelabellingEqualsScoringAtTheOtherThreshold) {
  std::vector<ForkPosition> rows = {hand_row(1.0f), ForkPosition{}, ForkPosition{}};
  rows[1].candidates = {candidate(1.0f, {"1", "2"})};
  for (const float shift : {0.01f, 0.3f, 0.75f, 0.8f, 1.0f}) {
    std::vector<ForkPosition> scored = rows;
    for (ForkPosition& r : scored) score_fork_position(r, r.candidates.size() == 1 ? "1" : "42", shift);
    std::vector<ForkPosition> relabelled = scored;
    relabel_forks(relabelled, shift == 1.0f ? 0.01f : 1.0f);  // first another threshold
    relabel_forks(relabelled, shift);
    for (std::size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(relabelled[i].forks, scored[i].forks) << shift << " " << i;
  }
  relabel_forks(rows, 0.75f);  // rows[0] was never scored: its max_shift is 0
  EXPECT_FALSE(rows[0].forks);
  score_fork_position(rows[0], "42", 0.5f);
  relabel_forks(rows, 0.75f);
  EXPECT_TRUE(rows[0].forks);
  relabel_forks(rows, 0.8f);
  EXPECT_FALSE(rows[0].forks);
  EXPECT_FALSE(rows[1].forks);
  EXPECT_FALSE(rows[2].forks);
}

// ---- plan_fork_positions ---------------------------------------------------------------------

// n tokens: every 4th uncontested, the next flagged, the other two contested and unflagged.
ForkTask pattern_task(const std::string& id, int n) {
  ForkTask t;
  t.task_id = id;
  for (int i = 0; i < n; ++i) {
    t.tokens.push_back(i);
    t.pieces.push_back("t");
    t.signals.push_back({.key = i % 4 == 1});
    t.contested.push_back(i % 4 != 0);
  }
  return t;
}

TEST(ForkPlan, StudiesFlaggedNeverUncontestedAndWeightsTheDraw) {
  ForkTask t = pattern_task("task-1", 2000);
  plan_fork_positions(t, 0.2, 7);
  ASSERT_EQ(t.weights.size(), t.tokens.size());
  EXPECT_TRUE(std::is_sorted(t.plan.begin(), t.plan.end()));
  const std::set<int> plan(t.plan.begin(), t.plan.end());
  EXPECT_EQ(plan.size(), t.plan.size());
  int drawn = 0;
  for (int i = 0; i < 2000; ++i) {
    const bool in = plan.contains(i);
    if (i % 4 == 0) {
      EXPECT_FALSE(in) << i;
      EXPECT_EQ(t.weights[i], 1.0) << i;
    } else if (i % 4 == 1) {
      EXPECT_TRUE(in) << i;
      EXPECT_EQ(t.weights[i], 1.0) << i;
    } else {
      EXPECT_EQ(t.weights[i], in ? 1.0 / 0.2 : 0.0) << i;
      drawn += in ? 1 : 0;
    }
  }
  // 1000 draws at 0.2: 200 expected, sd 12.6.
  EXPECT_NEAR(drawn, 200, 50);
}

TEST(ForkPlan, IsDeterministicInSeedAndTaskId) {
  ForkTask a = pattern_task("task-1", 400), b = pattern_task("task-1", 400);
  plan_fork_positions(a, 0.3, 11);
  plan_fork_positions(b, 0.3, 11);
  EXPECT_EQ(a.plan, b.plan);
  EXPECT_EQ(a.weights, b.weights);
  ForkTask other_seed = pattern_task("task-1", 400), other_id = pattern_task("task-2", 400);
  plan_fork_positions(other_seed, 0.3, 12);
  plan_fork_positions(other_id, 0.3, 11);
  EXPECT_NE(a.plan, other_seed.plan);
  EXPECT_NE(a.plan, other_id.plan);
  // Planning again replaces the plan instead of appending to it.
  plan_fork_positions(a, 0.3, 11);
  EXPECT_EQ(a.plan, b.plan);
}

TEST(ForkPlan, IsTheSameOnEveryPlatform) {
  // Pinned: the draw uses mt19937_64 (fixed by the standard), FNV-1a and splitmix64 for the
  // seed and keytok's own uniform, so a resumed run on another machine plans the same.
  ForkTask t = pattern_task("golden", 40);
  plan_fork_positions(t, 0.3, 7);
  EXPECT_EQ(t.plan, (std::vector<int>{1, 5, 7, 9, 11, 13, 17, 18, 21, 22, 25, 29, 33, 37}));
}

TEST(ForkPlan, RateOneStudiesEveryContestedPosition) {
  ForkTask t = pattern_task("task-1", 100);
  plan_fork_positions(t, 1.0, 3);
  std::vector<int> contested;
  for (int i = 0; i < 100; ++i) {
    if (i % 4 != 0) contested.push_back(i);
  }
  EXPECT_EQ(t.plan, contested);
  EXPECT_TRUE(std::all_of(t.weights.begin(), t.weights.end(), [](double w) { return w == 1.0; }));
}

// ---- weighted_auroc ----------------------------------------------------------------------------

double auroc(std::vector<double> score, std::vector<int> label, std::vector<double> weight = {}) {
  if (weight.empty()) weight.assign(score.size(), 1.0);
  const auto labels = std::make_unique<bool[]>(label.size());
  for (std::size_t i = 0; i < label.size(); ++i) labels[i] = label[i] != 0;
  return weighted_auroc(score, std::span<const bool>(labels.get(), label.size()), weight);
}

TEST(ForkAuroc, PerfectReversedAndTied) {
  EXPECT_EQ(auroc({1, 2, 3, 4}, {0, 0, 1, 1}), 1.0);
  EXPECT_EQ(auroc({1, 2, 3, 4}, {1, 1, 0, 0}), 0.0);
  EXPECT_EQ(auroc({5, 5, 5, 5}, {0, 1, 0, 1}), 0.5);
  // One pair of four tied, three ordered: (3 + 0.5) / 4.
  EXPECT_DOUBLE_EQ(auroc({1, 2, 2, 3}, {0, 0, 1, 1}), 3.5 / 4.0);
}

TEST(ForkAuroc, AWeightCountsAsThatManyCopies) {
  const double weighted = auroc({1, 2, 3, 4, 2}, {0, 1, 0, 1, 1}, {2, 1, 1, 3, 0.5});
  // The same with the weights as copies (doubled, so 0.5 becomes one copy).
  const double copies = auroc({1, 1, 1, 1, 2, 2, 3, 3, 4, 4, 4, 4, 4, 4, 2},
                              {0, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1});
  EXPECT_DOUBLE_EQ(weighted, copies);
}

TEST(ForkAuroc, LeavesOutZeroWeightsAndNaNScores) {
  const double base = auroc({1, 2, 3}, {0, 1, 1});
  EXPECT_EQ(auroc({1, 2, 3, 9}, {0, 1, 1, 0}, {1, 1, 1, 0}), base);
  EXPECT_EQ(auroc({1, 2, 3, std::nan("")}, {0, 1, 1, 0}), base);
  // An infinite score is still ordered.
  EXPECT_EQ(auroc({-INFINITY, 2, INFINITY}, {0, 1, 1}), 1.0);
}

TEST(ForkAuroc, IsNaNWithoutBothClasses) {
  EXPECT_TRUE(std::isnan(auroc({1, 2}, {1, 1})));
  EXPECT_TRUE(std::isnan(auroc({1, 2}, {0, 0})));
  EXPECT_TRUE(std::isnan(auroc({1, 2}, {0, 1}, {1, 0})));
  EXPECT_TRUE(std::isnan(auroc({}, {})));
}

}  // namespace
}  // namespace keytok
