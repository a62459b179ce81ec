// keytok analyze: per-token uncertainty and key-token flags of a text or of a generation.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli_common.hpp"
#include "commands.hpp"
#include "keytok/analysis.hpp"
#include "keytok/report.hpp"

namespace keytok::cli {

namespace {

struct AnalyzeOptions {
  ModelOptions model;
  KvOptions kv;
  DetectorSpec detector;
  std::string text_file;    // --text FILE or -
  std::string prompt;       // --prompt
  int generate = 0;         // --generate N (> 0 selects generation)
  GenerateParams gen;       // sampling defaults
  ScoreParams score;        // window defaults
  bool raw = false;
  int top = 5;
  std::string jsonl;
  std::string html;
};

int run_analyze(const AnalyzeOptions& o) {
  constexpr std::string_view kCmd = "analyze";
  if (o.text_file.empty() && o.generate == 0) {
    return fail(kCmd, Status::invalid_argument("nothing to analyze; pass --text FILE, or --prompt P --generate N"));
  }
  if (!o.text_file.empty() && o.generate > 0) {
    return fail(kCmd, Status::invalid_argument("--text and --generate exclude each other; pick one"));
  }
  if (o.generate > 0 && o.prompt.empty()) {
    return fail(kCmd, Status::invalid_argument("--generate needs --prompt P"));
  }
  std::string text;
  if (!o.text_file.empty()) {
    auto t = read_text(o.text_file);
    if (!t.ok()) return fail(kCmd, t.status());
    if (t->empty()) return fail(kCmd, Status::invalid_argument("the text in " + o.text_file + " is empty"));
    text = std::move(*t);
  }
  auto model = load_model(o.model);
  if (!model.ok()) return fail(kCmd, model.status());
  auto detector = make_detector(o.detector, *model, o.model.session);
  if (!detector.ok()) return fail(kCmd, detector.status());
  int n_text_tokens = -1;
  if (!text.empty()) {
    auto toks = (*model)->tokenize(text, /*add_special=*/false);
    if (!toks.ok()) return fail(kCmd, toks.status());
    n_text_tokens = static_cast<int>(toks->size());
  }
  auto sp = with_kv(o.kv, o.model.session, n_text_tokens);
  if (!sp.ok()) return fail(kCmd, sp.status());
  auto session = Session::create(*model, *sp);
  if (!session.ok()) return fail(kCmd, session.status());

  Analyzer analyzer(**session, *detector);
  Result<Analysis> analysis = Status::internal("no analysis ran");
  if (o.generate > 0) {
    GenerateParams gp = o.gen;
    gp.prompt = o.prompt;
    gp.n_predict = o.generate;
    gp.raw = o.raw;
    gp.top_k = o.top;
    analysis = analyzer.generate(gp);
  } else {
    ScoreParams sp = o.score;
    sp.prompt = o.prompt;
    sp.raw = o.raw;
    sp.top_k = o.top;
    analysis = analyzer.score_text(text, sp);
  }
  if (!analysis.ok()) return fail(kCmd, analysis.status());
  const AnalysisSummary summary = summarize(*analysis);

  if (!o.jsonl.empty()) {
    std::ofstream out(o.jsonl);
    if (!out) return fail(kCmd, Status::io_error("cannot write " + o.jsonl));
    write_jsonl(*analysis, out);
  }
  if (!o.html.empty()) {
    std::ofstream out(o.html);
    if (!out) return fail(kCmd, Status::io_error("cannot write " + o.html));
    write_html(*analysis, summary, out);
  }
  std::cout << summary_json(*analysis, summary) << std::endl;
  return 0;
}

}  // namespace

void setup_analyze(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<AnalyzeOptions>();
  CLI::App* cmd = app.add_subcommand(
      "analyze", "Per-token entropy, varentropy, margin, logprob and key-token flags of a text or a generation");
  add_model_options(cmd, o->model);
  add_kv_options(cmd, o->kv, /*fraction_allowed=*/true);
  add_detector_options(cmd, o->detector);
  cmd->add_option("--text", o->text_file, "Score this text file (teacher forcing); - reads stdin");
  cmd->add_option("-p,--prompt", o->prompt, "User prompt: generation input, or the context the text answers");
  cmd->add_option("-n,--generate", o->generate, "Generate up to N tokens from --prompt and analyze them")
      ->check(at_least(1));
  cmd->add_flag("--raw", o->raw, "Do not apply the model's chat template");
  add_sampling_options(cmd, o->gen.sampling);
  cmd->add_option("--top", o->top, "Alternatives kept per token")->capture_default_str()
      ->check(CLI::Range(0, 100));
  cmd->add_option("--window-overlap", o->score.window_overlap,
                  "Tokens of context carried into the next window for long texts (-1 = ctx/4)")
      ->capture_default_str()->check(CLI::Range(-1, 1 << 20));
  cmd->add_flag("--no-windows", [o](std::int64_t) { o->score.allow_windows = false; },
                "Fail instead of scoring a text longer than the context in windows");
  cmd->add_option("--jsonl", o->jsonl, "Write one JSON line per token to FILE");
  cmd->add_option("--html", o->html, "Write a self-contained HTML heatmap to FILE");
  cmd->footer(
      "Examples:\n"
      "  keytok analyze -p \"List three prime numbers.\" --generate 64 --html report.html\n"
      "  keytok analyze --text answer.txt -p \"What is 17*23?\" --jsonl tokens.jsonl\n"
      "Prints a summary JSON (n_tokens, n_key, key_fraction, surprisal_share_key, ...) on stdout.");
  cmd->callback([o, &exit_code] { exit_code = run_analyze(*o); });
}

}  // namespace keytok::cli
