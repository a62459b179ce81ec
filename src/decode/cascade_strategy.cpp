// cascade [experimental]: a small model writes, a larger one decides only at the key tokens.
//
// The small model (the run's target) decodes greedily, one step per token. Where the detector
// flags the small model's next-token distribution, the large model catches up with the tokens
// accepted since its last call in one prefill (one llama_decode per chunk, never token by
// token) and chooses the token by its argmax (R2R, arXiv 2505.21600, routes such "divergent"
// tokens; its entropy-threshold baseline is this rule). With rollback on (BiLD, arXiv
// 2302.07863), each catch-up also reads the large model's distribution at every accepted token;
// where one is too surprising to it, both caches go back to that token and the large model
// chooses it. The large model also catches up every check_every tokens and before the small
// model ends the answer, so no stretch goes unchecked.
#include "decode/path_runner.hpp"
#include "decode/strategies.hpp"
#include "keytok/token_stats.hpp"
#include "util/assert.hpp"

namespace keytok::detail {

namespace {

// -log p of `t` (nats) and the argmax, from the shared statistics pass (top 1 only).
struct TokenView {
  float surprisal = 0.0f;
  token_id argmax = -1;
};
TokenView view_token(std::span<const float> logits, token_id t) {
  const TokenStats st = compute_token_stats(logits, t, /*top_k=*/1);
  return {.surprisal = -st.logprob, .argmax = st.top.front().id};
}

// The large model's side: one sequence that holds the prompt and the path's tokens up to
// `synced()`, and its distribution for the token at synced(). On destruction its sequence is
// closed.
class LargeFollower {
 public:
  LargeFollower(DecodeTarget& target, const std::vector<token_id>& prompt, DecodeCost& cost,
                const std::atomic<bool>* cancel)
      : t_(target), prompt_(prompt), cost_(cost) {
    t_.reset();
    t_.reset_counters();
    t_.set_abort_flag(cancel);
  }
  ~LargeFollower() {
    t_.close(branch_);
    t_.set_abort_flag(nullptr);
  }
  LargeFollower(const LargeFollower&) = delete;
  LargeFollower& operator=(const LargeFollower&) = delete;

  int synced() const { return synced_; }
  int verified() const { return verified_; }
  void set_verified(int n) { verified_ = n; }
  std::span<const float> next() const { return next_; }

  // Feeds path tokens [synced, n) (the prompt first, on first use). With `rollback_nats` > 0,
  // every fed token from verified() on is checked against the distribution before it; returns
  // the index of the first whose surprisal exceeds it (its argmax in failed_argmax()), or -1.
  Result<int> catch_up(std::span<const token_id> path, int n, float rollback_nats) {
    if (!branch_.valid()) {
      auto b = t_.open();
      if (!b.ok()) return b.status();
      branch_ = *b;
      KEYTOK_RETURN_IF_ERROR(t_.feed(branch_, prompt_));
      cost_.large_prompt_tokens = static_cast<int>(prompt_.size());
      keep_next();
    }
    if (n <= synced_) return -1;
    const std::span<const token_id> chunk = path.subspan(static_cast<std::size_t>(synced_),
                                                         static_cast<std::size_t>(n - synced_));
    int failed = -1;
    if (rollback_nats > 0.0f) {
      // The first chunk token is judged by the distribution kept from the last call, token j
      // (j >= 1) by the logits after chunk token j - 1.
      const auto judge = [&](int i, std::span<const float> logits) {
        if (failed >= 0 || i < verified_) return;
        const TokenView v = view_token(logits, path[static_cast<std::size_t>(i)]);
        if (v.surprisal > rollback_nats) {
          failed = i;
          failed_argmax_ = v.argmax;
        }
      };
      judge(synced_, next_);
      const int base = synced_;
      KEYTOK_RETURN_IF_ERROR(t_.feed(branch_, chunk, [&](std::size_t j, std::span<const float> logits) {
        const int i = base + static_cast<int>(j) + 1;
        if (i < n) judge(i, logits);
      }));
    } else {
      KEYTOK_RETURN_IF_ERROR(t_.feed(branch_, chunk));
    }
    cost_.large_prefill_tokens += static_cast<std::int64_t>(chunk.size());
    synced_ = n;
    if (failed < 0) {
      verified_ = n;
      keep_next();
    }
    return failed;
  }

  // After a failed check at `i`: the large model keeps the prompt and path tokens [0, i).
  Status roll_back(int i) {
    KEYTOK_RETURN_IF_ERROR(t_.truncate(branch_, static_cast<pos>(prompt_.size()) + i));
    synced_ = i;
    next_.clear();  // token i is the large model's own choice, so it is never judged
    return Status::ok_status();
  }
  token_id failed_argmax() const { return failed_argmax_; }

  std::int64_t decode_calls() const { return t_.counters().decode_calls; }

 private:
  void keep_next() {
    const std::span<const float> l = t_.logits(branch_);
    next_.assign(l.begin(), l.end());
  }

  DecodeTarget& t_;
  const std::vector<token_id>& prompt_;
  DecodeCost& cost_;
  Branch branch_;
  int synced_ = 0;    // path tokens in the large model's cache
  int verified_ = 0;  // path tokens [0, verified) were checked or chosen by the large model
  std::vector<float> next_;  // (n_vocab) its distribution for path token `synced_`
  token_id failed_argmax_ = -1;
};

class CascadeStrategy final : public Strategy {
 public:
  explicit CascadeStrategy(StrategyParams params)
      : params_(std::move(params)), detector_(params_.branch.detector) {}

  using Strategy::run;
  Result<GenerationResult> run(DecodeTarget& small, const GenerateRequest& request) const override {
    if (request.large == nullptr) {
      return Status::invalid_argument("strategy cascade needs a large model; pass --big-model PATH");
    }
    const CascadeParams& cp = params_.cascade;
    const bool rollback = cp.rollback_nats > 0.0f;
    GenerationResult out;
    out.detector = detector_.describe();
    out.detector_source = params_.branch.detector_source;
    PathRunner runner(small, params_, request, out);
    KEYTOK_RETURN_IF_ERROR(runner.prefill());
    LargeFollower large(*request.large, runner.prompt_tokens(), out.cost, request.cancel);
    auto root = runner.start_path(SamplingParams{.temperature = 0.0f}, /*take_prompt=*/true);
    if (!root.ok()) return root.status();
    while (!runner.live().empty()) {
      const TokenStats st = runner.pick(0);
      const std::vector<token_id>& tokens = runner.path_of(0).tokens;
      const int n = static_cast<int>(tokens.size());
      const bool may_decide = cp.max_decisions == 0 || out.cost.large_decisions < cp.max_decisions;
      const bool key = may_decide && runner.is_key(st);
      const bool check = may_decide && rollback &&
                         (n - large.verified() >= cp.check_every || small.is_eog(st.token));
      token_id choice = st.token;
      if (key || check) {
        auto failed = large.catch_up(tokens, n, rollback ? cp.rollback_nats : 0.0f);
        if (!failed.ok()) return failed.status();
        if (*failed >= 0) {
          KEYTOK_RETURN_IF_ERROR(roll_back(runner, large, *failed, n, out.cost));
          continue;
        }
        const TokenView v = view_token(large.next(), st.token);
        // A flagged position is the large model's to choose; so is the end of the answer when
        // the large model finds it too surprising (rollback's check of the last token).
        if (key || (small.is_eog(st.token) && v.surprisal > cp.rollback_nats)) choice = v.argmax;
        if (key || choice != st.token) {
          ++out.cost.large_decisions;
          if (choice != st.token) ++out.cost.large_changed;
          large.set_verified(n + 1);
          runner.append(0, choice == st.token ? st : runner.stats_for(0, choice), /*by_large=*/true);
          KEYTOK_RETURN_IF_ERROR(runner.step());
          continue;
        }
      }
      runner.append(0, st);
      KEYTOK_RETURN_IF_ERROR(runner.step());
    }
    out.cost.large_decode_calls = large.decode_calls();
    runner.finalize(params_.combine);
    return out;
  }
  const StrategyParams& params() const override { return params_; }

 private:
  // The large model found path token `i` (of `n` accepted) too surprising: both models go back
  // to it, and the large model chooses it.
  static Status roll_back(PathRunner& runner, LargeFollower& large, int i, int n, DecodeCost& cost) {
    const token_id before = runner.path_of(0).tokens[static_cast<std::size_t>(i)];
    const token_id choice = large.failed_argmax();
    KEYTOK_RETURN_IF_ERROR(large.roll_back(i));
    KEYTOK_RETURN_IF_ERROR(runner.rewind(0, i));
    ++cost.rollbacks;
    cost.rolled_back_tokens += n - i;
    ++cost.large_decisions;
    if (choice != before) ++cost.large_changed;
    large.set_verified(i + 1);
    runner.append(0, runner.stats_for(0, choice), /*by_large=*/true);
    return runner.step();
  }

  StrategyParams params_;
  KeyTokenDetector detector_;
};

}  // namespace

std::unique_ptr<Strategy> make_cascade_strategy(const StrategyParams& params) {
  return std::make_unique<CascadeStrategy>(params);
}

}  // namespace keytok::detail
