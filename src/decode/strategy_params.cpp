// Strategy specs ("sc:8") and their validation: plain data, no model, so that the request
// parser's fuzz target links it without llama.cpp (the factory is strategy_factory.cpp).
#include <algorithm>
#include <charconv>
#include <string>

#include "keytok/strategy.hpp"
#include "util/enum_names.hpp"

namespace keytok {

namespace {

constexpr std::array<detail::EnumName<CombineRule>, 5> kCombineRules = {{
    {CombineRule::majority, "majority"},
    {CombineRule::weighted, "weighted"},
    {CombineRule::best_logprob, "best"},
    {CombineRule::tree, "tree"},
    {CombineRule::root, "root"},
}};

}  // namespace

const char* combine_rule_name(CombineRule rule) {
  return detail::enum_name(kCombineRules, rule, "majority");
}

Result<CombineRule> parse_combine_rule(std::string_view name) {
  if (auto r = detail::enum_from_name(kCombineRules, name)) return *r;
  return Status::invalid_argument("unknown combine rule '" + std::string(name) + "'; use " +
                                  detail::enum_name_list(kCombineRules));
}

std::string StrategyParams::name() const {
  switch (kind) {
    case StrategyKind::greedy: return "greedy";
    case StrategyKind::sample: return "sample";
    case StrategyKind::self_consistency: return "sc:" + std::to_string(n);
    case StrategyKind::branch: return "branch";
    case StrategyKind::deepconf: return "deepconf:" + std::to_string(n);
    case StrategyKind::cascade: return "cascade";
  }
  return "greedy";
}

int StrategyParams::min_budget_tokens() const {
  return kind == StrategyKind::self_consistency || kind == StrategyKind::deepconf ? n : 1;
}

int StrategyParams::max_live_sequences() const {
  switch (kind) {
    case StrategyKind::greedy:
    case StrategyKind::sample:
    case StrategyKind::cascade: return 1;
    case StrategyKind::self_consistency: return n;
    case StrategyKind::branch: return branch.max_live;
    case StrategyKind::deepconf: {
      // The prompt holder stays open while the warm-up traces run, then while the rest fork.
      const int w = deepconf.warmup > 0 ? deepconf.warmup : (n + 1) / 2;
      return std::max(w, n - w) + 1;
    }
  }
  return 1;
}

Status StrategyParams::validate() const {
  const std::string who = "strategy " + name() + ": ";
  if (n < 1 || n > kMaxSequences) {
    return Status::invalid_argument(who + "N must be in 1.." + std::to_string(kMaxSequences) +
                                    " (llama.cpp's sequence limit); got " + std::to_string(n));
  }
  if (max_tokens < 1) return Status::invalid_argument(who + "max tokens per path must be >= 1");
  if (budget_tokens < 0) return Status::invalid_argument(who + "the budget must be >= 0 (0 = unlimited)");
  if (budget_tokens > 0 && budget_tokens < min_budget_tokens()) {
    return Status::invalid_argument(who + "a budget of " + std::to_string(budget_tokens) +
                                    " tokens is below what one answer needs: " + std::to_string(min_budget_tokens()) +
                                    " (one token for each of the " + std::to_string(min_budget_tokens()) +
                                    " starting paths); raise --budget");
  }
  if (stop_agree < 0) return Status::invalid_argument(who + "stop-agree must be >= 0 (0 = off)");
  // More agreeing paths than the run can have would silently never stop it.
  const int most_paths = kind == StrategyKind::self_consistency ? n
                         : kind == StrategyKind::branch       ? branch.max_paths
                                                              : 0;
  if (most_paths > 0 && stop_agree > most_paths) {
    return Status::invalid_argument(who + "stop-agree " + std::to_string(stop_agree) + " can never be met by at most " +
                                    std::to_string(most_paths) + " paths; lower it (0 = off)");
  }
  if (kind != StrategyKind::greedy && kind != StrategyKind::branch && kind != StrategyKind::cascade) {
    Status s = sampling.validate();
    if (!s.ok()) return Status::invalid_argument(who + s.message());
  }
  if (kind == StrategyKind::branch || kind == StrategyKind::cascade) {
    Status s = branch.detector.validate();
    if (!s.ok()) return Status::invalid_argument(who + s.message());
  }
  if (kind == StrategyKind::cascade) {
    const CascadeParams& c = cascade;
    if (!(c.rollback_nats >= 0.0f)) {
      return Status::invalid_argument(who + "the rollback threshold must be >= 0 nats (0 = no rollback)");
    }
    if (c.check_every < 1) return Status::invalid_argument(who + "check every must be >= 1 token");
    if (c.max_decisions < 0) {
      return Status::invalid_argument(who + "max large-model decisions must be >= 0 (0 = unlimited)");
    }
  }
  if (kind == StrategyKind::branch) {
    if (branch.alternatives < 2 || branch.alternatives > 16) {
      return Status::invalid_argument(who + "alternatives per fork must be in 2..16");
    }
    if (branch.max_live < 1 || branch.max_live > kMaxSequences) {
      return Status::invalid_argument(who + "max live paths must be in 1.." + std::to_string(kMaxSequences));
    }
    if (branch.max_paths < branch.max_live) {
      return Status::invalid_argument(who + "max paths must be >= max live paths");
    }
    if (branch.min_fork_distance < 0) return Status::invalid_argument(who + "min fork distance must be >= 0");
    if (branch.merge_after < 0) return Status::invalid_argument(who + "merge-after must be >= 0 (0 = off)");
    if (!(branch.min_alternative_prob >= 0.0f && branch.min_alternative_prob < 1.0f)) {
      return Status::invalid_argument(who + "min alternative probability must be in [0, 1)");
    }
  }
  if (kind == StrategyKind::deepconf) {
    const DeepConfParams& d = deepconf;
    if (d.warmup < 0 || d.warmup > n) return Status::invalid_argument(who + "warm-up traces must be in 0..N");
    if (d.window < 1) return Status::invalid_argument(who + "the confidence window must be >= 1 token");
    if (d.top_k < 1) return Status::invalid_argument(who + "confidence top-k must be >= 1");
    if (!(d.keep_percent > 0.0f && d.keep_percent <= 100.0f)) {
      return Status::invalid_argument(who + "keep percent must be in (0, 100]");
    }
    if (!(d.consensus > 0.0f && d.consensus <= 1.0f)) {
      return Status::invalid_argument(who + "consensus must be in (0, 1]");
    }
  }
  return Status::ok_status();
}

Result<StrategyParams> parse_strategy(std::string_view spec, const StrategyParams& base) {
  StrategyParams p = base;
  const std::size_t colon = spec.find(':');
  const std::string_view head = spec.substr(0, colon);
  const bool counted = head == "sc" || head == "deepconf";
  if (head == "greedy") p.kind = StrategyKind::greedy;
  else if (head == "sample") p.kind = StrategyKind::sample;
  else if (head == "branch") p.kind = StrategyKind::branch;
  else if (head == "sc") p.kind = StrategyKind::self_consistency;
  else if (head == "deepconf") p.kind = StrategyKind::deepconf;
  else if (head == "cascade") p.kind = StrategyKind::cascade;
  else {
    return Status::invalid_argument("unknown strategy '" + std::string(spec) +
                                    "'; use greedy, sample, sc:N, branch, deepconf:N or cascade");
  }
  p.n = 1;
  if (counted) {
    if (colon == std::string_view::npos) {
      return Status::invalid_argument("strategy '" + std::string(spec) + "' needs a count, e.g. " +
                                      std::string(head) + ":8");
    }
    const std::string_view num = spec.substr(colon + 1);
    long long v = 0;
    const auto [end, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
    if (ec != std::errc() || end != num.data() + num.size()) {
      return Status::invalid_argument("strategy '" + std::string(spec) + "': N must be an integer");
    }
    if (v < 1 || v > kMaxSequences) {
      return Status::invalid_argument("strategy '" + std::string(spec) + "': N must be in 1.." +
                                      std::to_string(kMaxSequences) + " (llama.cpp's sequence limit)");
    }
    p.n = static_cast<int>(v);
  } else if (colon != std::string_view::npos) {
    return Status::invalid_argument("strategy '" + std::string(head) + "' takes no count; got '" +
                                    std::string(spec) + "'");
  }
  return p;
}

}  // namespace keytok
