// NLopt (BOBYQA, bounded and derivative-free) over the models' log-scale coordinates, with
// multi-start, and profile-likelihood intervals built on the same minimizer.
#include <algorithm>
#include <cmath>
#include <nlopt.hpp>

#include "reliability/fit_internal.hpp"

namespace keytok::detail {
namespace {

struct Objective {
  const Problem* problem = nullptr;
  std::vector<double> full;  // scratch: full coordinates
  int evals = 0;
};

// Scatters free coordinates into the full vector (the fixed one stays pinned).
void scatter(const Problem& p, const std::vector<double>& free, std::vector<double>& full) {
  std::size_t f = 0;
  for (std::size_t i = 0; i < full.size(); ++i) {
    full[i] = static_cast<int>(i) == p.fixed ? p.fixed_value : free[f++];
  }
}

double objective(const std::vector<double>& x, std::vector<double>& /*grad*/, void* data) {
  auto* obj = static_cast<Objective*>(data);
  scatter(*obj->problem, x, obj->full);
  ++obj->evals;
  return negative_log_likelihood(obj->problem->model, *obj->problem->groups, obj->full);
}

}  // namespace

OptResult minimize_from(const Problem& problem, std::vector<double> z0) {
  const std::size_t d = problem.lo.size();
  OptResult result;
  for (std::size_t i = 0; i < d; ++i) z0[i] = std::clamp(z0[i], problem.lo[i], problem.hi[i]);
  if (problem.fixed >= 0) z0[problem.fixed] = problem.fixed_value;
  std::vector<double> free, lo, hi;
  for (std::size_t i = 0; i < d; ++i) {
    if (static_cast<int>(i) == problem.fixed) continue;
    free.push_back(z0[i]);
    lo.push_back(problem.lo[i]);
    hi.push_back(problem.hi[i]);
  }
  result.z = z0;
  if (free.empty()) {
    result.nll = negative_log_likelihood(problem.model, *problem.groups, z0);
    return result;
  }
  Objective obj{&problem, z0, 0};
  nlopt::opt opt(nlopt::LN_BOBYQA, static_cast<unsigned>(free.size()));
  opt.set_lower_bounds(lo);
  opt.set_upper_bounds(hi);
  opt.set_min_objective(objective, &obj);
  opt.set_xtol_abs(1e-7);
  opt.set_ftol_abs(1e-10);
  opt.set_maxeval(4000);
  // Initial steps of a quarter of each box (capped): BOBYQA's trust region starts here.
  std::vector<double> step(free.size());
  for (std::size_t i = 0; i < free.size(); ++i) step[i] = std::min(1.0, 0.25 * (hi[i] - lo[i]));
  opt.set_initial_step(step);
  double value = 0.0;
  try {
    const nlopt::result r = opt.optimize(free, value);
    result.converged = r != nlopt::MAXEVAL_REACHED && r != nlopt::MAXTIME_REACHED;
  } catch (const nlopt::roundoff_limited&) {
    // The point reached is still the best found; precision was the limit.
    value = opt.last_optimum_value();
  } catch (const std::exception&) {
    result.converged = false;
    value = negative_log_likelihood(problem.model, *problem.groups, z0);
    free.clear();
    for (std::size_t i = 0; i < d; ++i) {
      if (static_cast<int>(i) != problem.fixed) free.push_back(z0[i]);
    }
  }
  scatter(problem, free, result.z);
  result.nll = value;
  return result;
}

OptResult minimize_multistart(const Problem& problem, const ModelSpec& spec, int n_starts,
                              std::mt19937_64& rng,
                              const std::vector<std::vector<double>>& extra_starts) {
  const std::size_t d = spec.params.size();
  OptResult best;
  best.nll = INFINITY;
  for (const std::vector<double>& z0 : extra_starts) {
    // Keep the start itself too: BOBYQA may shift a start that sits on a bound, and on a
    // kinked likelihood (n_sat) it need not come back to it.
    OptResult at_start;
    at_start.z = z0;
    for (std::size_t i = 0; i < d; ++i)
      at_start.z[i] = std::clamp(z0[i], problem.lo[i], problem.hi[i]);
    at_start.nll = negative_log_likelihood(problem.model, *problem.groups, at_start.z);
    if (at_start.nll < best.nll) best = std::move(at_start);
    OptResult r = minimize_from(problem, z0);
    if (r.nll < best.nll) best = std::move(r);
  }
  for (int s = 0; s < n_starts; ++s) {
    std::vector<double> z0(d);
    for (std::size_t i = 0; i < d; ++i) {
      const ParamSpec& p = spec.params[i];
      const double u = s == 0 ? 0.5 : uniform_unit(rng);
      z0[i] = p.start_lo + u * (p.start_hi - p.start_lo);
    }
    OptResult r = minimize_from(problem, z0);
    if (r.nll < best.nll) best = std::move(r);
  }
  // Polish: a restart from the best point escapes BOBYQA's occasional early stop.
  OptResult polished = minimize_from(problem, best.z);
  if (polished.nll <= best.nll) best = std::move(polished);
  return best;
}

namespace {

// Profile -log L at z_j = value: minimize over the other coordinates from two warm starts.
double profile_nll(const Problem& base, int j, double value, std::vector<double>& warm,
                   const std::vector<double>& at_best) {
  Problem p = base;
  p.fixed = j;
  p.fixed_value = value;
  OptResult a = minimize_from(p, warm);
  if (base.lo.size() > 1) {
    OptResult b = minimize_from(p, at_best);
    if (b.nll < a.nll) a = std::move(b);
  }
  warm = a.z;
  return a.nll;
}

// Walks from the optimum towards `bound` (direction dir = +1 or -1) until the profile rises
// above target, then bisects. Returns the crossing, or the bound when it never rises enough.
double profile_edge(const Problem& problem, const OptResult& best, int j, double target, int dir,
                    bool* at_bound) {
  const double bound = dir > 0 ? problem.hi[j] : problem.lo[j];
  const double zhat = best.z[j];
  std::vector<double> warm = best.z;
  double inside = zhat;
  double step = 0.1;
  *at_bound = false;
  for (;;) {
    const double candidate = dir > 0 ? std::min(zhat + step, bound) : std::max(zhat - step, bound);
    if (profile_nll(problem, j, candidate, warm, best.z) > target) {
      double outside = candidate;
      for (int it = 0; it < 40 && std::fabs(outside - inside) > 1e-5; ++it) {
        const double mid = 0.5 * (inside + outside);
        if (profile_nll(problem, j, mid, warm, best.z) > target) {
          outside = mid;
        } else {
          inside = mid;
        }
      }
      return 0.5 * (inside + outside);
    }
    inside = candidate;
    if (candidate == bound) {
      *at_bound = true;
      return bound;
    }
    step *= 2.0;
  }
}

}  // namespace

ParameterEstimate profile_interval(const Problem& problem, const ModelSpec& spec,
                                   const OptResult& best, int j, double half_chi2) {
  const ParamSpec& p = spec.params[j];
  ParameterEstimate est;
  est.name = p.name;
  est.estimate = natural_value(p, best.z[j]);
  const double target = best.nll + half_chi2;
  const double z_lo = profile_edge(problem, best, j, target, -1, &est.lo_at_bound);
  const double z_hi = profile_edge(problem, best, j, target, +1, &est.hi_at_bound);
  est.lo = natural_value(p, z_lo);
  est.hi = natural_value(p, z_hi);
  est.lo = std::min(est.lo, est.estimate);
  est.hi = std::max(est.hi, est.estimate);
  return est;
}

}  // namespace keytok::detail
