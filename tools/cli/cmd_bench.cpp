// keytok bench: tasks x strategies, one JSON line per run (appended, flushed, resumable), a
// progress bar on a terminal, and a table per strategy (accuracy with a 95% Wilson interval,
// tokens, time, tokens per correct answer); --html adds the accuracy-against-tokens plot.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "bench_report.hpp"
#include "progress.hpp"
#include "commands.hpp"
#include "keytok/results_file.hpp"
#include "keytok/shard.hpp"
#include "keytok/tasks.hpp"
#include "strategy_options.hpp"

namespace keytok::cli {

namespace {

struct BenchOptions {
  ModelOptions model;
  KvOptions kv;
  StrategyOptions strategy;
  std::string tasks_file;
  std::string strategies = "greedy,sc:8,branch,deepconf:8";
  std::string output;  // -o results.jsonl
  bool resume = false;
  std::string html;
  bool raw = false;
  int limit = 0;       // first N tasks; 0 = all
  std::string shard;   // --shard I/N; "" = all
};

int run_bench(const BenchOptions& o) {
  constexpr std::string_view kCmd = "bench";
  auto specs = split_strategies(o.strategies);
  if (!specs.ok()) return fail(kCmd, specs.status());
  for (const std::string& s : *specs) {
    auto p = parse_strategy(s, o.strategy.base);
    if (!p.ok()) return fail(kCmd, p.status());
  }
  auto shard = parse_shard(o.shard.empty() ? "1/1" : o.shard);
  if (!shard.ok()) return fail(kCmd, shard.status());
  auto tasks = load_tasks(o.tasks_file);
  if (!tasks.ok()) return fail(kCmd, tasks.status());
  if (o.limit > 0 && tasks->size() > static_cast<std::size_t>(o.limit)) tasks->resize(static_cast<std::size_t>(o.limit));
  *tasks = take_shard(std::move(*tasks), *shard);
  auto model = load_model(o.model);
  if (!model.ok()) return fail(kCmd, model.status());
  std::vector<std::unique_ptr<Strategy>> strategies;
  std::vector<StrategyParams> resolved;
  int n_seq = 1;
  for (const std::string& s : *specs) {
    auto p = resolve_strategy(o.strategy, s, *model, o.model.session);
    if (!p.ok()) return fail(kCmd, p.status());
    auto st = make_strategy(*p);
    if (!st.ok()) return fail(kCmd, st.status());
    n_seq = std::max(n_seq, p->max_live_sequences());
    resolved.push_back(*p);
    if (p->kind == StrategyKind::branch || p->kind == StrategyKind::cascade) {
      std::fprintf(stderr, "keytok bench: %s %s where %s (%s)\n", s.c_str(),
                   p->kind == StrategyKind::branch ? "forks" : "asks the large model",
                   KeyTokenDetector(p->branch.detector).describe().c_str(), p->branch.detector_source.c_str());
    }
    strategies.push_back(std::move(*st));
  }

  auto kv_sp = with_kv(o.kv, o.model.session);
  if (!kv_sp.ok()) return fail(kCmd, kv_sp.status());
  const BenchSettings settings{.model_file = file_name(o.model.model.path),
                               .tasks_file = file_name(o.tasks_file), .raw = o.raw,
                               .strategies = resolved,
                               .big_model_file = o.strategy.big_model.empty() ? "" : file_name(o.strategy.big_model),
                               .shard = *shard, .kv = kv_sp->kv};

  // Results so far (resume) and the file to append to.
  std::vector<BenchRow> rows;
  std::optional<ResultsWriter> out;
  if (!o.output.empty()) {
    auto exists = has_rows_to_resume(o.output, o.resume);
    if (!exists.ok()) return fail(kCmd, exists.status());
    if (*exists) {
      auto old = load_bench_results(o.output, (*model)->name(), &settings);
      if (!old.ok()) return fail(kCmd, old.status());
      rows = std::move(*old);
    }
    auto writer = ResultsWriter::open(o.output, bench_header_line((*model)->name(), settings));
    if (!writer.ok()) return fail(kCmd, writer.status());
    out.emplace(std::move(*writer));
  }
  std::set<std::pair<std::string, std::string>> done;
  for (const BenchRow& r : rows) done.emplace(r.task_id, r.strategy);

  SessionParams sp = *kv_sp;
  sp.n_seq_max = n_seq;
  auto session = Session::create(*model, sp);
  if (!session.ok()) return fail(kCmd, session.status());
  auto large = open_big_model(o.strategy, resolved, **model, o.model);
  if (!large.ok()) return fail(kCmd, large.status());

  const std::size_t total = tasks->size() * strategies.size();
  Progress progress(static_cast<long>(total - std::min(total, done.size())), "runs");
  for (const Task& task : *tasks) {
    for (const auto& strategy : strategies) {
      const std::string name = strategy->params().name();
      if (done.count({task.id, name}) > 0) continue;
      GenerateRequest req{.prompt = task.prompt, .raw = o.raw,
                          .extract = [&task](std::string_view t) { return extract_answer(task.match, t, &task); },
                          .large = *large ? (*large)->target.get() : nullptr};
      auto r = strategy->run(**session, req);
      if (!r.ok()) {
        progress.finish();
        return fail(kCmd, Status(r.status().code(), "task " + task.id + ", " + name + ": " + r.status().message()));
      }
      BenchRow row{.task_id = task.id, .strategy = name,
                   .correct = r->vote.answer.has_value() && answer_matches(task, r->text),
                   .answer = r->vote.answer.value_or(""), .expected = task.answer,
                   .generated_tokens = r->cost.generated_tokens, .prompt_tokens = r->cost.prompt_tokens,
                   .decode_calls = r->cost.decode_calls, .peak_live = r->cost.peak_live,
                   .forks = r->cost.forks, .paths = static_cast<int>(r->paths.size()), .wall_ms = r->cost.wall_ms,
                   .large_decisions = r->cost.large_decisions, .large_changed = r->cost.large_changed,
                   .large_prefill_tokens = r->cost.large_prefill_tokens,
                   .large_decode_calls = r->cost.large_decode_calls, .rollbacks = r->cost.rollbacks,
                   .peak_cells = sp.kv.evicts() ? r->cost.peak_cells : 0,
                   .cells_evicted = r->cost.cells_evicted,
                   .tree = r->paths.size() > 1 ? generation_tree_json(*r) : std::string()};
      if (out) {
        if (auto st = out->append(bench_row_line(row)); !st.ok()) {
          progress.finish();
          return fail(kCmd, st);
        }
      }
      rows.push_back(std::move(row));
      progress.tick();
      simulate_kill_after_rows(progress.done());  // KEYTOK_DEBUG_KILL_AFTER_ROWS
    }
  }
  progress.finish();
  std::set<std::string> task_ids;
  for (const Task& t : *tasks) task_ids.insert(t.id);
  std::erase_if(rows, [&](const BenchRow& r) { return task_ids.count(r.task_id) == 0; });
  const auto summaries = summarize_bench(rows, *specs);
  print_bench_table(summaries, std::cout);
  if (!o.html.empty()) {
    std::ofstream html(o.html);
    if (!html) return fail(kCmd, Status::io_error("cannot write " + o.html));
    write_bench_html(summaries, fmt::format("model {}, tasks {} ({} tasks)", (*model)->name(), o.tasks_file,
                                            tasks->size()), html);
  }
  return 0;
}

}  // namespace

void setup_bench(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Run decoding strategies over a task file and compare accuracy and tokens");
  add_model_options(cmd, o->model);
  add_kv_options(cmd, o->kv, /*fraction_allowed=*/false);
  cmd->add_option("--tasks", o->tasks_file, "Task file (keytok JSONL or GSM8K JSONL)")->required();
  cmd->add_option("--strategies", o->strategies, "Comma-separated: greedy, sample, sc:N, branch, deepconf:N, cascade")
      ->capture_default_str();
  cmd->add_option("-o,--output", o->output, "Append one JSON line per run to FILE");
  cmd->add_flag("--resume", o->resume, "Continue an existing -o file, skipping runs it holds");
  cmd->add_option("--html", o->html, "Write an accuracy-against-tokens plot to FILE");
  cmd->add_option("--limit", o->limit, "Use the first N tasks only (0 = all)")->check(at_least(0));
  add_shard_option(cmd, o->shard);
  cmd->add_flag("--raw", o->raw, "Do not apply the model's chat template");
  add_strategy_options(cmd, o->strategy);
  cmd->footer(
      "Example:\n"
      "  keytok bench --tasks tasks.jsonl --strategies greedy,sc:8,branch,deepconf:8 -o results.jsonl --html plot.html\n"
      "Each strategy's table row: accuracy with a 95% Wilson interval, mean generated tokens and wall time per task,\n"
      "and generated tokens per correct answer.");
  cmd->callback([o, &exit_code] { exit_code = run_bench(*o); });
}

}  // namespace keytok::cli
