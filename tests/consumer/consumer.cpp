// keytok_consumer: uses an installed keytok through its public API only. Loads a model,
// tokenizes a fixed text, generates a few greedy tokens with their key-token flags, and prints
// lines a test can compare exactly (no timings, no floating-point values).
//
//   keytok_consumer MODEL.gguf
#include <cstdio>
#include <string>

#include <keytok/analysis.hpp>
#include <keytok/build_info.hpp>
#include <keytok/model.hpp>
#include <keytok/session.hpp>
#include <keytok/threading.hpp>

namespace {

int fail(const keytok::Status& status) {
  std::fprintf(stderr, "keytok_consumer: %s\n", status.to_string().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  keytok::reexec_with_omp_defaults(argc, argv);  // fair sharing of a busy machine
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s MODEL.gguf\n", argv[0]);
    return 2;
  }
  std::printf("keytok %s\n", keytok::build_info().keytok_version.c_str());

  auto model = keytok::Model::load({.path = argv[1]});
  if (!model.ok()) return fail(model.status());
  std::printf("model: %s, %d tokens\n", (*model)->architecture().c_str(), (*model)->n_vocab());

  auto ids = (*model)->tokenize("Hello, world!", /*add_special=*/false);
  if (!ids.ok()) return fail(ids.status());
  std::printf("tokens of \"Hello, world!\":");
  for (keytok::token_id id : *ids) std::printf(" %d", id);
  std::printf("\n");

  // Greedy generation; the fixed 2.0-nat rule, so no calibration is made or read.
  auto session = keytok::Session::create(*model, {.n_ctx = 512});
  if (!session.ok()) return fail(session.status());
  keytok::Analyzer analyzer(**session, keytok::KeyTokenDetector{});
  auto analysis = analyzer.generate({.prompt = "What is the capital of France?", .n_predict = 8},
                                    [](const keytok::TokenRecord& t) {
                                      std::printf("%d %d \"%s\"\n", t.index, t.id, t.piece.c_str());
                                    });
  if (!analysis.ok()) return fail(analysis.status());
  std::printf("text: %s\n", analysis->text.c_str());
  std::printf("stop: %s\n", analysis->stop_reason.c_str());
  return 0;
}
