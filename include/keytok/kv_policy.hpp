// keytok/kv_policy.hpp: which KV cells a branch keeps when its text outgrows a fixed budget.
//
// The paper's first pillar (arXiv 2505.24187): keep the few semantically vital tokens and let
// the predictable majority go. A Session built with an evicting policy holds at most `budget`
// cells per branch; before a decode would pass that, it removes cells chosen by the policy:
//   full      no eviction (the reference; the context holds the whole text)
//   window    attention sinks + the most recent cells (StreamingLLM, arXiv 2309.17453)
//   keytoken  sinks + a recent window + the cells of highest importance (surprisal or entropy of
//             the distribution the token came from: the key tokens); H2O/TOVA-like, but scored
//             by signals keytok already computes instead of attention weights
//   chunk     sinks + a recent window + whole sentences or lines ranked by the mean importance of
//             their tokens (ChunkKV, arXiv 2502.00299; the paper's "natural semantic units")
//   random    sinks + a recent window + a uniformly random choice: the control for keytoken
//
// Kept cells keep their positions (no shift): each keeps the RoPE rotation it was computed
// with, a cell shared by forked branches has one position for all of them, and llama.cpp needs
// nothing recomputed. Positions therefore run up to the text's length, which the model's
// training context bounds (docs/design.md, "Bounded KV memory").
//
//   SessionParams sp{.kv = {.policy = KvPolicy::keytoken, .budget = 1024}};
//   auto session = Session::create(model, sp).value();   // n_ctx sized to the budget
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "keytok/status.hpp"

namespace keytok {

enum class KvPolicy { full, window, keytoken, chunk, random };

/// What ranks cells for keytoken and chunk.
enum class KvImportance {
  surprisal,  // -log p(token | context) when the token was fed: information the model could not predict
  entropy,    // entropy of the distribution the token came from: where the text could fork
};

/// Options of the eviction policy. Set on SessionParams::kv.
struct KvPolicyParams {
  KvPolicy policy = KvPolicy::full;
  int budget = 0;       // cells a branch keeps at most; required (>= 1) unless policy is full
  int sinks = 4;        // first cells always kept (attention sinks)
  int window = -1;      // most recent cells always kept (keytoken, chunk, random); -1 = 3/4 of the budget (tuned on dev)
  int evict_step = -1;  // cells freed per eviction round, at least; -1 = budget / 8 (min 1).
                        // Prefill is fed in chunks of this size, so it is also the granularity.
  KvImportance importance = KvImportance::surprisal;
  int max_unit = 48;    // chunk: a unit ends at a sentence or line end, or after this many tokens
  std::uint64_t seed = 1;  // random: the generator's seed

  bool evicts() const { return policy != KvPolicy::full; }
  /// Whether cells need an importance score (keytoken, chunk).
  bool scores() const { return policy == KvPolicy::keytoken || policy == KvPolicy::chunk; }
  /// The recent cells never evicted: `window` resolved (at least 1) for keytoken/chunk/random; 1 for window
  /// (which evicts the oldest non-sink cells, so only the newest must stay: llama.cpp appends
  /// after the highest position a sequence holds).
  int protected_tail() const;
  /// evict_step resolved, clamped to what one round can free.
  int step() const;

  /// invalid_argument naming the field: budget < 1 for an evicting policy, negative sinks, a
  /// budget that leaves no evictable cell beside sinks and window, and the like.
  Status validate() const;
};

/// "full", "window", "keytoken", "chunk" or "random".
const char* kv_policy_name(KvPolicy policy);
std::optional<KvPolicy> parse_kv_policy(std::string_view name);
/// "full, window, keytoken, chunk or random", for messages.
std::string kv_policy_names();
const char* kv_importance_name(KvImportance importance);
std::optional<KvImportance> parse_kv_importance(std::string_view name);

/// A budget as the user wrote it: cells ("4096") or a fraction of the text ("25%", "0.25").
struct KvBudget {
  int cells = 0;          // > 0 when given in cells
  double fraction = 0.0;  // in (0, 1] when given as a fraction
  bool is_fraction() const { return fraction > 0.0; }
  /// Cells for a text of n_tokens: `cells`, or ceil(fraction * n_tokens) (at least 1).
  int resolve(int n_tokens) const;
  std::string to_string() const;  // "4096" or "25%"
};

/// Parses a budget. invalid_argument (saying what is accepted) for anything else: 0, negative,
/// a fraction above 1, trailing text.
Result<KvBudget> parse_kv_budget(std::string_view text);

}  // namespace keytok
