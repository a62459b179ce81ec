// summarize_forks (keytok/forks.hpp): weighted figures on a hand-computed study, and the
// sampling weights on a synthetic population whose forking share is known.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "keytok/forks.hpp"

namespace keytok {
namespace {

struct RowSpec {
  int index = 0;
  bool contested = false, studied = false, key = false, forks = false;
  double weight = 1.0, p_change = 0.0;
  float entropy = 0.0f, varentropy = 0.0f, margin = 1.0f, top1 = 1.0f;
  std::int64_t tokens = 0;
  int pass = 0;
};

ForkPosition row(const std::string& task, const RowSpec& r) {
  ForkPosition p;
  p.task_id = task;
  p.pass = r.pass;
  p.index = r.index;
  p.signals = {.entropy = r.entropy,
               .varentropy = r.varentropy,
               .margin = r.margin,
               .top1_prob = r.top1,
               .key = r.key};
  p.contested = r.contested;
  p.studied = r.studied;
  p.weight = r.weight;
  p.p_change = r.p_change;
  p.forks = r.forks;
  p.tokens = r.tokens;
  return p;
}

// Two tasks. Weighted pass-0 rows (weight > 0):
//   A0 uncontested w1 | A1 key, forks w1 | A2 w2 | (A3 left out, w0)
//   B0 key w1        | B1 forks w2      | B2 uncontested w1          total weight 8
// Not clang-formatted: a row per position reads like the table above.
// clang-format off
std::vector<ForkPosition> hand_study() {
  return {
      row("A", {.index = 0, .entropy = 0.1f, .varentropy = 0.0f, .margin = 0.9f, .top1 = 0.95f}),
      row("A", {.index = 1, .contested = true, .studied = true, .key = true, .forks = true,
                .p_change = 0.8, .entropy = 2.0f, .varentropy = 1.0f, .margin = 0.1f, .top1 = 0.5f,
                .tokens = 100}),
      row("A", {.index = 2, .contested = true, .studied = true, .weight = 2.0, .p_change = 0.1,
                .entropy = 1.0f, .varentropy = 2.0f, .margin = 0.3f, .top1 = 0.6f, .tokens = 50}),
      row("A", {.index = 3, .contested = true, .weight = 0.0, .entropy = 9.0f}),
      row("B", {.index = 0, .contested = true, .studied = true, .key = true, .p_change = 0.3,
                .entropy = 1.5f, .varentropy = 4.0f, .margin = 0.2f, .top1 = 0.55f, .tokens = 80}),
      row("B", {.index = 1, .contested = true, .studied = true, .forks = true, .weight = 2.0,
                .p_change = 0.7, .entropy = 1.8f, .varentropy = 3.0f, .margin = 0.15f,
                .top1 = 0.52f, .tokens = 60}),
      row("B", {.index = 2, .entropy = 0.2f, .varentropy = 0.5f, .margin = 0.8f, .top1 = 0.9f}),
      // The noise floor's second pass: A1 agrees, B0 flips.
      row("A", {.index = 1, .contested = true, .studied = true, .key = true, .forks = true,
                .p_change = 0.7, .tokens = 90, .pass = 1}),
      row("B", {.index = 0, .contested = true, .studied = true, .key = true, .forks = true,
                .p_change = 0.5, .tokens = 70, .pass = 1}),
  };
}
// clang-format on

const ForkSignalScore& signal(const ForkSummary& s, const std::string& name) {
  for (const ForkSignalScore& g : s.signals) {
    if (g.signal == name) return g;
  }
  ADD_FAILURE() << "no signal " << name;
  return s.signals.front();
}

TEST(ForkSummary, CountsAndWeightedSharesByHand) {
  const auto rows = hand_study();
  const ForkSummary s = summarize_forks(rows, {.resamples = 200, .seed = 5});
  EXPECT_EQ(s.tasks, 2);
  EXPECT_EQ(s.positions, 7);
  EXPECT_EQ(s.contested, 5);
  EXPECT_EQ(s.studied, 4);
  EXPECT_EQ(s.completion_tokens, 450);  // both passes
  EXPECT_DOUBLE_EQ(s.fork_share.estimate, 3.0 / 8.0);
  EXPECT_DOUBLE_EQ(s.fork_share_contested.estimate, 3.0 / 6.0);
  EXPECT_DOUBLE_EQ(s.key_share.estimate, 2.0 / 8.0);
  EXPECT_DOUBLE_EQ(s.p_change_mean.estimate, 2.7 / 8.0);
  // key == forks on A0, A1, A2 (w2), B2: 5 of 8. Recall 1/3 on forking, specificity 4/5.
  EXPECT_DOUBLE_EQ(s.detector_accuracy.estimate, 5.0 / 8.0);
  EXPECT_DOUBLE_EQ(s.detector_balanced_accuracy.estimate, 0.5 * (1.0 / 3.0 + 0.8));
  for (const Interval& v : {s.fork_share, s.key_share, s.p_change_mean, s.detector_accuracy}) {
    EXPECT_LE(v.lo, v.estimate);
    EXPECT_GE(v.hi, v.estimate);
  }
}

TEST(ForkSummary, SignalsByHand) {
  const ForkSummary s = summarize_forks(hand_study(), {.resamples = 200, .seed = 5});
  ASSERT_EQ(s.signals.size(), 5u);
  EXPECT_EQ(s.signals[0].signal, "entropy");
  EXPECT_EQ(s.signals[4].signal, "detector");
  EXPECT_DOUBLE_EQ(signal(s, "entropy").auroc.estimate, 1.0);
  EXPECT_DOUBLE_EQ(signal(s, "entropy").auroc_contested.estimate, 1.0);
  EXPECT_DOUBLE_EQ(signal(s, "margin").auroc.estimate, 1.0);
  EXPECT_DOUBLE_EQ(signal(s, "top1_prob").auroc.estimate, 1.0);
  // varentropy: A1 (w1) beats 2 of 5 negative weight, B1 (w2) beats 4: (2 + 8) / (3 * 5).
  EXPECT_DOUBLE_EQ(signal(s, "varentropy").auroc.estimate, 10.0 / 15.0);
  // At the detector's rate 2/8: entropy flags A1 alone (1/8) or A1 and B1 (3/8), equally far;
  // the tie goes to the share not below, so the threshold is B1's 1.8.
  const ForkSignalScore& e = signal(s, "entropy");
  EXPECT_NEAR(e.threshold, 1.8, 1e-6);
  EXPECT_DOUBLE_EQ(e.precision.estimate, 1.0);
  EXPECT_DOUBLE_EQ(e.recall.estimate, 1.0);
  // margin: low is flagged, and the threshold is reported as a margin.
  EXPECT_NEAR(signal(s, "margin").threshold, 0.15, 1e-6);
  EXPECT_NEAR(signal(s, "top1_prob").threshold, 0.52, 1e-6);
  // The detector's own flags: A1 and B0, one of which forks; 1 of 3 forking weight found.
  const ForkSignalScore& d = signal(s, "detector");
  EXPECT_DOUBLE_EQ(d.precision.estimate, 0.5);
  EXPECT_DOUBLE_EQ(d.recall.estimate, 1.0 / 3.0);
  EXPECT_TRUE(std::isnan(d.threshold));
}

TEST(ForkSummary, NoiseFloorComparesThePasses) {
  const ForkSummary s = summarize_forks(hand_study(), {.resamples = 200});
  EXPECT_EQ(s.noise_positions, 2);
  EXPECT_DOUBLE_EQ(s.noise_disagreement, 0.5);
  EXPECT_NEAR(s.noise_mean_abs_p_change, 0.15, 1e-12);
}

TEST(ForkSummary, UndefinedFiguresAreNaNNotErrors) {
  // Nothing forks: every AUROC and recall is undefined. One task: degenerate intervals.
  std::vector<ForkPosition> rows = {row("A", {.index = 0}),
                                    row("A", {.index = 1, .contested = true, .studied = true})};
  const ForkSummary s = summarize_forks(rows);
  EXPECT_EQ(s.fork_share.estimate, 0.0);
  EXPECT_TRUE(std::isnan(s.signals[0].auroc.estimate));
  EXPECT_TRUE(std::isnan(s.signals[0].auroc.lo));
  EXPECT_TRUE(std::isnan(s.detector_balanced_accuracy.estimate));
  const ForkSummary empty = summarize_forks({});
  EXPECT_EQ(empty.tasks, 0);
  EXPECT_TRUE(std::isnan(empty.fork_share.estimate));
}

// A population of tasks whose every position's forking label is known: flagged contested
// positions fork with probability 0.6, unflagged contested ones with 0.05, uncontested never.
// The study sees every flagged position but only a fifth of the unflagged ones, so its studied
// rows over-represent forks; the weights 1 / 0.2 must give the population's share back.
TEST(ForkSummary, SamplingWeightsAreUndoneCorrectlyOnSyntheticData) {
  std::mt19937_64 rng(2024);
  std::bernoulli_distribution contested(0.4), flagged(0.3), fork_flagged(0.6), fork_other(0.05);
  int population = 0, population_forks = 0, population_contested = 0;
  int studied = 0, studied_forks = 0;
  std::vector<ForkPosition> rows;
  for (int t = 0; t < 400; ++t) {
    ForkTask task;
    task.task_id = "t";  // then +=: "t" + std::to_string(t) draws a false -Wrestrict from GCC 12
    task.task_id += std::to_string(t);
    std::vector<bool> forks;
    for (int i = 0; i < 30; ++i) {
      const bool c = contested(rng), k = c && flagged(rng);
      const bool f = c && (k ? fork_flagged(rng) : fork_other(rng));
      task.tokens.push_back(i);
      task.contested.push_back(c);
      task.signals.push_back({.entropy = f ? 2.0f : 0.5f, .key = k});
      forks.push_back(f);
      ++population;
      population_forks += f ? 1 : 0;
      population_contested += c ? 1 : 0;
    }
    plan_fork_positions(task, 0.2, 99);
    std::vector<bool> planned(task.tokens.size(), false);
    for (const int i : task.plan) planned[static_cast<std::size_t>(i)] = true;
    for (int i = 0; i < 30; ++i) {
      const auto u = static_cast<std::size_t>(i);
      if (task.contested[u] && !planned[u]) continue;  // left out: not in the file at all
      ForkPosition p = row(task.task_id, {.index = i,
                                          .contested = task.contested[u],
                                          .studied = planned[u],
                                          .key = task.signals[u].key,
                                          .forks = forks[u],
                                          .weight = task.weights[u]});
      if (p.studied) {
        ++studied;
        studied_forks += p.forks ? 1 : 0;
      }
      rows.push_back(p);
    }
  }
  const double truth = static_cast<double>(population_forks) / population;
  // Only contested positions fork.
  const double truth_contested = static_cast<double>(population_forks) / population_contested;
  const double naive = static_cast<double>(studied_forks) / studied;
  const ForkSummary s = summarize_forks(rows, {.resamples = 200, .seed = 1});
  EXPECT_EQ(s.positions, static_cast<int>(rows.size()));
  EXPECT_NEAR(s.fork_share.estimate, truth, 0.02);
  EXPECT_NEAR(s.fork_share_contested.estimate, truth_contested, 0.02);
  EXPECT_LE(s.fork_share.lo, truth);
  EXPECT_GE(s.fork_share.hi, truth);
  // What the rows say without their weights is far off.
  EXPECT_GT(std::abs(naive - truth_contested), 0.15) << naive << " vs " << truth_contested;
  EXPECT_GT(naive, 3 * truth);
}

}  // namespace
}  // namespace keytok
