// score_answers: judges answers written by another engine (llama-server's speculative decoding
// in bench/cascade_speculative.py) with keytok's own matcher, so that every row of
// docs/results/cascade.md is scored by one rule (keytok::answer_matches).
//
//   score_answers TASKS OUTPUTS > rows.jsonl
//
// OUTPUTS: one JSON object per line with "task" (a task id of TASKS) and "output" (the text);
// other keys pass through. Each printed line is that object plus "correct" and "answer".
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "keytok/tasks.hpp"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: score_answers TASKS OUTPUTS\n");
    return 2;
  }
  auto tasks = keytok::load_tasks(argv[1]);
  if (!tasks.ok()) {
    std::fprintf(stderr, "score_answers: %s\n", tasks.status().to_string().c_str());
    return 1;
  }
  std::map<std::string, const keytok::Task*> by_id;
  for (const keytok::Task& t : *tasks) by_id[t.id] = &t;
  std::ifstream in(argv[2]);
  if (!in) {
    std::fprintf(stderr, "score_answers: cannot read %s\n", argv[2]);
    return 1;
  }
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("task") || !j.contains("output")) {
      std::fprintf(stderr, "score_answers: %s:%d: not an output row\n", argv[2], n);
      return 1;
    }
    const auto it = by_id.find(j["task"].get<std::string>());
    if (it == by_id.end()) {
      std::fprintf(stderr, "score_answers: %s:%d: task %s is not in %s\n", argv[2], n,
                   j["task"].get<std::string>().c_str(), argv[1]);
      return 1;
    }
    const std::string output = j["output"].get<std::string>();
    const auto answer = keytok::extract_answer(it->second->match, output, it->second);
    j["answer"] = answer.value_or("");
    j["correct"] = answer.has_value() && keytok::answer_matches(*it->second, output);
    std::cout << j.dump() << "\n";
  }
  return 0;
}
