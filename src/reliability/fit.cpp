// fit_reliability: validates trials, fits each model (multi-start MLE + profile intervals),
// bins the data for display, and ranks the models by AIC.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "reliability/fit_internal.hpp"

namespace keytok {

Status FitParams::validate() const {
  if (!(ci_level > 0.0 && ci_level < 1.0)) {
    return Status::invalid_argument(fmt::format("ci_level {} must be in (0, 1)", ci_level));
  }
  if (n_starts < 1) return Status::invalid_argument("n_starts must be at least 1");
  if (curve_points < 2) return Status::invalid_argument("curve_points must be at least 2");
  if (std::set<ReliabilityModel>(models.begin(), models.end()).size() != models.size()) {
    return Status::invalid_argument("a model is listed twice in FitParams::models");
  }
  return Status::ok_status();
}

namespace {

using detail::ModelSpec;
using detail::TrialGroup;

Status check_trials(const std::vector<Trial>& trials) {
  if (trials.empty()) {
    return Status::invalid_argument(
        "no trials to fit; run a sweep or give length,trials,successes rows");
  }
  for (std::size_t i = 0; i < trials.size(); ++i) {
    const Trial& t = trials[i];
    const int tokens = t.n_tokens >= 0 ? t.n_tokens : t.n;
    if (t.n < 1) {
      return Status::invalid_argument(fmt::format("trial {} has n = {}; n must be >= 1", i, t.n));
    }
    if (t.k > tokens) {
      return Status::invalid_argument(
          fmt::format("trial {} has k = {} key tokens but only {} tokens; k must be in [0, tokens]",
                      i, t.k, tokens));
    }
  }
  return Status::ok_status();
}

std::vector<LengthBin> make_bins(const std::vector<Trial>& trials) {
  std::set<int> distinct;
  for (const Trial& t : trials) distinct.insert(t.n);
  std::vector<double> edges;  // bin i holds n in [edges[i], edges[i+1])
  if (distinct.size() <= 24) {
    for (const int n : distinct) edges.push_back(n);
    edges.push_back(*distinct.rbegin() + 1.0);
  } else {
    const double lo = std::log(*distinct.begin());
    const double hi = std::log(*distinct.rbegin() + 1.0);
    for (int i = 0; i <= 16; ++i) edges.push_back(std::exp(lo + (hi - lo) * i / 16.0));
    edges.back() = *distinct.rbegin() + 1.0;
  }
  std::vector<LengthBin> bins(edges.size() - 1);
  std::vector<double> sum_n(bins.size()), sum_k(bins.size()), known_k(bins.size());
  for (LengthBin& b : bins) {
    b.n_lo = std::numeric_limits<int>::max();
    b.n_hi = 0;
  }
  for (const Trial& t : trials) {
    const auto it = std::upper_bound(edges.begin(), edges.end(), static_cast<double>(t.n));
    const std::size_t i = std::min<std::size_t>(it - edges.begin() - 1, bins.size() - 1);
    LengthBin& b = bins[i];
    b.n_lo = std::min(b.n_lo, t.n);
    b.n_hi = std::max(b.n_hi, t.n);
    ++b.trials;
    b.successes += t.success ? 1 : 0;
    sum_n[i] += t.n;
    if (t.k >= 0) {
      sum_k[i] += t.k;
      known_k[i] += 1;
    }
  }
  std::vector<LengthBin> kept;
  for (std::size_t i = 0; i < bins.size(); ++i) {
    LengthBin b = bins[i];
    if (b.trials == 0) continue;
    b.n_mean = sum_n[i] / b.trials;
    b.observed = wilson_interval(b.successes, b.trials);
    b.mean_k = known_k[i] == b.trials ? sum_k[i] / b.trials : -1.0;
    kept.push_back(b);
  }
  return kept;
}

// Index of the bin that holds n.
std::size_t bin_of(const std::vector<LengthBin>& bins, int n) {
  for (std::size_t i = 0; i < bins.size(); ++i) {
    if (n <= bins[i].n_hi) return i;
  }
  return bins.size() - 1;
}

// The working values (what model_hazard reads) from reported estimates.
std::vector<double> working_values(const ModelFit& fit) {
  const detail::ModelSpec spec = detail::model_spec(fit.model, {1.0, 2.0});
  std::vector<double> v;
  for (std::size_t i = 0; i < fit.parameters.size() && i < spec.params.size(); ++i) {
    const double x = fit.parameters[i].estimate;
    v.push_back(spec.params[i].scale == detail::ParamScale::probability ? -std::log1p(-x) : x);
  }
  return v;
}

struct FitData {
  const std::vector<Trial>* trials = nullptr;
  std::vector<TrialGroup> by_n;  // pooled by n, for the decay models
  std::vector<TrialGroup> by_k;  // pooled by (k, t), for two_rate_measured_k
  std::vector<TrialGroup> all;   // pooled by (n, k, t), for predictions
  detail::DataRange range;
  std::size_t distinct_n = 0;
  bool all_k_known = true;
};

void add_predictions(ModelFit& fit, const FitData& data, const std::vector<LengthBin>& bins,
                     int curve_points) {
  fit.predicted.assign(bins.size(), 0.0);
  for (const TrialGroup& g : data.all) {
    const std::size_t b = bin_of(bins, static_cast<int>(g.n));
    fit.predicted[b] += g.trials * predict_success(fit, static_cast<int>(g.n),
                                                   static_cast<int>(g.k), static_cast<int>(g.t));
  }
  for (std::size_t b = 0; b < bins.size(); ++b) fit.predicted[b] /= bins[b].trials;
  fit.curve.clear();
  if (fit.model == ReliabilityModel::two_rate_measured_k) {
    for (std::size_t b = 0; b < bins.size(); ++b)
      fit.curve.emplace_back(bins[b].n_mean, fit.predicted[b]);
    return;
  }
  const std::vector<double> v = working_values(fit);
  const double lo = std::log(data.range.n_min), hi = std::log(data.range.n_max);
  for (int i = 0; i < curve_points; ++i) {
    const double n = std::exp(lo + (hi - lo) * i / (curve_points - 1));
    fit.curve.emplace_back(n, std::exp(-detail::model_hazard(fit.model, v.data(), n, -1, n)));
  }
}

ModelFit fit_one(ReliabilityModel model, const FitData& data, const FitParams& params,
                 std::mt19937_64& rng, std::map<ReliabilityModel, std::vector<double>>& optima) {
  ModelFit fit;
  fit.model = model;
  fit.name = reliability_model_name(model);
  const ModelSpec spec = detail::model_spec(model, data.range);
  fit.n_params = static_cast<int>(spec.params.size());
  if (spec.needs_k && !data.all_k_known) {
    fit.skip_reason =
        "needs each trial's measured key-token count (n_key); the data have none (CSV input, "
        "or a sweep without key counts)";
    return fit;
  }
  if (!spec.needs_k && data.distinct_n < spec.params.size()) {
    fit.skip_reason = fmt::format("needs at least {} distinct lengths; the data have {}",
                                  spec.params.size(), data.distinct_n);
    return fit;
  }
  detail::Problem problem;
  problem.model = model;
  problem.groups = spec.needs_k ? &data.by_k : &data.by_n;
  for (const detail::ParamSpec& p : spec.params) {
    problem.lo.push_back(p.z_lo);
    problem.hi.push_back(p.z_hi);
  }
  const detail::OptResult best = detail::minimize_multistart(
      problem, spec, params.n_starts, rng, detail::nested_starts(model, optima, data.range));
  optima[model] = best.z;
  const double q = detail::normal_quantile(0.5 + params.ci_level / 2.0);
  for (int j = 0; j < fit.n_params; ++j) {
    if (params.profile_ci) {
      fit.parameters.push_back(detail::profile_interval(problem, spec, best, j, q * q / 2.0));
    } else {
      const double x = detail::natural_value(spec.params[j], best.z[j]);
      fit.parameters.push_back({spec.params[j].name, x, x, x, false, false});
    }
  }
  fit.fitted = true;
  if (spec.needs_k && std::any_of(data.by_k.begin(), data.by_k.end(), [](const TrialGroup& g) { return g.e >= 0; })) {
    fit.ranked = false;
    fit.unranked_reason =
        "its likelihood is of the step of each located first error (a survival model), not of success "
        "alone, so its AIC does not compare with the others'";
  }
  fit.converged = best.converged;
  fit.log_likelihood = -best.nll;
  fit.aic = 2.0 * fit.n_params - 2.0 * fit.log_likelihood;
  fit.bic =
      fit.n_params * std::log(static_cast<double>(data.trials->size())) - 2.0 * fit.log_likelihood;
  return fit;
}

}  // namespace

double predict_success(const ModelFit& fit, int n, int k, int n_tokens) {
  if (!fit.fitted) return std::numeric_limits<double>::quiet_NaN();
  const std::vector<double> v = working_values(fit);
  const double t = n_tokens >= 0 ? n_tokens : n;
  return std::exp(-std::max(0.0, detail::model_hazard(fit.model, v.data(), n, k, t)));
}

Result<FitReport> fit_reliability(const std::vector<Trial>& trials, const FitParams& params) {
  KEYTOK_RETURN_IF_ERROR(params.validate());
  KEYTOK_RETURN_IF_ERROR(check_trials(trials));
  FitData data;
  data.trials = &trials;
  data.by_n = detail::group_trials(trials, detail::GroupBy::n);
  data.by_k = detail::group_trials(trials, detail::GroupBy::k_and_t);
  data.all = detail::group_trials(trials, detail::GroupBy::all);
  std::set<int> distinct;
  for (const Trial& t : trials) {
    distinct.insert(t.n);
    data.all_k_known = data.all_k_known && t.k >= 0;
  }
  data.distinct_n = distinct.size();
  data.range = {static_cast<double>(*distinct.begin()), static_cast<double>(*distinct.rbegin())};

  FitReport report;
  report.n_trials = static_cast<int>(trials.size());
  report.ci_level = params.ci_level;
  report.ci_method = params.profile_ci ? "profile likelihood" : "none";
  report.bins = make_bins(trials);
  // Fit nested models first so their optima seed the models that nest them; report in the
  // caller's order.
  const std::vector<ReliabilityModel>& models =
      params.models.empty() ? all_reliability_models() : params.models;
  std::map<ReliabilityModel, ModelFit> fits;
  std::map<ReliabilityModel, std::vector<double>> optima;
  std::mt19937_64 rng(params.seed);
  for (const ReliabilityModel model : detail::fit_order()) {
    if (std::find(models.begin(), models.end(), model) == models.end()) continue;
    ModelFit fit = fit_one(model, data, params, rng, optima);
    if (fit.fitted) add_predictions(fit, data, report.bins, params.curve_points);
    fits.emplace(model, std::move(fit));
  }
  for (const ReliabilityModel model : models) report.models.push_back(std::move(fits.at(model)));
  std::vector<const ModelFit*> ranked;
  for (ModelFit& m : report.models) {
    if (m.fitted && m.ranked) ranked.push_back(&m);
    if (m.fitted && !m.ranked) m.delta_aic = std::numeric_limits<double>::quiet_NaN();
  }
  std::stable_sort(ranked.begin(), ranked.end(),
                   [](const ModelFit* a, const ModelFit* b) { return a->aic < b->aic; });
  if (!ranked.empty()) {
    report.winner = ranked[0]->name;
    for (ModelFit& m : report.models) {
      if (m.fitted && m.ranked) m.delta_aic = m.aic - ranked[0]->aic;
    }
  }
  if (ranked.size() > 1) {
    report.runner_up = ranked[1]->name;
    report.delta_aic = ranked[1]->aic - ranked[0]->aic;
  }
  return report;
}

}  // namespace keytok
