// ForkStudy: the base answer, then each studied position's candidates forced in forks of the
// base's KV cache and completed by sampling, all completions of a position in one batched
// Session::step per token (Bigelow et al., arXiv 2412.07961, with replay from the cache instead
// of a re-tokenised prefix; docs/forks.md).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "keytok/forks.hpp"
#include "keytok/token_stats.hpp"
#include "util/assert.hpp"
#include "util/hash.hpp"

namespace keytok {

namespace {

constexpr int kMaxSamples = 256;
constexpr int kMaxAlternatives = 15;

// One completion in flight: a fork of the prefix that took `candidate` at the position.
struct Running {
  int candidate = 0;
  Branch branch;
  std::optional<Sampler> sampler;
  token_id pending = -1;  // the token to decode next
  int answer_tokens = 0;  // answer tokens so far, the prefix's included
  std::int64_t generated = 0;
  std::string suffix;     // text from the position on
  std::vector<token_id> tokens;  // from the position on, kept only for on_completion
  bool done = false;
};

// The completion seed: independent per (seed, pass, task, position, candidate, sample), the
// same whether completions run batched or one at a time.
std::uint32_t completion_seed(std::uint64_t seed, int pass, std::string_view task_id, int index,
                              int candidate, int sample) {
  std::uint64_t h = detail::splitmix64(seed ^ detail::fnv1a(task_id));
  for (const std::uint64_t part : {static_cast<std::uint64_t>(pass), static_cast<std::uint64_t>(index),
                                   static_cast<std::uint64_t>(candidate), static_cast<std::uint64_t>(sample)}) {
    h = detail::splitmix64(h ^ part);
  }
  return static_cast<std::uint32_t>(h >> 32);
}

// The end of a text, for messages.
std::string text_end(std::string_view text) {
  constexpr std::size_t kShown = 80;
  std::string_view tail = text.size() > kShown ? text.substr(text.size() - kShown) : text;
  return fmt::format("{}\"{}\"", text.size() > kShown ? "..." : "", tail);
}

}  // namespace

Status ForkStudyParams::validate() const {
  if (samples < 1 || samples > kMaxSamples) {
    return Status::invalid_argument(fmt::format("samples must be in 1..{} (got {})", kMaxSamples, samples));
  }
  if (!(min_prob > 0.0f && min_prob < 1.0f)) {
    return Status::invalid_argument(fmt::format("min_prob must be in (0, 1) (got {})", min_prob));
  }
  if (max_alternatives < 1 || max_alternatives > kMaxAlternatives) {
    return Status::invalid_argument(
        fmt::format("max_alternatives must be in 1..{} (got {})", kMaxAlternatives, max_alternatives));
  }
  if (max_tokens < 1) return Status::invalid_argument(fmt::format("max_tokens must be >= 1 (got {})", max_tokens));
  if (sampling.greedy()) {
    return Status::invalid_argument(
        "the completions must be sampled (temperature > 0): greedy completions give every candidate one "
        "outcome, not a distribution");
  }
  KEYTOK_RETURN_IF_ERROR(sampling.validate());
  if (!(random_rate > 0.0 && random_rate <= 1.0)) {
    return Status::invalid_argument(fmt::format("random_rate must be in (0, 1] (got {})", random_rate));
  }
  if (!(fork_shift > 0.0f && fork_shift <= 1.0f)) {
    return Status::invalid_argument(fmt::format("fork_shift must be in (0, 1] (got {})", fork_shift));
  }
  if (max_parallel < 0 || max_parallel > kMaxSamples) {
    return Status::invalid_argument(fmt::format("max_parallel must be in 0..{} (got {})", kMaxSamples, max_parallel));
  }
  if (max_live_sequences() > kMaxSamples) {
    return Status::invalid_argument(fmt::format(
        "{} completions at once need {} sequences, more than llama.cpp's {}; lower max_parallel",
        (max_alternatives + 1) * samples, max_live_sequences(), kMaxSamples));
  }
  return Status::ok_status();
}

int ForkStudyParams::parallel() const {
  const int all = (max_alternatives + 1) * samples;
  return max_parallel > 0 ? std::min(max_parallel, all) : all;
}

int ForkStudyParams::max_live_sequences() const { return 2 + parallel(); }

int ForkStudyParams::context_cells(int n_prompt_tokens) const {
  // The prompt and base answer once (forks share them), and each completion in flight its
  // own cells up to the answer's end; one batch of slack.
  return n_prompt_tokens + max_tokens * (1 + parallel()) + 64;
}

ForkStudy::ForkStudy(Session& session, KeyTokenDetector detector, ForkStudyParams params)
    : session_(session), detector_(std::move(detector)), params_(std::move(params)) {}

Result<ForkTask> ForkStudy::plan(const Task& task) {
  KEYTOK_RETURN_IF_ERROR(params_.validate());
  if (task.prompt.empty()) return Status::invalid_argument(fmt::format("task {}: the prompt is empty", task.id));
  if (session_.n_seq_max() < params_.max_live_sequences()) {
    return Status::invalid_argument(fmt::format("the session allows {} sequences; a fork study needs {}",
                                                session_.n_seq_max(), params_.max_live_sequences()));
  }
  const Model& model = session_.model();
  auto prompt = model.encode_prompt(task.prompt, params_.raw);
  if (!prompt.ok()) return prompt.status();
  const int need = params_.context_cells(static_cast<int>(prompt->size()));
  if (need > session_.n_ctx()) {
    return Status::context_overflow(fmt::format(
        "task {}: its prompt ({} tokens) and {} completions of up to {} tokens need {} KV cells, the "
        "context has {}; raise --ctx or lower --max-tokens, --samples or --max-parallel",
        task.id, prompt->size(), params_.parallel(), params_.max_tokens, need, session_.n_ctx()));
  }
  task_ = nullptr;
  session_.reset();
  auto base = session_.open();
  if (!base.ok()) return base.status();
  KEYTOK_RETURN_IF_ERROR(session_.feed(*base, *prompt));

  ForkTask t{.task_id = task.id, .expected = task.answer, .stop_reason = "length"};
  tops_.clear();
  const int top_k = params_.max_alternatives + 1;
  for (int i = 0; i < params_.max_tokens; ++i) {
    const std::span<const float> logits = session_.logits(*base);
    const token_id next = argmax(logits);
    if (model.is_eog(next)) {
      t.stop_reason = "eog";
      break;
    }
    TokenStats st = compute_token_stats(logits, next, top_k);
    t.tokens.push_back(next);
    t.pieces.push_back(model.token_piece(next));
    t.text += t.pieces.back();
    t.signals.push_back({.entropy = st.entropy, .varentropy = st.varentropy, .margin = st.margin,
                         .top1_prob = st.top1_prob, .logprob = st.logprob, .key = detector_.is_key(st)});
    std::erase_if(st.top, [&](const Alternative& a) { return a.id == next || a.prob < params_.min_prob; });
    t.contested.push_back(!st.top.empty());
    tops_.push_back(std::move(st.top));
    if (i + 1 == params_.max_tokens) break;  // the last token needs no decode
    KEYTOK_RETURN_IF_ERROR(session_.step(std::span(&*base, 1), std::span(&next, 1)));
  }
  auto answer = extract_answer(task.match, t.text, &task);
  if (!answer) {
    session_.reset();
    return Status::invalid_argument(fmt::format(
        "task {}: the base answer holds no answer that match mode `{}` can read (it {} and ends {}); "
        "{}, or study tasks whose answers the mode can read",
        task.id, match_mode_name(task.match), t.stop_reason == "eog" ? "ended" : "was cut off at --max-tokens",
        text_end(t.text), t.stop_reason == "eog" ? "check the task's match mode" : "raise --max-tokens"));
  }
  t.base_answer = *answer;
  t.correct = answer_matches(task, t.text);
  plan_fork_positions(t, params_.random_rate, params_.seed);
  base_ = *base;
  n_prompt_ = static_cast<int>(prompt->size());
  task_copy_ = task;
  task_ = &task_copy_;
  return t;
}

ForkPosition ForkStudy::unstudied(const ForkTask& task, int index, int pass) const {
  KEYTOK_ASSERT(index >= 0 && static_cast<std::size_t>(index) < task.tokens.size() &&
                    task.weights.size() == task.tokens.size(),
                "position {} of a base answer of {} tokens", index, task.tokens.size());
  const auto i = static_cast<std::size_t>(index);
  return ForkPosition{.task_id = task.task_id, .pass = pass, .index = index, .piece = task.pieces[i],
                      .signals = task.signals[i], .contested = task.contested[i], .studied = false,
                      .weight = task.weights[i]};
}

Result<ForkPosition> ForkStudy::study(const ForkTask& task, int index, int pass) {
  if (task_ == nullptr || task.task_id != task_->id || task.tokens.size() != tops_.size()) {
    return Status::invalid_argument(
        fmt::format("task {} is not the last planned task; call plan() first", task.task_id));
  }
  if (index < 0 || index >= static_cast<int>(task.tokens.size())) {
    return Status::invalid_argument(
        fmt::format("position {} is outside the base answer's {} tokens", index, task.tokens.size()));
  }
  if (pass < 0 || pass > 1) return Status::invalid_argument(fmt::format("pass must be 0 or 1 (got {})", pass));
  ForkPosition row = unstudied(task, index, pass);
  const auto at = static_cast<std::size_t>(index);
  if (!task.contested[at]) return row;
  const Model& model = session_.model();

  // The candidates: the base token, then the likeliest alternatives.
  const float base_prob = std::exp(task.signals[at].logprob);
  row.candidates.push_back({.token = task.tokens[at], .piece = task.pieces[at], .prob = base_prob});
  for (const Alternative& a : tops_[at]) {
    if (static_cast<int>(row.candidates.size()) > params_.max_alternatives) break;
    row.candidates.push_back({.token = a.id, .piece = model.token_piece(a.id), .prob = a.prob});
  }
  std::string prefix_text;
  for (std::size_t i = 0; i < at; ++i) prefix_text += task.pieces[i];

  // The prefix: a fork of the base cut back to the position (shares its cells).
  auto prefix = session_.fork(base_);
  if (!prefix.ok()) return prefix.status();
  struct Closer {
    Session& s;
    Branch b;
    ~Closer() { s.close(b); }
  } close_prefix{session_, *prefix};
  KEYTOK_RETURN_IF_ERROR(session_.truncate(*prefix, n_prompt_ + index));

  const int n_cand = static_cast<int>(row.candidates.size());
  const int jobs = n_cand * params_.samples;
  const int wave = std::min(params_.parallel(), jobs);
  for (auto& c : row.candidates) c.answers.resize(static_cast<std::size_t>(params_.samples));
  std::vector<Running> live;
  std::vector<Branch> branches;
  std::vector<token_id> tokens;
  for (int first = 0; first < jobs; first += wave) {
    live.clear();
    auto close_all = [&] {
      for (Running& c : live) {
        if (c.branch.valid()) session_.close(c.branch);
        c.branch = Branch{};
      }
    };
    for (int job = first; job < std::min(first + wave, jobs); ++job) {
      const int cand = job / params_.samples;
      const int sample = job % params_.samples;
      SamplingParams sp = params_.sampling;
      sp.seed = completion_seed(params_.seed, pass, task.task_id, index, cand, sample);
      auto sampler = Sampler::create(sp);
      if (!sampler.ok()) {
        close_all();
        return sampler.status();
      }
      auto br = session_.fork(*prefix);
      if (!br.ok()) {
        close_all();
        return br.status();
      }
      const ForkCandidate& c = row.candidates[static_cast<std::size_t>(cand)];
      live.push_back(Running{.candidate = cand, .branch = *br, .sampler = std::move(*sampler),
                             .pending = c.token, .answer_tokens = index + 1, .generated = 1,
                             .suffix = c.piece, .tokens = {c.token}, .done = index + 1 >= params_.max_tokens});
    }
    for (;;) {
      branches.clear();
      tokens.clear();
      for (const Running& c : live) {
        if (c.done) continue;
        branches.push_back(c.branch);
        tokens.push_back(c.pending);
      }
      if (branches.empty()) break;
      if (Status st = session_.step(branches, tokens); !st.ok()) {
        close_all();
        if (st.code() == StatusCode::context_overflow || st.code() == StatusCode::kv_full) {
          return Status(st.code(), st.message() + "; raise --ctx or lower --max-parallel");
        }
        return st;
      }
      for (Running& c : live) {
        if (c.done) continue;
        const token_id next = c.sampler->sample(session_.logits(c.branch));
        if (model.is_eog(next)) {
          c.done = true;
          continue;
        }
        c.suffix += model.token_piece(next);
        if (on_completion_) c.tokens.push_back(next);
        c.pending = next;
        ++c.generated;
        c.done = ++c.answer_tokens >= params_.max_tokens;
      }
    }
    for (std::size_t k = 0; k < live.size(); ++k) {
      Running& c = live[k];
      const int sample = (first + static_cast<int>(k)) % params_.samples;
      ForkCandidate& cand = row.candidates[static_cast<std::size_t>(c.candidate)];
      cand.answers[static_cast<std::size_t>(sample)] = extract_answer(task_->match, prefix_text + c.suffix, task_);
      cand.tokens += c.generated;
      if (on_completion_) {
        on_completion_(
            {.index = index, .candidate = c.candidate, .sample = sample, .tokens = c.tokens, .text = c.suffix});
      }
    }
    close_all();
  }
  row.studied = true;
  score_fork_position(row, task.base_answer, params_.fork_shift);
  return row;
}

}  // namespace keytok
