// greedy, sample and self-consistency (arXiv 2203.11171): N paths that share the prompt's KV
// (one prefill, N-1 forks), decoded together in one batch per step, then a vote (early, with
// --stop-agree, once enough finished samples agree).
#include "decode/path_runner.hpp"
#include "decode/strategies.hpp"

namespace keytok::detail {

SamplingParams path_sampling(const StrategyParams& params, int i) {
  if (params.kind == StrategyKind::greedy) return SamplingParams{.temperature = 0.0f};
  SamplingParams s = params.sampling;
  s.seed = params.sampling.seed + static_cast<std::uint32_t>(i);
  return s;
}

namespace {

class ParallelStrategy final : public Strategy {
 public:
  explicit ParallelStrategy(StrategyParams params) : params_(std::move(params)) {}

  using Strategy::run;
  Result<GenerationResult> run(DecodeTarget& session, const GenerateRequest& request) const override {
    GenerationResult out;
    PathRunner runner(session, params_, request, out);
    KEYTOK_RETURN_IF_ERROR(runner.prefill());
    for (int i = 0; i < params_.n; ++i) {
      // The last path takes over the prompt branch itself, so no sequence idles.
      auto l = runner.start_path(path_sampling(params_, i), /*take_prompt=*/i + 1 == params_.n);
      if (!l.ok()) return l.status();
    }
    while (!runner.live().empty()) {
      for (int l = static_cast<int>(runner.live().size()) - 1; l >= 0; --l) {
        runner.append(l, runner.pick(l));
      }
      KEYTOK_RETURN_IF_ERROR(runner.step());
      runner.settle_if_agreed();
    }
    runner.finalize(params_.combine);
    return out;
  }
  const StrategyParams& params() const override { return params_; }

 private:
  StrategyParams params_;
};

}  // namespace

std::unique_ptr<Strategy> make_parallel_strategy(const StrategyParams& params) {
  return std::make_unique<ParallelStrategy>(params);
}

}  // namespace keytok::detail
