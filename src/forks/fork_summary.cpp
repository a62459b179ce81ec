// The study's figures from its rows (keytok/forks.hpp summarize_forks): Horvitz-Thompson
// weighted estimates over pass 0, each with a percentile bootstrap over tasks, since positions
// of one answer are not independent (one early fork changes every later position's odds).
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "forks/fork_stats.hpp"
#include "keytok/forks.hpp"

namespace keytok {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A pass-0 row that counts in estimates (finite weight > 0), with its task's unit index.
struct Row {
  const ForkPosition* p = nullptr;
  std::size_t task = 0;
  double w = 0.0;
};

struct Study {
  std::size_t n_tasks = 0;
  std::vector<Row> rows;
};

// One bootstrap replicate: how many times each task was drawn (1 each for the full sample).
using Mult = std::vector<double>;

// sum w m value / sum w m over the rows `keep` accepts; NaN when they weigh nothing.
template <class Value, class Keep>
double weighted_mean(const Study& s, const Mult& m, Value value, Keep keep) {
  double num = 0.0, den = 0.0;
  for (const Row& r : s.rows) {
    if (!keep(*r.p)) continue;
    const double w = r.w * m[r.task];
    num += w * value(*r.p);
    den += w;
  }
  return den > 0.0 ? num / den : kNaN;
}

// The figure on all tasks, and its percentile bootstrap over tasks; NaN bounds when the
// bootstrap cannot give them (too few tasks with the events, an undefined figure).
Interval over_tasks(const Study& s, const BootstrapParams& boot,
                    const std::function<double(const Mult&)>& figure) {
  if (s.n_tasks == 0) return {kNaN, kNaN, kNaN};
  const double estimate = figure(Mult(s.n_tasks, 1.0));
  if (!std::isfinite(estimate)) return {estimate, kNaN, kNaN};
  Mult m(s.n_tasks);
  auto ci = bootstrap_ci(
      s.n_tasks,
      [&](const std::vector<std::size_t>& drawn) {
        std::fill(m.begin(), m.end(), 0.0);
        for (const std::size_t t : drawn) m[t] += 1.0;
        return figure(m);
      },
      boot);
  if (!ci.ok()) return {estimate, kNaN, kNaN};
  return {estimate, ci->lo, ci->hi};
}

// ---- Signals ------------------------------------------------------------------------------

struct SignalDef {
  const char* name;
  double (*score)(const ForkPosition&);  // higher = more likely to fork
  bool negated;                          // the threshold is reported as -score
};

constexpr SignalDef kSignals[] = {
    {"entropy", [](const ForkPosition& p) { return double{p.signals.entropy}; }, false},
    {"varentropy", [](const ForkPosition& p) { return double{p.signals.varentropy}; }, false},
    {"margin", [](const ForkPosition& p) { return -double{p.signals.margin}; }, true},
    {"top1_prob", [](const ForkPosition& p) { return -double{p.signals.top1_prob}; }, true},
    {"detector", [](const ForkPosition& p) { return p.signals.key ? 1.0 : 0.0; }, false},
};

// Study rows with a usable score, ascending by score (sorted once; replicates reweight).
std::vector<detail::ScoredItem> sorted_items(const Study& s, const SignalDef& sig,
                                             std::vector<std::size_t>* order) {
  order->clear();
  for (std::size_t i = 0; i < s.rows.size(); ++i) {
    if (!std::isnan(sig.score(*s.rows[i].p))) order->push_back(i);
  }
  std::stable_sort(order->begin(), order->end(), [&](std::size_t a, std::size_t b) {
    return sig.score(*s.rows[a].p) < sig.score(*s.rows[b].p);
  });
  std::vector<detail::ScoredItem> items(order->size());
  for (std::size_t k = 0; k < order->size(); ++k) {
    const Row& r = s.rows[(*order)[k]];
    items[k] = {sig.score(*r.p), r.p->forks, r.w};
  }
  return items;
}

struct SignalFigures {
  double auroc = kNaN, auroc_contested = kNaN, precision = kNaN, recall = kNaN;
  double threshold = kNaN;
};

// Flags the rows scoring >= t, with t chosen so that the flagged weight share is closest to
// `rate` (a tie goes to the share not below it); precision and recall of those flags.
void at_rate(std::span<const detail::ScoredItem> items, double rate, SignalFigures* f) {
  double total = 0.0, forking = 0.0;
  for (const auto& it : items) {
    total += it.weight;
    if (it.label) forking += it.weight;
  }
  if (!(total > 0.0)) return;
  double best_dist = std::abs(rate), best_w = 0.0, best_fork = 0.0;
  double best_t = std::numeric_limits<double>::infinity();  // flags nothing
  double cum_w = 0.0, cum_fork = 0.0;
  for (std::size_t j = items.size(); j > 0;) {
    const double t = items[j - 1].score;
    double group = 0.0;
    for (; j > 0 && items[j - 1].score == t; --j) {
      group += items[j - 1].weight;
      if (items[j - 1].label) cum_fork += items[j - 1].weight;
    }
    if (!(group > 0.0)) continue;
    cum_w += group;
    const double share = cum_w / total, dist = std::abs(share - rate);
    if (dist < best_dist - 1e-12 || (dist <= best_dist + 1e-12 && share >= rate)) {
      best_dist = dist;
      best_t = t;
      best_w = cum_w;
      best_fork = cum_fork;
    }
  }
  f->threshold = best_t;
  f->precision = best_w > 0.0 ? best_fork / best_w : kNaN;
  f->recall = forking > 0.0 ? best_fork / forking : kNaN;
}

// The figures a replicate needs; each bootstrap computes one, so it skips the others' passes.
enum class Need { auroc, auroc_contested, at_rate };

SignalFigures evaluate(const Study& s, const SignalDef& sig,
                       std::span<const detail::ScoredItem> sorted,
                       std::span<const std::size_t> order, const Mult& m, Need need) {
  SignalFigures f;
  const bool detector = std::string_view(sig.name) == "detector";
  if (need == Need::at_rate && detector) {
    // The detector's own flags, not a threshold at its own rate.
    const auto key = [](const ForkPosition& p) { return p.signals.key; };
    const auto forks = [](const ForkPosition& p) { return p.forks; };
    f.precision = weighted_mean(s, m, forks, key);
    f.recall = weighted_mean(s, m, key, forks);
    return f;
  }
  std::vector<detail::ScoredItem> items;
  items.reserve(sorted.size());
  for (std::size_t k = 0; k < sorted.size(); ++k) {
    const Row& r = s.rows[order[k]];
    if (need == Need::auroc_contested && !r.p->contested) continue;
    items.push_back(sorted[k]);
    items.back().weight *= m[r.task];
  }
  if (need != Need::at_rate) {
    (need == Need::auroc ? f.auroc : f.auroc_contested) = detail::auroc_sorted(items);
    return f;
  }
  const double rate = weighted_mean(
      s, m, [](const ForkPosition& p) { return p.signals.key; },
      [](const ForkPosition&) { return true; });
  at_rate(items, rate, &f);
  if (sig.negated) f.threshold = -f.threshold;
  return f;
}

ForkSignalScore score_signal(const Study& s, const SignalDef& sig, const BootstrapParams& boot) {
  std::vector<std::size_t> order;
  const std::vector<detail::ScoredItem> sorted = sorted_items(s, sig, &order);
  const auto figure = [&](Need need, double SignalFigures::*field) {
    return over_tasks(
        s, boot, [&](const Mult& m) { return evaluate(s, sig, sorted, order, m, need).*field; });
  };
  ForkSignalScore out{
      .signal = sig.name,
      .auroc = figure(Need::auroc, &SignalFigures::auroc),
      .auroc_contested = figure(Need::auroc_contested, &SignalFigures::auroc_contested),
      .precision = figure(Need::at_rate, &SignalFigures::precision),
      .recall = figure(Need::at_rate, &SignalFigures::recall)};
  out.threshold = evaluate(s, sig, sorted, order, Mult(s.n_tasks, 1.0), Need::at_rate).threshold;
  return out;
}

// ---- Noise floor ------------------------------------------------------------------------------

// Pass-1 rows against their pass-0 rows, both studied: how often the verdict flips and how far
// p_change moves when only the completions' seeds change.
void noise_floor(std::span<const ForkPosition> rows, ForkSummary* out) {
  std::map<std::pair<std::string_view, int>, const ForkPosition*> first;
  for (const ForkPosition& r : rows) {
    if (r.pass == 0 && r.studied) first.try_emplace({r.task_id, r.index}, &r);
  }
  int flips = 0;
  double abs_change = 0.0;
  for (const ForkPosition& r : rows) {
    if (r.pass != 1 || !r.studied) continue;
    const auto it = first.find({r.task_id, r.index});
    if (it == first.end()) continue;
    ++out->noise_positions;
    if (it->second->forks != r.forks) ++flips;
    abs_change += std::abs(it->second->p_change - r.p_change);
  }
  if (out->noise_positions > 0) {
    out->noise_disagreement = static_cast<double>(flips) / out->noise_positions;
    out->noise_mean_abs_p_change = abs_change / out->noise_positions;
  }
}

}  // namespace

ForkSummary summarize_forks(std::span<const ForkPosition> rows, const BootstrapParams& boot) {
  ForkSummary out;
  Study s;
  std::unordered_map<std::string_view, std::size_t> task_index;  // in first-seen order
  for (const ForkPosition& r : rows) {
    out.completion_tokens += r.tokens;
    if (r.pass != 0) continue;
    const auto [it, added] = task_index.try_emplace(r.task_id, task_index.size());
    ++out.positions;
    out.contested += r.contested ? 1 : 0;
    out.studied += r.studied ? 1 : 0;
    if (std::isfinite(r.weight) && r.weight > 0.0) s.rows.push_back({&r, it->second, r.weight});
  }
  s.n_tasks = task_index.size();
  out.tasks = static_cast<int>(s.n_tasks);

  const auto yes = [](const ForkPosition&) { return true; };
  const auto forks = [](const ForkPosition& p) { return p.forks; };
  const auto share = [&](auto value, auto keep) {
    return over_tasks(s, boot,
                      [&, value, keep](const Mult& m) { return weighted_mean(s, m, value, keep); });
  };
  out.fork_share = share(forks, yes);
  out.fork_share_contested = share(forks, [](const ForkPosition& p) { return p.contested; });
  out.key_share = share([](const ForkPosition& p) { return p.signals.key; }, yes);
  out.p_change_mean = share([](const ForkPosition& p) { return p.p_change; }, yes);
  for (const SignalDef& sig : kSignals) out.signals.push_back(score_signal(s, sig, boot));
  out.detector_accuracy =
      share([](const ForkPosition& p) { return p.signals.key == p.forks; }, yes);
  out.detector_balanced_accuracy = over_tasks(s, boot, [&](const Mult& m) {
    const double hit = weighted_mean(
        s, m, [](const ForkPosition& p) { return p.signals.key; }, forks);
    const double rest = weighted_mean(
        s, m, [](const ForkPosition& p) { return !p.signals.key; },
        [](const ForkPosition& p) { return !p.forks; });
    return 0.5 * (hit + rest);
  });
  noise_floor(rows, &out);
  return out;
}

}  // namespace keytok
