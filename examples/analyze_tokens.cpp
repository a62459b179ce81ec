// analyze_tokens: the whole library lifecycle in one page. Finds a model by name, sets up its
// key-token detector (calibrating it on first use), generates an answer, prints each token with
// its entropy and a mark on key tokens, then the summary.
//
//   build/bin/example_analyze_tokens qwen2.5-coder-0.5b "Name three primes."
//   build/bin/example_analyze_tokens models/SmolLM2-135M-Instruct.Q4_1.gguf "Name three primes."
#include <cstdio>
#include <string>

#include "keytok/analysis.hpp"
#include "keytok/detector_setup.hpp"
#include "keytok/model_registry.hpp"
#include "keytok/threading.hpp"

int main(int argc, char** argv) {
  // 0. Short OpenMP barrier spins, so a busy machine is shared fairly (re-executes once).
  keytok::reexec_with_omp_defaults(argc, argv);
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s MODEL PROMPT   (MODEL: a known name or a .gguf path)\n", argv[0]);
    return 2;
  }
  // 1. The model: a known name or a path; immutable, shareable.
  auto path = keytok::resolve_model(argv[1]);
  if (!path.ok()) {
    std::fprintf(stderr, "%s\n", path.status().to_string().c_str());
    return 1;
  }
  auto model = keytok::Model::load({.path = *path});
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().to_string().c_str());
    return 1;
  }
  // 2. The detector: this model's calibration, made on its own answers the first time (cached).
  keytok::DetectorEvents events;
  events.notice = [](const std::string& text) { std::fprintf(stderr, "%s\n", text.c_str()); };
  auto detector = keytok::resolve_detector({}, *model, 0, events);
  if (!detector.ok()) {
    std::fprintf(stderr, "%s\n", detector.status().to_string().c_str());
    return 1;
  }
  // 3. A session: one llama.cpp context; threads default to the physical cores.
  auto session = keytok::Session::create(*model, {.n_ctx = 2048});
  if (!session.ok()) {
    std::fprintf(stderr, "%s\n", session.status().to_string().c_str());
    return 1;
  }
  // 4. Generate and analyse.
  keytok::Analyzer analyzer(**session, *detector);
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
  // 5. The summary: how sparse the key tokens are and how much surprisal they carry.
  const keytok::AnalysisSummary s = keytok::summarize(*analysis);
  std::printf("\n%s\nrule: %s (%s)\n%d tokens, %d key (%.1f%%), key tokens carry %.1f%% of the surprisal\n",
              analysis->text.c_str(), analysis->rule.c_str(), analysis->rule_source.c_str(), s.n_tokens,
              s.n_key, 100 * s.key_fraction, 100 * s.surprisal_share_key);
  return 0;
}
