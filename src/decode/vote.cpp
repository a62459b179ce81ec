// Voting over path answers and DeepConf's confidence arithmetic (arXiv 2508.15260). Pure.
#include <algorithm>
#include <cmath>

#include "keytok/strategy.hpp"

namespace keytok {

Vote combine_ballots(std::span<const Ballot> ballots, CombineRule rule) {
  Vote v;
  v.rule = rule;
  auto counted = [](const Ballot& b) { return b.votes && b.answer.has_value(); };
  auto add = [](std::vector<VoteTally>& tallies, const std::string& answer, double weight) {
    auto it = std::find_if(tallies.begin(), tallies.end(), [&](const VoteTally& t) { return t.answer == answer; });
    if (it == tallies.end()) it = tallies.insert(tallies.end(), VoteTally{.answer = answer});
    ++it->count;
    it->weight += weight;
  };
  if (rule == CombineRule::root) {
    // Each group's majority (ties: the answer its paths gave first) casts one vote.
    std::vector<int> groups;
    for (const Ballot& b : ballots) {
      if (counted(b) && std::find(groups.begin(), groups.end(), b.group) == groups.end()) groups.push_back(b.group);
    }
    for (const int g : groups) {
      std::vector<VoteTally> inside;
      for (const Ballot& b : ballots) {
        if (counted(b) && b.group == g) add(inside, *b.answer, 1.0);
      }
      std::stable_sort(inside.begin(), inside.end(),
                       [](const VoteTally& a, const VoteTally& b) { return a.count > b.count; });
      add(v.tallies, inside.front().answer, 1.0);
    }
  } else {
    const bool by_weight = rule == CombineRule::weighted || rule == CombineRule::tree;
    for (const Ballot& b : ballots) {
      if (counted(b)) add(v.tallies, *b.answer, by_weight ? b.weight : 1.0);
    }
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

std::vector<Ballot> ballots_for(std::span<const PathResult> paths, std::span<const ForkPoint> forks,
                                CombineRule rule) {
  std::vector<double> weights;
  std::vector<int> groups;
  if (rule == CombineRule::tree) weights = tree_weights(paths, forks);
  if (rule == CombineRule::root) groups = root_groups(paths, forks);
  std::vector<Ballot> ballots;
  ballots.reserve(paths.size());
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const PathResult& p = paths[i];
    ballots.push_back({.answer = p.answer,
                       .weight = rule == CombineRule::tree ? weights[i] : p.confidence,
                       .mean_logprob = p.mean_logprob,
                       .votes = p.votes,
                       .group = rule == CombineRule::root ? groups[i] : 0});
  }
  return ballots;
}

int largest_agreement(std::span<const PathResult> paths) {
  std::vector<Ballot> finished;
  for (const PathResult& p : paths) {
    if (!p.stop_reason.empty()) finished.push_back({.answer = p.answer, .votes = p.votes});
  }
  // Majority tallies count one per ballot and come largest first.
  const Vote v = combine_ballots(finished, CombineRule::majority);
  return v.tallies.empty() ? 0 : v.tallies.front().count;
}

std::vector<double> tree_weights(std::span<const PathResult> paths, std::span<const ForkPoint> forks) {
  std::vector<double> w(paths.size(), 0.0);
  for (const PathResult& p : paths) {
    if (p.parent < 0 && p.id >= 0 && static_cast<std::size_t>(p.id) < w.size()) w[static_cast<std::size_t>(p.id)] = 1.0;
  }
  for (const ForkPoint& f : forks) {
    if (f.path < 0 || static_cast<std::size_t>(f.path) >= w.size()) continue;
    double taken = 0.0;
    for (const ForkAlternative& a : f.alternatives) taken += a.path >= 0 ? static_cast<double>(a.prob) : 0.0;
    if (!(taken > 0.0)) continue;
    const double before = w[static_cast<std::size_t>(f.path)];
    for (const ForkAlternative& a : f.alternatives) {
      if (a.path >= 0 && static_cast<std::size_t>(a.path) < w.size()) {
        w[static_cast<std::size_t>(a.path)] = before * static_cast<double>(a.prob) / taken;
      }
    }
  }
  return w;
}

std::vector<int> root_groups(std::span<const PathResult> paths, std::span<const ForkPoint> forks) {
  std::vector<int> group(paths.size(), 0);
  int next = 1;
  const ForkPoint* first = forks.empty() ? nullptr : &forks.front();
  // Paths are numbered in the order they start, so a parent's group is known before its children's.
  for (std::size_t i = 0; i < paths.size(); ++i) {
    const PathResult& p = paths[i];
    if (p.parent < 0) {
      group[i] = i == 0 ? 0 : next++;
    } else if (first != nullptr && p.parent == first->path &&
               std::any_of(first->alternatives.begin(), first->alternatives.end(),
                           [&](const ForkAlternative& a) { return a.path == static_cast<int>(i); })) {
      group[i] = next++;
    } else if (static_cast<std::size_t>(p.parent) < i) {
      group[i] = group[static_cast<std::size_t>(p.parent)];
    }
  }
  return group;
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
