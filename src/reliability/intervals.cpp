// Wilson score intervals and percentile bootstrap intervals (for the sweep report's ratios such
// as P(error | key) / P(error | non-key)), and the small statistics under them and the fit
// (fit_internal.hpp). NLopt-free, so that code which only summarises results links without it.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "reliability/fit_internal.hpp"

namespace keytok {

namespace detail {

std::uint64_t uniform_below(std::mt19937_64& rng, std::uint64_t bound) {
  const std::uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const std::uint64_t x = rng();
    if (x >= threshold) return x % bound;
  }
}

double uniform_unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

double normal_quantile(double p) {
  // Bisection on the normal CDF via erfc; 200 halvings are far below double precision.
  double lo = -40.0, hi = 40.0;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return 0.5 * (lo + hi);
}

}  // namespace detail

Interval wilson_interval(int successes, int trials, double z) {
  if (trials <= 0) return {0.0, 0.0, 1.0};
  const double n = trials;
  const double p = static_cast<double>(successes) / n;
  const double z2 = z * z;
  const double center = (p + z2 / (2 * n)) / (1 + z2 / n);
  const double half = z / (1 + z2 / n) * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n));
  return {p, std::max(0.0, center - half), std::min(1.0, center + half)};
}

namespace {

// Linear interpolation between order statistics (R's type 7), q in [0, 1].
double quantile_sorted(const std::vector<double>& sorted, double q) {
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const std::size_t i = static_cast<std::size_t>(std::floor(pos));
  const std::size_t j = std::min(i + 1, sorted.size() - 1);
  return sorted[i] + (pos - static_cast<double>(i)) * (sorted[j] - sorted[i]);
}

}  // namespace

Result<Interval> bootstrap_ci(
    std::size_t n_units, const std::function<double(const std::vector<std::size_t>&)>& statistic,
    const BootstrapParams& params) {
  if (n_units == 0) return Status::invalid_argument("bootstrap over zero units");
  if (params.resamples < 10) return Status::invalid_argument("bootstrap needs >= 10 resamples");
  if (!(params.level > 0.0 && params.level < 1.0)) {
    return Status::invalid_argument(
        fmt::format("bootstrap level {} must be in (0, 1)", params.level));
  }
  std::vector<std::size_t> sample(n_units);
  for (std::size_t i = 0; i < n_units; ++i) sample[i] = i;
  const double estimate = statistic(sample);
  std::mt19937_64 rng(params.seed);
  std::vector<double> replicates;
  replicates.reserve(params.resamples);
  for (int r = 0; r < params.resamples; ++r) {
    for (std::size_t i = 0; i < n_units; ++i) sample[i] = detail::uniform_below(rng, n_units);
    const double value = statistic(sample);
    if (std::isfinite(value)) replicates.push_back(value);
  }
  if (replicates.size() * 2 < static_cast<std::size_t>(params.resamples)) {
    return Status::invalid_argument(fmt::format(
        "the statistic was undefined in {} of {} bootstrap resamples; too few events to bound it",
        params.resamples - static_cast<int>(replicates.size()), params.resamples));
  }
  std::sort(replicates.begin(), replicates.end());
  const double tail = (1.0 - params.level) / 2.0;
  return Interval{estimate, quantile_sorted(replicates, tail),
                  quantile_sorted(replicates, 1.0 - tail)};
}

Result<Interval> bootstrap_rate_ratio(const std::vector<RateRatioUnit>& units,
                                      const BootstrapParams& params) {
  const auto ratio = [&units](const std::vector<std::size_t>& idx) {
    double ne = 0, nt = 0, de = 0, dt = 0;
    for (const std::size_t i : idx) {
      ne += units[i].num_events;
      nt += units[i].num_total;
      de += units[i].den_events;
      dt += units[i].den_total;
    }
    if (nt <= 0 || dt <= 0 || de <= 0) return std::numeric_limits<double>::quiet_NaN();
    return (ne / nt) / (de / dt);
  };
  std::vector<std::size_t> all(units.size());
  for (std::size_t i = 0; i < units.size(); ++i) all[i] = i;
  if (!units.empty() && !std::isfinite(ratio(all))) {
    return Status::invalid_argument(
        "the rate ratio is undefined: no denominator events or an empty population");
  }
  return bootstrap_ci(units.size(), ratio, params);
}

}  // namespace keytok
