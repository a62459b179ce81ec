// PathRunner: prefill once, fork sequences, batched steps, budget, and cleanup.
#include "decode/path_runner.hpp"

#include <algorithm>
#include <cmath>

#include "util/assert.hpp"

namespace keytok::detail {

namespace {

std::optional<std::string> default_extract(std::string_view text) {
  const auto b = text.find_first_not_of(" \t\r\n\f\v");
  if (b == std::string_view::npos) return std::nullopt;
  const auto e = text.find_last_not_of(" \t\r\n\f\v");
  return std::string(text.substr(b, e - b + 1));
}

}  // namespace

PathRunner::PathRunner(DecodeTarget& session, const StrategyParams& params, const GenerateRequest& request,
                       GenerationResult& out)
    : session_(session), params_(params), request_(request), out_(out),
      detector_(params.branch.detector),
      top_k_(std::max({20, params.deepconf.top_k, params.branch.alternatives})),
      start_(std::chrono::steady_clock::now()) {
  out_.strategy = params.name();
  session_.set_abort_flag(request.cancel);
}

PathRunner::~PathRunner() {
  close_all();
  session_.set_abort_flag(nullptr);
}

bool PathRunner::cancelled() const {
  return request_.cancel != nullptr && request_.cancel->load(std::memory_order_relaxed);
}

void PathRunner::emit(const StrategyEvent& event) const {
  if (request_.on_event) request_.on_event(event);
}

void PathRunner::close_all() {
  for (LivePath& lp : live_) session_.close(lp.branch);
  live_.clear();
  close_prompt();
}

void PathRunner::close_prompt() {
  session_.close(prompt_);
  prompt_ = Branch{};
}

Status PathRunner::prefill() {
  if (request_.prompt.empty() && request_.messages.empty()) {
    return Status::invalid_argument("the prompt is empty; pass -p TEXT");
  }
  if (session_.n_seq_max() < params_.max_live_sequences()) {
    return Status::invalid_argument("strategy " + params_.name() + " needs a session with n_seq_max >= " +
                                    std::to_string(params_.max_live_sequences()) + "; it has " +
                                    std::to_string(session_.n_seq_max()));
  }
  auto tokens = request_.messages.empty() ? session_.encode_prompt(request_.prompt, request_.raw)
                                          : session_.encode_chat(request_.messages);
  if (!tokens.ok()) return tokens.status();
  if (static_cast<std::int64_t>(tokens->size()) + 1 > session_.max_positions()) {
    return Status::context_overflow("the prompt is " + std::to_string(tokens->size()) +
                                    " tokens but the context holds " + std::to_string(session_.max_positions()) +
                                    " with room needed to generate; raise --ctx or shorten the prompt");
  }
  session_.reset();
  session_.reset_counters();
  start_ = std::chrono::steady_clock::now();
  auto root = session_.open();
  if (!root.ok()) return root.status();
  prompt_ = *root;
  out_.cost.prompt_tokens = static_cast<int>(tokens->size());
  prompt_tokens_ = std::move(*tokens);
  KEYTOK_RETURN_IF_ERROR(session_.feed(prompt_, prompt_tokens_));
  // Session::logits lasts until the next decode; paths forked from the prompt later need a copy.
  const std::span<const float> l = session_.logits(prompt_);
  prompt_logits_.assign(l.begin(), l.end());
  return Status::ok_status();
}

std::span<const float> PathRunner::logits_for(int l) const {
  const LivePath& lp = live_[static_cast<std::size_t>(l)];
  const std::span<const float> fresh = session_.logits(lp.branch);
  if (!fresh.empty()) return fresh;
  const PathResult& p = out_.paths[static_cast<std::size_t>(lp.path)];
  KEYTOK_ASSERT(p.parent < 0 && p.tokens.empty(), "path {} has no logits", lp.path);
  return prompt_logits_;
}

Result<int> PathRunner::start_path(const SamplingParams& sampling, bool take_prompt) {
  if (!prompt_.valid()) return Status::internal("no prompt branch to start a path from");
  auto sampler = Sampler::create(sampling);
  if (!sampler.ok()) return sampler.status();
  LivePath lp;
  if (take_prompt) {
    lp.branch = prompt_;
    prompt_ = Branch{};
  } else {
    auto b = session_.fork(prompt_);
    if (!b.ok()) return b.status();
    ++out_.cost.forks;
    lp.branch = *b;
  }
  lp.sampler.emplace(std::move(*sampler));
  lp.path = static_cast<int>(out_.paths.size());
  out_.paths.push_back(PathResult{.id = lp.path});
  live_.push_back(std::move(lp));
  return static_cast<int>(live_.size()) - 1;
}

Result<int> PathRunner::fork_path(int from, const TokenStats& stats) {
  LivePath& parent = live_[static_cast<std::size_t>(from)];
  auto b = session_.fork(parent.branch);
  if (!b.ok()) return b.status();
  ++out_.cost.forks;
  auto sampler = Sampler::create(parent.sampler->params());
  if (!sampler.ok()) {
    session_.close(*b);
    return sampler.status();
  }
  const PathResult& pp = out_.paths[static_cast<std::size_t>(parent.path)];
  // The parent's pending token is not in its KV yet, so the child shares all tokens but that one.
  const std::size_t shared = pp.tokens.size() - (parent.pending ? 1 : 0);
  PathResult child{.id = static_cast<int>(out_.paths.size()), .parent = parent.path,
                   .fork_index = static_cast<int>(shared)};
  child.tokens.assign(pp.tokens.begin(), pp.tokens.begin() + static_cast<std::ptrdiff_t>(shared));
  child.logprobs.assign(pp.logprobs.begin(), pp.logprobs.begin() + static_cast<std::ptrdiff_t>(shared));
  child.confidences.assign(pp.confidences.begin(), pp.confidences.begin() + static_cast<std::ptrdiff_t>(shared));
  child.key.assign(pp.key.begin(), pp.key.begin() + static_cast<std::ptrdiff_t>(shared));
  child.large.assign(pp.large.begin(), pp.large.begin() + static_cast<std::ptrdiff_t>(shared));
  LivePath lp{.path = static_cast<int>(out_.paths.size()), .branch = *b};
  if (!request_.stop.empty()) {
    // The end of the shared text, where a stop string may already have begun.
    const std::size_t from = shared > 16 ? shared - 16 : 0;
    lp.tail = session_.detokenize(std::span(child.tokens).subspan(from));
  }
  out_.paths.push_back(std::move(child));
  lp.sampler.emplace(std::move(*sampler));
  live_.push_back(std::move(lp));
  const int l = static_cast<int>(live_.size()) - 1;
  append(l, stats);
  return l;
}

TokenStats PathRunner::pick(int l) {
  LivePath& lp = live_[static_cast<std::size_t>(l)];
  const std::span<const float> logits = logits_for(l);
  const token_id t = lp.sampler->sample(logits);
  return compute_token_stats(logits, t, top_k_);
}

TokenStats PathRunner::stats_for(int l, token_id t) {
  return compute_token_stats(logits_for(l), t, top_k_);
}

bool PathRunner::append(int l, const TokenStats& stats, bool by_large) {
  const bool key = detector_.is_key(stats);
  if (session_.is_eog(stats.token)) {
    finish(l, "eog");
    return false;
  }
  if (budget_spent()) {
    finish(l, "budget");
    return false;
  }
  LivePath& lp = live_[static_cast<std::size_t>(l)];
  PathResult& p = out_.paths[static_cast<std::size_t>(lp.path)];
  p.tokens.push_back(stats.token);
  p.logprobs.push_back(stats.logprob);
  const std::size_t k = std::min(stats.top.size(), static_cast<std::size_t>(params_.deepconf.top_k));
  p.confidences.push_back(static_cast<float>(token_confidence(std::span(stats.top.data(), k))));
  p.key.push_back(key);
  p.large.push_back(by_large);
  ++out_.cost.generated_tokens;
  // The token's text, once, for the listener and the stop strings.
  const std::string piece =
      request_.on_event || !request_.stop.empty() ? session_.token_piece(stats.token) : std::string();
  emit({.kind = StrategyEventKind::token, .path = lp.path, .stats = &stats, .piece = piece, .key = key});
  if (hit_stop(l, piece)) {
    finish(l, "stop");
    return false;
  }
  if (static_cast<int>(p.tokens.size()) - p.fork_index >= params_.max_tokens) {
    finish(l, "length");
    return false;
  }
  lp.pending = true;
  return true;
}

Status PathRunner::step() {
  if (cancelled()) return Status::aborted("the request was cancelled");
  // Paths at the end of the context cannot take another token.
  for (int l = static_cast<int>(live_.size()) - 1; l >= 0; --l) {
    const LivePath& lp = live_[static_cast<std::size_t>(l)];
    if (lp.pending && session_.room(lp.branch) < 1) finish(l, "context");
  }
  step_branches_.clear();
  step_tokens_.clear();
  for (const LivePath& lp : live_) {
    if (!lp.pending) continue;
    step_branches_.push_back(lp.branch);
    step_tokens_.push_back(out_.paths[static_cast<std::size_t>(lp.path)].tokens.back());
  }
  if (step_branches_.empty()) return Status::ok_status();
  const Status st = session_.step(step_branches_, step_tokens_);
  if (st.code() == StatusCode::kv_full) {
    for (int l = static_cast<int>(live_.size()) - 1; l >= 0; --l) {
      if (live_[static_cast<std::size_t>(l)].pending) finish(l, "kv_full");
    }
    return Status::ok_status();
  }
  KEYTOK_RETURN_IF_ERROR(st);
  for (LivePath& lp : live_) {
    if (!lp.pending) continue;
    lp.pending = false;
    ++lp.since_fork;
  }
  return Status::ok_status();
}

Status PathRunner::rewind(int l, int keep) {
  LivePath& lp = live_[static_cast<std::size_t>(l)];
  PathResult& p = out_.paths[static_cast<std::size_t>(lp.path)];
  KEYTOK_ASSERT(!lp.pending, "path {} rewinds with a pending token", lp.path);
  KEYTOK_ASSERT(keep >= p.fork_index && keep <= static_cast<int>(p.tokens.size()),
                "path {} cannot keep {} of {} tokens (fork at {})", lp.path, keep, p.tokens.size(), p.fork_index);
  const auto n_prompt = static_cast<pos>(prompt_tokens_.size());
  // The token before position `keep` goes in again to give the logits there.
  const token_id last = keep > 0 ? p.tokens[static_cast<std::size_t>(keep) - 1] : prompt_tokens_.back();
  KEYTOK_RETURN_IF_ERROR(session_.truncate(lp.branch, n_prompt + keep - 1));
  KEYTOK_RETURN_IF_ERROR(session_.feed(lp.branch, std::span(&last, 1)));
  const auto k = static_cast<std::size_t>(keep);
  p.tokens.resize(k);
  p.logprobs.resize(k);
  p.confidences.resize(k);
  p.key.resize(k);
  p.large.resize(k);
  if (!request_.stop.empty()) {
    lp.tail = session_.detokenize(std::span(p.tokens).subspan(k > 16 ? k - 16 : 0));
  }
  emit({.kind = StrategyEventKind::rollback, .path = lp.path, .index = keep});
  return Status::ok_status();
}

bool PathRunner::hit_stop(int l, std::string_view piece) {
  if (request_.stop.empty()) return false;
  LivePath& lp = live_[static_cast<std::size_t>(l)];
  lp.tail += piece;
  std::size_t longest = 0;
  for (const std::string& s : request_.stop) {
    if (!s.empty() && lp.tail.find(s) != std::string::npos) return true;
    longest = std::max(longest, s.size());
  }
  // Keep what a stop string could still end in: its length plus the longest piece seen.
  const std::size_t keep = 2 * longest + 64;
  if (lp.tail.size() > keep) lp.tail.erase(0, lp.tail.size() - keep);
  return false;
}

void PathRunner::finish(int l, const std::string& reason, bool votes) {
  LivePath& lp = live_[static_cast<std::size_t>(l)];
  PathResult& p = out_.paths[static_cast<std::size_t>(lp.path)];
  p.text = session_.detokenize(p.tokens);
  if (reason == "stop") {
    // The text ends before the first stop string in it (OpenAI's rule).
    std::size_t cut = p.text.size();
    for (const std::string& s : request_.stop) {
      if (s.empty()) continue;
      cut = std::min(cut, p.text.find(s));
    }
    p.text.resize(cut);
  }
  p.answer = request_.extract ? request_.extract(p.text) : default_extract(p.text);
  p.stop_reason = reason;
  p.votes = votes;
  session_.close(lp.branch);
  emit({.kind = StrategyEventKind::path_end, .path = lp.path, .stop_reason = p.stop_reason});
  live_.erase(live_.begin() + l);
}

void PathRunner::finish_all(const std::string& reason, bool votes) {
  while (!live_.empty()) finish(static_cast<int>(live_.size()) - 1, reason, votes);
}

bool PathRunner::settle_if_agreed() {
  if (params_.stop_agree <= 0 || live_.empty() || largest_agreement(out_.paths) < params_.stop_agree) return false;
  finish_all("settled", /*votes=*/false);
  return true;
}

std::int64_t PathRunner::budget_left() const {
  if (params_.budget_tokens <= 0) return INT64_MAX;
  return params_.budget_tokens - out_.cost.generated_tokens;
}

void PathRunner::finalize(CombineRule rule, bool keep_confidence) {
  finish_all("budget");
  close_all();
  for (PathResult& p : out_.paths) {
    const auto own = static_cast<std::ptrdiff_t>(p.fork_index);
    const std::ptrdiff_t n = static_cast<std::ptrdiff_t>(p.logprobs.size()) - own;
    double sum = 0.0;
    for (auto it = p.logprobs.begin() + own; it != p.logprobs.end(); ++it) sum += *it;
    p.mean_logprob = n > 0 ? sum / static_cast<double>(n) : 0.0;
    if (!keep_confidence) p.confidence = std::exp(p.mean_logprob);
  }
  out_.vote = combine_ballots(ballots_for(out_.paths, out_.forks, rule), rule);
  if (out_.vote.chosen_path >= 0) out_.text = out_.paths[static_cast<std::size_t>(out_.vote.chosen_path)].text;
  const SessionCounters& c = session_.counters();
  out_.cost.decode_calls = c.decode_calls;
  out_.cost.peak_live = c.peak_live_branches;
  out_.cost.peak_cells = c.peak_cells;
  out_.cost.cells_evicted = c.cells_evicted;
  out_.cost.wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  emit({.kind = StrategyEventKind::vote, .vote = &out_.vote});
}

}  // namespace keytok::detail
