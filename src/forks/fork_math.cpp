// The pure arithmetic of a fork study (keytok/forks.hpp): outcome distances, a position's
// scores, the sampling plan and weighted AUROC. Bigelow et al., arXiv 2412.07961.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "forks/fork_stats.hpp"
#include "keytok/forks.hpp"
#include "reliability/fit_internal.hpp"
#include "util/hash.hpp"

namespace keytok {

namespace {

// Answers -> count; nullopt (no extractable answer) sorts first and is its own outcome.
using OutcomeCounts = std::map<std::optional<std::string>, std::int64_t>;

OutcomeCounts count_outcomes(std::span<const std::optional<std::string>> answers) {
  OutcomeCounts counts;
  for (const auto& a : answers) ++counts[a];
  return counts;
}

// A fork_shift of 0.3f is 0.300000012 while a shift of 3/10 is 0.29999999999999999: without
// slack such a position would not fork. The slack is below a float's rounding of fork_shift and
// far below the smallest step of a share of at most a few hundred answers.
constexpr double kShiftSlack = 1e-7;

// The definition of a forking token (docs/forks.md), shared by scoring and relabelling: the
// base token and at least one alternative have completions to compare, and max_shift reaches
// the threshold.
bool is_fork(const ForkPosition& row, float fork_shift) {
  const auto& c = row.candidates;
  const bool compared = c.size() > 1 && !c[0].answers.empty() &&
                        std::any_of(c.begin() + 1, c.end(), [](const ForkCandidate& a) { return !a.answers.empty(); });
  return compared && row.max_shift + kShiftSlack >= static_cast<double>(fork_shift);
}

}  // namespace

double outcome_tv(std::span<const std::optional<std::string>> a,
                  std::span<const std::optional<std::string>> b) {
  if (a.empty() || b.empty()) return 0.0;
  // In integers, sum |ca * nb - cb * na| / (2 na nb), so that equal distributions give exactly
  // 0 and the result is rounded once.
  OutcomeCounts ca = count_outcomes(a), cb = count_outcomes(b);
  const auto na = static_cast<std::int64_t>(a.size()), nb = static_cast<std::int64_t>(b.size());
  double diff = 0.0;
  for (const auto& [answer, count] : ca) {
    const auto it = cb.find(answer);
    const std::int64_t other = it == cb.end() ? 0 : it->second;
    diff += static_cast<double>(std::llabs(count * nb - other * na));
  }
  for (const auto& [answer, count] : cb) {
    if (!ca.contains(answer)) diff += static_cast<double>(count * na);
  }
  return std::clamp(diff / (2.0 * static_cast<double>(na) * static_cast<double>(nb)), 0.0, 1.0);
}

void score_fork_position(ForkPosition& row, const std::string& base_answer, float fork_shift) {
  row.tokens = 0;
  for (const ForkCandidate& c : row.candidates) row.tokens += c.tokens;
  row.p_change = row.max_shift = row.max_tv = row.expected_shift = 0.0;
  row.forks = false;
  if (row.candidates.empty()) return;
  // Weights: the candidates' probabilities renormalised over those with completions (a
  // candidate without any says nothing about the outcome). Probabilities that are all zero or
  // unusable fall back to equal weights.
  std::vector<double> w(row.candidates.size(), 0.0);
  double total = 0.0;
  for (std::size_t c = 0; c < w.size(); ++c) {
    const double p = row.candidates[c].prob;
    if (!row.candidates[c].answers.empty() && std::isfinite(p) && p > 0.0) w[c] = p;
    total += w[c];
  }
  if (!(total > 0.0)) {
    total = 0.0;
    for (std::size_t c = 0; c < w.size(); ++c) {
      w[c] = row.candidates[c].answers.empty() ? 0.0 : 1.0;
      total += w[c];
    }
  }
  if (total <= 0.0) return;  // no completions at all
  const auto& base = row.candidates[0].answers;
  // q(c): the share of c's completions whose answer is not the base answer.
  auto changed_share = [&](const ForkCandidate& cand) {
    const auto changed = std::count_if(cand.answers.begin(), cand.answers.end(),
                                       [&](const auto& a) { return !a || *a != base_answer; });
    return static_cast<double>(changed) / static_cast<double>(cand.answers.size());
  };
  const double q_base = base.empty() ? 0.0 : changed_share(row.candidates[0]);
  bool shifted = false;
  for (std::size_t c = 0; c < w.size(); ++c) {
    const ForkCandidate& cand = row.candidates[c];
    const double weight = w[c] / total;
    if (cand.answers.empty()) continue;
    const double q = c == 0 ? q_base : changed_share(cand);
    row.p_change += weight * q;
    if (c == 0 || base.empty()) continue;
    const double shift = q - q_base;
    row.max_shift = shifted ? std::max(row.max_shift, shift) : shift;
    shifted = true;
    const double tv = outcome_tv(cand.answers, base);
    row.max_tv = std::max(row.max_tv, tv);
    row.expected_shift += weight * tv;
  }
  // Sums of weighted shares may pass 1 by a rounding; they are probabilities.
  row.p_change = std::min(row.p_change, 1.0);
  row.expected_shift = std::min(row.expected_shift, 1.0);
  row.forks = is_fork(row, fork_shift);
}

void relabel_forks(std::span<ForkPosition> rows, float fork_shift) {
  for (ForkPosition& row : rows) row.forks = is_fork(row, fork_shift);
}

void plan_fork_positions(ForkTask& task, double random_rate, std::uint64_t seed) {
  const std::size_t n = task.tokens.size();
  task.plan.clear();
  task.weights.assign(n, 1.0);
  // Seeded from (seed, task id) alone, so that a task draws the same plan in any order, shard
  // or resumed run; FNV-1a and splitmix64 rather than std::hash, which differs across standard
  // libraries. The tag keeps this stream apart from the completions' seeds.
  constexpr std::uint64_t kPlanTag = 0x706C616E;  // "plan"
  std::mt19937_64 rng(
      detail::splitmix64(detail::splitmix64(seed ^ detail::fnv1a(task.task_id)) ^ kPlanTag));
  const double rate = std::min(random_rate, 1.0);
  for (std::size_t i = 0; i < n; ++i) {
    const bool contested = i < task.contested.size() && task.contested[i];
    if (!contested) continue;  // cannot fork: weight 1, nothing to study
    const int index = static_cast<int>(i);
    if (i < task.signals.size() && task.signals[i].key) {
      task.plan.push_back(index);
      continue;
    }
    // uniform_unit, not std::uniform_real_distribution: the same draw on every platform.
    // Horvitz-Thompson: an included position stands for 1 / rate positions like it.
    if (detail::uniform_unit(rng) < rate) {
      task.plan.push_back(index);
      task.weights[i] = 1.0 / rate;
    } else {
      task.weights[i] = 0.0;
    }
  }
}

namespace detail {

double auroc_sorted(std::span<const ScoredItem> items) {
  double pos = 0.0, neg = 0.0;  // class weights so far
  double pairs = 0.0;           // weighted positive-negative pairs ordered correctly
  for (std::size_t i = 0; i < items.size();) {
    // One group of tied scores: its positives beat every earlier negative and tie its own.
    double group_pos = 0.0, group_neg = 0.0;
    std::size_t j = i;
    for (; j < items.size() && items[j].score == items[i].score; ++j) {
      if (!(items[j].weight > 0.0)) continue;
      (items[j].label ? group_pos : group_neg) += items[j].weight;
    }
    pairs += group_pos * (neg + 0.5 * group_neg);
    pos += group_pos;
    neg += group_neg;
    i = j;
  }
  if (!(pos > 0.0) || !(neg > 0.0)) return std::numeric_limits<double>::quiet_NaN();
  return pairs / (pos * neg);
}

}  // namespace detail

double weighted_auroc(std::span<const double> score, std::span<const bool> label,
                      std::span<const double> weight) {
  const std::size_t n = std::min({score.size(), label.size(), weight.size()});
  std::vector<detail::ScoredItem> items;
  items.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    // A NaN score has no place in the order; an infinite one has.
    if (std::isnan(score[i]) || !std::isfinite(weight[i]) || weight[i] <= 0.0) continue;
    items.push_back({score[i], label[i], weight[i]});
  }
  std::sort(
      items.begin(), items.end(),
      [](const detail::ScoredItem& a, const detail::ScoredItem& b) { return a.score < b.score; });
  return detail::auroc_sorted(items);
}

}  // namespace keytok
