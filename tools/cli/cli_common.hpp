// Options and helpers shared by the model-using subcommands. Defaults come from the library's
// param structs so flags and library cannot drift.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "keytok/key_token.hpp"
#include "keytok/model.hpp"
#include "keytok/sampling.hpp"
#include "keytok/session.hpp"
#include "keytok/status.hpp"

namespace keytok::cli {

/// Model and context flags: -m, --ctx, --threads, --gpu-layers, --verbose.
struct ModelOptions {
  ModelParams model;      // model.path defaults to default_model_path()
  SessionParams session;  // n_ctx, n_threads
};
void add_model_options(CLI::App* cmd, ModelOptions& opts);

/// Key-token rule flags: --calibration, --key-rule, --entropy-threshold, --margin-threshold.
struct DetectorOptions {
  std::string calibration;  // file; empty = <model>.keytok-calibration.json when present
  std::string rule;         // overrides; empty = from calibration or default
  float entropy_threshold = -1.0f;  // < 0: not given
  float margin_threshold = -1.0f;   // < 0: not given
};
void add_detector_options(CLI::App* cmd, DetectorOptions& opts);

/// Sampling flags: --temp, --top-k, --top-p, --min-p, --seed (defaults from SamplingParams).
void add_sampling_options(CLI::App* cmd, SamplingParams& params);

/// The default model: $KEYTOK_MODEL, else models/SmolLM2-135M-Instruct.Q4_1.gguf of the source
/// tree, else of the current directory.
std::string default_model_path();

/// Where `keytok calibrate` writes and analyze looks by default.
std::string default_calibration_path(const std::string& model_path);

/// Loads the model and prints nothing; the Status carries the hint.
Result<std::shared_ptr<const Model>> load_model(const ModelOptions& opts);

/// Builds the detector: explicit flags > calibration file > default rule.
Result<KeyTokenDetector> make_detector(const DetectorOptions& opts, const Model& model);

/// Reads a file ("-" = stdin) into a string. not_found / io_error with the path.
Result<std::string> read_text(const std::string& path);

/// Cuts a partly written last line (a killed run) from a JSON-lines results file so that appending
/// continues on a line boundary. A missing or empty file is fine. io_error when it cannot cut.
Status truncate_partial_last_line(const std::string& path);

/// Prints "keytok <cmd>: error: <message>" to stderr and returns exit code 1.
int fail(std::string_view cmd, const Status& status);

/// A CLI11 validator for fractions strictly between 0 and 1.
CLI::Validator open_unit_interval();

}  // namespace keytok::cli
