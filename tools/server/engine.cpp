// Engine: continuous batching of every request's sequences over one shared Session.
#include "engine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>

namespace keytok::server {

// --- RequestTarget ---------------------------------------------------------------------------

RequestTarget::~RequestTarget() { engine_.release(*this); }

Result<std::vector<token_id>> RequestTarget::encode_prompt(std::string_view prompt, bool raw) const {
  return engine_.model().encode_prompt(prompt, raw);
}
Result<std::vector<token_id>> RequestTarget::encode_chat(std::span<const ChatMessage> messages) const {
  return engine_.model().encode_chat(messages);
}
bool RequestTarget::is_eog(token_id t) const { return engine_.model().is_eog(t); }
std::string RequestTarget::detokenize(std::span<const token_id> tokens) const {
  return engine_.model().detokenize(tokens);
}
std::string RequestTarget::token_piece(token_id t) const { return engine_.model().token_piece(t); }

int RequestTarget::n_ctx() const { return engine_.session_->n_ctx(); }
pos RequestTarget::max_positions() const { return engine_.session_->max_positions(); }

void RequestTarget::reset() {
  std::lock_guard lk(engine_.m_);
  for (seq_id id : open_) engine_.session_->close(Branch{id});
  open_.clear();
  logits_.clear();
}

Result<Branch> RequestTarget::open() {
  std::lock_guard lk(engine_.m_);
  if (static_cast<int>(open_.size()) >= reserved_) {
    return Status::invalid_argument(fmt::format("this request reserved {} sequences and uses them all", reserved_));
  }
  auto b = engine_.session_->open();
  if (!b.ok()) return b;
  open_.push_back(b->id);
  counters_.peak_live_branches = std::max(counters_.peak_live_branches, static_cast<int>(open_.size()));
  return b;
}

Result<Branch> RequestTarget::fork(const Branch& parent) {
  std::lock_guard lk(engine_.m_);
  if (std::find(open_.begin(), open_.end(), parent.id) == open_.end()) {
    return Status::invalid_argument("fork of a branch this request does not hold");
  }
  if (static_cast<int>(open_.size()) >= reserved_) {
    return Status::invalid_argument(fmt::format("this request reserved {} sequences and uses them all", reserved_));
  }
  auto b = engine_.session_->fork(parent);
  if (!b.ok()) return b;
  open_.push_back(b->id);
  if (const auto it = logits_.find(parent.id); it != logits_.end()) logits_[b->id] = it->second;
  counters_.peak_live_branches = std::max(counters_.peak_live_branches, static_cast<int>(open_.size()));
  return b;
}

void RequestTarget::close(const Branch& branch) {
  std::lock_guard lk(engine_.m_);
  const auto it = std::find(open_.begin(), open_.end(), branch.id);
  if (it == open_.end()) return;
  engine_.session_->close(branch);
  open_.erase(it);
  logits_.erase(branch.id);
}

Status RequestTarget::feed(const Branch& branch, std::span<const token_id> tokens, const LogitsCallback& on_logits) {
  Engine::Job job{.owner = this, .feed = true, .on_logits = on_logits ? &on_logits : nullptr,
                  .branches = {branch}, .tokens = {tokens.begin(), tokens.end()}};
  return engine_.submit(job);
}

Status RequestTarget::truncate(const Branch& branch, pos keep) {
  std::lock_guard lk(engine_.m_);
  if (std::find(open_.begin(), open_.end(), branch.id) == open_.end()) {
    return Status::invalid_argument("truncate of a branch this request does not hold");
  }
  logits_.erase(branch.id);
  return engine_.session_->truncate(branch, keep);
}

Status RequestTarget::step(std::span<const Branch> branches, std::span<const token_id> tokens) {
  if (branches.size() != tokens.size()) return Status::invalid_argument("step needs one token per branch");
  if (branches.empty()) return Status::ok_status();
  Engine::Job job{.owner = this, .feed = false, .branches = {branches.begin(), branches.end()},
                  .tokens = {tokens.begin(), tokens.end()}};
  return engine_.submit(job);
}

std::span<const float> RequestTarget::logits(const Branch& branch) const {
  const auto it = logits_.find(branch.id);
  if (it == logits_.end()) return {};
  return it->second;
}

pos RequestTarget::n_past(const Branch& branch) const {
  std::lock_guard lk(engine_.m_);
  return engine_.session_->n_past(branch);
}

// --- Engine ----------------------------------------------------------------------------------

Result<std::unique_ptr<Engine>> Engine::create(std::shared_ptr<const Model> model, SessionParams params,
                                               const EngineLimits& limits) {
  if (limits.parallel < 1 || limits.queue < 0 || limits.sequences < 1 || limits.sequences > kMaxSequences) {
    return Status::invalid_argument(fmt::format(
        "engine limits: parallel >= 1, queue >= 0 and 1 <= sequences <= {} (got {}, {}, {})", kMaxSequences,
        limits.parallel, limits.queue, limits.sequences));
  }
  params.n_seq_max = limits.sequences;
  auto session = Session::create(model, params);
  if (!session.ok()) return session.status();
  return std::unique_ptr<Engine>(new Engine(std::move(model), std::move(*session), limits));
}

Engine::Engine(std::shared_ptr<const Model> model, std::unique_ptr<Session> session, const EngineLimits& limits)
    : model_(std::move(model)), session_(std::move(session)), limits_(limits) {
  thread_ = std::thread([this] { loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard lk(m_);
    stopping_ = true;
    admitting_ = false;
  }
  engine_cv_.notify_all();
  admit_cv_.notify_all();
  thread_.join();
}

void Engine::stop_admitting() {
  {
    std::lock_guard lk(m_);
    admitting_ = false;
  }
  admit_cv_.notify_all();
}

Result<std::unique_ptr<RequestTarget>> Engine::admit(int sequences, const std::atomic<bool>* cancel) {
  if (sequences < 1 || sequences > limits_.sequences) {
    return Status::invalid_argument(fmt::format(
        "the request needs {} KV sequences but the server has {} in all; ask for fewer paths or start the "
        "server with more --sequences",
        sequences, limits_.sequences));
  }
  std::unique_lock lk(m_);
  const auto fits = [&] { return running_ < limits_.parallel && reserved_ + sequences <= limits_.sequences; };
  const auto give_up = [&] { return !admitting_ || (cancel != nullptr && cancel->load()); };
  if (!admitting_) return Status::aborted("the server is shutting down");
  if (!fits()) {
    if (queued_ >= limits_.queue) {
      return Status::busy(fmt::format("the server is busy: {} requests running and {} waiting; retry later",
                                      running_, queued_));
    }
    ++queued_;
    while (!fits() && !give_up()) {
      // Polls the cancel flag: a client that hangs up while queued leaves the queue.
      admit_cv_.wait_for(lk, std::chrono::milliseconds(50));
    }
    --queued_;
    if (!fits()) return Status::aborted(admitting_ ? "the request was cancelled while queued" : "the server is shutting down");
  }
  ++running_;
  reserved_ += sequences;
  return std::unique_ptr<RequestTarget>(new RequestTarget(*this, sequences));
}

void Engine::release(RequestTarget& target) {
  {
    std::lock_guard lk(m_);
    for (seq_id id : target.open_) session_->close(Branch{id});
    target.open_.clear();
    --running_;
    reserved_ -= target.reserved_;
  }
  admit_cv_.notify_all();
  engine_cv_.notify_one();  // the number of requests a step waits for changed
}

Status Engine::submit(Job& job) {
  std::unique_lock lk(m_);
  if (stopping_) return Status::aborted("the server is shutting down");
  jobs_.push_back(&job);
  engine_cv_.notify_one();
  done_cv_.wait(lk, [&] { return job.done; });
  return job.result;
}

void Engine::loop() {
  std::unique_lock lk(m_);
  const auto gather = std::chrono::duration<double, std::milli>(limits_.gather_ms);
  for (;;) {
    engine_cv_.wait(lk, [&] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stopping, nothing left
    // Let every running request bring its step, so that one decode serves them all; a request
    // busy elsewhere (a slow client) costs the others at most `gather`.
    engine_cv_.wait_for(lk, gather, [&] { return stopping_ || static_cast<int>(jobs_.size()) >= running_; });
    std::vector<Job*> batch(jobs_.begin(), jobs_.end());
    jobs_.clear();
    run_batch(batch);
    done_cv_.notify_all();
  }
}

void Engine::copy_logits(RequestTarget& owner, const Branch& b) {
  const std::span<const float> l = session_->logits(b);
  owner.logits_[b.id].assign(l.begin(), l.end());
}

void Engine::settle(Job& job, const Status& st) {
  job.result = st;
  if (st.ok()) {
    for (const Branch& b : job.branches) copy_logits(*job.owner, b);
  }
  ++job.owner->counters_.decode_calls;
  job.owner->counters_.tokens_decoded += static_cast<std::int64_t>(job.tokens.size());
}

void Engine::run_batch(std::vector<Job*>& jobs) {
  // One decode for everything when it fits: the prefills of new requests together with the
  // next token of every running one, as llama-server mixes them. A new request then waits one
  // step for its first token, not one decode per request ahead of it.
  std::size_t total = 0;
  bool feeds = false;
  bool all_logits = false;
  for (const Job* job : jobs) {
    total += job->tokens.size();
    feeds = feeds || job->feed;
    all_logits = all_logits || job->on_logits != nullptr;
  }
  if (static_cast<int>(total) <= session_->n_batch() && !all_logits) {
    std::vector<Branch> branches;
    std::vector<std::span<const token_id>> tokens;
    for (Job* job : jobs) {
      for (std::size_t i = 0; i < job->branches.size(); ++i) {
        branches.push_back(job->branches[i]);
        tokens.push_back(job->feed ? std::span<const token_id>(job->tokens)
                                   : std::span<const token_id>(&job->tokens[i], 1));
      }
    }
    const Status st = session_->decode_batch(branches, tokens);
    // A full KV pool with prefills in the batch: nothing advanced; retry them apart below, so
    // that one prompt without room does not end the running requests' paths.
    if (st.ok() || !(feeds && st.code() == StatusCode::kv_full)) {
      for (Job* job : jobs) {
        settle(*job, st);
        job->done = true;
      }
      return;
    }
  }
  // Apart: each prefill on its own (split into n_batch chunks), then every step in one decode.
  for (Job* job : jobs) {
    if (!job->feed) continue;
    const std::int64_t before = session_->counters().decode_calls;
    job->result = session_->feed(job->branches[0], job->tokens, job->on_logits ? *job->on_logits : LogitsCallback{});
    if (job->result.ok()) copy_logits(*job->owner, job->branches[0]);
    job->owner->counters_.decode_calls += session_->counters().decode_calls - before;
    job->owner->counters_.tokens_decoded += static_cast<std::int64_t>(job->tokens.size());
  }
  std::vector<Branch> branches;
  std::vector<token_id> tokens;
  for (Job* job : jobs) {
    if (job->feed) continue;
    branches.insert(branches.end(), job->branches.begin(), job->branches.end());
    tokens.insert(tokens.end(), job->tokens.begin(), job->tokens.end());
  }
  if (!branches.empty()) {
    const Status st = session_->step(branches, tokens);
    for (Job* job : jobs) {
      if (!job->feed) settle(*job, st);
    }
  }
  for (Job* job : jobs) job->done = true;
}

EngineStats Engine::stats() const {
  std::lock_guard lk(m_);
  EngineStats s;
  s.running = running_;
  s.queued = queued_;
  for (seq_id id = 0; id < session_->n_seq_max(); ++id) {
    if (session_->holds_cells(id)) ++s.sequences_open;
    s.positions_held += session_->n_past(Branch{id});
  }
  s.decode_calls = session_->counters().decode_calls;
  s.tokens_decoded = session_->counters().tokens_decoded;
  s.n_ctx = session_->n_ctx();
  s.cells_in_use = session_->cells_in_use();
  s.cells_evicted = session_->counters().cells_evicted;
  return s;
}

}  // namespace keytok::server
