// Sweep results files (keytok/sweep.hpp parse_sweep_results, what `sweep --resume` and
// `keytok fit` read). Invariants: an error names the file; parsed trials have sane counts, and
// writing the header and trials out again (sweep_header_line, trial_record_json) reads back to
// the same values.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "keytok/sweep.hpp"

namespace {

bool same(const keytok::TrialRecord& a, const keytok::TrialRecord& b) {
  return a.id == b.id && a.family == b.family && a.length == b.length && a.sample == b.sample &&
         a.success == b.success && a.output == b.output && a.n_output_tokens == b.n_output_tokens &&
         a.n_key == b.n_key && a.first_error_token == b.first_error_token &&
         a.first_error_kind == b.first_error_kind && a.first_error_key == b.first_error_key &&
         a.first_error_entropy == b.first_error_entropy &&
         a.first_error_margin == b.first_error_margin && a.n_at_risk == b.n_at_risk &&
         a.n_key_at_risk == b.n_key_at_risk && a.seconds == b.seconds;
}

bool same(const keytok::SweepHeader& a, const keytok::SweepHeader& b) {
  return a.model == b.model && a.tasks == b.tasks && a.samples == b.samples &&
         a.temperature == b.temperature && a.seed == b.seed && a.detector == b.detector &&
         a.detector_source == b.detector_source && a.created == b.created;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string source = "fuzz-sweep.jsonl";
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto results = keytok::parse_sweep_results(text, source);
  if (keytok::fuzz::failed(results, source)) return 0;
  FUZZ_CHECK(results->cut_off_line >= 0, "cut_off_line");
  std::string again = keytok::sweep_header_line(results->header) + "\n";
  for (const keytok::TrialRecord& t : results->trials) {
    FUZZ_CHECK(t.length >= 0 && t.sample >= 0 && t.n_key >= 0, t.id);
    FUZZ_CHECK(t.n_key <= t.n_output_tokens, t.id);
    again += keytok::trial_record_json(t) + "\n";
  }
  auto back = keytok::parse_sweep_results(again, source);
  FUZZ_CHECK(back.ok(), back.status().message());
  FUZZ_CHECK(same(results->header, back->header), "the header round-trips");
  FUZZ_CHECK(back->cut_off_line == 0, "a written file has no cut-off line");
  FUZZ_CHECK(back->trials.size() == results->trials.size(), "every trial round-trips");
  for (std::size_t i = 0; i < results->trials.size(); ++i) {
    FUZZ_CHECK(same(results->trials[i], back->trials[i]), results->trials[i].id);
  }
  return 0;
}
