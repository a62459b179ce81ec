// Greedy generation with keytok's per-token analysis on, against a plain llama.cpp greedy loop
// (llama_batch_get_one + llama_sampler greedy) on the same model, threads, context and prompt,
// measured side by side (interleaved repetitions) in one run. Prints both rates and the ratio.
//
//   build/bin/generate_overhead_bench [-m MODEL] [-n 128] [-r 9] [-t THREADS] [--ctx 2048]
#include <llama.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "keytok/analysis.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string model = KEYTOK_DEFAULT_MODEL;
  int n_predict = 128;
  int repeats = 9;  // a multiple of 3 keeps the rotation balanced
  int threads = 0;
  int n_ctx = 2048;
  std::string prompt = "Write a long story about a lighthouse keeper who finds a message in a bottle.";
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "-m") a.model = v;
    else if (k == "-n") a.n_predict = std::stoi(v);
    else if (k == "-r") a.repeats = std::stoi(v);
    else if (k == "-t") a.threads = std::stoi(v);
    else if (k == "--ctx") a.n_ctx = std::stoi(v);
    else if (k == "-p") a.prompt = v;
    else { std::fprintf(stderr, "unknown flag %s\n", k.c_str()); std::exit(2); }
  }
  if (a.threads <= 0) a.threads = keytok::physical_core_count();
  return a;
}

// The anchor: the loop from llama.cpp's examples/simple, with keytok's context settings.
// Returns generated tokens; *seconds = time from the first sampled token to the end.
std::vector<llama_token> plain_loop(llama_context* ctx, const llama_vocab* vocab,
                                    std::vector<llama_token> prompt, int n_predict, double* seconds) {
  llama_memory_clear(llama_get_memory(ctx), true);
  llama_sampler* smpl = llama_sampler_chain_init(llama_sampler_chain_default_params());
  llama_sampler_chain_add(smpl, llama_sampler_init_greedy());
  std::vector<llama_token> out;
  if (llama_decode(ctx, llama_batch_get_one(prompt.data(), static_cast<int32_t>(prompt.size()))) != 0) std::abort();
  Clock::time_point t0;
  for (int i = 0; i < n_predict; ++i) {
    llama_token tok = llama_sampler_sample(smpl, ctx, -1);
    if (i == 0) t0 = Clock::now();
    if (llama_vocab_is_eog(vocab, tok)) break;
    out.push_back(tok);
    if (i + 1 == n_predict) break;
    if (llama_decode(ctx, llama_batch_get_one(&tok, 1)) != 0) std::abort();
  }
  *seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  llama_sampler_free(smpl);
  return out;
}

// keytok's Session without analysis: separates the cost of the Session layer from the analysis.
std::vector<keytok::token_id> session_loop(keytok::Session& session, const keytok::Model& model,
                                           const std::vector<keytok::token_id>& prompt, int n_predict,
                                           double* seconds) {
  session.reset();
  keytok::Branch b = session.open().value();
  if (!session.feed(b, prompt).ok()) std::abort();
  std::vector<keytok::token_id> out;
  Clock::time_point t0;
  for (int i = 0; i < n_predict; ++i) {
    const keytok::token_id tok = keytok::argmax(session.logits(b));
    if (i == 0) t0 = Clock::now();
    if (model.is_eog(tok)) break;
    out.push_back(tok);
    if (i + 1 == n_predict) break;
    if (!session.step(std::span(&b, 1), std::span(&tok, 1)).ok()) std::abort();
  }
  *seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  session.reset();
  return out;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  auto model = keytok::Model::load({.path = args.model});
  if (!model.ok()) { std::fprintf(stderr, "%s\n", model.status().to_string().c_str()); return 1; }
  keytok::SessionParams sp{.n_ctx = args.n_ctx, .n_seq_max = 1, .n_threads = args.threads};
  auto session = keytok::Session::create(*model, sp).value();
  keytok::Analyzer analyzer(*session, keytok::KeyTokenDetector{});

  // Anchor context with the same parameters Session uses.
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(args.n_ctx);
  cp.n_batch = cp.n_ubatch = 512;
  cp.n_seq_max = 1;
  cp.n_threads = cp.n_threads_batch = args.threads;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cp.kv_unified = true;
  cp.swa_full = true;
  llama_model_params mp = llama_model_default_params();
  llama_model* lm = llama_model_load_from_file(args.model.c_str(), mp);
  llama_context* ctx = llama_init_from_model(lm, cp);
  const llama_vocab* vocab = llama_model_get_vocab(lm);
  auto prompt = (*model)->encode_prompt(args.prompt, false).value();

  std::vector<double> plain_rate, keytok_rate, session_rate, paired_ratio;
  int n_tokens = 0;
  bool same_tokens = true;
  // The three variants run in a rotating order (each takes each slot equally often): on this
  // machine the slot alone moved rates by several percent.
  for (int r = 0; r < args.repeats + 1; ++r) {  // repetition 0 warms caches and is dropped
    double plain_s = 0, session_s = 0, keytok_s = 0;
    std::vector<llama_token> plain, bare, ours;
    for (int slot = 0; slot < 3; ++slot) {
      switch ((slot + r) % 3) {
        case 0:
          plain = plain_loop(ctx, vocab, prompt, args.n_predict, &plain_s);
          break;
        case 1:
          bare = session_loop(*session, **model, prompt, args.n_predict, &session_s);
          break;
        default: {
          Clock::time_point t0;
          bool first = true;
          auto a = analyzer.generate({.prompt = args.prompt, .n_predict = args.n_predict},
                                     [&](const keytok::TokenRecord&) {
                                       if (first) t0 = Clock::now(), first = false;
                                     });
          keytok_s = std::chrono::duration<double>(Clock::now() - t0).count();
          if (!a.ok()) { std::fprintf(stderr, "%s\n", a.status().to_string().c_str()); std::exit(1); }
          ours.clear();
          for (const auto& t : a->tokens) ours.push_back(t.id);
        }
      }
    }
    same_tokens = same_tokens && ours == plain && bare == plain;
    n_tokens = static_cast<int>(plain.size());
    if (r == 0 || n_tokens < 2) continue;
    // All clocks start at the first sampled token: n - 1 decode steps follow.
    plain_rate.push_back((n_tokens - 1) / plain_s);
    keytok_rate.push_back((n_tokens - 1) / keytok_s);
    session_rate.push_back((n_tokens - 1) / session_s);
    paired_ratio.push_back(plain_s / keytok_s);  // same repetition: drift over the run cancels
  }
  const double p = median(plain_rate), k = median(keytok_rate), b = median(session_rate);
  std::printf("%s", fmt::format(
      "model {}\nthreads {}  ctx {}  tokens per run {}  repetitions {} (+1 warm-up)\n"
      "identical tokens: {}\n"
      "plain llama.cpp greedy loop:   {:8.2f} tok/s (median)\n"
      "keytok Session, no analysis:   {:8.2f} tok/s (median)\n"
      "keytok greedy + analysis:      {:8.2f} tok/s (median)\n"
      "ratio keytok / plain:          {:8.4f}\n"
      "ratio Session-only / plain:    {:8.4f}\n"
      "paired ratio keytok / plain:   {:8.4f} (median over repetitions; min {:.4f}, max {:.4f})\n",
      (*model)->name(), args.threads, args.n_ctx, n_tokens, args.repeats,
      same_tokens ? "yes" : "NO", p, b, k, k / p, b / p, median(paired_ratio),
      *std::min_element(paired_ratio.begin(), paired_ratio.end()),
      *std::max_element(paired_ratio.begin(), paired_ratio.end())).c_str());
  llama_free(ctx);
  llama_model_free(lm);
  return same_tokens ? 0 : 1;
}
