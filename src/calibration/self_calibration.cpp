// calibrate_on_generations: the model answers a prompt set, n_parallel answers at a time as
// sequences of one Session (one batched decode per step), and the thresholds come from the
// quantile of its own tokens' signals.
#include "keytok/self_calibration.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>

#include "calibration/calibration_from_signals.hpp"
#include "keytok/session.hpp"
#include "keytok/token_stats.hpp"

namespace keytok {

namespace {

constexpr std::size_t kMinPositions = 20;
constexpr int kMaxParallel = 64;

// One answer in progress.
struct Slot {
  int prompt = -1;  // index into prompts; -1 = free
  Branch branch;
  std::optional<Sampler> sampler;
  int n = 0;            // answer tokens so far
  token_id next = -1;   // chosen, not yet decoded
};

}  // namespace

Status SelfCalibrationParams::validate() const {
  if (n_predict < 1) return Status::invalid_argument("tokens per answer (n_predict) must be >= 1");
  if (!(key_fraction > 0.0 && key_fraction < 1.0)) {
    return Status::invalid_argument("key fraction must be strictly between 0 and 1, e.g. 0.08");
  }
  if (n_parallel < 1 || n_parallel > kMaxParallel) {
    return Status::invalid_argument("n_parallel must be in 1.." + std::to_string(kMaxParallel));
  }
  return sampling.validate();
}

Result<SelfCalibrationResult> calibrate_on_generations(std::shared_ptr<const Model> model,
                                                       std::span<const CalibrationPrompt> prompts,
                                                       const SelfCalibrationParams& params, int n_threads,
                                                       const CalibrationProgressFn& progress) {
  KEYTOK_RETURN_IF_ERROR(params.validate());
  if (!model) return Status::invalid_argument("calibrate_on_generations needs a loaded model");
  if (prompts.empty()) return Status::invalid_argument("no calibration prompts given");
  const auto t0 = std::chrono::steady_clock::now();

  std::vector<std::vector<token_id>> encoded;
  encoded.reserve(prompts.size());
  std::size_t longest = 0;
  for (const auto& p : prompts) {
    auto t = model->encode_prompt(p.prompt, params.raw);
    if (!t.ok()) return Status::invalid_argument("calibration prompt " + p.id + ": " + t.status().message());
    if (t->empty()) return Status::invalid_argument("calibration prompt " + p.id + " is empty");
    longest = std::max(longest, t->size());
    encoded.push_back(std::move(*t));
  }

  // Every live answer holds its prompt and up to n_predict tokens in the one shared KV pool.
  const int n_parallel = std::min<int>(params.n_parallel, static_cast<int>(prompts.size()));
  const auto per_answer = static_cast<int>(longest) + params.n_predict + 1;
  auto session = Session::create(model, {.n_ctx = n_parallel * per_answer,
                                         .n_batch = 512,
                                         .n_seq_max = n_parallel,
                                         .n_threads = n_threads});
  if (!session.ok()) return session.status();
  Session& s = **session;

  SelfCalibrationResult result;
  std::vector<std::vector<CalibrationSample>> per_prompt(prompts.size());
  std::deque<int> queue;
  for (int i = 0; i < static_cast<int>(prompts.size()); ++i) queue.push_back(i);
  std::vector<Slot> slots(static_cast<std::size_t>(n_parallel));
  CalibrationProgress prog{.prompts_total = static_cast<int>(prompts.size())};

  auto finish = [&](Slot& slot) {
    s.close(slot.branch);
    slot = Slot{};
    ++prog.prompts_done;
    prog.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (progress) progress(prog);
  };
  // Reads the slot's current logits: records the signals of the chosen token and either keeps it
  // for the next decode or ends the answer. Logits are valid only until the next decode, so this
  // runs right after the decode that made them.
  auto consume = [&](Slot& slot) -> Status {
    const std::span<const float> logits = s.logits(slot.branch);
    if (logits.empty()) return Status::internal("no logits for a calibration answer");
    const token_id tok = slot.sampler->sample(logits);
    if (model->is_eog(tok)) {
      finish(slot);
      return Status::ok_status();
    }
    const TokenStats st = compute_token_stats(logits, tok, 2);
    per_prompt[static_cast<std::size_t>(slot.prompt)].push_back(
        {.prompt = slot.prompt, .index = slot.n, .entropy = st.entropy, .margin = st.margin});
    ++slot.n;
    ++prog.tokens;
    if (slot.n >= params.n_predict) {
      finish(slot);  // the last token needs no decode
    } else {
      slot.next = tok;
    }
    return Status::ok_status();
  };
  auto fill = [&]() -> Status {
    for (auto& slot : slots) {
      while (slot.prompt < 0 && !queue.empty()) {
        const int p = queue.front();
        queue.pop_front();
        SamplingParams sp = params.sampling;
        sp.seed = params.sampling.seed + static_cast<std::uint32_t>(p);
        auto sampler = Sampler::create(sp);
        if (!sampler.ok()) return sampler.status();
        auto branch = s.open();
        if (!branch.ok()) return branch.status();
        slot.prompt = p;
        slot.branch = *branch;
        slot.sampler.emplace(std::move(*sampler));
        const auto& toks = encoded[static_cast<std::size_t>(p)];
        KEYTOK_RETURN_IF_ERROR(s.feed(slot.branch, toks));
        result.prompt_tokens += static_cast<std::int64_t>(toks.size());
        KEYTOK_RETURN_IF_ERROR(consume(slot));  // may end the answer at once (EOG, n_predict 1)
      }
    }
    return Status::ok_status();
  };

  KEYTOK_RETURN_IF_ERROR(fill());
  std::vector<Branch> branches;
  std::vector<token_id> tokens;
  while (true) {
    branches.clear();
    tokens.clear();
    for (const auto& slot : slots) {
      if (slot.prompt >= 0) branches.push_back(slot.branch), tokens.push_back(slot.next);
    }
    if (branches.empty()) break;
    KEYTOK_RETURN_IF_ERROR(s.step(branches, tokens));
    for (auto& slot : slots) {
      if (slot.prompt >= 0) KEYTOK_RETURN_IF_ERROR(consume(slot));
    }
    KEYTOK_RETURN_IF_ERROR(fill());
  }

  std::vector<float> entropies, margins;
  for (auto& answer : per_prompt) {
    for (const auto& smp : answer) {
      entropies.push_back(smp.entropy);
      margins.push_back(smp.margin);
      result.samples.push_back(smp);
    }
  }
  if (entropies.size() < kMinPositions) {
    return Status::invalid_argument("the answers hold only " + std::to_string(entropies.size()) +
                                    " tokens; give more prompts or a larger --generate (at least " +
                                    std::to_string(kMinPositions) + " tokens, a few thousand is better)");
  }
  auto cal = detail::calibration_from_signals(*model, entropies, margins, params.rule, params.key_fraction);
  if (!cal.ok()) return cal.status();
  result.calibration = std::move(*cal);
  result.calibration.method = "generate";
  result.calibration.n_prompts = static_cast<int>(prompts.size());
  result.calibration.n_predict = params.n_predict;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace keytok
