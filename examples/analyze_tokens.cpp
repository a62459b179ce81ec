// analyze_tokens: the whole library lifecycle in one page. Loads a model, generates an answer,
// prints each token with its entropy and a mark on key tokens, then the summary.
//
//   build/bin/example_analyze_tokens models/SmolLM2-135M-Instruct.Q4_1.gguf "Name three primes."
#include <cstdio>
#include <string>

#include "keytok/analysis.hpp"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL.gguf PROMPT\n", argv[0]);
    return 2;
  }
  // 1. The model: immutable, shareable.
  auto model = keytok::Model::load({.path = argv[1]});
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().to_string().c_str());
    return 1;
  }
  // 2. A session: one llama.cpp context; threads default to the physical cores.
  auto session = keytok::Session::create(*model, {.n_ctx = 2048});
  if (!session.ok()) {
    std::fprintf(stderr, "%s\n", session.status().to_string().c_str());
    return 1;
  }
  // 3. Generate and analyse; the default detector flags entropy >= 2 nats.
  keytok::Analyzer analyzer(**session, keytok::KeyTokenDetector{});
  auto analysis = analyzer.generate({.prompt = argv[2], .n_predict = 64},
                                    [](const keytok::TokenRecord& t) {
                                      std::printf("%4d %-16s H=%.2f%s\n", t.index,
                                                  ("\"" + t.piece + "\"").c_str(), t.stats.entropy,
                                                  t.key ? "  KEY" : "");
                                    });
  if (!analysis.ok()) {
    std::fprintf(stderr, "%s\n", analysis.status().to_string().c_str());
    return 1;
  }
  // 4. The summary: how sparse the key tokens are and how much surprisal they carry.
  const keytok::AnalysisSummary s = keytok::summarize(*analysis);
  std::printf("\n%s\n%d tokens, %d key (%.1f%%), key tokens carry %.1f%% of the surprisal\n",
              analysis->text.c_str(), s.n_tokens, s.n_key, 100 * s.key_fraction,
              100 * s.surprisal_share_key);
  return 0;
}
