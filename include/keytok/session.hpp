// keytok/session.hpp: one inference run over a Model, with branches as KV sequences.
//
// A Session owns one llama.cpp context. Its KV cache is unified (docs/llama-cpp-notes.md,
// section 4): all sequences share one pool of n_ctx cells, so Session::fork is a metadata copy
// (about 10 µs) that shares the prefix's cells instead of copying them. Each live Branch is one
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
  /// logits(branch). Splits into n_batch chunks. context_overflow when the branch would exceed
  /// n_ctx positions (the message names the limit and --ctx); kv_full when the shared pool is full.
  Status feed(const Branch& branch, std::span<const token_id> tokens,
              const LogitsCallback& on_logits = {});

  /// Cuts a branch back to its first `keep` positions (llama_memory_seq_rm from `keep` on):
  /// the cells after them are freed unless another branch shares them, and the next token goes
  /// to position `keep`. Its logits are gone until the next feed or step. Used to roll a path
  /// back (cascade). invalid_argument when the branch is not open, `keep` is outside
  /// 0..n_past, or the model's cache cannot drop part of a sequence (recurrent and hybrid
  /// architectures; the message says so).
  Status truncate(const Branch& branch, pos keep);
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
