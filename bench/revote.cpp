// revote: the accuracy of other combine rules on the search trees a bench run kept, without
// decoding again (issue 13: which ancestry-aware vote works, chosen on dev).
//
//   revote TASKS BENCH.jsonl [RULE,...]     (default: majority,weighted,best,tree,root)
//
// For every row with a tree (runs of more than one path), the vote is cast again under each rule
// by the library's own code (keytok::revote_tree_json) and judged by the task's matcher. Prints
// one line per (strategy, rule): rows, correct, accuracy, and the rows the rule turns from wrong
// to right and from right to wrong against the run's own vote.
#include <fmt/format.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "keytok/bench.hpp"
#include "keytok/reliability.hpp"
#include "keytok/strategy.hpp"
#include "keytok/tasks.hpp"

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    fmt::print(stderr, "usage: revote TASKS BENCH.jsonl [RULE,...]\n");
    return 2;
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
  std::string first;
  std::getline(in, first);
  const auto header = nlohmann::json::parse(first, nullptr, /*allow_exceptions=*/false);
  const std::string model = header.is_object() ? header.value("model", "") : "";
  auto rows = keytok::load_bench_results(argv[2], model, nullptr);
  if (!rows.ok()) {
    fmt::print(stderr, "revote: {}\n", rows.status().to_string());
    return 1;
  }
  std::vector<keytok::CombineRule> rules;
  std::istringstream names(argc == 4 ? argv[3] : "majority,weighted,best,tree,root");
  for (std::string name; std::getline(names, name, ',');) {
    auto rule = keytok::parse_combine_rule(name);
    if (!rule.ok()) {
      fmt::print(stderr, "revote: {}\n", rule.status().message());
      return 1;
    }
    rules.push_back(*rule);
  }
  struct Tally {
    int rows = 0, correct = 0, gained = 0, lost = 0;
  };
  std::map<std::pair<std::string, std::string>, Tally> tally;
  for (const keytok::BenchRow& row : *rows) {
    if (row.tree.empty()) continue;
    const auto task = by_id.find(row.task_id);
    if (task == by_id.end()) {
      fmt::print(stderr, "revote: task {} of {} is not in {}\n", row.task_id, argv[2], argv[1]);
      return 1;
    }
    for (const keytok::CombineRule rule : rules) {
      auto vote = keytok::revote_tree_json(row.tree, rule);
      if (!vote.ok()) {
        fmt::print(stderr, "revote: task {}, {}: {}\n", row.task_id, row.strategy, vote.status().message());
        return 1;
      }
      const bool correct = vote->answer && keytok::answer_matches(*task->second, *vote->answer);
      Tally& t = tally[{row.strategy, keytok::combine_rule_name(rule)}];
      ++t.rows;
      t.correct += correct ? 1 : 0;
      t.gained += correct && !row.correct ? 1 : 0;
      t.lost += !correct && row.correct ? 1 : 0;
    }
  }
  fmt::print("{:<14} {:<9} {:>5} {:>8} {:>9} {:>13} {:>6} {:>5}\n", "strategy", "rule", "rows", "correct",
             "accuracy", "95% Wilson", "gained", "lost");
  for (const auto& [key, t] : tally) {
    const keytok::Interval w = keytok::wilson_interval(t.correct, t.rows);
    fmt::print("{:<14} {:<9} {:>5} {:>8} {:>8.1f}% {:>5.1f}-{:<5.1f}% {:>6} {:>5}\n", key.first, key.second, t.rows,
               t.correct, 100.0 * w.estimate, 100.0 * w.lo, 100.0 * w.hi, t.gained, t.lost);
  }
  return 0;
}
