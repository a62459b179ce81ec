// Calibration files (keytok/key_token.hpp parse_calibration, what every command reads through
// resolve_detector). Invariants: an error names the file; a parsed calibration has valid
// thresholds and a known method, and saving it (save_calibration) loads back equal.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "keytok/key_token.hpp"

namespace {

bool same(const keytok::Calibration& a, const keytok::Calibration& b) {
  return a.params.rule == b.params.rule &&
         a.params.entropy_threshold_nats == b.params.entropy_threshold_nats &&
         a.params.margin_threshold == b.params.margin_threshold &&
         a.key_fraction == b.key_fraction && a.achieved_fraction == b.achieved_fraction &&
         a.n_positions == b.n_positions && a.model_name == b.model_name && a.n_vocab == b.n_vocab &&
         a.model_file_size == b.model_file_size && a.model_sha256 == b.model_sha256 &&
         a.method == b.method && a.text_source == b.text_source && a.n_prompts == b.n_prompts &&
         a.n_predict == b.n_predict;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string source = "fuzz-calibration.json";
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cal = keytok::parse_calibration(text, source);
  if (keytok::fuzz::failed(cal, source)) return 0;
  FUZZ_CHECK(cal->params.validate().ok(), "loaded thresholds are valid");
  FUZZ_CHECK(cal->method == "text" || cal->method == "generate", cal->method);
  // The round trip goes through a file, as save_calibration writes one (rename into place).
  static const std::string path = "/tmp/keytok-fuzz-calibration." + std::to_string(::getpid());
  const keytok::Status saved = keytok::save_calibration(*cal, path);
  FUZZ_CHECK(saved.ok(), saved.message());
  auto back = keytok::load_calibration(path);
  std::remove(path.c_str());
  FUZZ_CHECK(back.ok(), back.status().message());
  FUZZ_CHECK(same(*cal, *back), "the calibration round-trips");
  return 0;
}
