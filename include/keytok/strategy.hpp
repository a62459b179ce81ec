// keytok/strategy.hpp: decoding strategies that spend tokens on one or many paths, then vote.
//
// Every strategy decodes from one prefilled prompt inside a borrowed Session. Extra paths are
// forks of the prompt (or of another path) over the unified KV cache, never a second prefill,
// and all live paths advance together in one batched Session::step per step.
//
//   greedy      one path, argmax
//   sample      one path, temperature / top-k / top-p / min-p sampling
//   sc:N        self-consistency (arXiv 2203.11171): N sampled paths, majority vote
//   branch      key-token branching [experimental]: one greedy path; where the detector flags a
//               position, fork into the top alternatives (EAGer, arXiv 2510.11170, with a KV
//               fork instead of re-sending text), prune by path confidence, combine by --combine
//   deepconf:N  DeepConf online (arXiv 2508.15260) [experimental]: warm-up traces set a bar from
//               their lowest sliding-window confidence, later traces stop when their window
//               confidence falls below it, confidence-weighted vote, stop once settled
//   cascade     key-token cascade [experimental]: a small model decodes greedily; where its
//               detector flags the next-token distribution, a larger model of the same
//               vocabulary (GenerateRequest::large) chooses the token (R2R, arXiv 2505.21600;
//               BiLD's fallback and rollback, arXiv 2302.07863)
//
//   auto params = parse_strategy("sc:8").value();          // defaults from StrategyParams
//   params.budget_tokens = 512;
//   auto strategy = make_strategy(params).value();
//   auto session = Session::create(model, {.n_seq_max = params.max_live_sequences()}).value();
//   GenerationResult r = strategy->run(*session, {.prompt = "What is 7 + 5?"}).value();
//   std::string json = generation_to_json(r);             // the whole search tree
//
// Each result carries its cost (DecodeCost). After run() returns, every sequence the strategy
// opened is closed and holds no KV cells, on success and on error alike.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "keytok/decode_target.hpp"
#include "keytok/key_token.hpp"
#include "keytok/sampling.hpp"
#include "keytok/session.hpp"
#include "keytok/status.hpp"
#include "keytok/token_stats.hpp"

namespace keytok {

// ---------------------------------------------------------------------------------------------
// Parameters

enum class StrategyKind { greedy, sample, self_consistency, branch, deepconf, cascade };

/// How the answers of several paths become one. Persisted by name.
enum class CombineRule {
  majority,      ///< "majority": one vote per path
  weighted,      ///< "weighted": each path votes with its confidence (CISC, arXiv 2502.06233)
  best_logprob,  ///< "best": the answer of the path with the highest mean logprob
  /// "tree": each path votes with the probability of the branches its ancestry took: at every
  /// fork the paths leaving it share the weight of the path that forked in proportion to the
  /// probabilities of their tokens (renormalised over the taken ones), so near-copies of one
  /// early decision share that decision's weight instead of outvoting the rest. Without forks
  /// (sc) it is majority.
  tree,
  /// "root": one vote per alternative of the first fork: the paths below each (the forking
  /// path's own continuation included) take their majority answer, then those answers vote
  /// one each. Without forks it is majority.
  root,
};
const char* combine_rule_name(CombineRule rule);
/// Parses "majority", "weighted" or "best"; invalid_argument lists them.
Result<CombineRule> parse_combine_rule(std::string_view name);

/// Knobs of `branch`. Its detector is also the rule `cascade` hands positions to the large
/// model by, and the one that flags key tokens in every strategy's results.
struct BranchParams {
  KeyTokenParams detector;           // which positions fork (default: entropy >= 2.0 nats, EAGer)
  std::string detector_source;       // where those thresholds came from (KeyTokenDetector::source,
                                     // e.g. "auto-calibration PATH"); reported, never used
  int alternatives = 2;              // paths leaving a fork, parent included, 2..16 (EAGer: 2)
  float min_alternative_prob = 0.05f;  // skip alternatives less likely than this; 0 keeps all
  int max_live = 4;                  // paths decoding at once at most, 1..256
  int max_paths = 4;                 // paths over the whole run, live or finished, >= max_live
                                     // (EAGer's M; 4 chosen on a dev set, docs/results/decoding.md)
  int min_fork_distance = 4;         // tokens a path decodes after a fork before it forks again
  float prune_gap_nats = 1.0f;       // close a path whose mean logprob trails the best live
                                     // path's by more than this; <= 0 disables pruning
  int prune_min_tokens = 8;          // tokens a path must hold past its fork before it can be pruned
  /// > 0: close a child ("merged", no vote) once the last this many tokens of it or of its
  /// parent, past the fork, occur anywhere in the other's tokens past the fork: the alternative
  /// it took changed only the wording ("find" for "determine", a line break) and it has rejoined
  /// the parent's text, so decoding it further repeats the parent (issue 13: children
  /// re-generating long tails). 0 = off.
  int merge_after = 0;
};

/// Knobs of `deepconf:N`. Defaults follow the paper's "DeepConf-high" (keep 90%) with a window
/// scaled down to the short answers of small models (the paper uses 2,048 tokens).
struct DeepConfParams {
  int warmup = 0;                    // warm-up traces; 0 = ceil(N / 2); 1..N
  int window = 16;                   // sliding window, tokens, >= 1
  int top_k = 20;                    // token confidence = -mean log p of the top k (paper: 20)
  float keep_percent = 90.0f;        // eta: the bar is the (100 - eta)th percentile of the
                                     // warm-up traces' lowest window confidence, in (0, 100]
  float consensus = 0.95f;           // stop when the leader holds this share of the vote, (0, 1]
};

/// Knobs of `cascade`. The small model (the run's DecodeTarget) decodes greedily. The large
/// model follows the accepted tokens by prefilling them in chunks: only when the detector
/// (BranchParams::detector, the small model's calibrated rule) flags a position does it catch
/// up and choose that token by its argmax. Cost model, per answer of n tokens with k flagged:
/// n small-model steps, n large-model prefill tokens in about k chunks (one llama_decode each),
/// k large-model decisions (docs/design.md, "Cascade").
struct CascadeParams {
  /// BiLD's rollback (arXiv 2302.07863): > 0 = when the large model, catching up, gives an
  /// accepted small-model token a surprisal -log p above this (nats), both caches roll back to
  /// that token and the large model chooses it instead; 0 = off.
  float rollback_nats = 0.0f;
  /// With rollback: the large model catches up (and checks) at least every this many accepted
  /// tokens, so a rollback undoes at most this many; >= 1. Without rollback it is unused.
  int check_every = 32;
  /// Large-model decisions per run at most (flagged positions and rollbacks); once spent, the
  /// small model decodes alone. 0 = unlimited.
  int max_decisions = 0;
};

/// Everything that defines one strategy run. Designated-initializer friendly; every field
/// has a default.
struct StrategyParams {
  StrategyKind kind = StrategyKind::greedy;
  int n = 1;                         // paths for sc:N and deepconf:N, 1..256; 1 otherwise
  SamplingParams sampling{.temperature = 0.7f};  // sample, sc, deepconf; greedy/branch ignore it
  int max_tokens = 256;              // tokens per path at most, >= 1
  int budget_tokens = 0;             // generated tokens over all paths at most; 0 = unlimited
  CombineRule combine = CombineRule::majority;  // sc and branch; deepconf always votes weighted
  /// sc and branch: > 0 = stop the run once this many finished, voting paths agree on an answer;
  /// the paths still decoding close as "settled", without a vote. The early stop of
  /// Adaptive-Consistency (arXiv 2305.11860) and ESC (arXiv 2401.10480), for paths that decode
  /// side by side rather than one after another: it saves the tails of the slower paths.
  /// 0 = off; at most N (sc:N) or max_paths (branch).
  int stop_agree = 0;
  BranchParams branch;
  DeepConfParams deepconf;
  CascadeParams cascade;

  /// The spec this was parsed from, e.g. "sc:8" (what results and tables call it).
  std::string name() const;
  /// Paths the strategy starts with before any fork: sc/deepconf N, else 1. A budget below
  /// this cannot give every starting path one token (validate rejects it).
  int min_budget_tokens() const;
  /// Sequences the Session must allow (SessionParams::n_seq_max), prompt holder included.
  int max_live_sequences() const;
  /// invalid_argument naming the field: N outside 1..256, a negative budget or one below
  /// min_budget_tokens(), bad sampling / detector / branch / deepconf values.
  Status validate() const;
};

/// Parses "greedy", "sample", "sc:N", "branch", "deepconf:N" or "cascade" onto a copy of `base` (which
/// supplies every other knob). invalid_argument for an unknown name (the message lists the
/// valid ones) or N outside 1..256 (llama.cpp's sequence limit).
Result<StrategyParams> parse_strategy(std::string_view spec, const StrategyParams& base = {});

// ---------------------------------------------------------------------------------------------
// Results

/// Label-free answer extraction from a path's text; nullopt = no answer in it.
using AnswerExtractor = std::function<std::optional<std::string>(std::string_view text)>;

struct StrategyEvent;
/// Receives a run's events as they happen, on the thread that calls Strategy::run.
using StrategyEventFn = std::function<void(const StrategyEvent& event)>;

/// One generation request.
struct GenerateRequest {
  std::string prompt;          // the user prompt (required unless `messages` is given)
  bool raw = false;            // no chat template
  std::vector<ChatMessage> messages;  // non-empty: a whole chat through the template; prompt
                                      // and raw are then ignored
  AnswerExtractor extract;     // empty = the text with surrounding whitespace trimmed
  std::vector<std::string> stop;  // a path whose text comes to hold one of these ends there
                                  // ("stop"); its text is cut before it
  StrategyEventFn on_event;    // empty = no events (streaming: see StrategyEvent)
  /// Cancellation: when the flag becomes true, the run stops at its next step (or inside the
  /// decode in progress, through llama.cpp's abort callback) and returns `aborted`; every
  /// sequence it opened is closed. Null = not cancellable. Must outlive the run.
  const std::atomic<bool>* cancel = nullptr;
  /// cascade: the large model's target (required; other strategies ignore it). Its vocabulary
  /// must be the small model's (check_same_vocabulary); `reset` there may drop every sequence,
  /// so it must not hold other work. Must outlive the run.
  DecodeTarget* large = nullptr;
};

/// A candidate token at a fork.
struct ForkAlternative {
  token_id id = -1;
  float prob = 0.0f;           // under the full softmax
  std::string piece;
  int path = -1;               // the path that took it; -1 = not taken
};

/// A position where a path forked.
struct ForkPoint {
  int path = -1;               // the path that forked (it keeps the top-1 token)
  int index = 0;               // the token index inside that path where the paths diverge
  float entropy = 0.0f;        // nats, of the distribution there
  float margin = 0.0f;         // top1 - top2 probability there
  std::vector<ForkAlternative> alternatives;  // by prob desc; [0] is the parent's own token
};

/// One decoded path. Tokens [0, fork_index) are shared with `parent`.
struct PathResult {
  int id = 0;                  // index in GenerationResult::paths
  int parent = -1;             // -1 for paths started from the prompt
  int fork_index = 0;          // tokens shared with the parent
  std::vector<token_id> tokens;      // all tokens of the path, shared prefix included
  std::vector<float> logprobs;       // (tokens) log p of each token, nats
  std::vector<float> confidences;    // (tokens) DeepConf token confidence, -mean top-k log p
  std::vector<bool> key;             // (tokens) whether the detector flagged the position
  std::vector<bool> large;           // (tokens) cascade: whether the large model chose the token
  std::string text;
  double mean_logprob = 0.0;   // over the path's own tokens (from fork_index on), nats
  double confidence = 0.0;     // vote weight: DeepConf lowest window confidence for deepconf,
                               // exp(mean_logprob) otherwise
  std::optional<std::string> answer;  // extracted from text
  std::string stop_reason;     // eog, length, budget, context, stop (a stop string), pruned,
                               // merged, low_confidence, settled, kv_full
  bool votes = true;           // false when pruned or stopped for low confidence
};

/// The combined answer.
struct VoteTally {
  std::string answer;
  int count = 0;               // voting paths with this answer
  double weight = 0.0;         // summed weight (count for majority)
};
struct Vote {
  CombineRule rule = CombineRule::majority;
  std::vector<VoteTally> tallies;     // by weight desc, then count desc, then first appearance
  std::optional<std::string> answer;  // the winner; nullopt when no voting path has an answer
  int chosen_path = -1;               // the path whose text is reported; -1 when no paths
};

/// What a strategy reports while it runs, in order (GenerateRequest::on_event). The pointers
/// and views are valid only during the call.
enum class StrategyEventKind {
  token,     ///< `path` appended `stats->token` (`piece`; `key` when the detector flagged it)
  fork,      ///< `path` forks at `fork` (sent before the children's first tokens)
  path_end,  ///< `path` finished for `stop_reason` (PathResult::stop_reason)
  vote,      ///< the run is over: `vote` is the combined answer
  rollback,  ///< cascade: `path` withdrew its tokens from `index` on (a BiLD rollback); its
             ///< next token events continue from `index`
};
struct StrategyEvent {
  StrategyEventKind kind = StrategyEventKind::token;
  int path = -1;                       // token, fork, path_end
  const TokenStats* stats = nullptr;   // token: entropy, margin, logprob, top alternatives
  std::string_view piece;              // token
  bool key = false;                    // token
  const ForkPoint* fork = nullptr;     // fork
  std::string_view stop_reason;        // path_end
  const Vote* vote = nullptr;          // vote
  int index = 0;                       // rollback
};

/// What a run spent.
struct DecodeCost {
  int prompt_tokens = 0;           // prefilled once
  std::int64_t generated_tokens = 0;  // over all paths (end-of-generation tokens not counted)
  std::int64_t decode_calls = 0;   // llama_decode calls, prefill included
  int peak_live = 0;               // most sequences open at once, prompt holder included
  int forks = 0;                   // Session::fork calls
  double wall_ms = 0.0;            // from start to the vote, prefill included
  // cascade only (0 otherwise): what the large model did.
  int large_prompt_tokens = 0;     // prompt tokens prefilled into it (once, at its first use)
  std::int64_t large_prefill_tokens = 0;  // accepted tokens prefilled to keep it in step
  std::int64_t large_decode_calls = 0;    // its llama_decode calls, prompt included
  int large_decisions = 0;         // tokens it chose (flagged positions, rollbacks)
  int large_changed = 0;           // of those, where it chose another token than the small model
  int rollbacks = 0;               // BiLD rollbacks
  std::int64_t rolled_back_tokens = 0;  // accepted tokens that rollbacks undid (they stay counted
                                        // in generated_tokens: they were spent)
  // Bounded KV memory (SessionParams::kv): what the session held and removed.
  int peak_cells = 0;              // most KV cells in use at once, prompt included
  std::int64_t cells_evicted = 0;  // cells the KV policy removed (0 without eviction)
};

struct GenerationResult {
  std::string strategy;            // e.g. "sc:8"
  std::string detector;            // branch: the rule; else empty
  std::string detector_source;     // branch: where the rule came from; else empty
  std::vector<PathResult> paths;
  std::vector<ForkPoint> forks;
  Vote vote;
  std::string text;                // the chosen path's text
  DecodeCost cost;
  double deepconf_threshold = 0.0; // deepconf: the bar set by warm-up; else 0
};

// ---------------------------------------------------------------------------------------------
// Strategies

/// A decoding strategy. Immutable after make_strategy; run() may be called many times, one
/// thread at a time per Session.
class Strategy {
 public:
  virtual ~Strategy() = default;
  /// Decodes `request` in `session` (reset first, so the session must not hold other work).
  /// The session needs n_seq_max >= params().max_live_sequences(). Errors: invalid_argument
  /// (empty prompt, too few sequences), context_overflow (the prompt leaves no room in the
  /// context; names the limit and --ctx), kv_full, aborted (request.cancel was set), and
  /// decode failures.
  Result<GenerationResult> run(Session& session, const GenerateRequest& request) const {
    SessionTarget target(session);
    return run(target, request);
  }
  /// The same on any DecodeTarget (keytok/decode_target.hpp): `reset` there must drop only
  /// this run's sequences.
  virtual Result<GenerationResult> run(DecodeTarget& target, const GenerateRequest& request) const = 0;
  virtual const StrategyParams& params() const = 0;
};

/// Builds the strategy after params.validate().
Result<std::unique_ptr<Strategy>> make_strategy(const StrategyParams& params);

// ---------------------------------------------------------------------------------------------
// Pure pieces, exposed for tests and for offline re-scoring

/// One path's ballot. weight is used by `weighted` and `tree`, mean_logprob by `best`, group by
/// `root`.
struct Ballot {
  std::optional<std::string> answer;
  double weight = 1.0;
  double mean_logprob = 0.0;
  bool votes = true;           // false: pruned or stopped early, not counted
  int group = 0;               // root: the first fork's alternative the path descends from
};

/// Combines ballots. Non-voting ballots and ballots without an answer are not counted. Ties
/// break by count, then by the answer first seen (lowest ballot index), so the result is
/// deterministic. With no counted ballot the answer is nullopt; chosen_path then is the voting
/// ballot with the best mean logprob, else the best of all, else -1 (no ballots).
/// For `best`, the answer is that of the highest-mean-logprob counted ballot.
Vote combine_ballots(std::span<const Ballot> ballots, CombineRule rule);

/// The ballots of a run's paths under `rule`, as every strategy casts them: each path's answer,
/// vote flag and mean logprob; weight = confidence (weighted), tree_weights (tree) or 1; group =
/// root_groups (root) or 0.
std::vector<Ballot> ballots_for(std::span<const PathResult> paths, std::span<const ForkPoint> forks,
                                CombineRule rule);

/// The `tree` weights of paths (indexed by PathResult::id) from the forks in the order they
/// happened: paths started from the prompt weigh 1; at a fork, the forking path's weight w is
/// split into w * p / (sum of the taken alternatives' p) for each path that took an
/// alternative (the forking path keeps its own share). Sums to the number of starting paths.
std::vector<double> tree_weights(std::span<const PathResult> paths, std::span<const ForkPoint> forks);

/// The `root` groups of paths: 0 for the first fork's forking path and everything descending
/// from it that was not forked off at that fork; 1, 2, ... for the first fork's other
/// alternatives (in their order) and their descendants. All 0 without forks. Paths started
/// from the prompt other than the first are groups of their own.
std::vector<int> root_groups(std::span<const PathResult> paths, std::span<const ForkPoint> forks);

/// DeepConf token confidence: -mean of log p over the given top probabilities (k of them).
/// Higher = more peaked. 0 for an empty span.
double token_confidence(std::span<const Alternative> top);

/// Lowest mean over every window of `window` consecutive values (the mean of all values when
/// fewer than `window`); 0 for an empty span.
double lowest_window_mean(std::span<const float> values, int window);

/// The DeepConf bar: the (100 - keep_percent)th percentile (linear interpolation) of the
/// warm-up traces' lowest window confidences. 0 (no bar) for an empty span.
double deepconf_threshold(std::span<const double> warmup_lowest, float keep_percent);

/// The whole result as one JSON object (strategy, cost, vote, paths, forks, text).
std::string generation_to_json(const GenerationResult& result, bool include_tokens = false);

/// The search tree alone, compact, for voting again offline: {"paths": [...], "forks": [...]}
/// with each path's parent, fork index, token counts, answer, stop reason, vote flag, mean
/// logprob and confidence, and each fork's path, index, entropy, margin and alternatives'
/// tokens, pieces, probabilities and paths (no path text).
std::string generation_tree_json(const GenerationResult& result);

/// How many finished (stop_reason set), voting paths share the most common answer; 0 when none
/// has an answer. What StrategyParams::stop_agree compares with.
int largest_agreement(std::span<const PathResult> paths);

/// What revote_tree_json votes with, and the tighter limits it replays the run under (0 = as
/// run). The replay relies on every path decoding one token per step from the step it opened
/// at, so that a path's token i was decoded at step i: true of sc and of branch run with
/// max_live = max_paths, not of deepconf (its later traces start after the warm-up).
struct RevoteParams {
  CombineRule rule = CombineRule::majority;
  /// > 0: only the first this many paths, all started from the prompt (sc:N's first N samples:
  /// what sc:first_paths with the same seeds would vote); trees with forks are refused.
  int first_paths = 0;
  /// > 0: only the first this many paths opened (branch --max-paths), and of the forks only the
  /// alternatives that opened one of them.
  int max_paths = 0;
  /// > 0: stop where this many finished voting paths first agreed (StrategyParams::stop_agree):
  /// the paths still decoding then keep the tokens they held and do not vote; forks after that
  /// step never happened.
  int stop_agree = 0;
  /// > 0: the number of paths adapted to the question, in two rounds: the first this many paths
  /// (sc: samples; branch: paths opened) decode first, and when every one of them that votes
  /// gives the same answer the run ends there; otherwise the rest decode too (under the limits
  /// above) and all vote. The tokens are the paths' own either way; the second round's wall
  /// time is not replayed. Not combined with stop_agree.
  int grow_from = 0;
};

/// A replayed vote.
struct Revote {
  Vote vote;
  std::int64_t tokens = 0;  // the kept paths' own generated tokens, up to the stop
  /// false when a real run could have gone otherwise: a kept path was pruned while a dropped
  /// one was decoding (pruning compares the live paths), or paths were dropped from a run that
  /// ran into its token budget.
  bool exact = true;
  bool grew = false;  // grow_from: the first round disagreed and a second decoded more paths
};

/// Votes again over a tree written by generation_tree_json (a bench row's "tree") under
/// `params`, as a run under those limits would have. format_error when the text is not such a
/// tree; invalid_argument for first_paths on a tree with forks, or grow_from with stop_agree.
Result<Revote> revote_tree_json(std::string_view tree_json, const RevoteParams& params = {});

}  // namespace keytok
