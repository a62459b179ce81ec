// Voting over path answers and DeepConf's confidence arithmetic (arXiv 2508.15260). Pure.
#include <algorithm>
#include <cmath>

#include "keytok/strategy.hpp"

namespace keytok {

Vote combine_ballots(std::span<const Ballot> ballots, CombineRule rule) {
  Vote v;
  v.rule = rule;
  auto counted = [](const Ballot& b) { return b.votes && b.answer.has_value(); };
  for (const Ballot& b : ballots) {
    if (!counted(b)) continue;
    auto it = std::find_if(v.tallies.begin(), v.tallies.end(),
                           [&](const VoteTally& t) { return t.answer == *b.answer; });
    if (it == v.tallies.end()) it = v.tallies.insert(v.tallies.end(), VoteTally{.answer = *b.answer});
    ++it->count;
    it->weight += rule == CombineRule::weighted ? b.weight : 1.0;
  }
  // Stable: equal weight and count keep first-seen order.
  std::stable_sort(v.tallies.begin(), v.tallies.end(), [](const VoteTally& a, const VoteTally& b) {
    return a.weight > b.weight || (a.weight == b.weight && a.count > b.count);
  });
  // The best ballot by mean logprob within a filter; the lowest index wins ties.
  auto best_where = [&](auto&& keep) {
    int best = -1;
    for (std::size_t i = 0; i < ballots.size(); ++i) {
      if (!keep(ballots[i])) continue;
      if (best < 0 || ballots[i].mean_logprob > ballots[static_cast<std::size_t>(best)].mean_logprob) {
        best = static_cast<int>(i);
      }
    }
    return best;
  };
  if (rule == CombineRule::best_logprob) {
    v.chosen_path = best_where(counted);
    if (v.chosen_path >= 0) v.answer = ballots[static_cast<std::size_t>(v.chosen_path)].answer;
  } else if (!v.tallies.empty()) {
    v.answer = v.tallies.front().answer;
    v.chosen_path = best_where([&](const Ballot& b) { return counted(b) && *b.answer == *v.answer; });
  }
  if (v.chosen_path < 0) v.chosen_path = best_where([](const Ballot& b) { return b.votes; });
  if (v.chosen_path < 0) v.chosen_path = best_where([](const Ballot&) { return true; });
  return v;
}

double token_confidence(std::span<const Alternative> top) {
  if (top.empty()) return 0.0;
  double sum = 0.0;
  for (const Alternative& a : top) sum += std::log(std::max(static_cast<double>(a.prob), 1e-30));
  return -sum / static_cast<double>(top.size());
}

double lowest_window_mean(std::span<const float> values, int window) {
  if (values.empty()) return 0.0;
  const std::size_t w = std::min(values.size(), static_cast<std::size_t>(std::max(window, 1)));
  double sum = 0.0;
  for (std::size_t i = 0; i < w; ++i) sum += values[i];
  double lowest = sum;
  for (std::size_t i = w; i < values.size(); ++i) {
    sum += values[i] - values[i - w];
    lowest = std::min(lowest, sum);
  }
  return lowest / static_cast<double>(w);
}

double deepconf_threshold(std::span<const double> warmup_lowest, float keep_percent) {
  if (warmup_lowest.empty()) return 0.0;
  std::vector<double> v(warmup_lowest.begin(), warmup_lowest.end());
  std::sort(v.begin(), v.end());
  const double q = std::clamp((100.0 - static_cast<double>(keep_percent)) / 100.0, 0.0, 1.0);
  const double at = q * static_cast<double>(v.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(at));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (at - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace keytok
