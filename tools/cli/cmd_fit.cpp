// keytok fit: fit reliability models (exponential, two-rate, stretched exponential, power law)
// to the per-trial outcomes of a length sweep, and report the winner by AIC.
#include <fmt/format.h>

#include <iostream>
#include <map>
#include <memory>

#include "cli_common.hpp"
#include "commands.hpp"
#include "keytok/reliability.hpp"

namespace keytok::cli {

namespace {

struct FitOptions {
  FitParams fit;                    // models, intervals, starts, seed
  std::string input;                // sweep results (.jsonl) or length,trials,successes CSV
  std::string n_source = "length";  // --n length|output_tokens
  std::string html;                 // --html FILE
  bool json = false;                // --json: print the JSON report instead of the text table
};

std::string param_text(const ParameterEstimate& p) {
  // "(b)": the interval runs into the parameter's bound, so that end is the bound itself.
  return fmt::format("{}={:.4g} [{:.4g}{}, {:.4g}{}]", p.name, p.estimate, p.lo,
                     p.lo_at_bound ? "(b)" : "", p.hi, p.hi_at_bound ? "(b)" : "");
}

void print_text(const FitReport& r, const FitOptions& o) {
  std::cout << fmt::format("keytok fit: {} trials from {} (n = {})\n\n", r.n_trials, o.input,
                           o.n_source == "length" ? "task length" : "output tokens");
  std::cout << fmt::format("{:<23} {:>2} {:>10} {:>10} {:>8} {:>10}  parameters ({:g}% CI, {})\n",
                           "model", "k", "logL", "AIC", "dAIC", "BIC", 100 * r.ci_level,
                           r.ci_method);
  for (const ModelFit& m : r.models) {
    if (!m.fitted) continue;
    std::string params;
    for (const ParameterEstimate& p : m.parameters) params += param_text(p) + "  ";
    const std::string delta = m.ranked ? fmt::format("{:.2f}", m.delta_aic) : "-";
    std::cout << fmt::format("{:<23} {:>2} {:>10.2f} {:>10.2f} {:>8} {:>10.2f}  {}{}\n", m.name,
                             m.n_params, m.log_likelihood, m.aic, delta, m.bic, params,
                             m.converged ? "" : "(not converged)");
  }
  for (const ModelFit& m : r.models) {
    if (!m.fitted) std::cout << fmt::format("{:<23} skipped: {}\n", m.name, m.skip_reason);
    if (m.fitted && !m.ranked) std::cout << fmt::format("{:<23} not ranked: {}\n", m.name, m.unranked_reason);
  }
  std::cout << "(b): the interval reaches the parameter's bound\n";
  if (!r.runner_up.empty()) {
    std::cout << fmt::format("\nwinner: {} (dAIC {:.2f} to {})\n\n", r.winner, r.delta_aic,
                             r.runner_up);
  } else {
    std::cout << fmt::format("\nwinner: {}\n\n", r.winner);
  }
  std::cout << fmt::format("{:>9} {:>7} {:>22}", "n", "trials", "observed [95% Wilson]");
  for (const ModelFit& m : r.models) {
    if (m.fitted) std::cout << fmt::format(" {:>12.12}", m.name);
  }
  std::cout << "\n";
  for (std::size_t i = 0; i < r.bins.size(); ++i) {
    const LengthBin& b = r.bins[i];
    const std::string n =
        b.n_lo == b.n_hi ? std::to_string(b.n_lo) : fmt::format("{}-{}", b.n_lo, b.n_hi);
    std::cout << fmt::format("{:>9} {:>7} {:>8.3f} [{:.3f}, {:.3f}]", n, b.trials,
                             b.observed.estimate, b.observed.lo, b.observed.hi);
    for (const ModelFit& m : r.models) {
      if (m.fitted) std::cout << fmt::format(" {:>12.3f}", m.predicted[i]);
    }
    std::cout << "\n";
  }
}

int run_fit(const FitOptions& o) {
  constexpr std::string_view kCmd = "fit";
  const TrialLength which =
      o.n_source == "output_tokens" ? TrialLength::output_tokens : TrialLength::task_length;
  auto trials = load_trials(o.input, which);
  if (!trials.ok()) return fail(kCmd, trials.status());
  auto report = fit_reliability(*trials, o.fit);
  if (!report.ok()) return fail(kCmd, report.status());
  if (!o.html.empty()) {
    if (Status st = write_fit_html(*report, o.html, "keytok fit: " + o.input); !st.ok()) {
      return fail(kCmd, st);
    }
  }
  if (o.json) {
    std::cout << fit_report_json(*report) << "\n";
  } else {
    print_text(*report, o);
  }
  return 0;
}

}  // namespace

void setup_fit(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<FitOptions>();
  CLI::App* cmd = app.add_subcommand(
      "fit",
      "Fit exponential, two-rate, stretched-exponential and power-law reliability models to a "
      "length sweep by maximum likelihood; compare them by AIC");
  cmd->add_option(
         "input", o->input,
         "Sweep results (JSONL with a keytok-sweep header) or a CSV of length,trials,successes")
      ->required();
  cmd->add_option("--n", o->n_source,
                  "Length used as n: the task's length, or the output tokens it produced")
      ->capture_default_str()
      ->check(CLI::IsMember({"length", "output_tokens"}));
  std::map<std::string, ReliabilityModel> names;
  for (const ReliabilityModel m : all_reliability_models()) names[reliability_model_name(m)] = m;
  cmd->add_option("--models", o->fit.models, "Models to fit, comma-separated (default: all)")
      ->delimiter(',')
      ->transform(CLI::CheckedTransformer(names));
  cmd->add_flag(
      "--no-ci", [o](std::int64_t) { o->fit.profile_ci = false; },
      "Skip the profile-likelihood intervals (faster)");
  cmd->add_option("--ci-level", o->fit.ci_level, "Confidence level of the intervals")
      ->capture_default_str()
      ->check(open_unit_interval());
  cmd->add_option("--starts", o->fit.n_starts, "Optimizer starts per model")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--seed", o->fit.seed, "Seed of the random optimizer starts")
      ->capture_default_str();
  cmd->add_option("--html", o->html,
                  "Write a self-contained HTML page with the plot and tables to FILE");
  cmd->add_flag("--json", o->json,
                "Print the report as JSON ({\"format\":\"keytok-fit\",...}) on stdout");
  cmd->footer(
      "Examples:\n"
      "  keytok fit results.jsonl --html fit.html\n"
      "  keytok fit counts.csv --json          # rows: length,trials,successes\n"
      "Models that need key-token counts (two_rate_measured_k) are skipped for CSV input.\n"
      "Formats: docs/tasks.md (sweep results), docs/reliability.md (models, report).");
  cmd->callback([o, &exit_code] { exit_code = run_fit(*o); });
}

}  // namespace keytok::cli
