// Process-wide llama.cpp setup and the llama_decode return-code map.
#include <atomic>
#include <cstdio>
#include <mutex>

#include "llama/handles.hpp"
#include "util/assert.hpp"

namespace keytok::detail {

namespace {
std::atomic<bool> g_verbose{false};

// Runs on whatever thread llama.cpp logs from; never throws.
void log_trampoline(ggml_log_level level, const char* text, void* /*user_data*/) {
  if (level == GGML_LOG_LEVEL_ERROR || g_verbose.load(std::memory_order_relaxed)) {
    std::fputs(text, stderr);
  }
}
}  // namespace

void ensure_backend(bool verbose) {
  static std::once_flag once;
  if (verbose) g_verbose.store(true, std::memory_order_relaxed);
  std::call_once(once, [] {
    llama_log_set(log_trampoline, nullptr);
    llama_backend_init();
  });
}

Status decode_status(int rc) {
  switch (rc) {
    case 0: return Status::ok_status();
    case 1: return Status::kv_full("no KV cache slot for the batch; raise --ctx or use fewer branches");
    case 2: return Status::aborted("decoding was aborted");
    case -1: return Status::internal("llama_decode rejected the batch as invalid (a keytok bug)");
    default: return Status::internal("llama_decode failed with code " + std::to_string(rc));
  }
}

BatchGuard::BatchGuard(int capacity, int n_seq_max)
    : batch_(llama_batch_init(capacity, 0, n_seq_max)), capacity_(capacity) {}

BatchGuard::~BatchGuard() { llama_batch_free(batch_); }

void BatchGuard::add(llama_token token, llama_pos pos, llama_seq_id seq, bool logits) {
  KEYTOK_ASSERT(batch_.n_tokens < capacity_, "batch full ({} tokens)", capacity_);
  const int i = batch_.n_tokens++;
  batch_.token[i] = token;
  batch_.pos[i] = pos;
  batch_.n_seq_id[i] = 1;
  batch_.seq_id[i][0] = seq;
  batch_.logits[i] = logits ? 1 : 0;
}

}  // namespace keytok::detail
