// revote_tree_json: a bench row's search tree voted again, and replayed under tighter limits
// (fewer paths, an early stop) without decoding again, so that dev runs choose those knobs.
#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "keytok/strategy.hpp"

namespace keytok {

namespace {

using nlohmann::json;

struct Tree {
  std::vector<PathResult> paths;  // tokens left empty; sizes in n_tokens
  std::vector<ForkPoint> forks;
  std::vector<std::int64_t> n_tokens;
};

Result<Tree> parse_tree(std::string_view text) {
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("paths") || !j["paths"].is_array()) {
    return Status::format_error("not a search tree: expected an object with \"paths\" and \"forks\"");
  }
  Tree t;
  try {
    for (const json& p : j.at("paths")) {
      PathResult r;
      r.id = p.at("id").get<int>();
      r.parent = p.at("parent").get<int>();
      r.fork_index = p.at("fork_index").get<int>();
      if (!p.at("answer").is_null()) r.answer = p.at("answer").get<std::string>();
      r.votes = p.at("votes").get<bool>();
      r.mean_logprob = p.at("mean_logprob").get<double>();
      r.confidence = p.at("confidence").get<double>();
      r.stop_reason = p.value("stop_reason", "");
      const auto n = p.at("n_tokens").get<std::int64_t>();
      if (r.id != static_cast<int>(t.paths.size()) || r.parent >= r.id) {
        return Status::format_error("not a search tree: path ids must run 0, 1, ... with each parent before its child");
      }
      if (r.fork_index < 0 || n < r.fork_index) {
        return Status::format_error("not a search tree: path " + std::to_string(r.id) +
                                    " holds fewer tokens than its fork index");
      }
      t.paths.push_back(std::move(r));
      t.n_tokens.push_back(n);
    }
    for (const json& f : j.value("forks", json::array())) {
      ForkPoint fp{.path = f.at("path").get<int>(), .index = f.at("index").get<int>()};
      for (const json& a : f.at("alternatives")) {
        fp.alternatives.push_back({.prob = a.at("prob").get<float>(), .path = a.at("path").get<int>()});
      }
      t.forks.push_back(std::move(fp));
    }
  } catch (const json::exception& e) {
    return Status::format_error(std::string("not a search tree: ") + e.what());
  }
  return t;
}

// The step (0-based) at the end of which a path was finished. A run's step s picks every live
// path's token s (a path forked at step s takes its alternative as token s), decodes, then
// prunes and merges; a path that picks the end of generation (or finds the budget spent) at
// step s ends with s tokens, one cut by a stop string, the length limit, the context, a prune,
// a merge or a settled vote at step s ends with s + 1.
std::int64_t finish_step(const std::string& reason, std::int64_t n_tokens) {
  return reason == "eog" || reason == "budget" ? n_tokens : n_tokens - 1;
}

// The replay under params' path limits and early stop (grow_from aside); `kept` receives the
// paths that were, as the replayed run closed them.
Revote replay(const Tree& t, const RevoteParams& params, std::vector<PathResult>& kept) {
  constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
  std::vector<std::int64_t> finish(t.paths.size());
  for (std::size_t i = 0; i < t.paths.size(); ++i) finish[i] = finish_step(t.paths[i].stop_reason, t.n_tokens[i]);

  // Paths kept by the path limits.
  std::size_t keep = t.paths.size();
  if (params.first_paths > 0) keep = std::min(keep, static_cast<std::size_t>(params.first_paths));
  if (params.max_paths > 0) keep = std::min(keep, static_cast<std::size_t>(params.max_paths));
  // Forks keep only the alternatives whose paths are kept (below). A fork left with the forking
  // path's own alternative alone, which a run with fewer paths would not have made, changes no
  // vote: the forking path keeps its weight and root groups follow the first fork's children.
  std::vector<ForkPoint> forks = t.forks;

  // Where the replay stops: the first step at whose end stop_agree finished voting paths agree.
  std::int64_t stop = kNever;
  if (params.stop_agree > 0) {
    std::vector<std::int64_t> steps(finish.begin(), finish.begin() + static_cast<std::ptrdiff_t>(keep));
    std::sort(steps.begin(), steps.end());
    steps.erase(std::unique(steps.begin(), steps.end()), steps.end());
    std::vector<PathResult> finished;
    for (const std::int64_t s : steps) {
      finished.clear();
      for (std::size_t i = 0; i < keep; ++i) {
        if (finish[i] <= s) finished.push_back(t.paths[i]);
      }
      if (largest_agreement(finished) >= params.stop_agree) {
        stop = s;
        break;
      }
    }
  }

  // Paths opened after the stop never were (ids follow the order paths opened in); those still
  // decoding at it hold stop + 1 tokens and do not vote; forks after it never happened.
  Revote out;
  std::vector<PathResult> paths;
  for (std::size_t i = 0; i < keep; ++i) {
    PathResult p = t.paths[i];
    if (p.parent >= 0 && p.fork_index > stop) break;
    std::int64_t n = t.n_tokens[i];
    if (finish[i] > stop) {
      n = stop + 1;
      p.stop_reason = "settled";
      p.votes = false;
    }
    out.tokens += n - p.fork_index;
    paths.push_back(std::move(p));
  }
  std::erase_if(forks, [&](const ForkPoint& f) { return f.index > stop; });
  for (ForkPoint& f : forks) {
    for (ForkAlternative& a : f.alternatives) {
      if (a.path >= static_cast<int>(paths.size())) a.path = -1;
    }
  }
  // Pruning compares a path with the best live one: a kept path pruned while a dropped path was
  // decoding might have lived on without it. And a run that spent its token budget would have
  // spent it elsewhere with fewer paths.
  for (const PathResult& p : paths) {
    if (p.stop_reason == "budget" && keep < t.paths.size()) out.exact = false;
    if (p.stop_reason != "pruned") continue;
    const std::int64_t at = finish[static_cast<std::size_t>(p.id)];
    for (std::size_t d = keep; d < t.paths.size(); ++d) {
      if (t.paths[d].fork_index <= at && finish[d] >= at) out.exact = false;
    }
  }
  out.vote = combine_ballots(ballots_for(paths, forks, params.rule), params.rule);
  kept = std::move(paths);
  return out;
}

// Whether every voting path has an answer and all give the same one.
bool unanimous(const std::vector<PathResult>& paths) {
  const PathResult* first = nullptr;
  for (const PathResult& p : paths) {
    if (!p.votes) continue;
    if (!p.answer) return false;
    if (first == nullptr) first = &p;
    if (*p.answer != *first->answer) return false;
  }
  return first != nullptr;
}

}  // namespace

Result<Revote> revote_tree_json(std::string_view tree_json, const RevoteParams& params) {
  auto parsed = parse_tree(tree_json);
  if (!parsed.ok()) return parsed.status();
  const Tree& t = *parsed;
  if (params.first_paths > 0 && !t.forks.empty()) {
    return Status::invalid_argument("a tree with forks has no first N independent samples");
  }
  if (params.grow_from > 0 && params.stop_agree > 0) {
    return Status::invalid_argument("grow_from and stop_agree are not replayed together; use one of them");
  }
  std::vector<PathResult> kept;
  if (params.grow_from <= 0) return replay(t, params, kept);
  // Round one: the first grow_from samples of sc, or the first grow_from paths of branch.
  RevoteParams first = params;
  first.grow_from = 0;
  int& limit = t.forks.empty() ? first.first_paths : first.max_paths;
  const int cap = params.first_paths > 0 ? params.first_paths : params.max_paths;
  limit = cap > 0 ? std::min(cap, params.grow_from) : params.grow_from;
  Revote round_one = replay(t, first, kept);
  if (unanimous(kept)) return round_one;
  const std::size_t first_round = kept.size();
  Revote out = replay(t, params, kept);
  out.grew = kept.size() > first_round;  // a tree of no more paths than round one has no second
  return out;
}

}  // namespace keytok
