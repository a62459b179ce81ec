// The six reliability models as cumulative hazards, their parameter bounds, and the pooled
// Bernoulli likelihood. Working in H = -ln p keeps ln p and ln(1 - p) accurate at both ends.
#include <cmath>
#include <map>
#include <tuple>

#include "reliability/fit_internal.hpp"
#include "util/enum_names.hpp"

namespace keytok {

namespace {

constexpr std::array<detail::EnumName<ReliabilityModel>, 6> kModelNames = {{
    {ReliabilityModel::exponential, "exponential"},
    {ReliabilityModel::two_rate_measured_k, "two_rate_measured_k"},
    {ReliabilityModel::two_rate_power_k, "two_rate_power_k"},
    {ReliabilityModel::two_rate_saturating_k, "two_rate_saturating_k"},
    {ReliabilityModel::stretched_exponential, "stretched_exponential"},
    {ReliabilityModel::power_law, "power_law"},
}};

}  // namespace

const char* reliability_model_name(ReliabilityModel model) {
  return detail::enum_name(kModelNames, model, "exponential");
}

std::optional<ReliabilityModel> parse_reliability_model(std::string_view name) {
  return detail::enum_from_name(kModelNames, name);
}

const std::vector<ReliabilityModel>& all_reliability_models() {
  static const std::vector<ReliabilityModel> kAll = [] {
    std::vector<ReliabilityModel> all;
    for (const auto& e : kModelNames) all.push_back(e.value);
    return all;
  }();
  return kAll;
}

namespace detail {
namespace {

// A per-token hazard: ln h in [-30, 3] covers e from ~1e-13 to ~1.
ParamSpec hazard_param(const char* name) {
  return {name, ParamScale::probability, -30.0, 3.0, std::log(1e-4), std::log(0.3), true};
}

}  // namespace

ModelSpec model_spec(ReliabilityModel model, const DataRange& range) {
  const double ln_min = std::log(range.n_min);
  const double ln_max = std::log(range.n_max);
  const ParamSpec key_load = {"key_load",     ParamScale::positive, -30.0, 3.0,
                              std::log(1e-3), std::log(1.0),        true};
  // beta <= 1: k(n) = c n^beta cannot outgrow n.
  const ParamSpec k_beta = {"beta", ParamScale::positive, std::log(0.02), 0.0, std::log(0.2), 0.0,
                            false};
  switch (model) {
    case ReliabilityModel::exponential:
      return {model, {hazard_param("e")}, false};
    case ReliabilityModel::two_rate_measured_k:
      return {model, {hazard_param("e_key"), hazard_param("e_non")}, true};
    case ReliabilityModel::two_rate_power_k:
      return {model, {hazard_param("e_non"), key_load, k_beta}, false};
    case ReliabilityModel::two_rate_saturating_k:
      // n_sat beyond the largest n is indistinguishable from no saturation, below the
      // smallest from a constant offset; keep it inside the data.
      return {model,
              {hazard_param("e_non"),
               key_load,
               k_beta,
               {"n_sat", ParamScale::positive, ln_min, ln_max, ln_min, ln_max, false}},
              false};
    case ReliabilityModel::stretched_exponential:
      return {model,
              {{"lambda", ParamScale::positive, std::log(1e-3), std::log(1e9), ln_min,
                ln_max + std::log(1e3), false},
               {"beta", ParamScale::positive, std::log(0.05), std::log(5.0), std::log(0.3),
                std::log(2.0), false}},
              false};
    case ReliabilityModel::power_law:
      return {model,
              {{"n0", ParamScale::positive, std::log(1e-3), std::log(1e7), std::log(0.1),
                ln_max + std::log(10.0), false},
               {"alpha", ParamScale::positive, std::log(1e-4), std::log(100.0), std::log(0.05),
                std::log(5.0), false}},
              false};
  }
  return {};
}

double model_hazard(ReliabilityModel model, const double* v, double n, double k, double t) {
  switch (model) {
    case ReliabilityModel::exponential:
      return v[0] * n;
    case ReliabilityModel::two_rate_measured_k:
      return v[0] * k + v[1] * (t - k);
    case ReliabilityModel::two_rate_power_k:
      return v[0] * n + v[1] * std::pow(n, v[2]);
    case ReliabilityModel::two_rate_saturating_k:
      return v[0] * n + v[1] * std::pow(std::min(n, v[3]), v[2]);
    case ReliabilityModel::stretched_exponential:
      return std::pow(n / v[0], v[1]);
    case ReliabilityModel::power_law:
      return v[1] * std::log1p(n / v[0]);
  }
  return 0.0;
}

const std::vector<ReliabilityModel>& fit_order() {
  using M = ReliabilityModel;
  static const std::vector<M> kOrder = {M::exponential,         M::stretched_exponential,
                                        M::two_rate_power_k,    M::two_rate_saturating_k,
                                        M::two_rate_measured_k, M::power_law};
  return kOrder;
}

std::vector<std::vector<double>> nested_starts(
    ReliabilityModel model, const std::map<ReliabilityModel, std::vector<double>>& optima,
    const DataRange& range) {
  using M = ReliabilityModel;
  std::vector<std::vector<double>> starts;
  const auto found = [&](M m) { return optima.count(m) ? &optima.at(m) : nullptr; };
  const std::vector<double>* exp_z = found(M::exponential);
  const double ln_h = exp_z ? (*exp_z)[0] : 0.0;
  switch (model) {
    case M::stretched_exponential:  // lambda = 1/h, beta = 1
      if (exp_z) starts.push_back({-ln_h, 0.0});
      break;
    case M::two_rate_power_k:
      if (exp_z) starts.push_back({ln_h - std::log(2.0), ln_h - std::log(2.0), 0.0});  // beta = 1
      if (const auto* z = found(M::stretched_exponential); z && (*z)[1] <= 0.0) {
        // e_non -> 0, key_load = lambda^-beta.
        starts.push_back({-30.0, -std::exp((*z)[1]) * (*z)[0], (*z)[1]});
      }
      break;
    case M::two_rate_saturating_k:
      if (const auto* z = found(M::two_rate_power_k)) {
        starts.push_back({(*z)[0], (*z)[1], (*z)[2], std::log(range.n_max)});
      }
      break;
    case M::two_rate_measured_k:  // e_key = e_non = e
      if (exp_z) starts.push_back({ln_h, ln_h});
      break;
    case M::power_law:
      if (exp_z) {  // n0 large, alpha = h n0: (1 + n/n0)^-alpha ~ exp(-h n)
        const double ln_n0 = std::min(std::log(1e7), std::log(50.0) - ln_h);
        starts.push_back({ln_n0, ln_h + ln_n0});
      }
      break;
    case M::exponential:
      break;
  }
  return starts;
}

double natural_value(const ParamSpec& spec, double z) {
  if (spec.lower_is_zero && z <= spec.z_lo + 1e-6) return 0.0;
  const double v = std::exp(z);
  return spec.scale == ParamScale::probability ? -std::expm1(-v) : v;
}

std::vector<TrialGroup> group_trials(const std::vector<Trial>& trials, GroupBy by) {
  std::map<std::tuple<int, int, int, int>, TrialGroup> pooled;
  for (const Trial& trial : trials) {
    const bool keep_n = by != GroupBy::k_and_t;
    const bool keep_kt = by != GroupBy::n;
    const bool survival = by == GroupBy::k_and_t && trial.k_at_risk >= 0 && trial.t_at_risk >= 0;
    const int n = keep_n ? trial.n : -1;
    const int k = !keep_kt ? -1 : survival ? trial.k_at_risk : trial.k;
    const int t = !keep_kt ? -1 : survival ? trial.t_at_risk : (trial.n_tokens >= 0 ? trial.n_tokens : trial.n);
    const int e = survival ? trial.error_key : -1;
    TrialGroup& g = pooled[{n, k, t, e}];
    g.n = n;
    g.k = k;
    g.t = t;
    g.e = e;
    g.trials += 1.0;
    g.successes += trial.success ? 1.0 : 0.0;
  }
  std::vector<TrialGroup> groups;
  groups.reserve(pooled.size());
  for (const auto& [key, g] : pooled) groups.push_back(g);
  return groups;
}

double negative_log_likelihood(ReliabilityModel model, const std::vector<TrialGroup>& groups,
                               const std::vector<double>& z) {
  double v[4] = {0, 0, 0, 0};
  for (std::size_t i = 0; i < z.size() && i < 4; ++i) v[i] = std::exp(z[i]);
  double nll = 0.0;
  for (const TrialGroup& g : groups) {
    const double h = std::max(0.0, model_hazard(model, v, g.n, g.k, g.t));
    if (g.e >= 0) {
      // Survived t steps, then failed at a step of kind e: ln L = -H(k, t) + ln(1 - e^-h_e).
      const double h_step = std::max(0.0, model_hazard(model, v, 1.0, g.e, 1.0));
      nll += g.trials * (h - std::log(std::max(-std::expm1(-h_step), 1e-300)));
      continue;
    }
    const double failures = g.trials - g.successes;
    // ln p = -H; ln(1 - p) = ln(-expm1(-H)), floored so p = 1 with failures stays finite.
    nll += g.successes * h;
    if (failures > 0) nll -= failures * std::log(std::max(-std::expm1(-h), 1e-300));
  }
  return std::isfinite(nll) ? nll : 1e300;
}

}  // namespace detail
}  // namespace keytok
