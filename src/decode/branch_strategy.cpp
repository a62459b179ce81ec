// branch [experimental]: key-token branching. One greedy path; where the detector flags the
// distribution of the next token, the path keeps its top-1 token and forks new paths that take
// the next alternatives (EAGer, arXiv 2510.11170, with a KV-cache fork instead of re-sending
// the text). All live paths advance in one batched step; paths that trail the best live path's
// mean logprob by more than a gap are pruned; the survivors are combined by --combine; with
// --stop-agree the run ends once enough finished paths agree.
#include <algorithm>
#include <cmath>

#include "decode/path_runner.hpp"
#include "decode/strategies.hpp"
#include "util/assert.hpp"

namespace keytok::detail {

namespace {

class BranchStrategy final : public Strategy {
 public:
  explicit BranchStrategy(StrategyParams params)
      : params_(std::move(params)), detector_(params_.branch.detector) {}

  using Strategy::run;
  Result<GenerationResult> run(DecodeTarget& session, const GenerateRequest& request) const override {
    const BranchParams& bp = params_.branch;
    GenerationResult out;
    out.detector = detector_.describe();
    out.detector_source = params_.branch.detector_source;
    PathRunner runner(session, params_, request, out);
    KEYTOK_RETURN_IF_ERROR(runner.prefill());
    auto root = runner.start_path(SamplingParams{.temperature = 0.0f}, /*take_prompt=*/true);
    if (!root.ok()) return root.status();
    runner.live()[0].since_fork = bp.min_fork_distance;  // the root may fork at once
    while (!runner.live().empty()) {
      for (int l = static_cast<int>(runner.live().size()) - 1; l >= 0; --l) {
        const TokenStats st = runner.pick(l);
        if (runner.is_key(st) && may_fork(runner, l, out)) KEYTOK_RETURN_IF_ERROR(fork(runner, l, st, out));
        runner.append(l, st);
      }
      KEYTOK_RETURN_IF_ERROR(runner.step());
      prune(runner);
      merge(runner, out);
      runner.settle_if_agreed();
    }
    runner.finalize(params_.combine);
    return out;
  }
  const StrategyParams& params() const override { return params_; }

 private:
  bool may_fork(PathRunner& runner, int l, const GenerationResult& out) const {
    const BranchParams& bp = params_.branch;
    return static_cast<int>(runner.live().size()) < bp.max_live &&
           static_cast<int>(out.paths.size()) < bp.max_paths &&
           runner.live()[static_cast<std::size_t>(l)].since_fork >= bp.min_fork_distance &&
           runner.budget_left() >= 2;  // the parent's token and at least one alternative
  }

  // Forks live path l at its current position into the next alternatives of `st`. The fork
  // event goes out before the children's first tokens, so a listener can draw the tree in order.
  Status fork(PathRunner& runner, int l, const TokenStats& st, GenerationResult& out) const {
    const BranchParams& bp = params_.branch;
    const int parent = runner.live()[static_cast<std::size_t>(l)].path;
    ForkPoint fp{.path = parent, .index = static_cast<int>(runner.path_of(l).tokens.size()),
                 .entropy = st.entropy, .margin = st.margin};
    const std::size_t n_alt = std::min(st.top.size(), static_cast<std::size_t>(bp.alternatives));
    fp.alternatives.push_back({.id = st.token, .prob = std::exp(st.logprob),
                               .piece = runner.piece(st.token), .path = parent});
    // Which alternatives get a path: each taken one adds a live path and a path.
    int live = static_cast<int>(runner.live().size());
    int paths = static_cast<int>(out.paths.size());
    std::int64_t budget = runner.budget_left();
    for (std::size_t j = 0; j < n_alt; ++j) {
      const Alternative& alt = st.top[j];
      if (alt.id == st.token) continue;
      const bool room = live < bp.max_live && paths < bp.max_paths && budget >= 2;
      const bool likely = alt.prob >= bp.min_alternative_prob;
      ForkAlternative fa{.id = alt.id, .prob = alt.prob, .piece = runner.piece(alt.id)};
      if (room && likely) {
        fa.path = paths;
        ++live;
        ++paths;
        --budget;
      }
      fp.alternatives.push_back(std::move(fa));
    }
    runner.emit({.kind = StrategyEventKind::fork, .path = parent, .fork = &fp});
    for (const ForkAlternative& fa : fp.alternatives) {
      if (fa.path < 0 || fa.path == parent) continue;
      auto child = runner.fork_path(l, runner.stats_for(l, fa.id));
      if (!child.ok()) return child.status();
      KEYTOK_ASSERT(static_cast<int>(out.paths.size()) - 1 == fa.path, "fork planned path {} got {}",
                    fa.path, out.paths.size() - 1);
    }
    runner.live()[static_cast<std::size_t>(l)].since_fork = 0;
    out.forks.push_back(std::move(fp));
    return Status::ok_status();
  }

  // Closes live paths whose own mean logprob trails the best live path's by more than the gap.
  void prune(PathRunner& runner) const {
    const BranchParams& bp = params_.branch;
    if (bp.prune_gap_nats <= 0.0f || runner.live().size() < 2) return;
    std::vector<double> mean(runner.live().size(), 0.0);
    std::vector<int> own(runner.live().size(), 0);
    double best = -1e30;
    for (std::size_t l = 0; l < runner.live().size(); ++l) {
      const PathResult& p = runner.path_of(static_cast<int>(l));
      own[l] = static_cast<int>(p.logprobs.size()) - p.fork_index;
      if (own[l] <= 0) continue;
      double sum = 0.0;
      for (std::size_t i = static_cast<std::size_t>(p.fork_index); i < p.logprobs.size(); ++i) sum += p.logprobs[i];
      mean[l] = sum / own[l];
      best = std::max(best, mean[l]);
    }
    for (int l = static_cast<int>(runner.live().size()) - 1; l >= 0; --l) {
      const auto i = static_cast<std::size_t>(l);
      if (own[i] >= bp.prune_min_tokens && mean[i] < best - bp.prune_gap_nats) {
        runner.finish(l, "pruned", /*votes=*/false);
      }
    }
  }

  // Closes live children that have rejoined their parent's text: the last merge_after tokens of
  // either, past the fork, occur anywhere in the other's tokens past the fork. A child that only
  // reworded a phrase ("To find" for "To determine") comes back to the parent's sentences a few
  // tokens earlier or later, and from there its greedy continuation repeats the parent's: on
  // 20 GSM8K dev problems (Qwen2.5-1.5B, 8 paths) 98 of 140 forks fell in the first tenth of the
  // answer and 105 of 140 children ended on their parent's answer after some 250 tokens of
  // their own (docs/results/claims.md, section 2b).
  void merge(PathRunner& runner, const GenerationResult& out) const {
    const int k = params_.branch.merge_after;
    if (k <= 0) return;
    for (int l = static_cast<int>(runner.live().size()) - 1; l >= 0; --l) {
      const PathResult& p = runner.path_of(l);
      if (p.parent < 0) continue;
      const auto& parent = out.paths[static_cast<std::size_t>(p.parent)].tokens;
      const std::size_t from = static_cast<std::size_t>(p.fork_index) + 1;  // past the alternative
      if (rejoined(p.tokens, parent, from, k) || rejoined(parent, p.tokens, from, k)) {
        runner.finish(l, "merged", /*votes=*/false);
      }
    }
  }

  // Whether the last k tokens of `a` lie at or after `from` and occur in `b` at or after `from`.
  static bool rejoined(const std::vector<token_id>& a, const std::vector<token_id>& b, std::size_t from, int k) {
    const auto n = static_cast<std::size_t>(k);
    if (a.size() < from + n || b.size() < from + n) return false;
    const auto tail = a.end() - static_cast<std::ptrdiff_t>(n);
    return std::search(b.begin() + static_cast<std::ptrdiff_t>(from), b.end(), tail, a.end()) != b.end();
  }

  StrategyParams params_;
  KeyTokenDetector detector_;
};

}  // namespace

std::unique_ptr<Strategy> make_branch_strategy(const StrategyParams& params) {
  return std::make_unique<BranchStrategy>(params);
}

}  // namespace keytok::detail
