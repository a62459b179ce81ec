// Batched decoding through keytok's Session, shaped like llama.cpp's llama-batched-bench with a
// shared prompt (-pps -kvu): prefill PP tokens once, fork B-1 sequences (Session::fork =
// llama_memory_seq_cp), then TG steps of one B-token Session::step each. Prints, per B,
// aggregate decode tokens/s with fixed tokens (the decode path alone, as batched-bench does),
// and with the per-token work a strategy adds (argmax plus compute_token_stats with top-20 per
// sequence). Then the cost of one fork (+ close) against one B=1 decode step.
//
//   build/bin/batched_decode_bench [-m MODEL] [-t THREADS] [-npp 128] [-ntg 64] [-r 3] [--ctx 2048]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "keytok/session.hpp"
#include "keytok/token_stats.hpp"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Args {
  std::string model = KEYTOK_DEFAULT_MODEL;
  int threads = 0, npp = 128, ntg = 64, repeats = 3, n_ctx = 2048;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "-m") a.model = v;
    else if (k == "-t") a.threads = std::stoi(v);
    else if (k == "-npp") a.npp = std::stoi(v);
    else if (k == "-ntg") a.ntg = std::stoi(v);
    else if (k == "-r") a.repeats = std::stoi(v);
    else if (k == "--ctx") a.n_ctx = std::stoi(v);
    else { std::fprintf(stderr, "unknown flag %s\n", k.c_str()); std::exit(2); }
  }
  if (a.threads <= 0) a.threads = keytok::physical_core_count();
  return a;
}

// Tokens/s of TG batched steps over B forks of one prompt; with_stats adds a strategy's work.
double measure(keytok::Session& s, const std::vector<keytok::token_id>& prompt, int b, int ntg, bool with_stats) {
  s.reset();
  const keytok::Branch root = s.open().value();
  if (!s.feed(root, prompt).ok()) std::exit(1);
  std::vector<keytok::Branch> branches = {root};
  for (int i = 1; i < b; ++i) branches.push_back(s.fork(root).value());
  std::vector<keytok::token_id> tokens(static_cast<std::size_t>(b), prompt.back());
  const auto t0 = Clock::now();
  for (int step = 0; step < ntg; ++step) {
    if (with_stats) {
      for (std::size_t j = 0; j < branches.size(); ++j) {
        const auto logits = s.logits(branches[j]);
        tokens[j] = keytok::compute_token_stats(logits, keytok::argmax(logits), 20).token;
      }
    }
    if (!s.step(branches, tokens).ok()) std::exit(1);
  }
  const double t = seconds_since(t0);
  s.reset();
  return b * ntg / t;
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse(argc, argv);
  auto model = keytok::Model::load({.path = a.model});
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().to_string().c_str());
    return 1;
  }
  auto session = keytok::Session::create(*model, {.n_ctx = a.n_ctx, .n_batch = 512, .n_seq_max = 16,
                                                  .n_threads = a.threads}).value();
  std::vector<keytok::token_id> prompt;
  for (int i = 0; i < a.npp; ++i) prompt.push_back(100 + (i * 37) % 5000);
  fmt::print("model {}, threads {}, npp {}, ntg {}, best of {} repeats\n", (*model)->name(), a.threads, a.npp,
             a.ntg, a.repeats);
  fmt::print("{:>3} {:>18} {:>24}\n", "B", "step t/s (fixed)", "step+argmax+stats t/s");
  measure(*session, prompt, 1, 8, false);  // warm-up
  for (int b : {1, 4, 8}) {
    double best_fixed = 0, best_stats = 0;
    for (int r = 0; r < a.repeats; ++r) {
      best_fixed = std::max(best_fixed, measure(*session, prompt, b, a.ntg, false));
      best_stats = std::max(best_stats, measure(*session, prompt, b, a.ntg, true));
    }
    fmt::print("{:>3} {:>18.2f} {:>24.2f}\n", b, best_fixed, best_stats);
  }

  // Fork cost: fork + close of a branch holding the prompt, against one B=1 decode step.
  session->reset();
  const keytok::Branch root = session->open().value();
  if (!session->feed(root, prompt).ok()) return 1;
  constexpr int kForks = 200;
  auto t0 = Clock::now();
  for (int i = 0; i < kForks; ++i) session->close(session->fork(root).value());
  const double fork_us = 1e6 * seconds_since(t0) / kForks;
  constexpr int kSteps = 32;
  const keytok::token_id tok = prompt.back();
  t0 = Clock::now();
  for (int i = 0; i < kSteps; ++i) {
    if (!session->step(std::span(&root, 1), std::span(&tok, 1)).ok()) return 1;
  }
  const double step_us = 1e6 * seconds_since(t0) / kSteps;
  fmt::print("fork+close {:.1f} us (mean of {}), one B=1 step {:.0f} us (mean of {}): fork = {:.4f} steps\n",
             fork_us, kForks, step_us, kSteps, fork_us / step_us);
  return 0;
}
