// keytok/reliability.hpp: fit how success falls with output length (issue 3).
//
// "Beyond Exponential Decay" (arXiv 2505.24187) claims that an n-token answer does not
// survive with (1-e)^n, because errors concentrate on a few key tokens whose number k grows
// sublinearly in n. This header fits that claim and its rivals by maximum likelihood to
// per-trial outcomes of a length sweep and compares them by AIC. [experimental]
//
//   auto trials = keytok::load_trials("results.jsonl");  // sweep results or a CSV
//   auto report = keytok::fit_reliability(*trials, {});
//   fmt::print("winner {} (dAIC {:.1f})\n", report->winner, report->delta_aic);
//   keytok::write_fit_html(*report, "fit.html");
//
// Models, written as a cumulative hazard H(n) with success p = exp(-H); h_x = -ln(1 - e_x):
//   exponential            H = h n                                  params e
//   two_rate_measured_k    H = h_key k + h_non (T - k)              params e_key, e_non
//                          (k, T: the trial's measured key and output token counts)
//   two_rate_power_k       H = h_non n + A n^beta                   params e_non, key_load A, beta
//   two_rate_saturating_k  H = h_non n + A min(n, n_sat)^beta       params e_non, A, beta, n_sat
//   stretched_exponential  H = (n / lambda)^beta                    params lambda, beta
//   power_law              H = alpha ln(1 + n / n0)                 params n0, alpha
// The parametric two-rate forms come from k(n) = c n^beta (saturating at k_max = c n_sat^beta):
// H = h_non (n - k(n)) + h_key k(n) = h_non n + c (h_key - h_non) n^beta. Success data alone
// identify only the product A = c (h_key - h_non) ("key load", nats at n = 1), not c and e_key
// apart; e_key = 1 - exp(-(h_non + A / c)) once c is known from measured key counts. Bounds:
// A >= 0 (key tokens are at least as error-prone as the rest), 0 < beta <= 1 (k cannot grow
// faster than n), n_sat within the observed lengths. Details: docs/reliability.md.
//
// Thread-safety: every function is pure (no shared state) and may run concurrently.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keytok/status.hpp"

namespace keytok {

// ---------------------------------------------------------------------------------------------
// Data

/// One trial of a length sweep.
struct Trial {
  int n = 0;             // the length the decay models use (task length or output tokens), >= 1
  int k = -1;            // key tokens measured in the output; -1 = unknown
  bool success = false;  // the output was correct
  int n_tokens = -1;     // output tokens, T of two_rate_measured_k's predictions; -1 = use n
  /// two_rate_measured_k's likelihood as a discrete-time survival model (docs/reliability.md):
  /// where the trial's first error was located, the steps taken and the key steps among them
  /// before it (a success: every step, its end-of-generation step included), and whether the
  /// error step itself was flagged (0 or 1; -1 = a success, or an error not located). A failed
  /// output's tokens after its first error carry no information on when it failed. -1 in
  /// k_at_risk = not known: the likelihood falls back to (k, n_tokens) and success.
  int k_at_risk = -1;
  int t_at_risk = -1;
  int error_key = -1;
};

/// A point estimate with an interval (confidence level as stated where it is returned).
struct Interval {
  double estimate = 0.0;
  double lo = 0.0;
  double hi = 0.0;
};

/// Which length sweep-results trials use as n.
enum class TrialLength {
  task_length,    ///< the task's size ("length"): the default; comparable across trials
  output_tokens,  ///< the tokens actually generated ("n_output_tokens")
};

/// Reads trials from a sweep results file (JSONL starting with the header line
/// {"format":"keytok-sweep","version":1,...}; format in docs/tasks.md) or from a CSV of
/// `length,trials,successes` rows (optional header row), chosen by content: a first non-blank
/// character '{' means JSONL. Sweep lines give n (by `which`; at least 1), k = n_key (null ->
/// -1), n_tokens = max(n_output_tokens, 1), success, and where the line has n_at_risk and
/// n_key_at_risk: a success's k_at_risk = n_key_at_risk and t_at_risk = n_at_risk; a failure
/// with a located first error (first_error_key) the counts before that step and error_key = its
/// flag. CSV rows expand to `trials` trials with k
/// unknown, so models that need k are skipped. Errors (format_error, not_found) name the file and
/// 1-based line.
Result<std::vector<Trial>> load_trials(const std::string& path,
                                       TrialLength which = TrialLength::task_length);

/// The CSV half of load_trials, on text in memory; `source` names it in errors.
Result<std::vector<Trial>> parse_trials_csv(std::string_view text, const std::string& source);

/// The sweep-results half of load_trials, on text in memory; `source` names it in errors.
Result<std::vector<Trial>> parse_sweep_trials(std::string_view text, const std::string& source,
                                              TrialLength which = TrialLength::task_length);

// ---------------------------------------------------------------------------------------------
// Fitting

/// The candidate models. Persisted by name (reliability_model_name), never by number.
enum class ReliabilityModel {
  exponential,
  two_rate_measured_k,
  two_rate_power_k,
  two_rate_saturating_k,
  stretched_exponential,
  power_law,
};

/// "exponential", "two_rate_measured_k", "two_rate_power_k", "two_rate_saturating_k",
/// "stretched_exponential" or "power_law".
const char* reliability_model_name(ReliabilityModel model);
/// The model named `name` (as reliability_model_name writes it), or nullopt.
std::optional<ReliabilityModel> parse_reliability_model(std::string_view name);

/// All models, in the order above.
const std::vector<ReliabilityModel>& all_reliability_models();

/// Options of fit_reliability.
struct FitParams {
  std::vector<ReliabilityModel> models;  // models to fit; empty = all
  bool profile_ci = true;  // compute profile-likelihood intervals (most of the cost); false:
                           // lo = hi = estimate
  double ci_level = 0.95;  // confidence level of the intervals, in (0, 1)
  int n_starts = 8;        // box-center and random optimizer starts per model, >= 1 (plus
                           // starts at the optima of the models it nests)
  std::uint64_t seed = 1;  // seeds the random starts; same seed -> same report
  int curve_points = 64;   // points per fitted curve in FitReport (for plots), >= 2

  /// invalid_argument naming the bad field.
  Status validate() const;
};

/// One fitted parameter on its natural scale (e.g. e in (0,1), not the optimizer's log scale).
struct ParameterEstimate {
  std::string name;  // e.g. "e_key", "beta"
  double estimate = 0.0;
  double lo = 0.0;  // profile-likelihood interval at FitParams::ci_level
  double hi = 0.0;
  bool lo_at_bound = false;  // the interval reached the parameter's lower bound (lo is the
                             // bound; 0 for rates and key_load)
  bool hi_at_bound = false;  // the same at the upper bound (e.g. beta = 1, n_sat = max n)
};

/// Observed success in one length bin. Bins are the distinct n when there are at most 24 of
/// them, else 16 log-spaced bins.
struct LengthBin {
  int n_lo = 0;         // smallest n in the bin
  int n_hi = 0;         // largest n in the bin
  double n_mean = 0.0;  // mean n of the bin's trials
  int trials = 0;
  int successes = 0;
  Interval observed;     // successes / trials with a 95% Wilson interval
  double mean_k = -1.0;  // mean measured k; -1 when unknown
};

/// One model's fit. Unfitted models (skipped) carry only name and skip_reason.
struct ModelFit {
  ReliabilityModel model = ReliabilityModel::exponential;
  std::string name;
  bool fitted = false;
  std::string skip_reason;  // why not fitted, e.g. "needs measured key counts"
  std::vector<ParameterEstimate> parameters;
  int n_params = 0;
  double log_likelihood = 0.0;    // natural log, Bernoulli over trials
  double aic = 0.0;               // 2 n_params - 2 logL
  double bic = 0.0;               // n_params ln(trials) - 2 logL
  double delta_aic = 0.0;         // aic - best aic among ranked models (0 for the winner; NaN
                                  // when not ranked)
  /// false: the likelihood is of other data than each trial's success, so its AIC cannot be
  /// compared with the others' (two_rate_measured_k on trials with survival data: it models
  /// the step of each first error; `unranked_reason` says so). It never wins.
  bool ranked = true;
  std::string unranked_reason;
  bool converged = true;          // the best optimizer run stopped on its tolerances, not on
                                  // its evaluation limit
  std::vector<double> predicted;  // (bins) mean predicted success of each bin's trials
  std::vector<std::pair<double, double>> curve;  // (n, p) for plotting; for two_rate_measured_k
                                                 // the bins' predictions at n_mean
};

/// Everything fit_reliability found.
struct FitReport {
  int n_trials = 0;
  double ci_level = 0.95;
  std::string ci_method = "profile likelihood";
  std::vector<LengthBin> bins;
  std::vector<ModelFit> models;  // in FitParams order; skipped models included
  std::string winner;            // lowest AIC among fitted models
  std::string runner_up;         // second lowest; empty when only one model was fitted
  double delta_aic = 0.0;        // runner-up AIC - winner AIC (>= 0); 0 without a runner-up
};

/// Fits each model by maximum likelihood: log L = sum over trials of ln p_i if success else
/// ln(1 - p_i). NLopt's BOBYQA minimizes -log L over bounded log-scale parameters from the
/// centre of a box of plausible values, FitParams::n_starts - 1 random points in it, and points
/// that reproduce the optima of the models this one nests; the best end point wins. Intervals:
/// profile likelihood, the set of values whose profile log-likelihood is within
/// chi2_1(ci_level)/2 of the maximum (invariant to the parameterization). Models needing k are
/// skipped when any trial's k is unknown, models with more parameters than distinct lengths
/// likewise (skip_reason says why).
/// Errors: invalid_argument for no trials, n < 1, k outside [0, T], or bad params.
/// Cost: about 10^4-10^5 likelihood evaluations per model, each over the distinct (n, k, T)
/// groups; milliseconds for typical sweeps.
Result<FitReport> fit_reliability(const std::vector<Trial>& trials, const FitParams& params = {});

/// Success probability of a fitted model at length n (k, n_tokens as in Trial; only
/// two_rate_measured_k reads them). NaN for an unfitted model.
double predict_success(const ModelFit& fit, int n, int k = -1, int n_tokens = -1);

// ---------------------------------------------------------------------------------------------
// Intervals

/// Wilson score interval for successes out of trials at normal quantile z (1.96 = 95%).
/// trials == 0 gives {0, 0, 1}.
Interval wilson_interval(int successes, int trials, double z = 1.959963984540054);

/// Options of the bootstrap helpers.
struct BootstrapParams {
  int resamples = 2000;    // bootstrap replicates, >= 10
  double level = 0.95;     // interval level, in (0, 1)
  std::uint64_t seed = 1;  // same seed -> same interval
};

/// Percentile bootstrap over independent units (e.g. trials). `statistic` gets the indices of
/// one resample (size n_units, drawn with replacement; the full sample is 0..n_units-1) and
/// returns the statistic; non-finite replicates (e.g. a zero denominator) are dropped.
/// Returns {statistic(full sample), lower, upper percentile}; invalid_argument when n_units is
/// 0 or more than half the replicates are non-finite.
Result<Interval> bootstrap_ci(
    std::size_t n_units, const std::function<double(const std::vector<std::size_t>&)>& statistic,
    const BootstrapParams& params = {});

/// One unit (e.g. one trial) of a ratio of two rates: events among a numerator population and
/// among a denominator population, e.g. errors on key tokens / key tokens and errors on
/// non-key tokens / non-key tokens.
struct RateRatioUnit {
  double num_events = 0.0;
  double num_total = 0.0;
  double den_events = 0.0;
  double den_total = 0.0;
};

/// (sum num_events / sum num_total) / (sum den_events / sum den_total), e.g.
/// P(error | key) / P(error | non-key), with a percentile bootstrap interval that resamples
/// units (keeps each trial's tokens together). Errors as bootstrap_ci; also when the
/// full-sample ratio is undefined (a zero total or zero denominator events).
Result<Interval> bootstrap_rate_ratio(const std::vector<RateRatioUnit>& units,
                                      const BootstrapParams& params = {});

// ---------------------------------------------------------------------------------------------
// Output

/// The report as one JSON document: {"format":"keytok-fit","version":1, ...}; fields in
/// docs/reliability.md. Non-finite numbers are written as null.
std::string fit_report_json(const FitReport& report);

/// Reads fit_report_json's output back (format_error on another format or version).
Result<FitReport> parse_fit_report_json(std::string_view text);

/// One self-contained HTML page: an inline SVG plot of observed success per length (95% Wilson
/// intervals) with each fitted curve, the model table (parameters with intervals, log L, AIC,
/// delta AIC, BIC) and predicted against observed success per length. No external resources.
std::string fit_report_html(const FitReport& report, const std::string& title = "keytok fit");

/// Writes fit_report_html to `path`; io_error when it cannot.
Status write_fit_html(const FitReport& report, const std::string& path,
                      const std::string& title = "keytok fit");

}  // namespace keytok
