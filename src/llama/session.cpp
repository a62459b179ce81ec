// Session: one llama_context with a unified KV cache; branches are llama sequence ids.
#include "keytok/session.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <unordered_map>
#include <utility>

#include "keytok/token_stats.hpp"
#include "kv/eviction.hpp"
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
  // The hole map: per sequence, the cells it holds in position order. llama.cpp's pos_min and
  // pos_max do not show holes (docs/llama-cpp-notes.md, section 5), so keytok keeps its own.
  std::vector<std::vector<detail::KvCell>> cells;
  // How many sequences hold each cell (by id): a forked prefix is one cell in several sequences,
  // as in llama.cpp's unified cache; its size is the cells in use.
  std::unordered_map<std::int64_t, int> holders;
  std::int64_t next_cell = 0;   // id of the next fed token's cell
  pos max_positions = 0;        // see Session::max_positions
  std::size_t bytes_per_cell = 0;
  std::mt19937_64 rng;          // the random policy's choices

  llama_memory_t memory() const { return llama_get_memory(ctx.get()); }
  const KvPolicyParams& kv() const { return params.kv; }
  bool is_open(const Branch& b) const {
    return b.id >= 0 && b.id < static_cast<int>(open.size()) && open[b.id];
  }
  int live() const { return static_cast<int>(std::count(open.begin(), open.end(), true)); }

  Status decode(llama_batch& batch) {
    const auto t0 = std::chrono::steady_clock::now();
    const int rc = llama_decode(ctx.get(), batch);
    counters.decode_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    ++gen;
    if (rc != 0) return detail::decode_status(rc);
    ++counters.decode_calls;
    counters.tokens_decoded += batch.n_tokens;
    return Status::ok_status();
  }

  void note_peak() { counters.peak_cells = std::max(counters.peak_cells, cells_in_use()); }

  int cells_in_use() const { return static_cast<int>(holders.size()); }

  void release(const detail::KvCell& c) {
    const auto it = holders.find(c.id);
    if (it != holders.end() && --it->second == 0) holders.erase(it);
  }
  // Empties sequence `id`'s hole map (the cells it no longer holds).
  void release_all(seq_id id) {
    for (const detail::KvCell& c : cells[id]) release(c);
    cells[id].clear();
  }

  // The one capacity check by position: without eviction the context's cells, with it the
  // positions the model was trained on (kept cells keep theirs).
  Status check_positions(seq_id id, std::size_t n_new) const {
    const auto need = static_cast<std::int64_t>(n_past[id]) + static_cast<std::int64_t>(n_new);
    if (need <= max_positions) return Status::ok_status();
    if (!kv().evicts()) {
      return Status::context_overflow("needs " + std::to_string(need) + " positions but the context holds " +
                                      std::to_string(max_positions) + "; raise it with --ctx");
    }
    return Status::context_overflow("needs " + std::to_string(need) + " positions, past the " +
                                    std::to_string(max_positions) +
                                    " the model was trained on; evicted cells do not give positions back "
                                    "(kept cells keep theirs), so shorten the text");
  }

  // Importance of `token` under the distribution `logits` it came from (kv/eviction.hpp).
  float importance(std::span<const float> logits, token_id token) {
    if (logits.empty()) return detail::kUnknownImportance;
    const auto t0 = std::chrono::steady_clock::now();
    const TokenStats st = compute_token_stats(logits, token, 0);
    counters.kv_policy_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return kv().importance == KvImportance::entropy ? st.entropy : -st.logprob;
  }

  void record(seq_id id, pos position, token_id token, float importance_nats) {
    const bool unit_end = kv().policy == KvPolicy::chunk && detail::ends_unit(model->token_piece(token));
    holders[next_cell] = 1;
    cells[id].push_back({position, next_cell++, importance_nats, unit_end});
  }

  // Cells sequence `id` must lose before `n_new` tokens join it, and those it may lose.
  std::pair<std::size_t, std::size_t> eviction_need(seq_id id, std::size_t n_new) const {
    const std::size_t held = cells[id].size();
    const auto budget = static_cast<std::size_t>(kv().budget);
    const std::size_t keep_always = static_cast<std::size_t>(kv().sinks + kv().protected_tail());
    const std::size_t need = held + n_new > budget ? held + n_new - budget : 0;
    return {need, held > keep_always ? held - keep_always : 0};
  }

  // kv_full when `n_new` tokens cannot join sequence `id` whatever is evicted.
  Status check_room(seq_id id, std::size_t n_new) const {
    if (!kv().evicts()) return Status::ok_status();
    const auto [need, evictable] = eviction_need(id, n_new);
    if (need <= evictable) return Status::ok_status();
    return Status::kv_full(std::to_string(n_new) + " tokens at once do not fit a KV budget of " +
                           std::to_string(kv().budget) + " cells beside the " +
                           std::to_string(kv().sinks + kv().protected_tail()) +
                           " it always keeps; feed fewer tokens at a time or raise --kv-budget");
  }

  // Before `n_new` tokens join sequence `id`: evict so that its cells stay within the budget.
  Status make_room(seq_id id, std::size_t n_new) {
    if (!kv().evicts()) return Status::ok_status();
    KEYTOK_RETURN_IF_ERROR(check_room(id, n_new));
    const auto [need, evictable] = eviction_need(id, n_new);
    if (need == 0) return Status::ok_status();
    auto& held = cells[id];
    const auto t0 = std::chrono::steady_clock::now();
    const std::size_t take = std::min(evictable, std::max(need, static_cast<std::size_t>(kv().step())));
    const std::vector<std::size_t> drop = detail::choose_evictions(held, take, kv(), rng);
    // One llama_memory_seq_rm per run of adjacent kept cells; the holes between them hold no
    // cell of this sequence, so a range over them removes exactly the chosen cells.
    for (std::size_t i = 0; i < drop.size();) {
      std::size_t j = i;
      while (j + 1 < drop.size() && drop[j + 1] == drop[j] + 1) ++j;
      llama_memory_seq_rm(memory(), id, held[drop[i]].position, held[drop[j]].position + 1);
      i = j + 1;
    }
    std::size_t w = 0, d = 0;
    for (std::size_t r = 0; r < held.size(); ++r) {
      if (d < drop.size() && drop[d] == r) {
        release(held[r]);
        ++d;
        continue;
      }
      held[w++] = held[r];
    }
    held.resize(w);
    ++counters.evictions;
    counters.cells_evicted += static_cast<std::int64_t>(drop.size());
    counters.kv_policy_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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
  KEYTOK_RETURN_IF_ERROR(kv.validate());
  // With eviction the context holds budget cells per sequence; llama.cpp counts cells in 32 bits.
  if (kv.evicts() && static_cast<std::int64_t>(kv.budget) * n_seq_max > std::numeric_limits<std::int32_t>::max()) {
    return Status::invalid_argument("a KV budget of " + std::to_string(kv.budget) + " cells for each of " +
                                    std::to_string(n_seq_max) + " sequences is too large; lower --kv-budget");
  }
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
  llama_model* lm = model->impl().model.get();
  if (params.kv.evicts() && (llama_model_is_recurrent(lm) || llama_model_is_hybrid(lm))) {
    // A middle seq_rm "succeeds" there but leaves the running state untouched
    // (docs/llama-cpp-notes.md, section 5): nothing would really be forgotten.
    return Status::invalid_argument("model " + model->path() + " (" + model->architecture() +
                                    ") keeps a recurrent state instead of one cell per token, so its cache "
                                    "cannot drop tokens; use --kv-policy full or a transformer model");
  }

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(params.kv.evicts() ? params.kv.budget * params.n_seq_max : params.n_ctx);
  cp.n_batch = static_cast<uint32_t>(params.n_batch);
  cp.n_ubatch = static_cast<uint32_t>(params.n_batch);
  cp.n_seq_max = static_cast<uint32_t>(params.n_seq_max);
  cp.n_threads = impl->n_threads;
  cp.n_threads_batch = impl->n_threads;
  cp.flash_attn_type = params.flash_attn ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cp.kv_unified = true;  // forks share prefix cells; positions per seq span all of n_ctx
  cp.swa_full = true;    // sliding-window models (Gemma 3) keep full history so forks stay exact
  impl->ctx.reset(llama_init_from_model(lm, cp));
  if (!impl->ctx) {
    return Status::load_failed("llama.cpp could not create a context with n_ctx=" + std::to_string(cp.n_ctx) +
                               (params.kv.evicts() ? " (the KV budget times the sequences); try a smaller --kv-budget"
                                                   : "; try a smaller --ctx"));
  }
  impl->n_ctx = static_cast<int>(llama_n_ctx(impl->ctx.get()));
  impl->n_batch = static_cast<int>(std::min(llama_n_batch(impl->ctx.get()), llama_n_ubatch(impl->ctx.get())));
  impl->n_vocab = model->n_vocab();
  impl->max_positions = impl->n_ctx;
  if (params.kv.evicts()) {
    impl->max_positions = model->n_ctx_train() > 0 ? model->n_ctx_train() : std::numeric_limits<pos>::max();
  }
  const int n_head = std::max(1, llama_model_n_head(lm));
  impl->bytes_per_cell = std::size_t{2} * 2 * static_cast<std::size_t>(llama_model_n_layer(lm)) *
                         static_cast<std::size_t>(llama_model_n_head_kv(lm)) *
                         static_cast<std::size_t>(llama_model_n_embd(lm) / n_head);
  impl->rng.seed(params.kv.seed);
  impl->model = std::move(model);
  const auto n_seq = static_cast<std::size_t>(params.n_seq_max);
  impl->cells.assign(n_seq, {});
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
  s.release_all(id);
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
  s.cells[c] = s.cells[parent.id];
  for (const detail::KvCell& cell : s.cells[c]) ++s.holders[cell.id];
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
  s.release_all(branch.id);
  s.logits_gen[branch.id] = -1;
}

void Session::reset() {
  auto& s = *impl_;
  llama_memory_clear(s.memory(), true);
  std::fill(s.open.begin(), s.open.end(), false);
  std::fill(s.n_past.begin(), s.n_past.end(), 0);
  std::fill(s.logits_gen.begin(), s.logits_gen.end(), -1);
  for (auto& c : s.cells) c.clear();
  s.holders.clear();
}

Status Session::feed(const Branch& branch, std::span<const token_id> tokens,
                     const LogitsCallback& on_logits) {
  auto& s = *impl_;
  if (!s.is_open(branch)) return Status::invalid_argument("feed to a branch that is not open");
  if (tokens.empty()) return Status::ok_status();
  const seq_id id = branch.id;
  KEYTOK_RETURN_IF_ERROR(s.check_positions(id, tokens.size()));
  // With eviction the chunk is the eviction granularity: each chunk's tokens see the cells kept
  // before it and each other.
  const int chunk = s.kv().evicts() ? std::min(s.n_batch, s.kv().step()) : std::max(1, std::min(s.n_batch, s.n_ctx));
  const bool scores = s.kv().scores();
  detail::BatchGuard batch(chunk, 1);
  for (std::size_t start = 0; start < tokens.size(); start += static_cast<std::size_t>(chunk)) {
    const std::size_t end = std::min(tokens.size(), start + static_cast<std::size_t>(chunk));
    KEYTOK_RETURN_IF_ERROR(s.make_room(id, end - start));
    // The first token's predicting distribution is the branch's current logits, if any.
    const float first_importance = scores ? s.importance(logits(branch), tokens[start]) : 0.0f;
    batch.clear();
    for (std::size_t i = start; i < end; ++i) {
      const bool want = static_cast<bool>(on_logits) || scores || i + 1 == tokens.size();
      batch.add(tokens[i], s.n_past[id] + static_cast<pos>(i - start), id, want);
    }
    KEYTOK_RETURN_IF_ERROR(s.decode(batch.get()));
    for (std::size_t i = start; i < end; ++i) {
      float imp = 0.0f;
      if (scores) {
        imp = i == start ? first_importance
                         : s.importance(std::span<const float>(llama_get_logits_ith(s.ctx.get(), static_cast<int32_t>(i - start - 1)),
                                                               static_cast<std::size_t>(s.n_vocab)),
                                        tokens[i]);
      }
      s.record(id, s.n_past[id] + static_cast<pos>(i - start), tokens[i], imp);
    }
    s.n_past[id] += static_cast<pos>(end - start);
    s.note_peak();
    if (on_logits) {
      for (std::size_t i = start; i < end; ++i) {
        const float* l = llama_get_logits_ith(s.ctx.get(), static_cast<int32_t>(i - start));
        if (l == nullptr) return Status::internal("llama.cpp returned no logits for a fed token");
        on_logits(i, std::span<const float>(l, static_cast<std::size_t>(s.n_vocab)));
      }
    }
    s.logits_index[id] = static_cast<int>(end - start) - 1;
    s.logits_gen[id] = s.gen;
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
  auto& held = s.cells[branch.id];
  const auto first_cut = std::lower_bound(held.begin(), held.end(), keep,
                                          [](const detail::KvCell& c, pos p) { return c.position < p; });
  if (keep > 0 && (first_cut == held.begin() || std::prev(first_cut)->position != keep - 1)) {
    return Status::invalid_argument("cannot cut the branch back to position " + std::to_string(keep) +
                                    ": the KV policy evicted position " + std::to_string(keep - 1) +
                                    ", and the next token must follow a kept one; cut less far back or "
                                    "raise --kv-window");
  }
  // llama.cpp refuses a partial removal where the cache holds a running state instead of one
  // cell per position (recurrent and hybrid models; docs/llama-cpp-notes.md).
  if (!llama_memory_seq_rm(s.memory(), branch.id, keep, -1)) {
    return Status::invalid_argument("this model's cache (" + s.model->architecture() +
                                    ") cannot drop part of a sequence, so a path cannot be rolled back; "
                                    "use a transformer model or turn rollback off");
  }
  for (auto it = first_cut; it != held.end(); ++it) s.release(*it);
  held.erase(first_cut, held.end());
  s.n_past[branch.id] = keep;
  s.logits_gen[branch.id] = -1;
  return Status::ok_status();
}

Status Session::remove(const Branch& branch, pos p0, pos p1) {
  auto& s = *impl_;
  if (!s.is_open(branch)) return Status::invalid_argument("remove from a branch that is not open");
  auto& held = s.cells[branch.id];
  if (p0 < 0 || p1 <= p0 || p1 > s.n_past[branch.id]) {
    return Status::invalid_argument("cannot remove positions [" + std::to_string(p0) + ", " + std::to_string(p1) +
                                    ") from a branch of " + std::to_string(s.n_past[branch.id]) +
                                    " positions; give 0 <= p0 < p1 <= n_past");
  }
  if (!held.empty() && held.back().position >= p0 && held.back().position < p1) {
    return Status::invalid_argument("cannot remove the branch's last kept cell (position " +
                                    std::to_string(held.back().position) +
                                    "): the next token must follow it; use truncate to cut the end");
  }
  llama_model* lm = s.model->impl().model.get();
  if (llama_model_is_recurrent(lm) || llama_model_is_hybrid(lm)) {
    return Status::invalid_argument("this model's cache (" + s.model->architecture() +
                                    ") keeps a running state, so it cannot drop tokens from the middle");
  }
  llama_memory_seq_rm(s.memory(), branch.id, p0, p1);
  std::erase_if(held, [&](const detail::KvCell& c) {
    const bool gone = c.position >= p0 && c.position < p1;
    if (gone) s.release(c);
    return gone;
  });
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
    const Status room = s.check_positions(branches[i].id, tokens[i].size());
    if (!room.ok()) {
      return Status::context_overflow("a branch reached the end of its positions: " + room.message());
    }
    // Checked for every branch before any evicts, so that a refusal changes nothing.
    KEYTOK_RETURN_IF_ERROR(s.check_room(branches[i].id, tokens[i].size()));
    for (std::size_t j = 0; j < i; ++j) {
      if (branches[j] == branches[i]) return Status::invalid_argument("a decode lists a branch twice");
    }
    total += tokens[i].size();
  }
  if (static_cast<int>(total) > s.n_batch) {
    return Status::invalid_argument("a decode of " + std::to_string(total) + " tokens exceeds the batch size " +
                                    std::to_string(s.n_batch) + "; raise n_batch (and --ctx)");
  }
  const bool scores = s.kv().scores();
  std::vector<float> first_importance(branches.size(), 0.0f);
  for (std::size_t i = 0; i < branches.size(); ++i) {
    KEYTOK_RETURN_IF_ERROR(s.make_room(branches[i].id, tokens[i].size()));
    if (scores) first_importance[i] = s.importance(logits(branches[i]), tokens[i][0]);
  }
  detail::BatchGuard batch(static_cast<int>(total), 1);
  std::vector<int> first(branches.size());
  for (std::size_t i = 0; i < branches.size(); ++i) {
    const seq_id id = branches[i].id;
    first[i] = batch.size();
    for (std::size_t k = 0; k < tokens[i].size(); ++k) {
      batch.add(tokens[i][k], s.n_past[id] + static_cast<pos>(k), id, scores || k + 1 == tokens[i].size());
    }
  }
  KEYTOK_RETURN_IF_ERROR(s.decode(batch.get()));
  for (std::size_t i = 0; i < branches.size(); ++i) {
    const seq_id id = branches[i].id;
    for (std::size_t k = 0; k < tokens[i].size(); ++k) {
      float imp = 0.0f;
      if (scores) {
        imp = k == 0 ? first_importance[i]
                     : s.importance(std::span<const float>(llama_get_logits_ith(s.ctx.get(), first[i] + static_cast<int>(k) - 1),
                                                           static_cast<std::size_t>(s.n_vocab)),
                                    tokens[i][k]);
      }
      s.record(id, s.n_past[id] + static_cast<pos>(k), tokens[i][k], imp);
    }
    s.n_past[id] += static_cast<pos>(tokens[i].size());
    s.logits_index[id] = first[i] + static_cast<int>(tokens[i].size()) - 1;
    s.logits_gen[id] = s.gen;
  }
  s.note_peak();
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

pos Session::max_positions() const { return impl_->max_positions; }
pos Session::room(const Branch& branch) const {
  return impl_->max_positions - n_past(branch);
}

std::vector<pos> Session::kept_positions(const Branch& branch) const {
  std::vector<pos> out;
  if (!impl_->is_open(branch)) return out;
  for (const detail::KvCell& c : impl_->cells[branch.id]) out.push_back(c.position);
  return out;
}

int Session::cells_in_use() const { return impl_->cells_in_use(); }
std::size_t Session::kv_bytes_per_cell() const { return impl_->bytes_per_cell; }
const KvPolicyParams& Session::kv_policy() const { return impl_->params.kv; }

KvUsage Session::kv_usage() const {
  const auto& s = *impl_;
  constexpr double kMiB = 1024.0 * 1024.0;
  KvUsage u;
  u.policy = s.kv().policy;
  u.budget = s.kv().evicts() ? s.kv().budget : 0;
  u.n_ctx = s.n_ctx;
  u.peak_cells = s.counters.peak_cells;
  u.kv_mib_allocated = static_cast<double>(s.n_ctx) * static_cast<double>(s.bytes_per_cell) / kMiB;
  u.kv_mib_peak = static_cast<double>(u.peak_cells) * static_cast<double>(s.bytes_per_cell) / kMiB;
  u.evictions = s.counters.evictions;
  u.cells_evicted = s.counters.cells_evicted;
  u.decode_seconds = s.counters.decode_seconds;
  u.policy_seconds = s.counters.kv_policy_seconds;
  return u;
}

Result<std::vector<CacheCell>> Session::cache_cells() const {
  const auto& s = *impl_;
  const llama_rope_type rope = llama_model_rope_type(s.model->impl().model.get());
  if (rope == LLAMA_ROPE_TYPE_MROPE || rope == LLAMA_ROPE_TYPE_IMROPE || rope == LLAMA_ROPE_TYPE_VISION) {
    return Status::invalid_argument("cache_cells cannot read the cells of a multi-position (M-RoPE) model");
  }
  // Layout (llama_kv_cache::state_write): u32 n_stream; per stream u32 cell_count, then per
  // cell i32 pos, u32 n_seq_id, n_seq_id x i32 seq id; then the K/V data. A unified cache has
  // one stream, so the data that follows needs no parsing.
  std::vector<std::uint8_t> buf(llama_state_seq_get_size(s.ctx.get(), -1));
  const std::size_t got = llama_state_seq_get_data(s.ctx.get(), buf.data(), buf.size(), -1);
  std::size_t at = 8;  // llama_context::state_seq_get_data writes u32 io_magic and i32 seq_id first
  const auto read_u32 = [&](std::uint32_t& v) {
    if (at + 4 > got) return false;
    std::memcpy(&v, buf.data() + at, 4);
    at += 4;
    return true;
  };
  std::uint32_t n_stream = 0, n_cells = 0;
  if (!read_u32(n_stream) || n_stream != 1) {
    return Status::internal("cache_cells expects llama.cpp's unified cache (one stream)");
  }
  if (!read_u32(n_cells)) return std::vector<CacheCell>{};
  std::vector<CacheCell> out(n_cells);
  for (CacheCell& c : out) {
    std::uint32_t p = 0, n_seq = 0;
    if (!read_u32(p) || !read_u32(n_seq) || n_seq > static_cast<std::uint32_t>(kMaxSequences)) {
      return Status::internal("cache_cells could not read llama.cpp's cell list");
    }
    c.position = static_cast<pos>(static_cast<std::int32_t>(p));
    for (std::uint32_t k = 0; k < n_seq; ++k) {
      std::uint32_t id = 0;
      if (!read_u32(id)) return Status::internal("cache_cells could not read llama.cpp's cell list");
      c.seqs.push_back(static_cast<seq_id>(id));
    }
    std::sort(c.seqs.begin(), c.seqs.end());
  }
  return out;
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
  impl_->counters.peak_cells = impl_->cells_in_use();
}

}  // namespace keytok
