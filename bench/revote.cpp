// revote: other votes on the search trees a bench run kept, and the run replayed under tighter
// limits, without decoding again (issue 13: which ancestry-aware vote, how many paths and which
// early stop work, chosen on dev; sc:N for N below the run's from its first N samples).
//
//   revote TASKS BENCH.jsonl [--rules majority,weighted,best,tree,root] [--first 2,4]
//          [--max-paths 2,3] [--stop-agree 2,3] [--grow 2] [--rows OUT.jsonl]
//
// For every row with a tree (runs of more than one path), the vote is cast again under each rule
// by the library's own code (keytok::revote_tree_json) and judged by the task's matcher. With
// --first N, sc rows are also voted over their first N samples only (the seeds sc:N would
// draw; batch-size rounding aside, what an sc:N run makes), with those samples' tokens. With
// --max-paths K, branch rows are replayed with only their first K paths (exact for a run made
// with max_live = max_paths, pruning aside: rows where a dropped path could have changed a prune
// are counted as inexact); with --stop-agree N, sc and branch rows stop where N finished paths
// first agreed; with --grow G, sc and branch rows decode in two rounds, the first G samples or
// paths and the rest only where those disagree (the number of paths adapted to the question).
// Every combination is tried. Prints one line per (strategy, rule, first, max paths, stop,
// grow): rows, correct, accuracy with its Wilson interval, tokens per row, the rows turned
// from wrong to right and from right to wrong against the run's own vote, and inexact rows.
// --rows writes each replayed row as a JSON line (task, strategy, rule, first, max_paths,
// stop_agree, grow_from, grew, answer, correct, generated_tokens, exact) for paired tests.
#include <fmt/format.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "keytok/bench.hpp"
#include "keytok/reliability.hpp"
#include "keytok/strategy.hpp"
#include "keytok/tasks.hpp"

namespace {

std::vector<std::string> split(const std::string& list) {
  std::vector<std::string> out;
  std::istringstream in(list);
  for (std::string item; std::getline(in, item, ',');) out.push_back(item);
  return out;
}

int usage() {
  fmt::print(stderr,
             "usage: revote TASKS BENCH.jsonl [--rules RULE,...] [--first N,...] [--max-paths K,...] "
             "[--stop-agree N,...] [--grow G,...] [--rows OUT.jsonl]\n");
  return 2;
}

std::vector<int> counts(const std::string& list) {
  std::vector<int> out;
  for (const std::string& n : split(list)) out.push_back(std::stoi(n));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc % 2 == 0) return usage();
  std::vector<std::string> rule_names = split("majority,weighted,best,tree,root");
  std::vector<int> firsts = {0}, max_paths = {0}, stops = {0}, grows = {0};
  std::string rows_path;
  try {
    for (int i = 3; i + 1 < argc; i += 2) {
      const std::string flag = argv[i];
      if (flag == "--rules") {
        rule_names = split(argv[i + 1]);
      } else if (flag == "--first") {
        for (const int n : counts(argv[i + 1])) firsts.push_back(n);
      } else if (flag == "--max-paths") {
        for (const int n : counts(argv[i + 1])) max_paths.push_back(n);
      } else if (flag == "--stop-agree") {
        for (const int n : counts(argv[i + 1])) stops.push_back(n);
      } else if (flag == "--grow") {
        for (const int n : counts(argv[i + 1])) grows.push_back(n);
      } else if (flag == "--rows") {
        rows_path = argv[i + 1];
      } else {
        return usage();
      }
    }
  } catch (const std::exception&) {
    fmt::print(stderr, "revote: --first, --max-paths, --stop-agree and --grow take comma-separated whole numbers\n");
    return 2;
  }
  std::vector<keytok::CombineRule> rules;
  for (const std::string& name : rule_names) {
    auto rule = keytok::parse_combine_rule(name);
    if (!rule.ok()) {
      fmt::print(stderr, "revote: {}\n", rule.status().message());
      return 1;
    }
    rules.push_back(*rule);
  }
  auto tasks = keytok::load_tasks(argv[1]);
  if (!tasks.ok()) {
    fmt::print(stderr, "revote: {}\n", tasks.status().to_string());
    return 1;
  }
  std::map<std::string, const keytok::Task*> by_id;
  for (const keytok::Task& t : *tasks) by_id[t.id] = &t;
  // The results of whichever model the file holds.
  std::ifstream in(argv[2]);
  std::string first_line;
  std::getline(in, first_line);
  const auto header = nlohmann::json::parse(first_line, nullptr, /*allow_exceptions=*/false);
  const std::string model = header.is_object() ? header.value("model", "") : "";
  auto rows = keytok::load_bench_results(argv[2], model, nullptr);
  if (!rows.ok()) {
    fmt::print(stderr, "revote: {}\n", rows.status().to_string());
    return 1;
  }
  std::ofstream rows_out;
  if (!rows_path.empty()) {
    rows_out.open(rows_path);
    if (!rows_out) {
      fmt::print(stderr, "revote: cannot write {}\n", rows_path);
      return 1;
    }
  }
  struct Tally {
    int rows = 0, correct = 0, gained = 0, lost = 0, inexact = 0;
    std::int64_t tokens = 0;
  };
  using Key = std::tuple<std::string, std::string, int, int, int, int>;
  std::map<Key, Tally> tally;
  for (const keytok::BenchRow& row : *rows) {
    if (row.tree.empty()) continue;
    const auto task = by_id.find(row.task_id);
    if (task == by_id.end()) {
      fmt::print(stderr, "revote: task {} of {} is not in {}\n", row.task_id, argv[2], argv[1]);
      return 1;
    }
    const bool sc = row.strategy.rfind("sc:", 0) == 0;
    const bool branch = row.strategy == "branch";
    // The limits that apply to this row: --first to sc, --max-paths to branch, --stop-agree and
    // --grow to both, and none that leaves a single round or an agreement that is never met.
    std::vector<keytok::RevoteParams> limits;
    for (const int first : firsts) {
      if (first > 0 && (!sc || first >= row.paths)) continue;
      for (const int k : max_paths) {
        if (k > 0 && !branch) continue;
        const int cap = first > 0 ? first : k;
        for (const int stop : stops) {
          if (stop > 0 && ((!sc && !branch) || (cap > 0 && stop > cap))) continue;
          for (const int grow : grows) {
            if (grow > 0 && ((!sc && !branch) || stop > 0 || (cap > 0 && grow >= cap))) continue;
            limits.push_back({.first_paths = first, .max_paths = k, .stop_agree = stop, .grow_from = grow});
          }
        }
      }
    }
    for (keytok::RevoteParams params : limits) {
      for (const keytok::CombineRule rule : rules) {
        params.rule = rule;
        auto replay = keytok::revote_tree_json(row.tree, params);
        if (!replay.ok()) {
          fmt::print(stderr, "revote: task {}, {}: {}\n", row.task_id, row.strategy, replay.status().message());
          return 1;
        }
        const keytok::Vote& vote = replay->vote;
        const bool correct = vote.answer && keytok::answer_matches(*task->second, *vote.answer);
        Tally& t = tally[{row.strategy, keytok::combine_rule_name(rule), params.first_paths, params.max_paths,
                          params.stop_agree, params.grow_from}];
        ++t.rows;
        t.correct += correct ? 1 : 0;
        t.gained += correct && !row.correct ? 1 : 0;
        t.lost += !correct && row.correct ? 1 : 0;
        t.inexact += replay->exact ? 0 : 1;
        t.tokens += replay->tokens;
        if (rows_out.is_open()) {
          rows_out << nlohmann::json{{"task", row.task_id},
                                     {"strategy", row.strategy},
                                     {"rule", keytok::combine_rule_name(rule)},
                                     {"first", params.first_paths},
                                     {"max_paths", params.max_paths},
                                     {"stop_agree", params.stop_agree},
                                     {"grow_from", params.grow_from},
                                     {"grew", replay->grew},
                                     {"answer", vote.answer ? nlohmann::json(*vote.answer) : nlohmann::json()},
                                     {"correct", correct},
                                     {"generated_tokens", replay->tokens},
                                     {"exact", replay->exact}}
                          .dump()
                   << '\n';
        }
      }
    }
  }
  if (rows_out.is_open() && !rows_out.flush()) {
    fmt::print(stderr, "revote: writing {} failed (disk full?)\n", rows_path);
    return 1;
  }
  fmt::print("{:<14} {:<9} {:>5} {:>5} {:>5} {:>5} {:>5} {:>7} {:>8} {:>13} {:>10} {:>6} {:>5} {:>7}\n", "strategy",
             "rule", "first", "paths", "stop", "grow", "rows", "correct", "accuracy", "95% Wilson", "tokens/row", "gained",
             "lost", "inexact");
  auto shown = [](int n) { return n > 0 ? std::to_string(n) : std::string("all"); };
  auto dash = [](int n) { return n > 0 ? std::to_string(n) : std::string("-"); };
  for (const auto& [key, t] : tally) {
    const auto& [strategy, rule, first, k, stop, grow] = key;
    const keytok::Interval w = keytok::wilson_interval(t.correct, t.rows);
    fmt::print("{:<14} {:<9} {:>5} {:>5} {:>5} {:>5} {:>5} {:>7} {:>7.1f}% {:>13} {:>10.1f} {:>6} {:>5} {:>7}\n",
               strategy, rule, shown(first), shown(k), dash(stop), dash(grow), t.rows, t.correct,
               100.0 * w.estimate, fmt::format("{:.1f}-{:.1f}%", 100.0 * w.lo, 100.0 * w.hi),
               static_cast<double>(t.tokens) / t.rows, t.gained, t.lost, t.inexact);
  }
  return 0;
}
