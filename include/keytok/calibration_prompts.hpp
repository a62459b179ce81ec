// keytok/calibration_prompts.hpp: prompts whose answers a model is calibrated on.
//
// A model is far less sure of someone else's text than of its own (teacher-forced GSM8K
// reference solutions put Qwen2.5-0.5B's 92nd entropy percentile at 2.71 nats; its own answers
// at about 1 nat), so the detector is calibrated on the model's own answers to a varied prompt
// set. keytok ships one (data/calibration_prompts.jsonl, CC0): 52 prompts, 13 each of grade-school
// math word problems (original, none from GSM8K), short code tasks, factual questions and
// writing tasks. It is compiled into the library.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "keytok/status.hpp"

namespace keytok {

/// One prompt of a calibration set.
struct CalibrationPrompt {
  std::string id;        // e.g. "math-01"; "line-N" for plain-text files
  std::string category;  // e.g. "math"; empty when the file gives none
  std::string prompt;    // the user message, UTF-8
};

/// The built-in set, in file order. Thread-safe.
std::span<const CalibrationPrompt> builtin_calibration_prompts();

/// Names the built-in set and its exact content: "builtin-<first 12 hex digits of its sha256>".
/// Cached automatic calibrations record it, so a changed set is never mistaken for the old one.
const std::string& builtin_prompt_set_id();

/// Reads a prompt file: one prompt per non-empty line, or JSON lines (a line starting with '{')
/// with a "prompt" string (or "question", as in GSM8K's files) and optional "id" and "category"
/// strings; the two kinds may mix. keytok task files (docs/tasks.md) qualify as they are.
/// Errors: not_found, io_error, format_error naming file:line (bad JSON, no "prompt" string,
/// invalid UTF-8), invalid_argument for a file without prompts.
Result<std::vector<CalibrationPrompt>> read_calibration_prompts(const std::string& path);

/// Parses prompt-file text (as read_calibration_prompts; `source` names it in messages).
Result<std::vector<CalibrationPrompt>> parse_calibration_prompts(const std::string& text,
                                                                 const std::string& source);

}  // namespace keytok
