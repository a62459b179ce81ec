// Test helper: trials simulated from known reliability models, written from the formulas
// directly (not through keytok's hazard code) so the fit is checked against an independent
// reference.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "keytok/reliability.hpp"

namespace keytok::testing {

inline double unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

/// A generating model with its true parameters in the order fit_reliability reports them, and
/// the sweep design its tests simulate.
struct SimCase {
  ReliabilityModel model;
  std::vector<double> truth;
  std::function<double(int n, int k)> success;  // P(success) of one trial
  bool with_k = false;                          // draw k per trial (two_rate_measured_k)
  std::vector<int> lengths;                     // task lengths of the simulated sweep
  int per_length = 0;                           // trials per length
};

/// Lets GoogleTest print a case by its generating model instead of its bytes.
inline void PrintTo(const SimCase& c, std::ostream* os) { *os << reliability_model_name(c.model); }

/// Sweep designs. "Small" is a realistic one-hour sweep; the others are what the harder model
/// pairs need (see sim_cases and docs/reliability.md, "Validation").
inline const std::vector<int> kDoubling4To128 = {4, 8, 16, 32, 64, 128};
inline const std::vector<int> kSqrt2To128 = {4, 6, 8, 11, 16, 23, 32, 45, 64, 91, 128};
inline const std::vector<int> kSqrt2To256 = {4, 6, 8, 11, 16, 23, 32, 45, 64, 91, 128, 181, 256};

// Key tokens per trial: Binomial(n, min(1, sqrt(n) / n)), mean sqrt(n).
inline int draw_k(int n, std::mt19937_64& rng) {
  const double q = std::min(1.0, std::sqrt(static_cast<double>(n)) / n);
  int k = 0;
  for (int i = 0; i < n; ++i) k += unit(rng) < q;
  return k;
}

inline std::vector<Trial> simulate(const SimCase& c, const std::vector<int>& lengths,
                                   int per_length, std::uint64_t seed) {
  // lengths, per_length: the design (usually c.lengths, c.per_length).
  std::mt19937_64 rng(seed);
  std::vector<Trial> trials;
  for (const int n : lengths) {
    for (int i = 0; i < per_length; ++i) {
      const int k = c.with_k ? draw_k(n, rng) : -1;
      trials.push_back({n, k, unit(rng) < c.success(n, k), -1});
    }
  }
  return trials;
}

/// The six generating models. Parameters put success near 0.5-0.95 at n = 4 and 0.05-0.3 at
/// the largest n, the range a small model shows on the built-in families. Each design is the
/// smallest of those tried (DISABLED_PowerStudy, 300 seeds, run under the CTest label slow,
/// asserts the rates against 0.97) at which the generating model wins in >= 97% of seeds, so 9
/// of 10 fixed seeds is not luck; per-seed rates in brackets:
///  exponential, two_rate_measured_k: doubling 4..128 x 100 (600 trials) [0.99, 1.00]
///  two_rate_saturating_k: sqrt2 4..128 x 200 (2,200) [1.00]; x100 doubling gives 0.70
///  stretched_exponential: sqrt2 4..256 x 300 (3,900) [0.98]; doubling 4..128 x100 gives 0.71
///  two_rate_power_k: sqrt2 4..256 x 600 (7,800) [0.99]; x300: 0.97, doubling 4..128 x100: 0.31.
///    Its non-key term h n only separates from a pure power n^beta at large n.
///  power_law: sqrt2 4..256 x 1,500 (19,500) [0.98]; x300: 0.85, doubling 4..128 x100: 0.68.
///    With n0 inside the length range its curve (linear, then logarithmic) is closely matched
///    by the saturating two-rate form, which has two more parameters to spend.
inline std::vector<SimCase> sim_cases() {
  std::vector<SimCase> cases;
  cases.push_back({ReliabilityModel::exponential,
                   {0.01},
                   [](int n, int) { return std::pow(0.99, n); },
                   false,
                   kDoubling4To128,
                   100});
  cases.push_back({ReliabilityModel::two_rate_measured_k,
                   {0.08, 0.003},
                   [](int n, int k) { return std::pow(0.92, k) * std::pow(0.997, n - k); },
                   true,
                   kDoubling4To128,
                   100});
  {
    // k(n) = c n^beta key tokens with c = 1, beta = 0.3; e_key = 0.113, e_non = 0.007.
    const double c = 1.0, beta = 0.3, e_key = 0.113, e_non = 0.007;
    const double key_load = c * (-std::log1p(-e_key) + std::log1p(-e_non));
    cases.push_back({ReliabilityModel::two_rate_power_k,
                     {e_non, key_load, beta},
                     [=](int n, int) {
                       const double k = c * std::pow(n, beta);
                       return std::pow(1 - e_key, k) * std::pow(1 - e_non, n - k);
                     },
                     false,
                     kSqrt2To256,
                     600});
  }
  {
    // k(n) = min(c n^beta, k_max), c = 1, beta = 0.9, k_max = 24^0.9 (saturates at n = 24).
    const double c = 1.0, beta = 0.9, n_sat = 24.0, e_key = 0.06, e_non = 0.002;
    const double k_max = c * std::pow(n_sat, beta);
    const double key_load = c * (-std::log1p(-e_key) + std::log1p(-e_non));
    cases.push_back({ReliabilityModel::two_rate_saturating_k,
                     {e_non, key_load, beta, n_sat},
                     [=](int n, int) {
                       const double k = std::min(c * std::pow(n, beta), k_max);
                       return std::pow(1 - e_key, k) * std::pow(1 - e_non, n - k);
                     },
                     false,
                     kSqrt2To128,
                     200});
  }
  cases.push_back({ReliabilityModel::stretched_exponential,
                   {80.0, 0.6},
                   [](int n, int) { return std::exp(-std::pow(n / 80.0, 0.6)); },
                   false,
                   kSqrt2To256,
                   300});
  cases.push_back({ReliabilityModel::power_law,
                   {8.0, 0.8},
                   [](int n, int) { return std::pow(1.0 + n / 8.0, -0.8); },
                   false,
                   kSqrt2To256,
                   1500});
  return cases;
}

}  // namespace keytok::testing
