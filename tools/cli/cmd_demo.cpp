// keytok demo: analyze the default model's answer to a built-in prompt and write report.html.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "cli_common.hpp"
#include "commands.hpp"
#include "keytok/analysis.hpp"
#include "keytok/report.hpp"

namespace keytok::cli {

namespace {

// An open prompt: the answer forks at word choice and at facts, and runs long enough to show
// how sparse (or not) the key tokens are.
constexpr char kDemoPrompt[] = "Write a short paragraph explaining why leaves change colour in autumn.";

struct DemoOptions {
  ModelOptions model;
  DetectorSpec detector;
  std::string prompt = kDemoPrompt;
  int n_predict = 96;
  std::string output = "report.html";
};

std::string visible(const std::string& piece) {
  std::string s;
  for (char c : piece) s += c == '\n' ? std::string("\\n") : std::string(1, c);
  return s;
}

int run_demo(const DemoOptions& o) {
  constexpr std::string_view kCmd = "demo";
  auto model = load_model(o.model);
  if (!model.ok()) return fail(kCmd, model.status());
  auto detector = make_detector(o.detector, *model, o.model.session);
  if (!detector.ok()) return fail(kCmd, detector.status());
  auto session = Session::create(*model, o.model.session);
  if (!session.ok()) return fail(kCmd, session.status());
  Analyzer analyzer(**session, *detector);
  GenerateParams gp;
  gp.prompt = o.prompt;
  gp.n_predict = o.n_predict;
  auto a = analyzer.generate(gp);
  if (!a.ok()) return fail(kCmd, a.status());
  const AnalysisSummary s = summarize(*a);

  std::ofstream out(o.output);
  if (!out) return fail(kCmd, Status::io_error("cannot write " + o.output + "; pass -o PATH"));
  write_html(*a, s, out);
  out.close();

  std::cout << fmt::format("model:  {} ({} threads)\nrule:   {} ({})\nprompt: {}\n\n", a->model_name,
                           (*session)->n_threads(), a->rule, a->rule_source, a->prompt);
  std::cout << "output, key tokens in [brackets]:\n";
  for (const auto& t : a->tokens) std::cout << (t.key ? "[" + t.piece + "]" : t.piece);
  std::cout << "\n\n";
  std::vector<const TokenRecord*> keys;
  for (const auto& t : a->tokens) {
    if (t.key) keys.push_back(&t);
  }
  std::sort(keys.begin(), keys.end(),
            [](const TokenRecord* x, const TokenRecord* y) { return x->stats.entropy > y->stats.entropy; });
  if (keys.size() > 8) keys.resize(8);
  std::cout << "most uncertain key tokens (entropy in nats; chosen token, then alternatives):\n";
  for (const TokenRecord* t : keys) {
    std::string alts;
    for (std::size_t i = 0; i < t->stats.top.size() && i < 4; ++i) {
      alts += fmt::format("{}\"{}\" {:.2f}", i ? ", " : "", visible(t->top_pieces[i]), t->stats.top[i].prob);
    }
    std::cout << fmt::format("  #{:<4} \"{}\"  H={:.2f}  margin={:.2f}  | {}\n", t->index,
                             visible(t->piece), t->stats.entropy, t->stats.margin, alts);
  }
  std::cout << fmt::format(
      "\n{} tokens, {} key ({:.1f}%); key tokens carry {:.1f}% of the total surprisal "
      "({:.1f} nats), mean entropy {:.3f} nats\n",
      s.n_tokens, s.n_key, 100.0 * s.key_fraction, 100.0 * s.surprisal_share_key, s.surprisal_total,
      s.mean_entropy);
  std::cout << "report: " << std::filesystem::absolute(o.output).string() << "\n";
  return 0;
}

}  // namespace

void setup_demo(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<DemoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "demo", "Generate an answer to a built-in prompt, flag its key tokens and write report.html");
  add_model_options(cmd, o->model);
  add_detector_options(cmd, o->detector);
  cmd->add_option("-p,--prompt", o->prompt, "Prompt to use instead of the built-in one");
  cmd->add_option("-n,--n-predict", o->n_predict, "Tokens to generate at most")->capture_default_str()
      ->check(at_least(1));
  cmd->add_option("-o,--output", o->output, "HTML report path")->capture_default_str();
  cmd->footer("Example:\n  keytok demo            # default model, writes ./report.html");
  cmd->callback([o, &exit_code] { exit_code = run_demo(*o); });
}

}  // namespace keytok::cli
