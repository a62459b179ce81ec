// keytok/results_file.hpp: appending result rows to a JSON-lines file that a killed run can
// resume.
//
// Every long-running command (sweep, bench) writes its results this way: a header line naming
// the format and version, then one line per finished row, flushed as it is written. A kill loses
// at most the row in progress; the next run with --resume reads the rows that are there and
// appends the rest.
//
//   auto out = keytok::ResultsWriter::open("runs.jsonl", header).value();
//   for (...) KEYTOK_RETURN_IF_ERROR(out.append(row_line));
#pragma once

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "keytok/status.hpp"

namespace keytok {

/// Appends lines to a results file, one flushed line at a time.
class ResultsWriter {
 public:
  /// Opens `path` for appending. A new or empty file gets `header_line` first. In an existing
  /// file, a last line without its newline (a kill mid-write) is cut off first, so the next row
  /// starts on a line of its own. io_error naming the path when it cannot be opened or cut.
  static Result<ResultsWriter> open(const std::string& path, std::string_view header_line);

  /// Writes `line` and a newline, and flushes. io_error naming the file when the write fails
  /// (a full disk); the rows written before stay intact.
  Status append(std::string_view line);

  const std::string& path() const { return path_; }

 private:
  struct Closer {
    void operator()(std::FILE* f) const;
  };
  ResultsWriter(std::string path, std::FILE* file) : path_(std::move(path)), file_(file) {}
  std::string path_;
  std::unique_ptr<std::FILE, Closer> file_;
};

/// Cuts a last line that has no newline off the file at `path` (what a kill mid-write leaves);
/// does nothing when the file is absent or ends with a newline. io_error when it cannot.
Status cut_partial_last_line(const std::string& path);

/// What merge_results_files wrote.
struct MergeSummary {
  std::string format;                // the inputs' format, "keytok-sweep" or "keytok-bench"
  std::size_t rows = 0;              // rows written
  std::vector<std::string> shards;   // "I/N" of each sharded input, by I
  int shard_count = 0;               // their N; 0 when no input was a shard
  std::vector<int> missing_shards;   // shard numbers 1..N that no input held (none: complete)
  std::vector<std::string> cut_off;  // "file:line" of each cut-off last line left out
};

/// Joins results files of one kind (sweep or bench, typically the shards of one run made with
/// --shard I/N on several machines) into `output`: one header, then every input's rows as they
/// were written, shards in order. Refuses, writing nothing:
///  - inputs of different formats, or of settings that differ other than in their shard
///    (model, task file, strategies and their knobs, detector, sampling...): format_error naming
///    the two files and the setting;
///  - the same shard twice, or shards of different N: invalid_argument;
///  - a row (sweep: task and sample; bench: task and strategy) in two inputs, or twice in one:
///    invalid_argument naming both file:line;
///  - an `output` that exists or is one of the inputs: invalid_argument.
/// A cut-off last line (a killed run) is left out and listed. The header keeps the inputs'
/// settings without the shard, so `--resume` on the merged file with the same flags and no
/// --shard runs exactly the rows that are missing. The file appears whole or not at all
/// (written aside, then renamed).
Result<MergeSummary> merge_results_files(const std::vector<std::string>& inputs,
                                         const std::string& output);

}  // namespace keytok
