// Session: one llama_context with a unified KV cache; branches are llama sequence ids.
#include "keytok/session.hpp"

#include <algorithm>

#include "llama/model_impl.hpp"
#include "util/assert.hpp"

namespace keytok {

struct Session::Impl {
  std::shared_ptr<const Model> model;
  SessionParams params;
  detail::LlamaContextPtr ctx;
  int n_ctx = 0;
  int n_batch = 0;   // read back: llama.cpp clamps the requested value (e.g. to n_ctx)
  int n_threads = 0;
  int n_vocab = 0;
  std::vector<bool> open;       // (n_seq_max) whether the seq id is in use
  std::vector<pos> n_past;      // (n_seq_max) next position per sequence
  // Where each sequence's latest logits sit: output index in the decode numbered logits_gen.
  std::vector<int> logits_index;
  std::vector<std::int64_t> logits_gen;
  std::int64_t gen = 0;         // number of decodes so far
  SessionCounters counters;

  llama_memory_t memory() const { return llama_get_memory(ctx.get()); }
  bool is_open(const Branch& b) const {
    return b.id >= 0 && b.id < static_cast<int>(open.size()) && open[b.id];
  }
  int live() const { return static_cast<int>(std::count(open.begin(), open.end(), true)); }

  Status decode(llama_batch& batch) {
    const int rc = llama_decode(ctx.get(), batch);
    ++gen;
    if (rc != 0) return detail::decode_status(rc);
    ++counters.decode_calls;
    counters.tokens_decoded += batch.n_tokens;
    return Status::ok_status();
  }
};

Status SessionParams::validate() const {
  if (n_ctx < 0) return Status::invalid_argument("n_ctx must be >= 0 (0 = the model's training context)");
  if (n_batch < 1) return Status::invalid_argument("n_batch must be >= 1");
  if (n_seq_max < 1 || n_seq_max > kMaxSequences) {
    return Status::invalid_argument("n_seq_max must be in 1.." + std::to_string(kMaxSequences) +
                                    " (llama.cpp's sequence limit); got " + std::to_string(n_seq_max));
  }
  if (n_threads < 0) return Status::invalid_argument("n_threads must be >= 0 (0 = physical cores)");
  return Status::ok_status();
}

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

void Session::set_abort_flag(const std::atomic<bool>* flag) {
  // llama.cpp calls this between graph nodes on its compute thread; an atomic load is all it does.
  const ggml_abort_callback check = [](void* data) {
    return static_cast<const std::atomic<bool>*>(data)->load(std::memory_order_relaxed);
  };
  llama_set_abort_callback(impl_->ctx.get(), flag != nullptr ? check : nullptr,
                           const_cast<std::atomic<bool>*>(flag));
}
Session::~Session() = default;

Result<std::unique_ptr<Session>> Session::create(std::shared_ptr<const Model> model,
                                                 const SessionParams& params) {
  KEYTOK_RETURN_IF_ERROR(params.validate());
  if (!model) return Status::invalid_argument("Session::create needs a loaded model");
  if (model->vocab_only()) {
    return Status::invalid_argument("model " + model->path() + " was loaded without its weights (vocab_only)");
  }
  auto impl = std::make_unique<Impl>();
  impl->params = params;
  impl->n_threads = params.n_threads > 0 ? params.n_threads : physical_core_count();

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(params.n_ctx);
  cp.n_batch = static_cast<uint32_t>(params.n_batch);
  cp.n_ubatch = static_cast<uint32_t>(params.n_batch);
  cp.n_seq_max = static_cast<uint32_t>(params.n_seq_max);
  cp.n_threads = impl->n_threads;
  cp.n_threads_batch = impl->n_threads;
  cp.flash_attn_type = params.flash_attn ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cp.kv_unified = true;  // forks share prefix cells; positions per seq span all of n_ctx
  cp.swa_full = true;    // sliding-window models (Gemma 3) keep full history so forks stay exact
  impl->ctx.reset(llama_init_from_model(model->impl().model.get(), cp));
  if (!impl->ctx) {
    return Status::load_failed("llama.cpp could not create a context with n_ctx=" +
                               std::to_string(params.n_ctx) + "; try a smaller --ctx");
  }
  impl->n_ctx = static_cast<int>(llama_n_ctx(impl->ctx.get()));
  impl->n_batch = static_cast<int>(std::min(llama_n_batch(impl->ctx.get()), llama_n_ubatch(impl->ctx.get())));
  impl->n_vocab = model->n_vocab();
  impl->model = std::move(model);
  const auto n_seq = static_cast<std::size_t>(params.n_seq_max);
  impl->open.assign(n_seq, false);
  impl->n_past.assign(n_seq, 0);
  impl->logits_index.assign(n_seq, -1);
  impl->logits_gen.assign(n_seq, -1);
  return std::unique_ptr<Session>(new Session(std::move(impl)));
}

Result<Branch> Session::open() {
  auto& s = *impl_;
  const auto it = std::find(s.open.begin(), s.open.end(), false);
  if (it == s.open.end()) {
    return Status::invalid_argument("all " + std::to_string(s.open.size()) +
                                    " sequences are in use; raise n_seq_max or close branches");
  }
  const auto id = static_cast<seq_id>(it - s.open.begin());
  s.open[id] = true;
  s.n_past[id] = 0;
  s.logits_gen[id] = -1;
  llama_memory_seq_rm(s.memory(), id, -1, -1);
  s.counters.peak_live_branches = std::max(s.counters.peak_live_branches, s.live());
  return Branch{id};
}

Result<Branch> Session::fork(const Branch& parent) {
  auto& s = *impl_;
  if (!s.is_open(parent)) return Status::invalid_argument("fork of a branch that is not open");
  auto child = open();
  if (!child.ok()) return child.status();
  const seq_id c = child->id;
  llama_memory_seq_cp(s.memory(), parent.id, c, -1, -1);
  s.n_past[c] = s.n_past[parent.id];
  s.logits_index[c] = s.logits_index[parent.id];
  s.logits_gen[c] = s.logits_gen[parent.id];
  return child;
}

void Session::close(const Branch& branch) {
  auto& s = *impl_;
  if (!s.is_open(branch)) return;
  llama_memory_seq_rm(s.memory(), branch.id, -1, -1);
  s.open[branch.id] = false;
  s.n_past[branch.id] = 0;
  s.logits_gen[branch.id] = -1;
}

void Session::reset() {
  auto& s = *impl_;
  llama_memory_clear(s.memory(), true);
  std::fill(s.open.begin(), s.open.end(), false);
  std::fill(s.n_past.begin(), s.n_past.end(), 0);
  std::fill(s.logits_gen.begin(), s.logits_gen.end(), -1);
}

Status Session::feed(const Branch& branch, std::span<const token_id> tokens,
                     const LogitsCallback& on_logits) {
  auto& s = *impl_;
  if (!s.is_open(branch)) return Status::invalid_argument("feed to a branch that is not open");
  if (tokens.empty()) return Status::ok_status();
  const auto need = static_cast<std::int64_t>(s.n_past[branch.id]) + static_cast<std::int64_t>(tokens.size());
  if (need > s.n_ctx) {
    return Status::context_overflow("needs " + std::to_string(need) + " positions but the context holds " +
                                    std::to_string(s.n_ctx) + "; raise it with --ctx");
  }
  const int chunk = std::max(1, std::min(s.n_batch, s.n_ctx));
  detail::BatchGuard batch(chunk, 1);
  for (std::size_t start = 0; start < tokens.size(); start += static_cast<std::size_t>(chunk)) {
    const std::size_t end = std::min(tokens.size(), start + static_cast<std::size_t>(chunk));
    batch.clear();
    for (std::size_t i = start; i < end; ++i) {
      const bool want = static_cast<bool>(on_logits) || i + 1 == tokens.size();
      batch.add(tokens[i], s.n_past[branch.id] + static_cast<pos>(i - start), branch.id, want);
    }
    KEYTOK_RETURN_IF_ERROR(s.decode(batch.get()));
    s.n_past[branch.id] += static_cast<pos>(end - start);
    if (on_logits) {
      for (std::size_t i = start; i < end; ++i) {
        const float* l = llama_get_logits_ith(s.ctx.get(), static_cast<int32_t>(i - start));
        if (l == nullptr) return Status::internal("llama.cpp returned no logits for a fed token");
        on_logits(i, std::span<const float>(l, static_cast<std::size_t>(s.n_vocab)));
      }
    }
    s.logits_index[branch.id] = static_cast<int>(end - start) - 1;
    s.logits_gen[branch.id] = s.gen;
  }
  return Status::ok_status();
}

Status Session::truncate(const Branch& branch, pos keep) {
  auto& s = *impl_;
  if (!s.is_open(branch)) return Status::invalid_argument("truncate of a branch that is not open");
  const pos n = s.n_past[branch.id];
  if (keep < 0 || keep > n) {
    return Status::invalid_argument("cannot cut a branch of " + std::to_string(n) + " positions back to " +
                                    std::to_string(keep) + "; keep 0.." + std::to_string(n));
  }
  if (keep == n) return Status::ok_status();
  // llama.cpp refuses a partial removal where the cache holds a running state instead of one
  // cell per position (recurrent and hybrid models; docs/llama-cpp-notes.md).
  if (!llama_memory_seq_rm(s.memory(), branch.id, keep, -1)) {
    return Status::invalid_argument("this model's cache (" + s.model->architecture() +
                                    ") cannot drop part of a sequence, so a path cannot be rolled back; "
                                    "use a transformer model or turn rollback off");
  }
  s.n_past[branch.id] = keep;
  s.logits_gen[branch.id] = -1;
  return Status::ok_status();
}

Status Session::step(std::span<const Branch> branches, std::span<const token_id> tokens) {
  if (branches.size() != tokens.size()) {
    return Status::invalid_argument("step needs one token per branch");
  }
  std::vector<std::span<const token_id>> one(tokens.size());
  for (std::size_t i = 0; i < tokens.size(); ++i) one[i] = tokens.subspan(i, 1);
  return decode_batch(branches, one);
}

Status Session::decode_batch(std::span<const Branch> branches, std::span<const std::span<const token_id>> tokens) {
  auto& s = *impl_;
  if (branches.size() != tokens.size()) {
    return Status::invalid_argument("decode_batch needs one token list per branch");
  }
  if (branches.empty()) return Status::ok_status();
  std::size_t total = 0;
  for (std::size_t i = 0; i < branches.size(); ++i) {
    if (!s.is_open(branches[i])) return Status::invalid_argument("decode on a branch that is not open");
    if (tokens[i].empty()) return Status::invalid_argument("decode_batch needs at least one token per branch");
    if (s.n_past[branches[i].id] + static_cast<pos>(tokens[i].size()) > s.n_ctx) {
      return Status::context_overflow("a branch reached the context size " + std::to_string(s.n_ctx) +
                                      "; raise it with --ctx");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (branches[j] == branches[i]) return Status::invalid_argument("a decode lists a branch twice");
    }
    total += tokens[i].size();
  }
  if (static_cast<int>(total) > s.n_batch) {
    return Status::invalid_argument("a decode of " + std::to_string(total) + " tokens exceeds the batch size " +
                                    std::to_string(s.n_batch) + "; raise n_batch (and --ctx)");
  }
  detail::BatchGuard batch(static_cast<int>(total), 1);
  std::vector<int> last(branches.size());
  for (std::size_t i = 0; i < branches.size(); ++i) {
    const seq_id id = branches[i].id;
    for (std::size_t k = 0; k < tokens[i].size(); ++k) {
      batch.add(tokens[i][k], s.n_past[id] + static_cast<pos>(k), id, k + 1 == tokens[i].size());
    }
    last[i] = batch.size() - 1;
  }
  KEYTOK_RETURN_IF_ERROR(s.decode(batch.get()));
  for (std::size_t i = 0; i < branches.size(); ++i) {
    const seq_id id = branches[i].id;
    s.n_past[id] += static_cast<pos>(tokens[i].size());
    s.logits_index[id] = last[i];
    s.logits_gen[id] = s.gen;
  }
  return Status::ok_status();
}

std::span<const float> Session::logits(const Branch& branch) const {
  const auto& s = *impl_;
  if (!s.is_open(branch) || s.logits_gen[branch.id] != s.gen) return {};
  const float* l = llama_get_logits_ith(s.ctx.get(), s.logits_index[branch.id]);
  if (l == nullptr) return {};
  return {l, static_cast<std::size_t>(s.n_vocab)};
}

pos Session::n_past(const Branch& branch) const {
  return impl_->is_open(branch) ? impl_->n_past[branch.id] : 0;
}

bool Session::holds_cells(seq_id id) const {
  return llama_memory_seq_pos_max(impl_->memory(), id) >= 0;
}

int Session::n_ctx() const { return impl_->n_ctx; }
int Session::n_batch() const { return impl_->n_batch; }
int Session::n_seq_max() const { return static_cast<int>(impl_->open.size()); }
int Session::n_threads() const { return impl_->n_threads; }
int Session::live_branches() const { return impl_->live(); }
const Model& Session::model() const { return *impl_->model; }
const SessionCounters& Session::counters() const { return impl_->counters; }
void Session::reset_counters() {
  impl_->counters = SessionCounters{};
  impl_->counters.peak_live_branches = impl_->live();
}

}  // namespace keytok
