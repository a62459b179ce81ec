// keytok tasks: write a file of built-in verifiable tasks whose output grows with n.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>
#include <memory>

#include "cli_common.hpp"
#include "commands.hpp"
#include "keytok/tasks.hpp"

namespace keytok::cli {

namespace {

struct TasksOptions {
  TaskGenParams gen;   // defaults: the default families (no needle), lengths 4,8,16,32,64,
                       // 20 per length, seed 1
  std::string output;  // -o FILE
  bool list = false;   // --list: print the families and exit
};

int run_tasks(const TasksOptions& o) {
  constexpr std::string_view kCmd = "tasks";
  if (o.list) {
    for (const std::string& family : all_task_families()) std::cout << family << "\n";
    return 0;
  }
  if (o.output.empty()) {
    return fail(kCmd,
                Status::invalid_argument("no output file; pass -o FILE (e.g. -o tasks.jsonl)"));
  }
  auto tasks = generate_tasks(o.gen);
  if (!tasks.ok()) return fail(kCmd, tasks.status());
  if (Status st = write_tasks(o.output, *tasks); !st.ok()) return fail(kCmd, st);
  const std::vector<std::string>& families =
      o.gen.families.empty() ? builtin_task_families() : o.gen.families;
  std::cout << fmt::format(
      "{{\n  \"tasks\": \"{}\",\n  \"count\": {},\n  \"families\": [\"{}\"],\n  \"lengths\": "
      "[{}],\n"
      "  \"per_length\": {},\n  \"seed\": {}\n}}\n",
      o.output, tasks->size(), fmt::join(families, "\", \""), fmt::join(o.gen.lengths, ", "),
      o.gen.per_length, o.gen.seed);
  return 0;
}

}  // namespace

void setup_tasks(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<TasksOptions>();
  CLI::App* cmd = app.add_subcommand(
      "tasks",
      "Write built-in verifiable tasks (copy, reverse, count, sequence, spell, add; needle on "
      "request) at several lengths, reproducible from a seed");
  cmd->add_option("-f,--family", o->gen.families,
                  fmt::format("Families, comma-separated (default: {}; needle, the passkey "
                              "retrieval test, only when named)",
                              fmt::join(builtin_task_families(), ",")))
      ->delimiter(',')
      ->check(CLI::IsMember(all_task_families()));
  cmd->add_option("-l,--lengths", o->gen.lengths, "Task sizes n, comma-separated")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::Range(1, kMaxTaskLength));
  cmd->add_option("--per", o->gen.per_length, "Tasks per family and length")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cmd->add_option("--seed", o->gen.seed, "Random seed; the same seed writes the same file")
      ->capture_default_str();
  cmd->add_option("-o,--output", o->output, "Task file to write (keytok JSONL, docs/tasks.md)");
  cmd->add_flag("--list", o->list, "Print every built-in family (needle too) and exit");
  cmd->footer(
      "Examples:\n"
      "  keytok tasks --family copy,count --lengths 4,8,16,32,64 --per 20 --seed 1 -o tasks.jsonl\n"
      "  keytok tasks --family needle --lengths 300,3000 --per 10 -o needle.jsonl\n"
      "    (n filler sentences, the pass key at depth 0, 1/4, 1/2, 3/4, 1 for index 0..4, then "
      "again)\n"
      "Prints a summary JSON (tasks, count, families, lengths, per_length, seed) on stdout.");
  cmd->callback([o, &exit_code] { exit_code = run_tasks(*o); });
}

}  // namespace keytok::cli
