// keytok calibrate: per-model key-token thresholds as a quantile of the signal, on a text
// (teacher-forced) or on the model's own answers to prompts.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "commands.hpp"
#include "keytok/analysis.hpp"
#include "keytok/calibration_prompts.hpp"
#include "keytok/self_calibration.hpp"

namespace keytok::cli {

namespace {

constexpr char kBuiltin[] = "builtin";

struct CalibrateOptions {
  ModelOptions model;
  std::string text_file;     // --text: teacher-forced scoring of a text
  std::string prompts_file;  // --prompts: the model's own answers ("builtin" = the built-in set)
  SelfCalibrationParams gen; // --generate, --parallel, sampling
  std::string prompt;
  bool raw = false;
  double key_fraction = 0.08;
  std::string rule = "entropy";
  std::string output;  // default: sidecar_calibration_path(model)
  std::string dump;    // --dump: per-token signals of the answers, JSON lines
};

Result<Calibration> on_text(const CalibrateOptions& o, const std::shared_ptr<const Model>& model, KeyRule rule) {
  auto text = read_text(o.text_file);
  if (!text.ok()) return text.status();
  if (text->empty()) return Status::invalid_argument("the text in " + o.text_file + " is empty");
  auto session = Session::create(model, o.model.session);
  if (!session.ok()) return session.status();
  ScoreParams sp;
  sp.prompt = o.prompt;
  sp.raw = o.raw;
  auto cal = calibrate_on_text(**session, *text, sp, rule, o.key_fraction);
  if (!cal.ok()) return cal.status();
  cal->text_source = std::filesystem::absolute(o.text_file).string();
  return cal;
}

Status write_dump(const std::string& path, std::span<const CalibrationPrompt> prompts,
                  const std::vector<CalibrationSample>& samples) {
  std::ofstream out(path);
  if (!out) return Status::io_error("cannot write " + path + "; pass --dump PATH in a writable folder");
  for (const auto& s : samples) {
    const auto& p = prompts[static_cast<std::size_t>(s.prompt)];
    const nlohmann::ordered_json j = {
        {"prompt", p.id}, {"category", p.category}, {"index", s.index}, {"entropy", s.entropy}, {"margin", s.margin}};
    out << j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
  }
  return out ? Status::ok_status() : Status::io_error("failed writing " + path);
}

Result<Calibration> on_prompts(const CalibrateOptions& o, const std::shared_ptr<const Model>& model, KeyRule rule) {
  std::vector<CalibrationPrompt> prompts;
  if (o.prompts_file == kBuiltin) {
    const auto b = builtin_calibration_prompts();
    prompts.assign(b.begin(), b.end());
  } else {
    auto p = read_calibration_prompts(o.prompts_file);
    if (!p.ok()) return p.status();
    prompts = std::move(*p);
  }
  SelfCalibrationParams gp = o.gen;
  gp.rule = rule;
  gp.key_fraction = o.key_fraction;
  gp.raw = o.raw;
  std::fprintf(stderr, "keytok calibrate: generating answers to %zu prompts, up to %d tokens each\n",
               prompts.size(), gp.n_predict);
  std::optional<Progress> bar;
  auto r = calibrate_on_generations(model, prompts, gp, o.model.session.n_threads, calibration_progress(bar));
  if (bar) bar->finish();
  if (!r.ok()) return r.status();
  if (!o.dump.empty()) KEYTOK_RETURN_IF_ERROR(write_dump(o.dump, prompts, r->samples));
  Calibration cal = r->calibration;
  cal.text_source = o.prompts_file == kBuiltin ? builtin_prompt_set_id()
                                               : std::filesystem::absolute(o.prompts_file).string();
  return cal;
}

int run_calibrate(const CalibrateOptions& o) {
  constexpr std::string_view kCmd = "calibrate";
  if (o.text_file.empty() == o.prompts_file.empty()) {
    return fail(kCmd, Status::invalid_argument(
                          "pass either --text FILE (score a given text) or --prompts FILE|builtin (the "
                          "model's own answers), not both and not neither"));
  }
  if (!o.dump.empty() && o.prompts_file.empty()) {
    return fail(kCmd, Status::invalid_argument("--dump needs --prompts"));
  }
  auto rule = parse_key_rule(o.rule);
  if (!rule.ok()) return fail(kCmd, rule.status());
  auto model = load_model(o.model);
  if (!model.ok()) return fail(kCmd, model.status());
  auto cal = o.text_file.empty() ? on_prompts(o, *model, *rule) : on_text(o, *model, *rule);
  if (!cal.ok()) return fail(kCmd, cal.status());
  const std::string out = o.output.empty() ? sidecar_calibration_path((*model)->path()) : o.output;
  if (auto st = save_calibration(*cal, out); !st.ok()) return fail(kCmd, st);
  const KeyTokenDetector det(cal->params);
  std::cout << fmt::format(
      "{{\n  \"calibration\": \"{}\",\n  \"rule\": \"{}\",\n  \"method\": \"{}\",\n  \"key_fraction\": {},\n"
      "  \"achieved_fraction\": {:.4f},\n  \"n_positions\": {}\n}}\n",
      out, det.describe(), cal->method, cal->key_fraction, cal->achieved_fraction, cal->n_positions);
  return 0;
}

}  // namespace

void setup_calibrate(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<CalibrateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate", "Set a model's key-token thresholds so that a given fraction of tokens is flagged");
  add_model_options(cmd, o->model);
  cmd->add_option("--prompts", o->prompts_file,
                  "Calibrate on the model's own answers to these prompts: a file (one per line, or JSON lines "
                  "with \"prompt\"), or `builtin` for keytok's 52-prompt set");
  cmd->add_option("--text", o->text_file, "Calibrate on a given text instead, teacher-forced (- = stdin)");
  cmd->add_option("--generate", o->gen.n_predict, "--prompts: tokens per answer at most")
      ->capture_default_str()->check(at_least(1));
  cmd->add_option("--parallel", o->gen.n_parallel, "--prompts: answers decoded together in one batch")
      ->capture_default_str()->check(CLI::Range(1, 64));
  add_sampling_options(cmd, o->gen.sampling);
  cmd->add_option("--dump", o->dump, "--prompts: write each answer token's entropy and margin (JSON lines)");
  cmd->add_option("-q,--key-fraction", o->key_fraction, "Fraction of positions to flag, in (0,1)")
      ->capture_default_str()->check(open_unit_interval());
  cmd->add_option("--key-rule", o->rule, "Rule to calibrate: entropy, margin, both or either")
      ->capture_default_str()->check(CLI::IsMember({"entropy", "margin", "both", "either"}));
  cmd->add_option("-p,--prompt", o->prompt, "--text: optional prompt the text answers");
  cmd->add_flag("--raw", o->raw, "Do not apply the model's chat template");
  cmd->add_option("-o,--output", o->output, "Calibration file (default: <model>.keytok-calibration.json, "
                  "which the other commands then use automatically)");
  cmd->footer(
      "Without any calibration, a command calibrates the model once on `--prompts builtin` by itself\n"
      "(cached per model file; --no-auto-calibrate opts out).\n"
      "Examples:\n"
      "  keytok calibrate --prompts builtin --generate 128 --key-fraction 0.05\n"
      "  keytok calibrate --prompts my_prompts.txt --generate 64\n"
      "  keytok calibrate --text corpus.txt --key-fraction 0.08\n"
      "  keytok analyze -p \"Why is the sky blue?\" --generate 64   # now uses the calibration");
  cmd->callback([o, &exit_code] { exit_code = run_calibrate(*o); });
}

}  // namespace keytok::cli
