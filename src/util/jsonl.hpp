// JSON-lines files, read and written one way for every keytok format (task files, sweep results,
// bench results, per-token analyses): a header line {"format": MAGIC, "version": N, ...} that
// names the format, then one JSON object per line. Errors name file:line and say what to do,
// because these files are edited by hand and cut short by killed runs.
//
// A last line without its newline is what a run killed mid-write leaves behind. Each format
// chooses what that means (JsonlFormat::cut_off): an error for hand-written inputs, or a line
// to drop for results files that --resume completes.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "keytok/status.hpp"

namespace keytok::detail {

/// What a reader does with a last line that has no newline and does not parse.
enum class CutOffLine {
  error,  // report it (file:line) and fail
  drop,   // ignore it and say so in JsonlDocument::cut_off_line; the writer redoes that row
};

/// One file format.
struct JsonlFormat {
  std::string_view magic;        // the header's "format", e.g. "keytok-sweep"
  int version = 1;               // the one version this keytok reads and writes
  std::string_view what;         // "sweep results file", for messages
  std::string_view hint;         // what to pass instead when a file is not of this format
  bool header_optional = false;  // a file may start with rows straight away (task files)
  CutOffLine cut_off = CutOffLine::error;
};

/// The formats, so that a reader that meets another keytok format can say which it is.
inline constexpr JsonlFormat kTaskFormat{"keytok-tasks", 1, "task file",
                                         "pass a task file (keytok tasks -o FILE writes one)",
                                         true, CutOffLine::error};
inline constexpr JsonlFormat kSweepFormat{
    "keytok-sweep", 1, "sweep results file",
    "pass the file keytok sweep wrote, or a length,trials,successes CSV", false,
    CutOffLine::drop};
inline constexpr JsonlFormat kBenchFormat{"keytok-bench", 1, "bench results file",
                                          "pass the file keytok bench wrote, or another -o",
                                          false, CutOffLine::drop};
inline constexpr JsonlFormat kTokensFormat{"keytok-tokens", 1, "per-token analysis",
                                           "pass the file keytok analyze --jsonl wrote", false,
                                           CutOffLine::drop};
inline constexpr JsonlFormat kForksFormat{"keytok-forks", 1, "forks results file",
                                          "pass the file keytok forks wrote, or another -o",
                                          false, CutOffLine::drop};

/// format_error "source:line: what".
Status line_error(std::string_view source, int line, std::string_view what);

/// A file's whole content. not_found names `what` and `hint`; io_error when unreadable.
Result<std::string> read_text_file(const std::string& path, std::string_view what,
                                   std::string_view hint);

/// One non-blank line: 1-based number, text without "\r\n", and whether its newline is there.
struct JsonlLine {
  int number = 0;
  std::string_view text;
  bool complete = true;
};
std::vector<JsonlLine> split_lines(std::string_view text);

/// A parsed file: the header object (null when optional and absent) and each row with its line.
struct JsonlDocument {
  nlohmann::json header;
  struct Row {
    int line = 0;
    nlohmann::json value;  // an object
  };
  std::vector<Row> rows;
  int cut_off_line = 0;    // the dropped cut-off last line's number; 0 when none
  int n_lines = 0;         // non-blank lines, header included
};

/// Splits and parses `text`: the header (checked against `format`), then one object per line.
/// A second header line is an error (files cannot be concatenated).
Result<JsonlDocument> parse_jsonl(std::string_view text, std::string_view source,
                                  const JsonlFormat& format);

/// format_error at source:line unless `obj` is a header of `format` at its version. Names the
/// format found when it is another keytok format.
Status check_header(const nlohmann::json& obj, const JsonlFormat& format, std::string_view source,
                    int line);

/// The first member name, in name order, whose value differs between `a` and `b` or that `b`
/// lacks, else the first that only `b` holds; "" when they hold the same members. A value that
/// is not an object counts as {}. For messages that name the setting two headers disagree on.
std::string first_differing_member(const nlohmann::json& a, const nlohmann::json& b);

/// `obj`'s member `name` as JSON text; "(absent)" when it has none or is not an object.
std::string member_text(const nlohmann::json& obj, const std::string& name);

/// {"format": magic, "version": v} followed by `fields`' members, as one line (no newline).
std::string header_line(const JsonlFormat& format, const nlohmann::ordered_json& fields = {});

/// One object as one line (no newline). Bytes that are not UTF-8 (half a character in a token
/// piece) become U+FFFD instead of throwing.
std::string dump_line(const nlohmann::ordered_json& obj);

}  // namespace keytok::detail
