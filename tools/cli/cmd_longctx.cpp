// keytok longctx: teacher-forced perplexity of a long text under each KV policy and budget,
// against policy full (keytok/long_context.hpp; docs/kv.md).
#include <fmt/format.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <memory>

#include "cli_common.hpp"
#include "commands.hpp"
#include "keytok/long_context.hpp"
#include "keytok/results_file.hpp"

namespace keytok::cli {

namespace {

struct LongctxOptions {
  ModelOptions model;
  KvOptions kv;  // knobs shared by every run; policy and budget come from the lists below
  std::string text_file;
  std::vector<std::string> policies = {"full", "window", "keytoken", "chunk", "random"};
  std::vector<std::string> budgets = {"25%"};
  int max_tokens = 0;
  std::string output;
  bool resume = false;
};

int run_longctx(const LongctxOptions& o) {
  constexpr std::string_view kCmd = "longctx";
  std::vector<KvPolicy> policies;
  for (const std::string& p : o.policies) {
    const auto k = parse_kv_policy(p);
    if (!k) return fail(kCmd, Status::invalid_argument("unknown --kv-policy '" + p + "'; use " + kv_policy_names()));
    policies.push_back(*k);
  }
  for (const std::string& b : o.budgets) {
    auto parsed = parse_kv_budget(b);
    if (!parsed.ok()) return fail(kCmd, parsed.status());
  }
  auto text = read_text(o.text_file);
  if (!text.ok()) return fail(kCmd, text.status());
  auto model = load_model(o.model);
  if (!model.ok()) return fail(kCmd, model.status());
  auto toks = (*model)->tokenize(*text, /*add_special=*/true);
  if (!toks.ok()) return fail(kCmd, toks.status());
  if (o.max_tokens > 0 && toks->size() > static_cast<std::size_t>(o.max_tokens)) {
    toks->resize(static_cast<std::size_t>(o.max_tokens));
  }
  const int n_tokens = static_cast<int>(toks->size());
  // Kept cells keep their positions, so no policy can score past the trained positions; full
  // could, but its perplexity there would not be comparable.
  if (const int trained = (*model)->n_ctx_train(); trained > 0 && n_tokens > trained) {
    return fail(kCmd, Status::context_overflow(fmt::format(
                          "the text is {} tokens, past the {} positions {} was trained on; pass --max-tokens {}",
                          n_tokens, trained, (*model)->name(), trained)));
  }
  // The shared knobs, resolved once for the header (policy and budget vary per row).
  KvOptions knobs = o.kv;
  auto base = with_kv(knobs, o.model.session);
  if (!base.ok()) return fail(kCmd, base.status());
  // Every (policy, budget) is resolved before the first run, so a bad budget costs no run.
  struct Planned {
    std::string policy, spec;  // spec "" for full
    SessionParams session;
  };
  std::vector<Planned> plan;
  for (const KvPolicy policy : policies) {
    const std::vector<std::string> specs = policy == KvPolicy::full ? std::vector<std::string>{""} : o.budgets;
    for (const std::string& spec : specs) {
      KvOptions one = o.kv;
      one.policy = kv_policy_name(policy);
      one.budget = spec;
      auto sp = with_kv(one, o.model.session, n_tokens);
      if (!sp.ok()) return fail(kCmd, Status(sp.status().code(), one.policy + " " + spec + ": " + sp.status().message()));
      plan.push_back({one.policy, spec, *sp});
    }
  }
  const std::string header =
      long_context_header_line((*model)->name(), file_name(o.text_file), n_tokens, base->kv);

  std::map<std::pair<std::string, std::string>, LongContextRow> done;
  std::optional<ResultsWriter> out;
  if (!o.output.empty()) {
    auto exists = has_rows_to_resume(o.output, o.resume);
    if (!exists.ok()) return fail(kCmd, exists.status());
    if (*exists) {
      auto rows = load_long_context_results(o.output, header);
      if (!rows.ok()) return fail(kCmd, rows.status());
      for (const LongContextRow& r : *rows) done[{r.policy, r.budget_spec}] = r;
    }
    auto writer = ResultsWriter::open(o.output, header);
    if (!writer.ok()) return fail(kCmd, writer.status());
    out.emplace(std::move(*writer));
  }

  std::fprintf(stderr, "keytok longctx: %d tokens of %s\n", n_tokens, o.text_file.c_str());
  std::printf("%-9s %7s %7s %10s %10s %8s %9s %8s %8s\n", "policy", "budget", "cells", "ppl", "ppl_after",
              "d_ppl", "peak_cell", "KV_MiB", "cost%");
  double full_ppl = 0.0;
  std::int64_t rows_written = 0;
  for (const Planned& run : plan) {
    const std::string& name = run.policy;
    const std::string& spec = run.spec;
    const bool full = !run.session.kv.evicts();
    if (const auto it = done.find({name, spec}); it != done.end()) {
      if (full) full_ppl = it->second.perplexity;
      std::printf("%-9s %7s %7s %10.4f %10.4f %8s %9s %8s %8s  (from %s)\n", name.c_str(), spec.c_str(), "",
                  it->second.perplexity, it->second.perplexity_after, "", "", "", "", o.output.c_str());
      continue;
    }
    auto r = measure_long_context(*model, *toks, run.session);
    if (!r.ok()) return fail(kCmd, Status(r.status().code(), name + " " + spec + ": " + r.status().message()));
    r->budget_spec = spec;
    if (full) full_ppl = r->perplexity;
    if (out) {
      const Status st = out->append(long_context_row_line(*r));
      if (!st.ok()) return fail(kCmd, st);
    }
    const std::string delta = full_ppl > 0.0 ? fmt::format("{:+.4f}", r->perplexity - full_ppl) : "";
    std::printf("%-9s %7s %7d %10.4f %10.4f %8s %9d %8.1f %8.3f\n", name.c_str(), spec.c_str(),
                r->usage.budget, r->perplexity, r->perplexity_after, delta.c_str(), r->usage.peak_cells,
                r->usage.kv_mib_peak, 100.0 * r->usage.policy_cost_fraction());
    std::fflush(stdout);
    simulate_kill_after_rows(++rows_written);
  }
  return 0;
}

}  // namespace

void setup_longctx(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<LongctxOptions>();
  CLI::App* cmd = app.add_subcommand(
      "longctx", "Perplexity of a long text under bounded KV memory, for each policy and budget, against full");
  add_model_options(cmd, o->model);
  cmd->add_option("--text", o->text_file, "The text to score (teacher forcing, no chat template); - reads stdin")
      ->required();
  cmd->add_option("--kv-policy", o->policies, "Policies to run, comma-separated (full runs once, as the reference)")
      ->delimiter(',')->capture_default_str();
  cmd->add_option("--kv-budget", o->budgets, "Budgets, comma-separated: cells (8192) or fractions of the text (25%)")
      ->delimiter(',')->capture_default_str();
  add_kv_knob_options(cmd, o->kv);
  cmd->add_option("--max-tokens", o->max_tokens, "Score only the text's first N tokens (0 = all)")
      ->capture_default_str()->check(at_least(0));
  cmd->add_option("-o,--output", o->output, "Append one JSON line per run to FILE (resumable)");
  cmd->add_flag("--resume", o->resume, "Continue an interrupted run in -o FILE, skipping the runs it holds");
  cmd->footer(
      "Example:\n"
      "  keytok longctx -m qwen2.5-coder-0.5b --text texts/sherlock.txt --max-tokens 32768 \\\n"
      "      --kv-policy full,window,keytoken --kv-budget 25% -o longctx.jsonl\n"
      "Prints one line per run: perplexity over all scored tokens, over those predicted from a full\n"
      "cache (ppl_after), the increase over full, peak cells, KV memory and the policy's cost.");
  cmd->callback([o, &exit_code] { exit_code = run_longctx(*o); });
}

}  // namespace keytok::cli
