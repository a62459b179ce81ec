// keytok calibrate: per-model key-token thresholds as a quantile of the signal on a text.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <memory>

#include "cli_common.hpp"
#include "commands.hpp"
#include "keytok/analysis.hpp"

namespace keytok::cli {

namespace {

struct CalibrateOptions {
  ModelOptions model;
  std::string text_file;
  std::string prompt;
  bool raw = false;
  double key_fraction = 0.08;
  std::string rule = "entropy";
  std::string output;  // default: default_calibration_path(model)
};

int run_calibrate(const CalibrateOptions& o) {
  constexpr std::string_view kCmd = "calibrate";
  auto text = read_text(o.text_file);
  if (!text.ok()) return fail(kCmd, text.status());
  if (text->empty()) return fail(kCmd, Status::invalid_argument("the text in " + o.text_file + " is empty"));
  auto rule = parse_key_rule(o.rule);
  if (!rule.ok()) return fail(kCmd, rule.status());
  auto model = load_model(o.model);
  if (!model.ok()) return fail(kCmd, model.status());
  auto session = Session::create(*model, o.model.session);
  if (!session.ok()) return fail(kCmd, session.status());

  ScoreParams sp;
  sp.prompt = o.prompt;
  sp.raw = o.raw;
  auto cal = calibrate_on_text(**session, *text, sp, *rule, o.key_fraction);
  if (!cal.ok()) return fail(kCmd, cal.status());
  cal->text_source = std::filesystem::absolute(o.text_file).string();
  const std::string out = o.output.empty() ? default_calibration_path(o.model.model.path) : o.output;
  if (auto st = save_calibration(*cal, out); !st.ok()) return fail(kCmd, st);
  const KeyTokenDetector det(cal->params);
  std::cout << fmt::format(
      "{{\n  \"calibration\": \"{}\",\n  \"rule\": \"{}\",\n  \"key_fraction\": {},\n"
      "  \"achieved_fraction\": {:.4f},\n  \"n_positions\": {}\n}}\n",
      out, det.describe(), cal->key_fraction, cal->achieved_fraction, cal->n_positions);
  return 0;
}

}  // namespace

void setup_calibrate(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<CalibrateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate", "Set key-token thresholds for a model so a given fraction of a text's tokens is flagged");
  add_model_options(cmd, o->model);
  cmd->add_option("--text", o->text_file, "Calibration text file (- = stdin)")->required();
  cmd->add_option("-q,--key-fraction", o->key_fraction, "Fraction of positions to flag, in (0,1)")
      ->capture_default_str()->check(open_unit_interval());
  cmd->add_option("--key-rule", o->rule, "Rule to calibrate: entropy, margin, both or either")
      ->capture_default_str()->check(CLI::IsMember({"entropy", "margin", "both", "either"}));
  cmd->add_option("-p,--prompt", o->prompt, "Optional prompt the text answers");
  cmd->add_flag("--raw", o->raw, "Do not apply the model's chat template");
  cmd->add_option("-o,--output", o->output, "Calibration file (default: <model>.keytok-calibration.json, "
                  "which analyze then uses automatically)");
  cmd->footer(
      "Example:\n"
      "  keytok calibrate --text corpus.txt --key-fraction 0.08\n"
      "  keytok analyze -p \"Why is the sky blue?\" --generate 64   # now uses the calibration");
  cmd->callback([o, &exit_code] { exit_code = run_calibrate(*o); });
}

}  // namespace keytok::cli
