// keytok generate: one prompt through one decoding strategy, with its cost and search tree.
#include <cstdio>
#include <iostream>

#include <fmt/format.h>

#include "commands.hpp"
#include "keytok/tasks.hpp"
#include "strategy_options.hpp"

namespace keytok::cli {

namespace {

struct GenerateOptions {
  ModelOptions model;
  KvOptions kv;
  StrategyOptions strategy;
  std::string spec = "greedy";
  std::string prompt;
  std::string match = "exact";  // answer extraction for the vote
  bool raw = false;
  bool json = false;
  bool tokens = false;
};

int run_generate(const GenerateOptions& o) {
  constexpr std::string_view kCmd = "generate";
  if (o.prompt.empty()) return fail(kCmd, Status::invalid_argument("the prompt is empty; pass -p TEXT"));
  // Check the strategy before loading the model, so a typo fails fast.
  auto early = parse_strategy(o.spec, o.strategy.base);
  if (!early.ok()) return fail(kCmd, early.status());
  auto model = load_model(o.model);
  if (!model.ok()) return fail(kCmd, model.status());
  auto params = resolve_strategy(o.strategy, o.spec, *model, o.model.session);
  if (!params.ok()) return fail(kCmd, params.status());
  auto strategy = make_strategy(*params);
  if (!strategy.ok()) return fail(kCmd, strategy.status());
  auto kv_sp = with_kv(o.kv, o.model.session);
  if (!kv_sp.ok()) return fail(kCmd, kv_sp.status());
  SessionParams sp = *kv_sp;
  sp.n_seq_max = params->max_live_sequences();
  auto session = Session::create(*model, sp);
  if (!session.ok()) return fail(kCmd, session.status());
  auto large = open_big_model(o.strategy, {*params}, **model, o.model);
  if (!large.ok()) return fail(kCmd, large.status());

  GenerateRequest req{.prompt = o.prompt, .raw = o.raw,
                      .extract = answer_extractor(parse_match_mode(o.match).value_or(MatchMode::exact)),
                      .large = *large ? (*large)->target.get() : nullptr};
  auto r = (*strategy)->run(**session, req);
  if (!r.ok()) return fail(kCmd, r.status());
  if (o.json) {
    std::cout << generation_to_json(*r, o.tokens) << std::endl;
    return 0;
  }
  std::cout << r->text << std::endl;
  if (!r->detector.empty()) {
    std::fprintf(stderr, "key tokens: %s (%s)\n", r->detector.c_str(), r->detector_source.c_str());
  }
  const DecodeCost& c = r->cost;
  std::string votes;
  for (const VoteTally& t : r->vote.tallies) votes += fmt::format(" {}x{}", t.count, t.answer);
  std::fprintf(stderr,
               "%s: answer %s (vote:%s) | prompt %d tokens, generated %lld over %zu paths, %d forks, "
               "%lld decode calls, peak %d live, %.0f ms\n",
               r->strategy.c_str(), r->vote.answer ? r->vote.answer->c_str() : "(none)", votes.c_str(),
               c.prompt_tokens, static_cast<long long>(c.generated_tokens), r->paths.size(), c.forks,
               static_cast<long long>(c.decode_calls), c.peak_live, c.wall_ms);
  if (sp.kv.evicts()) {
    std::fprintf(stderr, "kv: policy %s, budget %d cells per path, peak %d cells in use, %lld evicted\n",
                 kv_policy_name(sp.kv.policy), sp.kv.budget, c.peak_cells, static_cast<long long>(c.cells_evicted));
  }
  if (params->kind == StrategyKind::cascade) {
    std::fprintf(stderr,
                 "cascade: the large model chose %d of %lld tokens (%d changed, %d rollbacks undoing %lld), "
                 "prefilled %lld tokens in %lld decode calls\n",
                 c.large_decisions, static_cast<long long>(c.generated_tokens), c.large_changed, c.rollbacks,
                 static_cast<long long>(c.rolled_back_tokens), static_cast<long long>(c.large_prefill_tokens),
                 static_cast<long long>(c.large_decode_calls));
  }
  return 0;
}

}  // namespace

void setup_generate(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<GenerateOptions>();
  CLI::App* cmd = app.add_subcommand(
      "generate", "Decode a prompt with greedy, sample, sc:N, branch, deepconf:N or cascade and report the cost");
  add_model_options(cmd, o->model);
  add_kv_options(cmd, o->kv, /*fraction_allowed=*/false);
  cmd->add_option("-p,--prompt", o->prompt, "User prompt")->required();
  cmd->add_option("-s,--strategy", o->spec, "greedy, sample, sc:N, branch, deepconf:N (N <= 256) or cascade")
      ->capture_default_str();
  cmd->add_option("--match", o->match, "Answer extraction for the vote: exact, number or contains")
      ->capture_default_str()->check(CLI::IsMember({"exact", "number", "contains"}));
  cmd->add_flag("--raw", o->raw, "Do not apply the model's chat template");
  cmd->add_flag("--json", o->json, "Print the whole search tree as JSON");
  cmd->add_flag("--tokens", o->tokens, "With --json: include token ids and logprobs per path");
  add_strategy_options(cmd, o->strategy);
  cmd->footer(
      "Examples:\n"
      "  keytok generate -p \"What is 17 + 25?\" --strategy sc:8 --match number\n"
      "  keytok generate -p \"What is 17 + 25?\" --strategy branch --budget 256 --json\n"
      "  keytok generate -m qwen2.5-coder-0.5b -s cascade --big-model qwen2.5-coder-1.5b -p \"What is 17 * 23?\"\n"
      "Prints the chosen path's text on stdout and the answer and cost on stderr.");
  cmd->callback([o, &exit_code] { exit_code = run_generate(*o); });
}

}  // namespace keytok::cli
