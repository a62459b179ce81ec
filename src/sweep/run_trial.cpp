// run_trial: one generation for one task, scored and aligned against the reference.
#include <chrono>

#include "keytok/first_error.hpp"
#include "keytok/sweep.hpp"
#include "util/hash.hpp"

namespace keytok {

namespace {

int auto_max_tokens(const Model& model, const Task& task) {
  if (task.reference.empty()) return 256;
  auto toks = model.tokenize(task.reference, false);
  const int n = toks.ok() ? static_cast<int>(toks->size()) : static_cast<int>(task.reference.size());
  return std::max(32, 2 * n + 16);
}

}  // namespace

Status SweepParams::validate() const {
  if (samples < 1) return Status::invalid_argument("--samples must be >= 1");
  if (samples > 1 && sampling.greedy()) {
    return Status::invalid_argument("--samples > 1 needs sampling: pass --temp > 0 (greedy repeats itself)");
  }
  if (max_tokens < 0) return Status::invalid_argument("--max-tokens must be >= 0 (0 = automatic)");
  return sampling.validate();
}

Result<TrialRecord> run_trial(Analyzer& analyzer, const Task& task, int sample, const SweepParams& params) {
  KEYTOK_RETURN_IF_ERROR(params.validate());
  const auto t0 = std::chrono::steady_clock::now();
  GenerateParams gp;
  gp.prompt = task.prompt;
  gp.raw = params.raw;
  gp.sampling = params.sampling;
  gp.sampling.seed = static_cast<std::uint32_t>(
      params.sampling.seed ^ detail::fnv1a(task.id) ^ (0x9E3779B97F4A7C15ull * static_cast<std::uint64_t>(sample + 1)));
  gp.n_predict = params.max_tokens > 0 ? params.max_tokens
                                       : auto_max_tokens(analyzer.session().model(), task);
  gp.top_k = 0;  // alternatives are not stored in trial lines
  auto a = analyzer.generate(gp);
  if (!a.ok()) return a.status();

  TrialRecord r;
  r.id = task.id;
  r.family = task.family;
  r.length = task.length;
  r.sample = sample;
  r.output = a->text;
  r.success = answer_matches(task, a->text);
  r.n_output_tokens = static_cast<int>(a->tokens.size());
  for (const auto& t : a->tokens) r.n_key += t.key;
  const bool eog_key = a->eog.has_value() && a->eog->key;

  if (!task.reference.empty()) {
    std::vector<std::string> pieces;
    pieces.reserve(a->tokens.size());
    for (const auto& t : a->tokens) pieces.push_back(t.piece);
    const FirstError fe = find_first_error(pieces, task.reference);
    if (fe.found()) {
      r.first_error_token = fe.token;
      r.first_error_kind = first_error_kind_name(fe.kind);
      // The erring step: an output token, or (stopped early) the end-of-generation step.
      const TokenRecord* step = nullptr;
      if (fe.token < r.n_output_tokens) step = &a->tokens[static_cast<std::size_t>(fe.token)];
      else if (a->eog.has_value()) step = &*a->eog;
      if (step != nullptr) {
        r.first_error_key = step->key;
        r.first_error_entropy = step->stats.entropy;
        r.first_error_margin = step->stats.margin;
      }
      int key_at_risk = 0;
      for (int i = 0; i < std::min(fe.token + 1, r.n_output_tokens); ++i) key_at_risk += a->tokens[i].key;
      if (fe.token >= r.n_output_tokens) key_at_risk += eog_key;
      r.n_at_risk = fe.token + 1;
      r.n_key_at_risk = key_at_risk;
    } else {
      const bool has_eog_step = a->eog.has_value();
      r.n_at_risk = r.n_output_tokens + (has_eog_step ? 1 : 0);
      r.n_key_at_risk = r.n_key + (eog_key ? 1 : 0);
    }
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace keytok
