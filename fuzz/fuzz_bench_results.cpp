// Bench results files (keytok/bench.hpp parse_bench_results, what `bench --resume` reads), with
// and without the run's settings to compare against. Invariants: an error names the file; rows
// written out again (bench_row_line under bench_header_line) read back to the same rows.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "keytok/bench.hpp"

namespace {

bool same(const keytok::BenchRow& a, const keytok::BenchRow& b) {
  return a.task_id == b.task_id && a.strategy == b.strategy && a.correct == b.correct &&
         a.answer == b.answer && a.expected == b.expected &&
         a.generated_tokens == b.generated_tokens && a.prompt_tokens == b.prompt_tokens &&
         a.decode_calls == b.decode_calls && a.peak_live == b.peak_live && a.forks == b.forks &&
         a.paths == b.paths && a.wall_ms == b.wall_ms &&
         // cascade's figures are written for cascade rows only.
         (a.strategy != "cascade" ||
          (a.large_decisions == b.large_decisions && a.large_changed == b.large_changed &&
           a.large_prefill_tokens == b.large_prefill_tokens &&
           a.large_decode_calls == b.large_decode_calls && a.rollbacks == b.rollbacks));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string source = "fuzz-bench.jsonl";
  const std::string model = "m";  // the seeds' model name
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const keytok::BenchSettings settings;
  const bool refused_with_settings =
      keytok::fuzz::failed(keytok::parse_bench_results(text, source, model, &settings), source);
  auto rows = keytok::parse_bench_results(text, source, model);
  if (keytok::fuzz::failed(rows, source)) {
    FUZZ_CHECK(refused_with_settings, "comparing settings only refuses more");
    return 0;
  }
  std::string again = keytok::bench_header_line(model, settings) + "\n";
  for (const keytok::BenchRow& r : *rows) again += keytok::bench_row_line(r) + "\n";
  auto back = keytok::parse_bench_results(again, source, model, &settings);
  FUZZ_CHECK(back.ok(), back.status().message());
  FUZZ_CHECK(back->size() == rows->size(), "every row round-trips");
  for (std::size_t i = 0; i < rows->size(); ++i) {
    FUZZ_CHECK(same((*rows)[i], (*back)[i]), (*rows)[i].task_id);
  }
  return 0;
}
