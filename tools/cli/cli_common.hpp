// Options and helpers shared by the model-using subcommands. Defaults come from the library's
// param structs so flags and library cannot drift.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "keytok/detector_setup.hpp"
#include "keytok/key_token.hpp"
#include "keytok/model.hpp"
#include "keytok/sampling.hpp"
#include "keytok/session.hpp"
#include "keytok/status.hpp"
#include "progress.hpp"

namespace keytok::cli {

/// Model and context flags: -m (a path or a known model's name), --ctx, --threads, --gpu-layers,
/// --verbose.
struct ModelOptions {
  ModelParams model;      // model.path: as given to -m; defaults to default_model_path()
  SessionParams session;  // n_ctx, n_threads
};
void add_model_options(CLI::App* cmd, ModelOptions& opts);

/// Bounded KV memory flags (keytok/kv_policy.hpp): --kv-policy, --kv-budget, --kv-sinks,
/// --kv-window, --kv-step, --kv-importance, --kv-seed. Kept apart from ModelOptions so that a
/// command's calibration runs never evict.
struct KvOptions {
  std::string policy = "full";
  std::string budget;  // cells, or a fraction of the text ("25%") where the command has one
  KvPolicyParams params;
  std::string importance = "surprisal";
};
void add_kv_options(CLI::App* cmd, KvOptions& opts, bool fraction_allowed);
/// The knobs alone (--kv-sinks, --kv-window, --kv-step, --kv-importance, --kv-seed), for a
/// command that takes lists of policies and budgets (longctx).
void add_kv_knob_options(CLI::App* cmd, KvOptions& opts);
/// `base` with the policy set. n_text_tokens resolves a fractional budget; -1 where the command
/// has no text (a fraction is then an error saying to give cells).
Result<SessionParams> with_kv(const KvOptions& opts, SessionParams base, int n_text_tokens = -1);

/// Key-token rule flags: --calibration, --key-rule, --entropy-threshold, --margin-threshold,
/// --no-auto-calibrate, bound to the library's DetectorSpec.
void add_detector_options(CLI::App* cmd, DetectorSpec& spec);

/// Sampling flags: --temp, --top-k, --top-p, --min-p, --seed (defaults from SamplingParams).
void add_sampling_options(CLI::App* cmd, SamplingParams& params);

/// Resolves -m (a known model's name or a path) and loads the model; prints nothing, the Status
/// carries the hint.
Result<std::shared_ptr<const Model>> load_model(const ModelOptions& opts);

/// A calibration progress callback that draws `bar` on stderr: created at the first report
/// (one unit per answer), with its clock set to when the run began. Call bar->finish() after.
CalibrationProgressFn calibration_progress(std::optional<Progress>& bar);

/// Events for resolve_detector that tell the user on stderr when the model is calibrated
/// automatically, drawing `bar` meanwhile (call bar->finish() after).
DetectorEvents detector_events(std::optional<Progress>& bar);

/// Builds the detector through resolve_detector (keytok/detector_setup.hpp), telling the user on
/// stderr when the model is calibrated automatically, with a progress bar.
Result<KeyTokenDetector> make_detector(const DetectorSpec& spec, const std::shared_ptr<const Model>& model,
                                       const SessionParams& session);

/// --shard I/N (keytok/shard.hpp), stored as given; parse it with parse_shard ("" = the whole list).
void add_shard_option(CLI::App* cmd, std::string& spec);

/// The file name of `path` without its folders ("models/x.gguf" -> "x.gguf"), for settings that
/// the shards of one run, on machines with other paths, must share.
std::string file_name(const std::string& path);

/// Whether results file `path` already holds something to resume (bench, sweep, longctx):
/// invalid_argument saying to pass --resume or remove it when it does and `resume` is off.
Result<bool> has_rows_to_resume(const std::string& path, bool resume);

/// Reads a file ("-" = stdin) into a string. not_found / io_error with the path.
Result<std::string> read_text(const std::string& path);

/// Debugging hook for testing --resume (`sweep`, `bench`): when the environment variable
/// KEYTOK_DEBUG_KILL_AFTER_ROWS=N (N >= 1) is set, raises SIGKILL on this process once
/// `rows_written`, the result rows this run has finished (each already written and flushed when
/// the command writes a file), reaches N; so a test kills a run right after an exact row. Does
/// nothing when the variable is unset or not a positive number.
void simulate_kill_after_rows(std::int64_t rows_written);

/// Prints "keytok <cmd>: error: <message>" to stderr and returns exit code 1.
int fail(std::string_view cmd, const Status& status);

/// A CLI11 validator for fractions strictly between 0 and 1.
CLI::Validator open_unit_interval();

/// A CLI11 validator for whole numbers >= `min` (counts, sizes, token limits). CLI11 puts the
/// flag in front: "--generate: must be >= 1 (got -5)".
CLI::Validator at_least(std::int64_t min);

/// The same for real numbers (thresholds): "--entropy-threshold: must be >= 0 (got -1)".
CLI::Validator at_least_real(double min);

}  // namespace keytok::cli
