// revote: other votes on the search trees a bench run kept, without decoding again (issue 13:
// which ancestry-aware vote works, chosen on dev; sc:N for N below the run's from its first N
// samples).
//
//   revote TASKS BENCH.jsonl [--rules majority,weighted,best,tree,root] [--first 2,4]
//
// For every row with a tree (runs of more than one path), the vote is cast again under each rule
// by the library's own code (keytok::revote_tree_json) and judged by the task's matcher. With
// --first N, sc rows are also voted over their first N samples only (the seeds sc:N would
// draw; batch-size rounding aside, what an sc:N run makes), with those samples' tokens. Prints
// one line per (strategy, rule[, first N]): rows, correct, accuracy with its Wilson interval,
// tokens per row, and the rows turned from wrong to right and from right to wrong against the
// run's own vote.
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
  fmt::print(stderr, "usage: revote TASKS BENCH.jsonl [--rules RULE,...] [--first N,...]\n");
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc % 2 == 0) return usage();
  std::vector<std::string> rule_names = split("majority,weighted,best,tree,root");
  std::vector<int> firsts = {0};
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--rules") {
      rule_names = split(argv[i + 1]);
    } else if (flag == "--first") {
      for (const std::string& n : split(argv[i + 1])) firsts.push_back(std::stoi(n));
    } else {
      return usage();
    }
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
  struct Tally {
    int rows = 0, correct = 0, gained = 0, lost = 0;
    std::int64_t tokens = 0;
  };
  std::map<std::tuple<std::string, std::string, int>, Tally> tally;
  for (const keytok::BenchRow& row : *rows) {
    if (row.tree.empty()) continue;
    const auto task = by_id.find(row.task_id);
    if (task == by_id.end()) {
      fmt::print(stderr, "revote: task {} of {} is not in {}\n", row.task_id, argv[2], argv[1]);
      return 1;
    }
    for (const int first : firsts) {
      if (first > 0 && (row.strategy.rfind("sc:", 0) != 0 || first >= row.paths)) continue;
      for (const keytok::CombineRule rule : rules) {
        std::int64_t tokens = 0;
        auto vote = keytok::revote_tree_json(row.tree, rule, first, &tokens);
        if (!vote.ok()) {
          fmt::print(stderr, "revote: task {}, {}: {}\n", row.task_id, row.strategy, vote.status().message());
          return 1;
        }
        const bool correct = vote->answer && keytok::answer_matches(*task->second, *vote->answer);
        Tally& t = tally[{row.strategy, keytok::combine_rule_name(rule), first}];
        ++t.rows;
        t.correct += correct ? 1 : 0;
        t.gained += correct && !row.correct ? 1 : 0;
        t.lost += !correct && row.correct ? 1 : 0;
        t.tokens += tokens;
      }
    }
  }
  fmt::print("{:<14} {:<9} {:>6} {:>5} {:>8} {:>9} {:>13} {:>10} {:>6} {:>5}\n", "strategy", "rule", "first",
             "rows", "correct", "accuracy", "95% Wilson", "tokens/row", "gained", "lost");
  for (const auto& [key, t] : tally) {
    const auto& [strategy, rule, first] = key;
    const keytok::Interval w = keytok::wilson_interval(t.correct, t.rows);
    fmt::print("{:<14} {:<9} {:>6} {:>5} {:>8} {:>8.1f}% {:>13} {:>10.1f} {:>6} {:>5}\n", strategy, rule,
               first > 0 ? std::to_string(first) : "all", t.rows, t.correct, 100.0 * w.estimate,
               fmt::format("{:.1f}-{:.1f}%", 100.0 * w.lo, 100.0 * w.hi), static_cast<double>(t.tokens) / t.rows,
               t.gained, t.lost);
  }
  return 0;
}
