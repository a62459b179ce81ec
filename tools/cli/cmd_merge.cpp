// keytok merge: join the results files of a sweep or bench split with --shard I/N into one
// (keytok/results_file.hpp, merge_results_files), refusing overlapping rows and other settings.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>
#include <string>
#include <vector>

#include "cli_common.hpp"
#include "commands.hpp"
#include "keytok/results_file.hpp"

namespace keytok::cli {

namespace {

struct MergeOptions {
  std::vector<std::string> inputs;
  std::string output;
};

int run_merge(const MergeOptions& o) {
  constexpr std::string_view kCmd = "merge";
  auto summary = merge_results_files(o.inputs, o.output);
  if (!summary.ok()) return fail(kCmd, summary.status());
  for (const std::string& where : summary->cut_off) {
    std::cerr << fmt::format("note: {} is cut off (a killed run) and left out; --resume on the "
                             "merged file runs that row again\n",
                             where);
  }
  if (!summary->missing_shards.empty()) {
    std::cerr << fmt::format("warning: shards {} of {} are missing; run them and merge again, or "
                             "run --resume on {} without --shard to fill them in\n",
                             fmt::join(summary->missing_shards, ","), summary->shard_count, o.output);
  }
  const std::string shards =
      summary->shards.empty() ? "" : fmt::format(" (shards {})", fmt::join(summary->shards, ", "));
  std::cout << fmt::format("merged {} rows from {} file{}{} into {}\n", summary->rows, o.inputs.size(),
                           o.inputs.size() == 1 ? "" : "s", shards, o.output);
  return 0;
}

}  // namespace

void setup_merge(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<MergeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "merge", "Join the results files of a sweep or bench run split with --shard I/N");
  cmd->add_option("files", o->inputs, "Results files of keytok sweep or keytok bench")->required();
  cmd->add_option("-o,--output", o->output, "The merged file to write (must not exist)")->required();
  cmd->footer(
      "Example (two machines, then one):\n"
      "  keytok bench --tasks t.jsonl --strategies greedy,sc:8 --shard 1/2 -o part1.jsonl   # machine A\n"
      "  keytok bench --tasks t.jsonl --strategies greedy,sc:8 --shard 2/2 -o part2.jsonl   # machine B\n"
      "  keytok merge part1.jsonl part2.jsonl -o runs.jsonl\n"
      "Refuses files whose settings differ (other than the shard), rows held twice, and shards of\n"
      "different N. The merged file's header has no shard: --resume on it without --shard runs what\n"
      "is missing.");
  cmd->callback([o, &exit_code] { exit_code = run_merge(*o); });
}

}  // namespace keytok::cli
