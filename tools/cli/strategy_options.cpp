// Strategy flags for `generate` and `bench`.
#include "strategy_options.hpp"

#include <algorithm>

namespace keytok::cli {

void add_strategy_options(CLI::App* cmd, StrategyOptions& o) {
  StrategyParams& p = o.base;
  cmd->add_option("--budget", p.budget_tokens, "Generated tokens over all paths at most (0 = unlimited)")
      ->capture_default_str();
  cmd->add_option("--max-tokens", p.max_tokens, "Tokens per path at most")->capture_default_str()
      ->check(at_least(1));
  // sample, sc and deepconf sample; path i of a run draws with seed + i.
  add_sampling_options(cmd, p.sampling);
  cmd->add_option("--combine", o.combine,
                  "How paths become one answer: majority, weighted, best, tree (votes weighted by the probability "
                  "of each path's forks) or root (one vote per alternative of the first fork)")
      ->capture_default_str()->check(CLI::IsMember({"majority", "weighted", "best", "tree", "root"}));
  cmd->add_option("--alternatives", p.branch.alternatives, "branch: paths leaving a fork, parent included")
      ->capture_default_str()->check(CLI::Range(2, 16));
  cmd->add_option("--min-alt-prob", p.branch.min_alternative_prob,
                  "branch: skip alternatives less likely than this")->capture_default_str();
  cmd->add_option("--max-live", p.branch.max_live, "branch: paths decoding at once at most")
      ->capture_default_str();
  cmd->add_option("--max-paths", p.branch.max_paths, "branch: paths over the run at most")->capture_default_str();
  cmd->add_option("--min-fork-distance", p.branch.min_fork_distance,
                  "branch: tokens a path decodes after a fork before forking again")->capture_default_str();
  cmd->add_option("--prune-gap", p.branch.prune_gap_nats,
                  "branch: prune paths whose mean logprob trails the best by more (nats; <= 0 off)")
      ->capture_default_str();
  cmd->add_option("--merge-after", p.branch.merge_after,
                  "branch: close a child once N tokens in a row of it and of its parent past the fork match "
                  "(it rejoined the parent's text; 0 = off)")
      ->capture_default_str()->check(at_least(0));
  cmd->add_option("--stop-agree", p.stop_agree,
                  "sc and branch: stop once N finished paths agree on an answer; the rest do not vote (0 = off)")
      ->capture_default_str()->check(at_least(0));
  cmd->add_option("--warmup", p.deepconf.warmup, "deepconf: warm-up traces (0 = ceil(N/2))")
      ->capture_default_str();
  cmd->add_option("--window", p.deepconf.window, "deepconf: confidence window in tokens")->capture_default_str();
  cmd->add_option("--keep-percent", p.deepconf.keep_percent,
                  "deepconf: eta; the bar is the (100-eta)th percentile of warm-up confidences")
      ->capture_default_str();
  cmd->add_option("--consensus", p.deepconf.consensus, "deepconf: stop when the leader holds this vote share")
      ->capture_default_str();
  cmd->add_option("--big-model", o.big_model,
                  "cascade: the large model (a GGUF file or a known model's name) with the same vocabulary");
  cmd->add_option("--rollback", p.cascade.rollback_nats,
                  "cascade: roll back where the large model's surprisal at an accepted token exceeds this (nats; 0 = off)")
      ->capture_default_str()->check(at_least_real(0));
  cmd->add_option("--check-every", p.cascade.check_every,
                  "cascade with --rollback: the large model checks at least every this many tokens")
      ->capture_default_str()->check(at_least(1));
  cmd->add_option("--max-decisions", p.cascade.max_decisions,
                  "cascade: large-model decisions per answer at most (0 = unlimited)")
      ->capture_default_str()->check(at_least(0));
  add_detector_options(cmd, o.detector);
}

Result<std::optional<LargeModel>> open_big_model(const StrategyOptions& o, const std::vector<StrategyParams>& strategies,
                                                 const Model& small, const ModelOptions& model_opts) {
  const bool cascade = std::any_of(strategies.begin(), strategies.end(),
                                   [](const StrategyParams& p) { return p.kind == StrategyKind::cascade; });
  if (!cascade) {
    if (!o.big_model.empty()) {
      return Status::invalid_argument("--big-model is used by the cascade strategy only; add cascade or drop it");
    }
    return std::optional<LargeModel>();
  }
  if (o.big_model.empty()) {
    return Status::invalid_argument("strategy cascade needs a large model; pass --big-model PATH (e.g. "
                                    "--big-model qwen2.5-coder-1.5b)");
  }
  ModelOptions big = model_opts;
  big.model.path = o.big_model;
  auto model = load_model(big);
  if (!model.ok()) return Status(model.status().code(), "--big-model: " + model.status().message());
  auto large = open_large_model(*model, small, model_opts.session);
  if (!large.ok()) return large.status();
  return std::optional<LargeModel>(std::move(*large));
}

Result<StrategyParams> resolve_strategy(const StrategyOptions& o, const std::string& spec,
                                        const std::shared_ptr<const Model>& model, const SessionParams& session) {
  std::optional<Progress> bar;
  auto p = keytok::resolve_strategy(StrategySpec{.spec = spec, .base = o.base, .combine = o.combine,
                                                 .detector = o.detector},
                                    model, session.n_threads, detector_events(bar));
  if (bar) bar->finish();
  return p;
}

Result<std::vector<std::string>> split_strategies(const std::string& list) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t comma = std::min(list.find(',', start), list.size());
    std::string item = list.substr(start, comma - start);
    if (item.empty()) {
      return Status::invalid_argument("empty strategy in '" + list + "'; write e.g. greedy,sc:8,branch");
    }
    out.push_back(std::move(item));
    start = comma + 1;
  }
  return out;
}

}  // namespace keytok::cli
