// PathRunner: the bookkeeping every strategy shares. It prefills the prompt once, starts and
// forks paths as KV sequences, picks and records tokens, advances every path holding a pending
// token in one batched step, enforces the token budget, and on destruction closes every
// sequence it opened (success or error), so the session holds no cells of them afterwards.
#pragma once

#include <chrono>
#include <optional>
#include <vector>

#include "keytok/decode_target.hpp"
#include "keytok/strategy.hpp"

namespace keytok::detail {

/// A path that is still decoding.
struct LivePath {
  int path = -1;                   // index in GenerationResult::paths
  Branch branch;
  std::optional<Sampler> sampler;
  bool pending = false;            // its last token still has to be decoded
  int since_fork = 0;              // tokens decoded since this path last forked or began
  std::string tail;                // the end of its text, to find stop strings (when any)
};

class PathRunner {
 public:
  /// `out` receives paths, forks and cost; it must outlive the runner.
  PathRunner(DecodeTarget& target, const StrategyParams& params, const GenerateRequest& request,
             GenerationResult& out);
  ~PathRunner();
  PathRunner(const PathRunner&) = delete;
  PathRunner& operator=(const PathRunner&) = delete;

  /// Resets the session, encodes and feeds the prompt into the prompt branch. Errors:
  /// invalid_argument (empty prompt, session too small), context_overflow.
  Status prefill();

  /// A new path from the prompt: a fork of the prompt branch, or with `take_prompt` the
  /// prompt branch itself (it then stops being the prompt holder). Returns its live index.
  Result<int> start_path(const SamplingParams& sampling, bool take_prompt);

  /// Forks live path `from` before its pending token: the child shares every token but the
  /// last, then takes `token` (with `stats` computed for it) instead. Returns its live index.
  Result<int> fork_path(int from, const TokenStats& stats);

  /// Samples live path `l`'s next token from its logits; stats carry top_k() alternatives.
  TokenStats pick(int l);
  /// Stats of token `t` under live path `l`'s current logits.
  TokenStats stats_for(int l, token_id t);

  /// Records `stats.token` on live path `l`: an end-of-generation token finishes it ("eog"),
  /// otherwise the token is appended (one budget token) and becomes pending, or the path
  /// finishes at max_tokens ("length"). Returns whether the path is still live. The position's
  /// key flag is the detector's (params.branch.detector) for every strategy, so that
  /// annotations mean the same whichever strategy made the tokens.
  bool append(int l, const TokenStats& stats, bool by_large = false);

  /// Rolls live path `l` back so that it keeps its first `keep` tokens: its sequence is cut
  /// and its last kept token (or the prompt's last) fed again, so the path's logits are those
  /// of token `keep`, as if the later tokens had never been decoded. The path must have no
  /// pending token, and `keep` must lie in fork_index..tokens (a path never rolls back into
  /// its parent's tokens). Sends a rollback event.
  Status rewind(int l, int keep);

  /// The prompt's tokens, as prefilled.
  const std::vector<token_id>& prompt_tokens() const { return prompt_tokens_; }

  /// Whether the detector flags the distribution `stats` came from.
  bool is_key(const TokenStats& stats) const { return detector_.is_key(stats); }

  /// One batched decode of every pending token. A path at the context's end finishes with
  /// "context"; a full KV pool finishes all pending paths with "kv_full". aborted when the
  /// request was cancelled (before the decode, or during it through the abort flag).
  Status step();

  /// Closes live path `l`, extracts its answer and removes it from live(). Indices above `l`
  /// shift down by one.
  void finish(int l, const std::string& reason, bool votes = true);
  void finish_all(const std::string& reason, bool votes = true);
  /// StrategyParams::stop_agree: once that many finished voting paths agree on an answer,
  /// closes every live path ("settled", no vote). Returns whether it did.
  bool settle_if_agreed();

  /// Closes the prompt holder (call once no more paths will start from the prompt).
  void close_prompt();

  /// Closes everything, sets mean logprobs and (unless already set) confidences, votes with
  /// `rule` and fills the cost.
  void finalize(CombineRule rule, bool keep_confidence = false);

  /// Whether live path `l`'s text, with `piece` (its new token's text) appended, now holds a
  /// stop string.
  bool hit_stop(int l, std::string_view piece);
  /// Sends `event` to the request's on_event, if any.
  void emit(const StrategyEvent& event) const;
  /// Whether the request's cancel flag is set (step() then returns aborted).
  bool cancelled() const;

  std::vector<LivePath>& live() { return live_; }
  PathResult& path_of(int l) { return out_.paths[static_cast<std::size_t>(live_[static_cast<std::size_t>(l)].path)]; }
  std::int64_t budget_left() const;
  bool budget_spent() const { return budget_left() <= 0; }
  int top_k() const { return top_k_; }
  std::string piece(token_id t) const { return session_.token_piece(t); }

 private:
  void close_all();
  // logits: (n_vocab) of live path l's next token.
  std::span<const float> logits_for(int l) const;

  DecodeTarget& session_;  // a Session, or a scripted one in tests
  const StrategyParams& params_;
  const GenerateRequest& request_;
  GenerationResult& out_;
  Branch prompt_;
  std::vector<token_id> prompt_tokens_;
  std::vector<float> prompt_logits_;  // (n_vocab) after the prompt, for paths started after other decodes
  std::vector<LivePath> live_;
  std::vector<Branch> step_branches_;
  std::vector<token_id> step_tokens_;
  KeyTokenDetector detector_;
  int top_k_ = 20;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace keytok::detail
