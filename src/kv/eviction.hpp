// Eviction choices: which of a branch's kept cells a policy drops. Pure functions over the
// branch's hole map, so every rule is testable without a model.
#pragma once

#include <cstdint>
#include <random>
#include <string_view>
#include <span>
#include <vector>

#include "keytok/kv_policy.hpp"
#include "keytok/types.hpp"

namespace keytok::detail {

/// Importance of a cell whose predicting distribution was never seen (the first token of a
/// sequence, a token fed again after a rollback): high enough that it is kept like a key token.
inline constexpr float kUnknownImportance = 1.0e4f;

/// One cell a branch holds: an entry of its hole map.
struct KvCell {
  pos position = 0;         // its position (kept cells keep theirs)
  std::int64_t id = 0;      // which llama.cpp cell: fed tokens get new ids, forks share them
  float importance = 0.0f;  // surprisal or entropy (nats), kUnknownImportance when unknown
  bool unit_end = false;    // its piece ends a sentence or a line (chunk policy)
};

/// Indices into `cells` (kept in position order) to evict, ascending. At least `need` of them
/// (chunk may take up to one unit more), never one of the first `params.sinks` or the last
/// `params.protected_tail()`. Asks for no more than those leave evictable (callers check).
///   window:   the oldest cells after the sinks
///   keytoken: the lowest importance (older first on ties)
///   chunk:    whole units with the lowest mean importance (older first on ties); a unit runs to
///             a unit_end cell or params.max_unit cells, within the evictable span
///   random:   uniformly at random, from `rng`
std::vector<std::size_t> choose_evictions(std::span<const KvCell> cells, std::size_t need,
                                          const KvPolicyParams& params, std::mt19937_64& rng);

/// Whether a token's text ends a unit for the chunk policy: its last non-blank character is
/// one of . ! ? ; : or it holds a line break.
bool ends_unit(std::string_view piece);

}  // namespace keytok::detail
