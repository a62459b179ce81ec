// The one place that owns llama.cpp handles: unique_ptr deleters in the style of llama-cpp.h,
// the batch guard, return-code mapping and process-wide backend setup. src/llama/ is the only
// code that includes llama.h.
#pragma once

#include <llama.h>

#include <memory>

#include "keytok/status.hpp"

namespace keytok::detail {

struct LlamaModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct LlamaContextDeleter {
  void operator()(llama_context* c) const { llama_free(c); }
};
struct LlamaSamplerDeleter {
  void operator()(llama_sampler* s) const { llama_sampler_free(s); }
};
using LlamaModelPtr = std::unique_ptr<llama_model, LlamaModelDeleter>;
using LlamaContextPtr = std::unique_ptr<llama_context, LlamaContextDeleter>;
using LlamaSamplerPtr = std::unique_ptr<llama_sampler, LlamaSamplerDeleter>;

/// Owns a llama_batch (llama_batch_init/llama_batch_free) sized for `capacity` tokens with up to
/// `n_seq_max` sequence ids each.
class BatchGuard {
 public:
  BatchGuard(int capacity, int n_seq_max);
  ~BatchGuard();
  BatchGuard(const BatchGuard&) = delete;
  BatchGuard& operator=(const BatchGuard&) = delete;

  void clear() { batch_.n_tokens = 0; }
  /// Appends one token for one sequence.
  void add(llama_token token, llama_pos pos, llama_seq_id seq, bool logits);
  int size() const { return batch_.n_tokens; }
  int capacity() const { return capacity_; }
  llama_batch& get() { return batch_; }

 private:
  llama_batch batch_;
  int capacity_;
};

/// Maps llama_decode's return code to a Status: 1 -> kv_full, 2 -> aborted, -1 -> internal
/// (invalid batch is keytok's bug), < -1 -> internal.
Status decode_status(int rc);

/// llama_backend_init once per process and route llama.cpp's log through keytok's filter.
/// The log callback is the one piece of process-global state (llama_log_set is global).
void ensure_backend(bool verbose);

}  // namespace keytok::detail
