// keytok/session.hpp: one inference run over a Model, with branches as KV sequences.
//
// A Session owns one llama.cpp context. Its KV cache is unified (docs/llama-cpp-notes.md,
// section 4): all sequences share one pool of n_ctx cells, so Session::fork is a metadata copy
// (llama.cpp's part about 10 µs, plus a copy of the hole map: one entry per
// cell) that shares the prefix's cells instead of copying them. Each live Branch is one
// llama seq id.
//
//   auto session = Session::create(model, {.n_ctx = 4096, .n_seq_max = 8}).value();
//   Branch root = session->open().value();
//   session->feed(root, prompt_tokens);                    // prefill, logits of the last token
//   Branch alt = session->fork(root).value();              // shares the prompt's cells
//   session->step(std::vector{root, alt}, {tok_a, tok_b});  // one batched decode
//   auto logits_a = session->logits(root);                 // (n_vocab)
//   session->close(alt);                                   // frees its cells
//
// Thread-safety: one thread at a time (like whisper_state). Different Sessions may run on
// different threads over one shared Model.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "keytok/kv_policy.hpp"
#include "keytok/model.hpp"
#include "keytok/status.hpp"
#include "keytok/types.hpp"

namespace keytok {

/// Per-session options. Set on purpose: llama.cpp's own defaults bite (4 threads on 2 cores,
/// n_ctx split per sequence; docs/llama-cpp-notes.md, section 3).
struct SessionParams {
  int n_ctx = 4096;        // KV cells shared by all branches; 0 = the model's training context
  int n_batch = 512;       // tokens per llama_decode call at most (prefill is split into chunks)
  int n_seq_max = 1;       // live branches at most, 1..256
  int n_threads = 0;       // CPU threads; 0 = physical_core_count()
  bool flash_attn = false; // llama.cpp flash attention; off keeps logits comparable across builds
  /// Bounded KV memory (keytok/kv_policy.hpp). With an evicting policy each branch keeps at
  /// most kv.budget cells, n_ctx is ignored and the context is sized to kv.budget * n_seq_max.
  KvPolicyParams kv;

  /// invalid_argument for out-of-range values, naming the field.
  Status validate() const;
};

/// A handle to one sequence of a Session's KV cache. Cheap to copy: copying the handle does
/// not copy the KV (use Session::fork for that). Valid until Session::close or reset.
struct Branch {
  seq_id id = -1;
  bool valid() const { return id >= 0; }
  friend bool operator==(const Branch&, const Branch&) = default;
};

/// Called by Session::feed for each fed token that asked for logits:
/// index = the token's index in the fed span; logits = next-token logits after it, (n_vocab).
using LogitsCallback = std::function<void(std::size_t index, std::span<const float> logits)>;

/// Counters since create() or the last reset_counters().
struct SessionCounters {
  std::int64_t decode_calls = 0;    // llama_decode calls
  std::int64_t tokens_decoded = 0;  // tokens over all calls
  int peak_live_branches = 0;       // most branches open at once
  int peak_cells = 0;               // most KV cells in use at once (a cell shared by forks once)
  std::int64_t evictions = 0;       // eviction rounds
  std::int64_t cells_evicted = 0;   // cells removed by them
  double decode_seconds = 0.0;      // wall time inside llama_decode
  double kv_policy_seconds = 0.0;   // wall time scoring cells and evicting: the policy's own cost
};

/// What bounded KV memory cost and held over a run (Session::kv_usage), for reports.
struct KvUsage {
  KvPolicy policy = KvPolicy::full;
  int budget = 0;                  // cells per branch; 0 with policy full
  int n_ctx = 0;                   // cells allocated
  int peak_cells = 0;              // most cells in use at once
  double kv_mib_allocated = 0.0;   // n_ctx cells of K and V
  double kv_mib_peak = 0.0;        // peak_cells of K and V
  std::int64_t evictions = 0;
  std::int64_t cells_evicted = 0;
  double decode_seconds = 0.0;
  double policy_seconds = 0.0;     // scoring and evicting
  /// policy_seconds / decode_seconds: the policy's cost per token as a fraction of decode time.
  double policy_cost_fraction() const { return decode_seconds > 0.0 ? policy_seconds / decode_seconds : 0.0; }
};

/// One cell of llama.cpp's cache as its state serialization reports it (Session::cache_cells).
struct CacheCell {
  pos position = 0;
  std::vector<seq_id> seqs;  // the sequences holding it, ascending
};

/// An inference run. Not copyable (it owns a KV cache); movable through unique_ptr.
class Session {
 public:
  /// Creates a llama.cpp context. Errors: invalid_argument (params), load_failed (llama.cpp
  /// could not allocate the context; try a smaller n_ctx).
  static Result<std::unique_ptr<Session>> create(std::shared_ptr<const Model> model,
                                                 const SessionParams& params);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// Opens an empty branch. invalid_argument when n_seq_max branches are already open.
  Result<Branch> open();

  /// Opens a new branch that shares `parent`'s whole history (llama_memory_seq_cp; no
  /// decode). The child continues at the parent's position. The parent's current logits are
  /// also the child's until either is stepped. invalid_argument when no sequence is free.
  Result<Branch> fork(const Branch& parent);

  /// Closes a branch and removes all its KV cells. Closing an invalid handle does nothing.
  void close(const Branch& branch);

  /// Removes every branch and clears the KV cache.
  void reset();

  /// Appends tokens to a branch. With on_logits, every token's next-token logits are computed
  /// and passed to it in order (teacher forcing); without, only the last token's, readable via
  /// logits(branch). Splits into n_batch chunks (with an evicting policy, into chunks of
  /// kv.step() cells, evicting before each as needed). context_overflow when the branch would
  /// exceed max_positions() (the message names the limit and what to raise); kv_full when the
  /// shared pool is full.
  Status feed(const Branch& branch, std::span<const token_id> tokens,
              const LogitsCallback& on_logits = {});

  /// Cuts a branch back to its first `keep` positions (llama_memory_seq_rm from `keep` on):
  /// the cells after them are freed unless another branch shares them, and the next token goes
  /// to position `keep`. Its logits are gone until the next feed or step. Used to roll a path
  /// back (cascade). invalid_argument when the branch is not open, `keep` is outside
  /// 0..n_past, or the model's cache cannot drop part of a sequence (recurrent and hybrid
  /// architectures; the message says so), or the policy evicted position keep - 1 (llama.cpp
  /// appends after the highest position a sequence holds, so the cut must end on a kept cell).
  Status truncate(const Branch& branch, pos keep);
  /// Removes the branch's cells at positions [p0, p1) (llama_memory_seq_rm), leaving a hole:
  /// later positions keep theirs, and the next token still goes to n_past. Cells another branch
  /// shares stay for it. This is what an evicting policy does by itself; callers use it for
  /// their own rules. Its logits stay valid. invalid_argument when the branch is not open, the
  /// range is not within 0..n_past-1 or holds the branch's last kept cell (llama.cpp appends
  /// after it), or the model's cache cannot drop cells (recurrent and hybrid models).
  Status remove(const Branch& branch, pos p0, pos p1);

  /// Appends one token to each branch in one batched llama_decode, with logits for each.
  /// branches and tokens have the same length; each branch at most once.
  Status step(std::span<const Branch> branches, std::span<const token_id> tokens);

  /// One llama_decode over several branches: tokens[i] (at least one) are appended to
  /// branches[i], with logits for each branch's last token. This is how a server prefills new
  /// requests in the same decode as the next token of the running ones (llama-server's mixed
  /// batches). All tokens must fit one batch (n_batch; invalid_argument otherwise, naming the
  /// count). On kv_full or context_overflow no branch has advanced.
  Status decode_batch(std::span<const Branch> branches, std::span<const std::span<const token_id>> tokens);

  /// Tokens one llama_decode takes at most (n_batch as llama.cpp set it).
  int n_batch() const;

  /// The branch's next-token logits from its most recent feed/step (or its parent's, just
  /// after fork), (n_vocab). Empty when none are available. Valid until the next decode.
  std::span<const float> logits(const Branch& branch) const;

  /// Number of positions the branch holds (its next token's position).
  pos n_past(const Branch& branch) const;

  /// While `flag` is set (non-null) and becomes true, a decode in progress stops early and
  /// returns `aborted` (llama.cpp's abort callback, checked between graph nodes). The cells the
  /// aborted decode wrote stay until the branch is closed. `flag` must outlive its use; pass
  /// nullptr to clear it.
  void set_abort_flag(const std::atomic<bool>* flag);

  /// Whether the KV cache holds any cell of sequence `id` (llama_memory_seq_pos_max >= 0).
  bool holds_cells(seq_id id) const;

  /// Positions a branch can reach: n_ctx without eviction; with an evicting policy the model's
  /// training context, since kept cells keep their positions. The one capacity check of every
  /// decode loop (Analyzer, PathRunner) is this.
  pos max_positions() const;
  /// Tokens the branch can still take: max_positions() - n_past(branch).
  pos room(const Branch& branch) const;
  /// The branch's hole map: the positions it holds cells for, ascending. Without eviction (and
  /// without truncation) that is 0..n_past-1.
  std::vector<pos> kept_positions(const Branch& branch) const;
  /// KV cells in use now over all branches, a cell shared by forks counted once.
  int cells_in_use() const;
  /// Bytes of K and V one cell holds (f16: 2 x n_layer x n_head_kv x head_dim x 2 bytes).
  std::size_t kv_bytes_per_cell() const;
  /// llama.cpp's own view of its cache, read from its state serialization: every used cell with
  /// its position and sequences. For checking the hole map (tests); it copies the whole KV
  /// state. invalid_argument for models whose cells carry extra data (M-RoPE).
  Result<std::vector<CacheCell>> cache_cells() const;
  const KvPolicyParams& kv_policy() const;
  /// The policy, its memory and its cost from the counters (since reset_counters()).
  KvUsage kv_usage() const;

  int n_ctx() const;                    ///< context size actually allocated
  int n_seq_max() const;                ///< branches at most
  int n_threads() const;                ///< threads used
  int live_branches() const;            ///< branches open now
  const Model& model() const;
  const SessionCounters& counters() const;
  void reset_counters();

  /// Internal state, defined in src/. Not part of the stable API.
  struct Impl;

 private:
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keytok
