// deepconf:N [experimental]: DeepConf online (arXiv 2508.15260; facebookresearch/deepconf).
// Warm-up traces run to completion and set the bar s = the (100 - eta)th percentile of their
// lowest sliding-window confidence. The remaining traces run together; one whose current window
// confidence falls below s stops and does not vote. Votes are weighted by each trace's lowest
// window confidence, and decoding stops once the leader holds `consensus` of the weight.
// Differences from the paper: traces of one phase decode in parallel (one batch per step), so
// the consensus check runs whenever a trace finishes rather than trace by trace.
#include <span>

#include "decode/path_runner.hpp"
#include "decode/strategies.hpp"

namespace keytok::detail {

namespace {

class DeepConfStrategy final : public Strategy {
 public:
  explicit DeepConfStrategy(StrategyParams params) : params_(std::move(params)) {}

  using Strategy::run;
  Result<GenerationResult> run(DecodeTarget& session, const GenerateRequest& request) const override {
    const DeepConfParams& dp = params_.deepconf;
    const int n = params_.n;
    const int warmup = dp.warmup > 0 ? dp.warmup : (n + 1) / 2;
    GenerationResult out;
    PathRunner runner(session, params_, request, out);
    KEYTOK_RETURN_IF_ERROR(runner.prefill());

    // Phase 1: warm-up traces, no early stop.
    for (int i = 0; i < warmup; ++i) {
      auto l = runner.start_path(path_sampling(params_, i), /*take_prompt=*/i + 1 == n);
      if (!l.ok()) return l.status();
    }
    KEYTOK_RETURN_IF_ERROR(decode(runner, out, /*bar=*/nullptr));
    std::vector<double> lowest;
    for (PathResult& p : out.paths) {
      p.confidence = lowest_window_mean(own_confidences(p), dp.window);
      if (p.tokens.size() > static_cast<std::size_t>(p.fork_index)) lowest.push_back(p.confidence);
    }
    out.deepconf_threshold = deepconf_threshold(lowest, dp.keep_percent);

    // Phase 2: the rest, stopped early by the bar or by a settled vote.
    if (!settled(out) && !runner.budget_spent() && warmup < n) {
      for (int i = warmup; i < n; ++i) {
        auto l = runner.start_path(path_sampling(params_, i), /*take_prompt=*/i + 1 == n);
        if (!l.ok()) return l.status();
      }
      KEYTOK_RETURN_IF_ERROR(decode(runner, out, &out.deepconf_threshold));
    }
    runner.close_prompt();
    for (PathResult& p : out.paths) p.confidence = lowest_window_mean(own_confidences(p), dp.window);
    runner.finalize(CombineRule::weighted, /*keep_confidence=*/true);
    return out;
  }
  const StrategyParams& params() const override { return params_; }

 private:
  static std::span<const float> own_confidences(const PathResult& p) {
    return std::span<const float>(p.confidences).subspan(static_cast<std::size_t>(p.fork_index));
  }

  // Decodes until every live trace finished. With a bar: low-confidence stop and consensus stop.
  Status decode(PathRunner& runner, GenerationResult& out, const double* bar) const {
    const int window = params_.deepconf.window;
    while (!runner.live().empty()) {
      const std::size_t done_before = out.paths.size() - runner.live().size();
      for (int l = static_cast<int>(runner.live().size()) - 1; l >= 0; --l) {
        if (!runner.append(l, runner.pick(l)) || bar == nullptr) continue;
        const auto own = own_confidences(runner.path_of(l));
        if (own.size() < static_cast<std::size_t>(window)) continue;
        double sum = 0.0;
        for (std::size_t i = own.size() - static_cast<std::size_t>(window); i < own.size(); ++i) sum += own[i];
        if (sum / window < *bar) runner.finish(l, "low_confidence", /*votes=*/false);
      }
      KEYTOK_RETURN_IF_ERROR(runner.step());
      const std::size_t done_after = out.paths.size() - runner.live().size();
      if (bar != nullptr && done_after > done_before && settled(out)) {
        runner.finish_all("settled", /*votes=*/false);
      }
    }
    return Status::ok_status();
  }

  // Whether the finished, voting traces already agree with `consensus` of the weight.
  bool settled(const GenerationResult& out) const {
    std::vector<Ballot> ballots;
    double total = 0.0;
    for (const PathResult& p : out.paths) {
      if (p.stop_reason.empty() || !p.votes || !p.answer) continue;
      const double w = lowest_window_mean(own_confidences(p), params_.deepconf.window);
      ballots.push_back({.answer = p.answer, .weight = w, .votes = true});
      total += w;
    }
    if (ballots.empty() || total <= 0.0) return false;
    const Vote v = combine_ballots(ballots, CombineRule::weighted);
    return v.tallies.front().weight / total >= params_.deepconf.consensus;
  }

  StrategyParams params_;
};

}  // namespace

std::unique_ptr<Strategy> make_deepconf_strategy(const StrategyParams& params) {
  return std::make_unique<DeepConfStrategy>(params);
}

}  // namespace keytok::detail
