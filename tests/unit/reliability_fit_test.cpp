// Reliability fitting: parameter recovery and model selection on data simulated from each model
// with known parameters and fixed seeds (issue 3's acceptance tests).
//
// Design (docs/reliability.md, "Validation"): each generating model is simulated at the sweep
// design in its SimCase (reliability_sim.hpp: from 6 lengths x 100 trials for the exponential
// to 13 lengths x 1,500 for the power law, with the reasons), seeds 1..10. Coverage: each 95%
// profile interval must hold the true value in at least 7 of 10 seeds (if the intervals are exact,
// P(<= 6 of 10) = 0.1% per parameter). Selection: the generating model must win on AIC in at least
// 9 of 10 seeds, where a model that nests the generating one (it reduces to it at some parameter
// values) counts as beating it only when its AIC is lower by 2 or more; see NestingModels for why.
#include <gtest/gtest.h>

#include <random>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

#include "reliability_sim.hpp"

namespace keytok {
namespace {

using testing::sim_cases;
using testing::SimCase;
using testing::simulate;

const std::vector<int> kLengths = {4, 8, 16, 32, 64, 128};
constexpr int kSeeds = 10;

int seeds_from_env(int fallback) {
  const char* s = std::getenv("KEYTOK_RELIABILITY_SEEDS");
  return s ? std::max(1, std::atoi(s)) : fallback;
}

// Models that contain `model` as a special or limiting case. AIC prefers a nesting model with
// d extra free parameters whenever the likelihood-ratio statistic exceeds 2d, which for d = 1
// happens with probability 0.157 at ANY sample size (AIC is not consistent). "The smaller true
// model has the lowest AIC in 9 of 10 seeds" would then fail for most seed sets however much
// data there is (exponential: strict per-seed rate 0.80, so P(9 of 10) = 0.37). So a nesting model
// only counts as beating the generating model when a likelihood-ratio test at the 1% level rejects
// the generating model in its favour (2 dlogL > chi2_d(0.99)); non-nesting models must be beaten
// outright on AIC.
std::set<ReliabilityModel> nesting_models(ReliabilityModel model) {
  using M = ReliabilityModel;
  switch (model) {
    case M::exponential:  // beta = 1; key_load -> 0; e_key = e_non; n0, alpha -> inf
      return {M::stretched_exponential, M::two_rate_power_k, M::two_rate_saturating_k,
              M::two_rate_measured_k, M::power_law};
    case M::stretched_exponential:  // e_non -> 0 with beta <= 1
      return {M::two_rate_power_k, M::two_rate_saturating_k};
    case M::two_rate_power_k:  // n_sat = the largest n
      return {M::two_rate_saturating_k};
    default:
      return {};
  }
}

struct SeedOutcome {
  bool strict_win = false;  // lowest AIC outright
  bool win = false;         // the criterion above
  std::string winner;
};

SeedOutcome judge(const FitReport& report, ReliabilityModel truth) {
  SeedOutcome out;
  out.winner = report.winner;
  out.strict_win = report.winner == reliability_model_name(truth);
  double truth_aic = 0;
  for (const ModelFit& m : report.models) {
    if (m.model == truth) truth_aic = m.aic;
  }
  double truth_ll = 0;
  int truth_params = 0;
  for (const ModelFit& m : report.models) {
    if (m.model == truth) {
      truth_ll = m.log_likelihood;
      truth_params = m.n_params;
    }
  }
  const std::set<ReliabilityModel> nesting = nesting_models(truth);
  constexpr double kChi2_99[] = {0.0, 6.635, 9.210, 11.345};  // chi2_d(0.99), d = 0..3
  out.win = true;
  for (const ModelFit& m : report.models) {
    if (!m.fitted || m.model == truth) continue;
    if (nesting.count(m.model)) {
      const int d = std::clamp(m.n_params - truth_params, 1, 3);
      if (2.0 * (m.log_likelihood - truth_ll) > kChi2_99[d]) out.win = false;
    } else if (m.aic < truth_aic) {
      out.win = false;
    }
  }
  return out;
}

const ModelFit& find_model(const FitReport& report, ReliabilityModel model) {
  for (const ModelFit& m : report.models) {
    if (m.model == model) return m;
  }
  static const ModelFit kNone;
  return kNone;
}

// A model that nests another can never fit worse than it; a violation means the optimizer
// stopped short of the optimum. Returns how many nested pairs are violated by more than 1e-3.
int count_nesting_violations(const FitReport& report) {
  int violations = 0;
  for (const ModelFit& inner : report.models) {
    for (const ModelFit& outer : report.models) {
      if (!inner.fitted || !outer.fitted || !nesting_models(inner.model).count(outer.model))
        continue;
      if (outer.model == ReliabilityModel::power_law) continue;  // nests only as a limit
      if (inner.model == ReliabilityModel::stretched_exponential &&
          inner.parameters[1].estimate > 1.0) {
        continue;  // two-rate forms bound beta <= 1
      }
      if (outer.log_likelihood < inner.log_likelihood - 1e-3) {
        std::printf("  nesting violated: %s logL %.4f < %s logL %.4f\n", outer.name.c_str(),
                    outer.log_likelihood, inner.name.c_str(), inner.log_likelihood);
        ++violations;
      }
    }
  }
  return violations;
}

class ReliabilityRecovery : public ::testing::TestWithParam<SimCase> {};

TEST_P(ReliabilityRecovery, TrueParametersLieInsideProfileIntervals) {
  const SimCase& c = GetParam();
  SCOPED_TRACE(reliability_model_name(c.model));
  std::vector<int> covered(c.truth.size(), 0);
  std::vector<std::string> names(c.truth.size());
  const int seeds = seeds_from_env(kSeeds);
  for (int seed = 1; seed <= seeds; ++seed) {
    auto report = fit_reliability(simulate(c, c.lengths, c.per_length, seed),
                                  {.models = {c.model}, .profile_ci = true, .seed = 1});
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    const ModelFit& fit = find_model(*report, c.model);
    ASSERT_TRUE(fit.fitted);
    ASSERT_EQ(fit.parameters.size(), c.truth.size());
    for (std::size_t j = 0; j < c.truth.size(); ++j) {
      const ParameterEstimate& p = fit.parameters[j];
      names[j] = p.name;
      EXPECT_LE(p.lo, p.estimate);
      EXPECT_GE(p.hi, p.estimate);
      const bool in = p.lo <= c.truth[j] && c.truth[j] <= p.hi;
      covered[j] += in;
      if (!in) {
        std::printf("  seed %d: %s = %.4g [%.4g, %.4g] misses %.4g\n", seed, p.name.c_str(),
                    p.estimate, p.lo, p.hi, c.truth[j]);
      }
    }
  }
  for (std::size_t j = 0; j < c.truth.size(); ++j) {
    std::printf("  %s %s: true value inside the 95%% interval in %d of %d seeds\n",
                reliability_model_name(c.model), names[j].c_str(), covered[j], seeds);
    EXPECT_GE(covered[j] * 10, 7 * seeds) << "parameter " << j;
  }
}

TEST_P(ReliabilityRecovery, GeneratingModelWinsOnAic) {
  const SimCase& c = GetParam();
  SCOPED_TRACE(reliability_model_name(c.model));
  const int seeds = seeds_from_env(kSeeds);
  int wins = 0, strict = 0;
  std::map<std::string, int> winners;
  for (int seed = 1; seed <= seeds; ++seed) {
    auto report =
        fit_reliability(simulate(c, c.lengths, c.per_length, seed), {.profile_ci = false});
    ASSERT_TRUE(report.ok()) << report.status().to_string();
    const SeedOutcome o = judge(*report, c.model);
    wins += o.win;
    strict += o.strict_win;
    ++winners[o.winner];
  }
  std::printf("  %s: wins %d of %d seeds (strict lowest AIC: %d); winners:",
              reliability_model_name(c.model), wins, seeds, strict);
  for (const auto& [name, count] : winners) std::printf(" %s x%d", name.c_str(), count);
  std::printf("\n");
  EXPECT_GE(wins * 10, 9 * seeds);
}

INSTANTIATE_TEST_SUITE_P(EachModel, ReliabilityRecovery, ::testing::ValuesIn(sim_cases()),
                         [](const ::testing::TestParamInfo<SimCase>& info) {
                           const std::string name = reliability_model_name(info.param.model);
                           std::string out;
                           bool up = true;
                           for (const char ch : name) {
                             if (ch == '_') {
                               up = true;
                             } else {
                               out += up ? static_cast<char>(std::toupper(ch)) : ch;
                               up = false;
                             }
                           }
                           return out;
                         });

TEST(ReliabilityFit, NestingModelsNeverFitWorseThanTheModelsTheyNest) {
  // An optimizer that stops short shows up as a nesting model with a lower likelihood.
  for (const SimCase& c : sim_cases()) {
    for (int seed = 1; seed <= 3; ++seed) {
      auto report =
          fit_reliability(simulate(c, c.lengths, c.per_length, seed), {.profile_ci = false});
      ASSERT_TRUE(report.ok());
      EXPECT_EQ(count_nesting_violations(*report), 0)
          << reliability_model_name(c.model) << " seed " << seed;
    }
  }
}

TEST(ReliabilityFit, SkipsModelsThatNeedKeyCountsWhenKIsUnknown) {
  std::vector<Trial> trials;
  for (const int n : {4, 8, 16}) {
    for (int i = 0; i < 20; ++i) trials.push_back({n, -1, i % 3 != 0});
  }
  auto report = fit_reliability(trials, {.profile_ci = false});
  ASSERT_TRUE(report.ok());
  const ModelFit& measured = find_model(*report, ReliabilityModel::two_rate_measured_k);
  EXPECT_FALSE(measured.fitted);
  EXPECT_NE(measured.skip_reason.find("key"), std::string::npos);
  // Three lengths cannot pin a 4-parameter model.
  EXPECT_FALSE(find_model(*report, ReliabilityModel::two_rate_saturating_k).fitted);
  EXPECT_TRUE(find_model(*report, ReliabilityModel::exponential).fitted);
  EXPECT_FALSE(report->winner.empty());
}

// two_rate_measured_k as a discrete-time survival model: each step is key with probability 0.2;
// a key step fails with probability 0.2, another with 0.01. A trial stops counting at its first
// error (its output goes on to T steps, and those later key tokens are in k, not k_at_risk).
// The fit recovers both rates within their intervals.
TEST(ReliabilityFit, MeasuredKAsSurvivalRecoversBothRates) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<Trial> trials;
  for (int i = 0; i < 3000; ++i) {
    const int steps = 10 + i % 4 * 10;
    int k = 0, k_before = 0, t_before = 0, error_key = -1;
    for (int s = 0; s < steps; ++s) {
      const bool key = u(rng) < 0.2;
      k += key ? 1 : 0;
      if (error_key < 0) {
        if (u(rng) < (key ? 0.2 : 0.01)) {
          error_key = key ? 1 : 0;
        } else {
          ++t_before;
          k_before += key ? 1 : 0;
        }
      }
    }
    Trial t{.n = steps, .k = k, .success = error_key < 0, .n_tokens = steps};
    t.k_at_risk = k_before;
    t.t_at_risk = t_before;
    t.error_key = error_key;
    trials.push_back(t);
  }
  auto report = fit_reliability(trials, {.models = {ReliabilityModel::two_rate_measured_k}});
  ASSERT_TRUE(report.ok()) << report.status().to_string();
  const ModelFit& fit = report->models[0];
  ASSERT_TRUE(fit.fitted);
  ASSERT_EQ(fit.parameters.size(), 2u);
  const ParameterEstimate& e_key = fit.parameters[0];
  const ParameterEstimate& e_non = fit.parameters[1];
  EXPECT_LE(e_key.lo, 0.2);
  EXPECT_GE(e_key.hi, 0.2);
  EXPECT_NEAR(e_key.estimate, 0.2, 0.03);
  EXPECT_LE(e_non.lo, 0.01);
  EXPECT_GE(e_non.hi, 0.01);
  EXPECT_NEAR(e_non.estimate, 0.01, 0.004);
}

TEST(ReliabilityFit, ExponentialMatchesTheClosedFormEstimate) {
  // With one free rate the MLE has a closed form only per length; check the score equation
  // instead: at the optimum, sum over trials of d logL / d h = 0.
  std::vector<Trial> trials;
  for (int i = 0; i < 50; ++i) trials.push_back({10, -1, i < 40});
  for (int i = 0; i < 50; ++i) trials.push_back({20, -1, i < 30});
  auto report = fit_reliability(trials, {.models = {ReliabilityModel::exponential}});
  ASSERT_TRUE(report.ok());
  const ModelFit& fit = report->models[0];
  const double h = -std::log1p(-fit.parameters[0].estimate);
  double score = 0;
  for (const Trial& t : trials) {
    const double p = std::exp(-h * t.n);
    score += t.success ? -t.n : t.n * p / (1 - p);
  }
  EXPECT_NEAR(score, 0.0, 1e-3);
  EXPECT_NEAR(
      fit.log_likelihood,
      [&] {
        double ll = 0;
        for (const Trial& t : trials) ll += t.success ? -h * t.n : std::log1p(-std::exp(-h * t.n));
        return ll;
      }(),
      1e-9);
  EXPECT_NEAR(fit.aic, 2 - 2 * fit.log_likelihood, 1e-9);
  EXPECT_NEAR(fit.bic, std::log(100.0) - 2 * fit.log_likelihood, 1e-9);
  EXPECT_LT(fit.parameters[0].lo, fit.parameters[0].estimate);
  EXPECT_GT(fit.parameters[0].hi, fit.parameters[0].estimate);
}

TEST(ReliabilityFit, ReportsPredictionsPerLengthAndRanksByAic) {
  const SimCase c = sim_cases()[0];
  auto report = fit_reliability(simulate(c, kLengths, 50, 3), {.profile_ci = false});
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->bins.size(), kLengths.size());
  EXPECT_EQ(report->n_trials, 300);
  double best = 1e300;
  for (const ModelFit& m : report->models) {
    if (!m.fitted) continue;
    best = std::min(best, m.aic);
    ASSERT_EQ(m.predicted.size(), kLengths.size());
    for (std::size_t i = 0; i < kLengths.size(); ++i) {
      EXPECT_NEAR(m.predicted[i], predict_success(m, kLengths[i]), 1e-12);
    }
    EXPECT_EQ(m.curve.size(), 64u);
  }
  const ModelFit* winner = nullptr;
  for (const ModelFit& m : report->models) {
    if (m.name == report->winner) winner = &m;
  }
  ASSERT_NE(winner, nullptr);
  EXPECT_DOUBLE_EQ(winner->aic, best);
  EXPECT_DOUBLE_EQ(winner->delta_aic, 0.0);
  EXPECT_GE(report->delta_aic, 0.0);
  EXPECT_FALSE(report->runner_up.empty());
}

TEST(ReliabilityFit, ManyDistinctLengthsAreBinned) {
  std::vector<Trial> trials;
  for (int n = 1; n <= 200; ++n) trials.push_back({n, -1, n % 4 != 0});
  auto report =
      fit_reliability(trials, {.models = {ReliabilityModel::exponential}, .profile_ci = false});
  ASSERT_TRUE(report.ok());
  EXPECT_LE(report->bins.size(), 16u);
  int total = 0;
  for (const LengthBin& b : report->bins) {
    total += b.trials;
    EXPECT_LE(b.n_lo, b.n_hi);
  }
  EXPECT_EQ(total, 200);
}

TEST(ReliabilityFit, RejectsBadInput) {
  EXPECT_FALSE(fit_reliability({}).ok());
  EXPECT_FALSE(fit_reliability({{0, -1, true}}).ok());
  EXPECT_FALSE(fit_reliability({{4, 5, true}}).ok());  // k > n
  EXPECT_FALSE(fit_reliability({{4, -1, true}}, {.ci_level = 1.5}).ok());
  EXPECT_FALSE(fit_reliability({{4, -1, true}}, {.n_starts = 0}).ok());
}

// Label slow (CTest `reliability_power_study`, about 30 s on one core; disabled in the unit
// run): the power study behind the sweep designs of reliability_sim.hpp and docs/reliability.md.
// Over the fixed seeds 1000..1299 the generating model must win (the criterion above) in at least
// 97% of seeds at its test design, so that passing 9 of 10 seeds above is not luck; where the test
// design is larger than the realistic 600-trial sweep (lengths 4..128 doubling x 100), that sweep
// must fall short of 97%, which is why the larger design is needed. No fit may leave a nesting
// model below a model it nests. KEYTOK_RELIABILITY_SEEDS sets another number of seeds.
TEST(ReliabilityFit, DISABLED_PowerStudy) {
  const int seeds = seeds_from_env(300);
  for (const SimCase& c : sim_cases()) {
    struct Design {
      const char* name;
      std::vector<int> lengths;
      int per;
      bool is_test_design;
    };
    std::vector<Design> designs = {{"test design", c.lengths, c.per_length, true}};
    if (c.lengths != kLengths || c.per_length != 100) {
      designs.push_back({"doubling 4..128 x100", kLengths, 100, false});
    }
    for (const Design& d : designs) {
      int wins = 0, strict = 0, nesting_violations = 0;
      std::map<std::string, int> winners;
      for (int seed = 1000; seed < 1000 + seeds; ++seed) {
        auto report = fit_reliability(simulate(c, d.lengths, d.per, seed), {.profile_ci = false});
        ASSERT_TRUE(report.ok());
        const SeedOutcome o = judge(*report, c.model);
        wins += o.win;
        strict += o.strict_win;
        ++winners[o.winner];
        nesting_violations += count_nesting_violations(*report);
      }
      std::printf("%-22s %-22s win %.3f strict %.3f nesting-violations %d |",
                  reliability_model_name(c.model), d.name, double(wins) / seeds,
                  double(strict) / seeds, nesting_violations);
      for (const auto& [name, count] : winners) std::printf(" %s %d", name.c_str(), count);
      std::printf("\n");
      EXPECT_EQ(nesting_violations, 0) << reliability_model_name(c.model) << ", " << d.name;
      const std::string what = std::string(reliability_model_name(c.model)) + " wins " +
                               std::to_string(wins) + " of " + std::to_string(seeds) +
                               " seeds at " + d.name;
      if (d.is_test_design) {
        EXPECT_GE(wins * 100, 97 * seeds) << what;
      } else {
        EXPECT_LT(wins * 100, 97 * seeds) << what << ": the test design could be smaller";
      }
    }
  }
}

}  // namespace
}  // namespace keytok
