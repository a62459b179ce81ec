// keytok forks: which tokens decide the answer. Counterfactual forks of the model's greedy
// answer, replayed from the KV cache (keytok/forks.hpp; docs/forks.md).
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "cli_common.hpp"
#include "commands.hpp"
#include "keytok/forks.hpp"
#include "keytok/results_file.hpp"

namespace keytok::cli {

namespace {

struct ForksOptions {
  ModelOptions model;
  DetectorSpec detector;
  std::string tasks;
  std::string prompt;        // -p: one prompt instead of a task file
  std::string answer;        // its expected answer
  std::string match = "number";
  ForkStudyParams study;
  int noise_tasks = 0;       // the first N tasks are studied a second time (the noise floor)
  std::int64_t budget_tokens = 0;
  int limit = 0;
  std::string output = "forks.jsonl";
  bool resume = false;
  std::string summary;       // "" = <output stem>.summary.json
  std::string html;          // "" = <output stem>.html
  std::string report_only;   // --report FILE
  bool fork_shift_given = false;  // --fork-shift on the command line: --report relabels at it
};

// "<dir>/<stem>" of the results file, for the default summary and page names.
std::string output_stem(const std::string& output) {
  std::filesystem::path p(output);
  return (p.parent_path() / p.stem()).string();
}

// What a resumed run must share with the run that started the file.
nlohmann::json run_settings(const ForksOptions& o, const KeyTokenDetector& det) {
  const ForkStudyParams& s = o.study;
  return {{"model", file_name(o.model.model.path)},
          {"tasks", o.tasks.empty() ? "-p" : file_name(o.tasks)},
          {"samples", s.samples},
          {"min_prob", s.min_prob},
          {"max_alternatives", s.max_alternatives},
          {"max_tokens", s.max_tokens},
          {"temperature", s.sampling.temperature},
          {"top_k", s.sampling.top_k},
          {"top_p", s.sampling.top_p},
          {"min_p", s.sampling.min_p},
          {"random_rate", s.random_rate},
          {"fork_shift", s.fork_shift},
          {"seed", s.seed},
          {"noise_tasks", o.noise_tasks},
          {"detector", det.describe()},
          {"raw", s.raw}};
}

// Rows of tasks whose every position (and second pass, for the first `noise_tasks` tasks) is in
// the file: a task a kill cut short would bias the estimates towards its early positions.
std::vector<ForkPosition> complete_rows(const ForkResults& r, int noise_tasks, int* incomplete) {
  std::map<std::string, const ForkTask*> by_id;
  for (const ForkTask& t : r.tasks) by_id[t.task_id] = &t;
  std::map<std::string, std::size_t> seen;
  for (const ForkPosition& p : r.rows) ++seen[p.task_id];
  std::set<std::string> whole;
  *incomplete = 0;
  int order = 0;
  for (const ForkTask& t : r.tasks) {
    std::size_t want = t.tokens.size();
    if (order++ < noise_tasks) {
      for (std::size_t i = 0; i < t.tokens.size(); ++i) want += t.contested[i] && t.weights[i] > 0.0 ? 1 : 0;
    }
    if (seen[t.task_id] == want) {
      whole.insert(t.task_id);
    } else {
      ++*incomplete;
    }
  }
  std::vector<ForkPosition> rows;
  for (const ForkPosition& p : r.rows) {
    if (whole.count(p.task_id) != 0) rows.push_back(p);
  }
  return rows;
}

// `relabel`: the forking threshold to apply instead of the run's (a sensitivity analysis).
int report(std::string_view cmd, const std::string& path, const std::string& summary_path,
           const std::string& html_path, std::optional<float> relabel = std::nullopt) {
  if (relabel && !(*relabel > 0.0f && *relabel <= 1.0f)) {
    return fail(cmd, Status::invalid_argument(
                         fmt::format("--fork-shift must be in (0, 1] (got {}); the run's own is in the file's header",
                                     *relabel)));
  }
  auto results = load_fork_results(path);
  if (!results.ok()) return fail(cmd, results.status());
  if (results->cut_off_line > 0) {
    std::cerr << fmt::format("note: line {} of {} is cut off (a killed run) and left out; --resume finishes it\n",
                             results->cut_off_line, path);
  }
  int incomplete = 0;
  const auto settings = nlohmann::json::parse(results->settings_json, nullptr, /*allow_exceptions=*/false);
  if (relabel) {
    relabel_forks(results->rows, *relabel);
    const double used = settings.is_object() ? settings.value("fork_shift", 0.0) : 0.0;
    std::cerr << fmt::format("note: forks relabelled at --fork-shift {} (the run used {})\n", *relabel, used);
  }
  const int noise_tasks = settings.is_object() ? settings.value("noise_tasks", 0) : 0;
  const std::vector<ForkPosition> rows = complete_rows(*results, noise_tasks, &incomplete);
  if (incomplete > 0) {
    std::cerr << fmt::format("note: {} task(s) in {} are not complete and are left out; --resume finishes them\n",
                             incomplete, path);
  }
  const ForkSummary summary = summarize_forks(rows);
  std::cout << fork_summary_text(summary);
  for (const auto& [file, body] : {std::pair{summary_path, fork_summary_json(summary) + "\n"},
                                   std::pair{html_path, forks_html(*results, summary)}}) {
    std::ofstream out(file);
    if (!(out << body)) return fail(cmd, Status::io_error("cannot write " + file + "; check the folder"));
    std::cerr << fmt::format("wrote {}\n", file);
  }
  return 0;
}

Result<std::vector<Task>> load_inputs(const ForksOptions& o) {
  if (o.tasks.empty() == o.prompt.empty()) {
    return Status::invalid_argument("pass --tasks FILE, or -p PROMPT with --answer (one of them)");
  }
  if (!o.tasks.empty()) {
    auto tasks = load_tasks(o.tasks);
    if (!tasks.ok()) return tasks.status();
    if (o.limit > 0 && static_cast<int>(tasks->size()) > o.limit) tasks->resize(static_cast<std::size_t>(o.limit));
    return tasks;
  }
  const auto mode = parse_match_mode(o.match);
  if (!mode) return Status::invalid_argument("unknown --match '" + o.match + "'; use " + match_mode_names());
  if (o.answer.empty()) return Status::invalid_argument("-p needs --answer: the answer that counts as correct");
  // Checked as a task file's line would be (a number answer must be a number, a regex compile).
  const Task t{.id = "prompt", .prompt = o.prompt, .answer = o.answer, .match = *mode};
  return parse_tasks(task_to_json_line(t), "-p/--answer");
}

int run_forks(const ForksOptions& o) {
  constexpr std::string_view kCmd = "forks";
  // Outputs default to beside the results file read: --report's, else --output's (so
  // `--report run.jsonl` writes run.summary.json, not forks.summary.json in the current folder).
  // A report relabelled at another --fork-shift is named after it, never replacing the run's own.
  const bool relabel = !o.report_only.empty() && o.fork_shift_given;
  const std::string stem = output_stem(o.report_only.empty() ? o.output : o.report_only) +
                           (relabel ? fmt::format(".shift{}", o.study.fork_shift) : "");
  const std::string summary_path = o.summary.empty() ? stem + ".summary.json" : o.summary;
  const std::string html_path = o.html.empty() ? stem + ".html" : o.html;
  if (!o.report_only.empty()) {
    return report(kCmd, o.report_only, summary_path, html_path,
                  relabel ? std::optional(o.study.fork_shift) : std::nullopt);
  }
  ForkStudyParams params = o.study;
  if (auto st = params.validate(); !st.ok()) return fail(kCmd, st);
  // One position needs at least the base token and one alternative, each completed S times.
  if (o.budget_tokens > 0 && o.budget_tokens < 2 * params.samples) {
    return fail(kCmd, Status::invalid_argument(fmt::format(
                          "--budget-tokens {} is too small: one position needs at least {} completion tokens "
                          "(the base token and one alternative, --samples {} each); raise it or pass 0 (no limit)",
                          o.budget_tokens, 2 * params.samples, params.samples)));
  }
  auto tasks = load_inputs(o);
  if (!tasks.ok()) return fail(kCmd, tasks.status());
  auto model = load_model(o.model);
  if (!model.ok()) return fail(kCmd, model.status());
  int longest_prompt = 0;
  for (const Task& t : *tasks) {
    auto toks = (*model)->encode_prompt(t.prompt, params.raw);
    if (!toks.ok()) return fail(kCmd, Status(toks.status().code(), "task " + t.id + ": " + toks.status().message()));
    longest_prompt = std::max(longest_prompt, static_cast<int>(toks->size()));
  }
  auto detector = make_detector(o.detector, *model, o.model.session);
  if (!detector.ok()) return fail(kCmd, detector.status());
  const std::string settings = run_settings(o, *detector).dump();

  auto exists = has_rows_to_resume(o.output, o.resume);
  if (!exists.ok()) return fail(kCmd, exists.status());
  ForkResults previous;
  if (*exists) {
    auto loaded = load_fork_results(o.output);
    if (!loaded.ok()) return fail(kCmd, loaded.status());
    if (Status st = check_fork_settings(*loaded, settings, o.output); !st.ok()) return fail(kCmd, st);
    previous = std::move(*loaded);
  }
  std::map<std::string, const ForkTask*> recorded;
  for (const ForkTask& t : previous.tasks) recorded[t.task_id] = &t;
  std::set<std::tuple<std::string, int, int>> done;
  std::int64_t spent = 0;
  for (const ForkPosition& p : previous.rows) {
    done.insert({p.task_id, p.pass, p.index});
    spent += p.tokens;
  }
  // Opened at the first row, so that a run refused before any (no readable base answer for -p)
  // leaves no file behind.
  std::optional<ResultsWriter> out;
  const std::string header = fork_header_line((*model)->name(), settings);
  auto append = [&](const std::string& line) -> Status {
    if (!out) {
      auto opened = ResultsWriter::open(o.output, header);
      if (!opened.ok()) return opened.status();
      out.emplace(std::move(*opened));
    }
    return out->append(line);
  };

  SessionParams sp = o.model.session;
  sp.n_seq_max = params.max_live_sequences();
  sp.n_ctx = std::max(sp.n_ctx, params.context_cells(longest_prompt));
  auto session = Session::create(*model, sp);
  if (!session.ok()) return fail(kCmd, session.status());
  ForkStudy study(**session, *detector, params);

  if (!done.empty()) std::cerr << fmt::format("resuming: {} position rows already in {}\n", done.size(), o.output);
  std::cerr << fmt::format("keytok forks: {} task(s), {} completions per candidate, key tokens where {}\n",
                           tasks->size(), params.samples, detector->describe());
  Progress progress(static_cast<long>(tasks->size()), "tasks");
  std::int64_t rows_written = 0;
  int skipped = 0;
  int studied_tasks = 0;  // tasks with a base answer, in order: the first noise_tasks get two passes
  bool budget_hit = false;
  for (const Task& task : *tasks) {
    if (o.budget_tokens > 0 && spent >= o.budget_tokens) {
      budget_hit = true;
      break;
    }
    auto planned = study.plan(task);
    if (!planned.ok()) {
      // A task without a readable base answer has nothing to compare completions with.
      if (planned.status().code() != StatusCode::invalid_argument || tasks->size() == 1) {
        progress.finish();
        return fail(kCmd, planned.status());
      }
      std::cerr << fmt::format("\nskipped: {}\n", planned.status().message());
      ++skipped;
      progress.tick();
      continue;
    }
    if (const auto it = recorded.find(task.id); it != recorded.end()) {
      if (it->second->tokens != planned->tokens) {
        progress.finish();
        return fail(kCmd, Status::invalid_argument(fmt::format(
                              "task {}: the base answer differs from the one in {} (another model file or "
                              "build?); -o a new file",
                              task.id, o.output)));
      }
    } else if (Status st = append(fork_task_json(*planned)); !st.ok()) {
      progress.finish();
      return fail(kCmd, st);
    }
    const int passes = studied_tasks++ < o.noise_tasks ? 2 : 1;
    for (int i = 0; i < static_cast<int>(planned->tokens.size()); ++i) {
      const bool in_plan = std::binary_search(planned->plan.begin(), planned->plan.end(), i);
      for (int pass = 0; pass < (in_plan ? passes : 1); ++pass) {
        if (done.count({task.id, pass, i}) != 0) continue;
        Result<ForkPosition> row =
            in_plan ? study.study(*planned, i, pass) : Result<ForkPosition>(study.unstudied(*planned, i, pass));
        if (!row.ok()) {
          progress.finish();
          return fail(kCmd, Status(row.status().code(), fmt::format("task {} position {}: {}", task.id, i,
                                                                    row.status().message())));
        }
        if (Status st = append(fork_position_json(*row)); !st.ok()) {
          progress.finish();
          return fail(kCmd, st);
        }
        spent += row->tokens;
        simulate_kill_after_rows(++rows_written);  // KEYTOK_DEBUG_KILL_AFTER_ROWS
      }
    }
    progress.tick();
  }
  progress.finish();
  if (skipped > 0) std::cerr << fmt::format("{} task(s) skipped: no readable base answer\n", skipped);
  if (budget_hit) {
    std::cerr << fmt::format("stopped: --budget-tokens {} reached ({} completion tokens in {}); raise it and "
                             "pass --resume to study the remaining tasks\n",
                             o.budget_tokens, spent, o.output);
  }
  if (!out && !*exists) {
    return fail(kCmd, Status::invalid_argument(fmt::format(
                          "no task was studied, so {} was not written: {}", o.output,
                          skipped > 0 ? "no base answer had an answer the tasks' match modes can read"
                                      : "--budget-tokens was spent")));
  }
  return report(kCmd, o.output, summary_path, html_path);
}

}  // namespace

void setup_forks(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ForksOptions>();
  CLI::App* cmd = app.add_subcommand(
      "forks", "Find the tokens that decide the answer: force alternatives in forks of the greedy answer's KV "
               "cache, sample completions, score each signal as a predictor of forking positions");
  add_model_options(cmd, o->model);
  add_detector_options(cmd, o->detector);
  cmd->add_option("--tasks", o->tasks, "Task file: keytok JSONL or GSM8K JSONL (see docs/tasks.md)");
  cmd->add_option("-p,--prompt", o->prompt, "One prompt instead of a task file (with --answer and --match)");
  cmd->add_option("--answer", o->answer, "-p: the answer that counts as correct");
  cmd->add_option("--match", o->match, "-p: how answers are read: " + match_mode_names())->capture_default_str();
  cmd->add_option("--samples", o->study.samples, "Completions per candidate token (Bigelow et al.: 30)")
      ->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--min-prob", o->study.min_prob, "Alternatives at least this likely are forced")
      ->capture_default_str()->check(open_unit_interval());
  cmd->add_option("--max-alternatives", o->study.max_alternatives, "Alternatives per position at most")
      ->capture_default_str()->check(CLI::Range(1, 15));
  cmd->add_option("--max-tokens", o->study.max_tokens, "Answer tokens at most (base and completions)")
      ->capture_default_str()->check(at_least(1));
  add_sampling_options(cmd, o->study.sampling);
  cmd->add_option("--random-rate", o->study.random_rate,
                  "Share of unflagged contested positions studied (weighted back in the estimates)")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--fork-shift", o->study.fork_shift,
                  "A position forks when an alternative raises P(answer changes) by at least this "
                  "(with --report: relabel the rows at it)")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0))
      ->each([o](const std::string&) { o->fork_shift_given = true; });
  cmd->add_option("--noise-tasks", o->noise_tasks,
                  "Study the first N tasks' planned positions twice, with other seeds (the noise floor)")
      ->capture_default_str()->check(at_least(0));
  cmd->add_option("--max-parallel", o->study.max_parallel, "Completions decoded at once (0 = all of a position's)")
      ->capture_default_str()->check(CLI::Range(0, 256));
  cmd->add_option("--budget-tokens", o->budget_tokens,
                  "Stop before the next task once the completions spent this many tokens (0 = no limit)")
      ->capture_default_str()->check(at_least(0));
  cmd->add_option("--limit", o->limit, "Study only the first N tasks")->check(at_least(0));
  cmd->add_flag("--raw", o->study.raw, "Do not apply the model's chat template");
  cmd->add_option("-o,--output", o->output, "Results: JSON lines, a task row and one row per position")
      ->capture_default_str();
  cmd->add_flag("--resume", o->resume, "Continue an interrupted run in --output: no position lost or repeated");
  cmd->add_option("--summary", o->summary, "Summary JSON (default: beside --output or --report's file, .summary.json)");
  cmd->add_option("--html", o->html, "HTML page (default: beside --output or --report's file, .html)");
  cmd->add_option("--report", o->report_only, "Only summarize an existing results file");
  cmd->footer(
      "Examples:\n"
      "  keytok tasks -f add -l 3 --per 20 -o add3.jsonl\n"
      "  keytok forks --tasks add3.jsonl --limit 5 -o forks.jsonl      # Ctrl-C, then add --resume\n"
      "  keytok forks -p \"What is 17 * 23?\" --answer 391 --samples 4\n"
      "Costs about (alternatives + 1) x --samples completions per studied position; docs/forks.md.");
  cmd->callback([o, &exit_code] {
    o->study.seed = o->study.sampling.seed;  // --seed draws the plan and every completion
    exit_code = run_forks(*o);
  });
}

}  // namespace keytok::cli
