// GenerationResult as JSON: strategy, cost, vote, paths, forks (the search tree).
#include <algorithm>

#include <nlohmann/json.hpp>

#include "keytok/strategy.hpp"

namespace keytok {

namespace {

using nlohmann::json;

json answer_json(const std::optional<std::string>& a) { return a ? json(*a) : json(nullptr); }

// What a vote over the tree needs of a path (generation_tree_json), text and tokens aside.
json path_core_json(const PathResult& p) {
  return {{"id", p.id},
          {"parent", p.parent},
          {"fork_index", p.fork_index},
          {"n_tokens", p.tokens.size()},
          {"n_own_tokens", p.tokens.size() - static_cast<std::size_t>(p.fork_index)},
          {"mean_logprob", p.mean_logprob},
          {"confidence", p.confidence},
          {"answer", answer_json(p.answer)},
          {"stop_reason", p.stop_reason},
          {"votes", p.votes}};
}

json fork_json(const ForkPoint& f) {
  json alts = json::array();
  for (const ForkAlternative& a : f.alternatives) {
    alts.push_back({{"token", a.id}, {"prob", a.prob}, {"path", a.path}, {"piece", a.piece}});
  }
  return {{"path", f.path}, {"index", f.index}, {"entropy", f.entropy}, {"margin", f.margin},
          {"alternatives", std::move(alts)}};
}

std::string dump(const json& j) {
  // Invalid UTF-8 (a path cut inside a character) is replaced rather than thrown on.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json path_json(const PathResult& p, bool include_tokens) {
  json j = path_core_json(p);
  j["text"] = p.text;
  json keys = json::array();
  for (std::size_t i = 0; i < p.key.size(); ++i) {
    if (p.key[i]) keys.push_back(i);
  }
  j["key_positions"] = std::move(keys);
  if (std::find(p.large.begin(), p.large.end(), true) != p.large.end()) {
    json large = json::array();
    for (std::size_t i = 0; i < p.large.size(); ++i) {
      if (p.large[i]) large.push_back(i);
    }
    j["large_positions"] = std::move(large);
  }
  if (include_tokens) {
    j["tokens"] = p.tokens;
    j["logprobs"] = p.logprobs;
  }
  return j;
}

}  // namespace

std::string generation_to_json(const GenerationResult& r, bool include_tokens) {
  json paths = json::array();
  for (const PathResult& p : r.paths) paths.push_back(path_json(p, include_tokens));
  json forks = json::array();
  for (const ForkPoint& f : r.forks) forks.push_back(fork_json(f));
  json tallies = json::array();
  for (const VoteTally& t : r.vote.tallies) {
    tallies.push_back({{"answer", t.answer}, {"count", t.count}, {"weight", t.weight}});
  }
  json j = {{"strategy", r.strategy},
            {"answer", answer_json(r.vote.answer)},
            {"text", r.text},
            {"vote", {{"rule", combine_rule_name(r.vote.rule)},
                      {"chosen_path", r.vote.chosen_path},
                      {"tallies", std::move(tallies)}}},
            {"cost", {{"prompt_tokens", r.cost.prompt_tokens},
                      {"generated_tokens", r.cost.generated_tokens},
                      {"decode_calls", r.cost.decode_calls},
                      {"peak_live", r.cost.peak_live},
                      {"forks", r.cost.forks},
                      {"wall_ms", r.cost.wall_ms}}},
            {"paths", std::move(paths)},
            {"forks", std::move(forks)}};
  if (!r.detector.empty()) j["detector"] = r.detector;
  if (!r.detector_source.empty()) j["detector_source"] = r.detector_source;
  if (r.strategy.rfind("deepconf", 0) == 0) j["deepconf_threshold"] = r.deepconf_threshold;
  if (r.strategy == "cascade") {
    const DecodeCost& c = r.cost;
    j["cost"].update({{"large_prompt_tokens", c.large_prompt_tokens},
                      {"large_prefill_tokens", c.large_prefill_tokens},
                      {"large_decode_calls", c.large_decode_calls},
                      {"large_decisions", c.large_decisions},
                      {"large_changed", c.large_changed},
                      {"rollbacks", c.rollbacks},
                      {"rolled_back_tokens", c.rolled_back_tokens}});
  }
  if (r.cost.cells_evicted > 0) {
    j["cost"].update({{"peak_cells", r.cost.peak_cells}, {"cells_evicted", r.cost.cells_evicted}});
  }
  return dump(j);
}

std::string generation_tree_json(const GenerationResult& r) {
  json paths = json::array();
  for (const PathResult& p : r.paths) paths.push_back(path_core_json(p));
  json forks = json::array();
  for (const ForkPoint& f : r.forks) forks.push_back(fork_json(f));
  return dump({{"paths", std::move(paths)}, {"forks", std::move(forks)}});
}

}  // namespace keytok
