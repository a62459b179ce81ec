// Internal to src/reliability: model definitions, grouped likelihood, the NLopt wrapper and
// profile-likelihood intervals that fit.cpp puts together.
#pragma once

#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "keytok/reliability.hpp"

namespace keytok::detail {

// ---- Models -----------------------------------------------------------------------------------

/// How a parameter is reported. The optimizer works on z = ln(v) for every parameter, where v is
/// the working value the hazard uses; `probability` parameters are hazards h reported as the
/// per-token error e = 1 - exp(-h).
enum class ParamScale { positive, probability };

struct ParamSpec {
  const char* name = "";
  ParamScale scale = ParamScale::positive;
  double z_lo = 0.0, z_hi = 0.0;          // optimizer bounds on z = ln(v)
  double start_lo = 0.0, start_hi = 0.0;  // box for random starts, inside the bounds
  bool lower_is_zero = false;             // report the lower bound as 0 (it stands for v -> 0)
};

struct ModelSpec {
  ReliabilityModel model = ReliabilityModel::exponential;
  std::vector<ParamSpec> params;
  bool needs_k = false;
};

/// The n range of the data, which bounds n_sat and sets start boxes.
struct DataRange {
  double n_min = 1.0;
  double n_max = 1.0;
};

ModelSpec model_spec(ReliabilityModel model, const DataRange& range);

/// Cumulative hazard H >= 0 (success p = exp(-H)). v: working values, exp(z).
double model_hazard(ReliabilityModel model, const double* v, double n, double k, double t);

/// The natural (reported) value of a parameter from its optimizer coordinate; 0 at the lower
/// bound of a lower_is_zero parameter (ln v = -30 stands for v = 0).
double natural_value(const ParamSpec& spec, double z);

// ---- Likelihood ---------------------------------------------------------------------------------

/// Trials with equal (n, k, t, e) pooled: the likelihood depends on nothing else. e >= 0: every
/// trial of the group failed first at a step flagged e (1) or not (0) after surviving t steps,
/// k of them key (two_rate_measured_k's survival form); e = -1: success or failure of the whole
/// exposure.
struct TrialGroup {
  double n = 0.0, k = -1.0, t = 0.0;
  double trials = 0.0, successes = 0.0;
  int e = -1;
};

/// Which trial fields a pooling keeps; the others are set to -1 in the groups. The decay models
/// read only n; two_rate_measured_k its survival data (k_at_risk, t_at_risk, error_key where
/// known, else k and n_tokens); predictions n, k and n_tokens.
enum class GroupBy { n, k_and_t, all };

/// Pools trials with equal kept fields, so the likelihood costs one term per group.
std::vector<TrialGroup> group_trials(const std::vector<Trial>& trials, GroupBy by);

/// -log L of the groups at optimizer coordinates z.
double negative_log_likelihood(ReliabilityModel model, const std::vector<TrialGroup>& groups,
                               const std::vector<double>& z);

// ---- Optimization -----------------------------------------------------------------------------

/// A bounded minimization problem over z; `fixed` >= 0 pins that coordinate to `fixed_value`
/// (used for profiles) and the optimizer works on the others.
struct Problem {
  ReliabilityModel model = ReliabilityModel::exponential;
  const std::vector<TrialGroup>* groups = nullptr;
  std::vector<double> lo, hi;
  int fixed = -1;
  double fixed_value = 0.0;
};

struct OptResult {
  std::vector<double> z;  // full coordinates, fixed one included
  double nll = 0.0;
  bool converged = true;
};

/// One local BOBYQA run from z0 (full coordinates).
OptResult minimize_from(const Problem& problem, std::vector<double> z0);

/// Best of local runs from `extra_starts` (e.g. nested_starts), the box center, and uniform
/// random points in the start box (n_starts runs besides the extra ones). Deterministic for a
/// given rng state.
OptResult minimize_multistart(const Problem& problem, const ModelSpec& spec, int n_starts,
                              std::mt19937_64& rng,
                              const std::vector<std::vector<double>>& extra_starts = {});

/// Starting points for `model` that reproduce the optima of models it nests (exponential inside
/// stretched_exponential at beta = 1, two_rate_power_k inside two_rate_saturating_k at
/// n_sat = n_max, ...), so a nesting model never ends below a nested one on a kinked or flat
/// likelihood. `optima` maps already-fitted models to their optimizer coordinates.
std::vector<std::vector<double>> nested_starts(
    ReliabilityModel model, const std::map<ReliabilityModel, std::vector<double>>& optima,
    const DataRange& range);

/// The order fit_reliability fits models in, nested before nesting.
const std::vector<ReliabilityModel>& fit_order();

/// Profile-likelihood interval of parameter j around the optimum `best`, at chi-square
/// threshold `half_chi2` (= chi2_1(level) / 2). Reports natural values.
ParameterEstimate profile_interval(const Problem& problem, const ModelSpec& spec,
                                   const OptResult& best, int j, double half_chi2);

// ---- Small statistics -------------------------------------------------------------------------

/// Standard normal quantile, p in (0, 1).
double normal_quantile(double p);

/// Uniform integer in [0, bound) from a 64-bit generator, identical on every platform.
std::uint64_t uniform_below(std::mt19937_64& rng, std::uint64_t bound);

/// Uniform double in [0, 1) with 53 random bits.
double uniform_unit(std::mt19937_64& rng);

}  // namespace keytok::detail
