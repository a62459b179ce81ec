// Per-token cost of keytok's analysis over the full vocabulary (Google Benchmark).
// Vocabulary sizes of the test models: SmolLM2 49,152; Gemma 3 262,144.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "keytok/key_token.hpp"
#include "keytok/token_stats.hpp"

namespace {

std::vector<float> random_logits(std::size_t n) {
  std::mt19937 rng(42);
  std::normal_distribution<float> g(0.0f, 3.0f);
  std::vector<float> l(n);
  for (auto& x : l) x = g(rng);
  return l;
}

void BM_ComputeTokenStats(benchmark::State& state) {
  const auto logits = random_logits(static_cast<std::size_t>(state.range(0)));
  const keytok::KeyTokenDetector det;
  for (auto _ : state) {
    const auto st = keytok::compute_token_stats(logits, 17, 5);
    benchmark::DoNotOptimize(det.is_key(st));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ComputeTokenStats)->Arg(49152)->Arg(262144)->Unit(benchmark::kMicrosecond);

void BM_Argmax(benchmark::State& state) {
  const auto logits = random_logits(static_cast<std::size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(keytok::argmax(logits));
}
BENCHMARK(BM_Argmax)->Arg(49152)->Arg(262144)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
