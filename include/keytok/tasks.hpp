// keytok/tasks.hpp: verifiable tasks for the reliability lab (issue 3).
//
// A Task is one prompt plus what counts as a correct answer. Tasks come from a JSONL file
// (keytok's own format, or GSM8K's `question`/`answer` lines read as is) or from the built-in
// generators, whose outputs grow with a size n and have exactly one correct output, so a
// length sweep can measure how success falls with n. The formats are documented in
// docs/tasks.md.
//
//   auto tasks = keytok::load_tasks("tasks.jsonl");          // or generate_tasks({...})
//   if (!tasks.ok()) { fmt::print("{}\n", tasks.status().to_string()); return 1; }
//   for (const keytok::Task& t : *tasks) {
//     std::string out = run_model(t.prompt);
//     bool ok = keytok::answer_matches(t, out);
//     std::optional<std::string> vote = keytok::extract_answer(t.match, out, &t);
//   }
//
// Everything here is pure computation over strings and files; all functions are thread-safe
// (no shared state).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keytok/status.hpp"

namespace keytok {

/// How an output is compared with a task's answer. Persisted by name ("exact", ...), never by
/// number.
enum class MatchMode {
  exact,     ///< output == answer after trimming leading/trailing ASCII whitespace of both
  number,    ///< the last number in the output equals the answer numerically (see extract_answer)
  contains,  ///< the answer occurs as a substring of the output (case-sensitive)
  regex,     ///< the answer is an ECMAScript regex that matches somewhere in the output
};

/// The persisted name of a match mode: "exact", "number", "contains" or "regex".
const char* match_mode_name(MatchMode mode);

/// Parses a match mode name; nullopt for anything else (names are case-sensitive).
std::optional<MatchMode> parse_match_mode(std::string_view name);
/// "exact, number, contains or regex": the names parse_match_mode accepts, for messages.
std::string match_mode_names();

/// One verifiable task.
struct Task {
  std::string id;                      // unique within a file; sweeps key their resume on it
  std::string prompt;                  // the user message given to the model
  std::string answer;                  // what `match` compares the output with
  MatchMode match = MatchMode::exact;  // how an output is compared with `answer`
  std::string family;                  // e.g. "copy", "gsm8k"; empty = none
  int length = 0;                      // the task's size n (items to produce); 0 = unknown
  std::string reference;               // the full expected output when there is exactly one;
                                       // empty = none. Defaults to `answer` for `exact` tasks
                                       // read from a file.
};

// ---------------------------------------------------------------------------------------------
// Files

/// Reads a task file. The format is detected per file from its first non-blank line:
///  - keytok JSONL: an optional header line {"format":"keytok-tasks","version":1,...}, then one
///    object per line with "id", "prompt", "answer", "match" and optional "family", "length",
///    "reference" (and "meta", which is ignored). Any other key is an error (catches typos).
///  - GSM8K JSONL: objects with "question" and "answer", the answer ending in "#### N". Read as
///    prompt = question, answer = N (commas removed), match = number, family = "gsm8k",
///    id = "gsm8k-<line number>".
/// Blank lines are skipped. Errors (format_error / not_found / io_error) name the file and the
/// 1-based line and say what to do: malformed JSON, a missing or mistyped field, an unknown
/// match mode, a `number` answer that is not a number, a regex that does not compile, a
/// duplicate id, a header of another format or version, or a file with no tasks.
/// Cost: one pass over the file.
Result<std::vector<Task>> load_tasks(const std::string& path);

/// Same as load_tasks on text already in memory; `source` names it in error messages.
Result<std::vector<Task>> parse_tasks(std::string_view text, const std::string& source);

/// Writes tasks as keytok JSONL, starting with the header line
/// {"format":"keytok-tasks","version":1,"count":N}. Optional fields are omitted when empty
/// (family, reference) or 0 (length). load_tasks reads the file back to equal tasks.
/// Returns io_error when the file cannot be written.
Status write_tasks(const std::string& path, const std::vector<Task>& tasks);

/// One task as a single JSON line (no trailing newline), the way write_tasks writes it.
std::string task_to_json_line(const Task& task);

// ---------------------------------------------------------------------------------------------
// Matching

/// True when `output` is a correct answer to `task` under task.match. An invalid regex never
/// matches (load_tasks rejects those up front).
bool answer_matches(const Task& task, std::string_view output);

/// The normalized answer a vote over several outputs would count, or nullopt when the output
/// holds none. Label-free: it never looks at the correct answer, so voting cannot peek.
///  - exact, contains: the output with leading/trailing whitespace trimmed (nullopt if empty).
///  - number: the last number in the output, canonical: commas between digit groups removed
///    ("1,234" -> "1234"), a leading '+' dropped, leading zeros dropped, trailing fractional
///    zeros dropped ("72.0" -> "72", "0.50" -> "0.5", ".5" -> "0.5"), "-0" -> "0". A '-' is a
///    sign only when not preceded by a letter or digit ("3-5" holds 3 and 5). No exponents.
///  - regex: when `task` is given and its pattern has a capture group, the text of group 1 in
///    the last match (the pattern locates the answer, e.g. "Answer: (\\w+)"); otherwise the
///    trimmed output, as for exact.
std::optional<std::string> extract_answer(MatchMode mode, std::string_view output,
                                          const Task* task = nullptr);

/// The canonical form of a number written as text (see extract_answer, `number`), or nullopt
/// when `text`, trimmed, is not exactly one number. Used for `number` answers.
std::optional<std::string> canonical_number(std::string_view text);

/// `text` without leading and trailing ASCII whitespace (space, `\t`, `\n`, `\r`, `\f`, `\v`).
std::string_view trim_whitespace(std::string_view text);

// ---------------------------------------------------------------------------------------------
// Built-in generators

/// What generate_tasks makes: `per_length` tasks for every (family, length) pair.
struct TaskGenParams {
  std::vector<std::string> families;  // names from all_task_families(); empty = the default
                                      // families, builtin_task_families() (no needle)
  std::vector<int> lengths = {4, 8, 16, 32, 64};  // task sizes n, each in [1, kMaxTaskLength]
  int per_length = 20;                            // tasks per (family, length), >= 1
  std::uint64_t seed = 1;  // same seed -> byte-identical tasks on any platform

  /// invalid_argument naming the bad field (unknown family, length out of range, ...).
  Status validate() const;
};

/// Largest n a generator accepts (outputs stay far below a small model's context; a needle
/// prompt of this size is about 20k tokens).
inline constexpr int kMaxTaskLength = 4096;

/// Names of the default built-in families, the ones generate_tasks makes when
/// TaskGenParams::families is empty, in the order it emits them:
///  copy     - repeat n words in order
///  reverse  - write n words in reverse order
///  count    - count from a to a+n-1
///  sequence - continue an arithmetic sequence for n terms
///  spell    - spell a string of n random letters, letters separated by spaces
///  add      - add two n-digit numbers
/// Their outputs grow with n; every task has match = exact, reference = answer = the one correct
/// output, length = n.
const std::vector<std::string>& builtin_task_families();

/// Every built-in family: builtin_task_families(), then the opt-in families, which
/// generate_tasks makes only when they are named:
///  needle   - passkey retrieval (Mohtashami & Jaggi 2023, "Landmark Attention"; llama.cpp's
///             passkey example): a 5-digit pass key hidden among n filler sentences, asked for
///             at the end.
///
/// A needle task's prompt is three paragraphs separated by blank lines: "There is important
/// information hidden inside a lot of irrelevant text. Find it and memorize it; you will be
/// asked about it.", the haystack, and "What is the pass key? Answer with the number only." The
/// haystack is n filler sentences separated by single spaces, cycling "The grass is green.",
/// "The sky is blue.", "The sun is yellow.", "Here we go.", "There and back again." (always
/// starting with the first), with the needle "The pass key is K. Remember it. K is the pass
/// key." inserted as one more sentence after needle_position(n, index) filler sentences. K is
/// uniform in [10000, 99999], drawn from the (family, n) stream; no other part of the prompt
/// holds a digit, so K occurs exactly twice in it. answer = reference = K, match = number,
/// length = n: the number of filler sentences, which sizes the context (about 5 tokens a
/// sentence), not the output. Needle is left out of the default set because its output does
/// not grow with n, so it does not belong in a length sweep's error-rate fit, and because its
/// prompts are long (up to about 20k tokens at n = 4096).
const std::vector<std::string>& all_task_families();

/// Where a needle task puts its needle: after round(d * n) filler sentences (halves rounded up),
/// at the depth d = (index mod 5) / 4. Tasks with index 0, 1, 2, 3, 4 (then 5, 6, ... again)
/// put it at depth 0 (before all filler), 1/4, 1/2, 3/4 and 1 (after all filler). `index` is the
/// task's index within its (family, n) stream, the last part of its id "needle-<n>-<index>", so
/// a report can recover the depth from the id. Returns a value in [0, n] (0 for a negative n or
/// index).
int needle_position(int n, int index);

/// Generates tasks, ordered by family (as in params.families, or builtin_task_families() when it
/// is empty), then length, then index. Ids are "<family>-<n>-<index>", index zero-padded to 3
/// digits. Each (family, n) pair draws from its own random stream derived from (seed, family,
/// n), so adding a family or a length leaves the other tasks unchanged, and raising per_length
/// only appends. Deterministic across platforms (std::mt19937_64 with keytok's own integer
/// mapping). Fails only when params.validate() does.
Result<std::vector<Task>> generate_tasks(const TaskGenParams& params);

}  // namespace keytok
