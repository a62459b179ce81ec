// keytok sweep: run verifiable tasks, record where the first error falls, report error recall.
#include <fmt/format.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>

#include "cli_common.hpp"
#include "commands.hpp"
#include "keytok/results_file.hpp"
#include "keytok/shard.hpp"
#include "keytok/sweep.hpp"
#include "progress.hpp"

namespace keytok::cli {

namespace {

struct SweepOptions {
  ModelOptions model;
  DetectorSpec detector;
  std::string tasks;
  std::string output = "sweep.jsonl";
  bool resume = false;
  SweepParams sweep;
  int limit = 0;             // tasks at most (0 = all)
  std::string shard;         // --shard I/N; "" = all
  std::string report_json;   // also write the report as JSON
  std::string report_only;   // --report FILE: summarize an existing results file and exit
};

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// The settings a resumed run must share with the run that started the file, and the shards
// of one run with each other (keytok merge compares them but for "shard"). File names without
// their folders: the shards may run on machines with other paths.
nlohmann::json run_settings(const SweepOptions& o, const KeyTokenDetector& det, const Shard& shard) {
  nlohmann::json j = {{"model", file_name(o.model.model.path)},
                      {"tasks", file_name(o.tasks)},
                      {"samples", o.sweep.samples},
                      {"temperature", o.sweep.sampling.temperature},
                      {"seed", o.sweep.sampling.seed},
                      {"max_tokens", o.sweep.max_tokens},
                      {"detector", det.describe()},
                      {"raw", o.sweep.raw}};
  if (!shard.whole()) j["shard"] = shard.spec();
  return j;
}

int print_report(std::string_view cmd, const std::string& path, const std::string& report_json) {
  auto results = load_sweep_results(path);
  if (!results.ok()) return fail(cmd, results.status());
  if (results->cut_off_line > 0) {
    std::cerr << fmt::format("note: line {} of {} is cut off (a killed run) and left out; --resume "
                             "finishes it\n",
                             results->cut_off_line, path);
  }
  const SweepReport report = summarize_sweep(results->trials);
  std::cout << sweep_report_text(report);
  if (!report_json.empty()) {
    std::ofstream out(report_json);
    if (!out) return fail(cmd, Status::io_error("cannot write " + report_json));
    out << sweep_report_json(report) << '\n';
  }
  return 0;
}

int run_sweep(const SweepOptions& o) {
  constexpr std::string_view kCmd = "sweep";
  if (!o.report_only.empty()) return print_report(kCmd, o.report_only, o.report_json);
  if (o.tasks.empty()) return fail(kCmd, Status::invalid_argument("pass --tasks FILE (see `keytok tasks`)"));
  if (auto st = o.sweep.validate(); !st.ok()) return fail(kCmd, st);
  auto shard = parse_shard(o.shard.empty() ? "1/1" : o.shard);
  if (!shard.ok()) return fail(kCmd, shard.status());
  auto tasks = load_tasks(o.tasks);
  if (!tasks.ok()) return fail(kCmd, tasks.status());
  if (o.limit > 0 && static_cast<int>(tasks->size()) > o.limit) tasks->resize(static_cast<std::size_t>(o.limit));
  *tasks = take_shard(std::move(*tasks), *shard);
  auto model = load_model(o.model);
  if (!model.ok()) return fail(kCmd, model.status());
  auto detector = make_detector(o.detector, *model, o.model.session);
  if (!detector.ok()) return fail(kCmd, detector.status());
  const nlohmann::json settings = run_settings(o, *detector, *shard);

  std::set<std::pair<std::string, int>> done;
  std::error_code ec;
  const bool exists = std::filesystem::exists(o.output, ec) && std::filesystem::file_size(o.output, ec) > 0;
  if (exists && !o.resume) {
    return fail(kCmd, Status::invalid_argument(o.output + " already exists; pass --resume to continue it, "
                                               "or -o a new file"));
  }
  if (exists) {
    // load_sweep_results checks the header's format and version; the settings are compared here.
    auto previous = load_sweep_results(o.output);
    if (!previous.ok()) return fail(kCmd, previous.status());
    const auto started = nlohmann::json::parse(previous->header.settings_json, nullptr, false);
    if (started != settings) {
      return fail(kCmd, Status::invalid_argument(fmt::format(
          "{} was started with other settings ({}); resume with the same flags, or -o a new file",
          o.output, previous->header.settings_json)));
    }
    for (const auto& t : previous->trials) done.insert({t.id, t.sample});
  }
  const SweepHeader header{.model = o.model.model.path, .tasks = o.tasks, .samples = o.sweep.samples,
                           .temperature = o.sweep.sampling.temperature, .seed = o.sweep.sampling.seed,
                           .detector = detector->describe(), .detector_source = detector->source(),
                           .created = utc_now(), .settings_json = settings.dump()};
  auto out = ResultsWriter::open(o.output, sweep_header_line(header));
  if (!out.ok()) return fail(kCmd, out.status());

  auto session = Session::create(*model, o.model.session);
  if (!session.ok()) return fail(kCmd, session.status());
  Analyzer analyzer(**session, *detector);
  const long total = static_cast<long>(tasks->size()) * o.sweep.samples - static_cast<long>(done.size());
  if (!done.empty()) std::cerr << fmt::format("resuming: {} trials already in {}\n", done.size(), o.output);
  Progress progress(std::max(total, 0L), "trials");
  for (const Task& task : *tasks) {
    for (int s = 0; s < o.sweep.samples; ++s) {
      if (done.count({task.id, s}) != 0) continue;
      auto trial = run_trial(analyzer, task, s, o.sweep);
      if (!trial.ok()) {
        progress.finish();
        return fail(kCmd, Status(trial.status().code(), "task " + task.id + ": " + trial.status().message()));
      }
      if (auto st = out->append(trial_record_json(*trial)); !st.ok()) {
        progress.finish();
        return fail(kCmd, st);
      }
      progress.tick();
      simulate_kill_after_rows(progress.done());  // KEYTOK_DEBUG_KILL_AFTER_ROWS
    }
  }
  progress.finish();
  return print_report(kCmd, o.output, o.report_json);
}

}  // namespace

void setup_sweep(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<SweepOptions>();
  CLI::App* cmd = app.add_subcommand(
      "sweep", "Run verifiable tasks, record each trial's first error and key tokens, report error recall");
  add_model_options(cmd, o->model);
  add_detector_options(cmd, o->detector);
  cmd->add_option("--tasks", o->tasks, "Task file: keytok JSONL or GSM8K JSONL (see docs/tasks.md)");
  cmd->add_option("-o,--output", o->output, "Results file (JSON lines, appended as trials finish)")
      ->capture_default_str();
  cmd->add_flag("--resume", o->resume, "Continue an interrupted run in --output: no trial lost or repeated");
  cmd->add_option("--samples", o->sweep.samples, "Trials per task (> 1 needs --temp > 0)")
      ->capture_default_str()->check(CLI::Range(1, 10000));
  add_sampling_options(cmd, o->sweep.sampling);
  cmd->add_option("--max-tokens", o->sweep.max_tokens,
                  "Tokens per trial at most (0 = 2x the reference + 16, or 256 without one)")
      ->capture_default_str()->check(at_least(0));
  cmd->add_flag("--raw", o->sweep.raw, "Do not apply the model's chat template");
  cmd->add_option("--limit", o->limit, "Run only the first N tasks")->check(at_least(0));
  add_shard_option(cmd, o->shard);
  cmd->add_option("--report", o->report_only, "Only print the report of an existing results file");
  cmd->add_option("--report-json", o->report_json, "Also write the report as JSON to FILE");
  cmd->footer(
      "Examples:\n"
      "  keytok tasks --family copy,count --lengths 4,8,16,32 --per 10 -o tasks.jsonl\n"
      "  keytok sweep --tasks tasks.jsonl -o sweep.jsonl          # Ctrl-C, then add --resume\n"
      "  keytok fit sweep.jsonl --html fit.html");
  cmd->callback([o, &exit_code] { exit_code = run_sweep(*o); });
}

}  // namespace keytok::cli
