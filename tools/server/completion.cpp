// One request on the engine: admission, the strategy run with its events, and OpenAI's
// response, whole or streamed (docs/server.md).
#include "completion.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>

#include "keytok/strategy_setup.hpp"

namespace keytok::server {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

std::string dump(const ordered_json& j) {
  // Token pieces can hold half a UTF-8 character; such bytes become U+FFFD instead of throwing.
  return j.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
}

std::string new_id(bool chat) {
  static std::atomic<std::uint64_t> counter{0};
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return fmt::format("{}-{:x}{:04x}", chat ? "chatcmpl" : "cmpl",
                     std::chrono::duration_cast<std::chrono::milliseconds>(now).count(), ++counter % 0x10000);
}

// Bytes at the end of `s` that begin a UTF-8 character not yet complete.
std::size_t incomplete_utf8_tail(std::string_view s) {
  for (std::size_t back = 1; back <= std::min<std::size_t>(4, s.size()); ++back) {
    const auto c = static_cast<unsigned char>(s[s.size() - back]);
    if ((c & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    const std::size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}

// Bytes at the end of `s` that could still grow into a stop string.
std::size_t stop_prefix_tail(std::string_view s, const std::vector<std::string>& stop) {
  std::size_t hold = 0;
  for (const std::string& st : stop) {
    for (std::size_t len = std::min(st.size() - 1, s.size()); len > hold; --len) {
      if (s.substr(s.size() - len) == std::string_view(st).substr(0, len)) {
        hold = len;
        break;
      }
    }
  }
  return hold;
}

std::string finish_reason(const std::string& stop_reason) {
  if (stop_reason == "length" || stop_reason == "budget" || stop_reason == "context" || stop_reason == "kv_full") {
    return "length";
  }
  return "stop";
}

// One token's annotation, kept per path from the token events.
struct TokenNote {
  token_id id = -1;
  std::string piece;
  float logprob = 0.0f, entropy = 0.0f, margin = 0.0f;
  bool key = false;
  std::vector<Alternative> top;

  static TokenNote of(const StrategyEvent& e) {
    return {.id = e.stats->token, .piece = std::string(e.piece), .logprob = e.stats->logprob,
            .entropy = e.stats->entropy, .margin = e.stats->margin, .key = e.key, .top = e.stats->top};
  }
};

ordered_json usage_json(const DecodeCost& cost) {
  return {{"prompt_tokens", cost.prompt_tokens},
          {"completion_tokens", cost.generated_tokens},
          {"total_tokens", cost.prompt_tokens + cost.generated_tokens}};
}

struct Run {
  ServerContext& ctx;
  const ServeRequest& req;
  std::map<int, std::vector<TokenNote>> notes;  // path -> its own tokens
  std::map<int, std::pair<int, int>> parents;   // path -> (parent, fork_index)
  KeyTokenDetector detector;

  // Annotations of path p from its first token (a forked path's shared prefix included).
  std::vector<const TokenNote*> path_notes(int p, std::size_t n_tokens) const {
    std::vector<const TokenNote*> out;
    const auto par = parents.find(p);
    if (par != parents.end() && par->second.first >= 0) {
      out = path_notes(par->second.first, static_cast<std::size_t>(par->second.second));
    }
    const auto it = notes.find(p);
    if (it != notes.end()) {
      for (const TokenNote& n : it->second) out.push_back(&n);
    }
    if (out.size() > n_tokens) out.resize(n_tokens);
    return out;
  }

  ordered_json token_json(const TokenNote& n) const {
    ordered_json top = ordered_json::array();
    for (const Alternative& a : n.top) {
      top.push_back({{"token", ctx.engine.model().token_piece(a.id)}, {"id", a.id}, {"prob", a.prob}});
    }
    return {{"token", n.piece}, {"id", n.id},       {"logprob", n.logprob}, {"entropy", n.entropy},
            {"margin", n.margin}, {"key", n.key},    {"top", std::move(top)}};
  }

  ordered_json logprobs_json(const std::vector<const TokenNote*>& tokens, std::size_t text_bytes) const {
    const auto k = static_cast<std::size_t>(std::max(req.logprobs, 0));
    const Model& model = ctx.engine.model();
    if (req.chat) {
      ordered_json content = ordered_json::array();
      std::size_t bytes = 0;
      for (const TokenNote* n : tokens) {
        if (bytes >= text_bytes) break;
        bytes += n->piece.size();
        ordered_json top = ordered_json::array();
        for (std::size_t i = 0; i < std::min(k, n->top.size()); ++i) {
          const std::string piece = model.token_piece(n->top[i].id);
          top.push_back({{"token", piece},
                         {"logprob", std::log(std::max(n->top[i].prob, 1e-30f))},
                         {"bytes", std::vector<unsigned char>(piece.begin(), piece.end())}});
        }
        content.push_back({{"token", n->piece},
                           {"logprob", n->logprob},
                           {"bytes", std::vector<unsigned char>(n->piece.begin(), n->piece.end())},
                           {"top_logprobs", std::move(top)}});
      }
      return {{"content", std::move(content)}};
    }
    ordered_json toks = ordered_json::array(), lps = ordered_json::array(), tops = ordered_json::array(),
                 offsets = ordered_json::array();
    std::size_t offset = 0;
    for (const TokenNote* n : tokens) {
      if (offset >= text_bytes) break;
      toks.push_back(n->piece);
      lps.push_back(n->logprob);
      offsets.push_back(offset);
      offset += n->piece.size();
      ordered_json top = ordered_json::object();
      for (std::size_t i = 0; i < std::min(k, n->top.size()); ++i) {
        top[model.token_piece(n->top[i].id)] = std::log(std::max(n->top[i].prob, 1e-30f));
      }
      tops.push_back(std::move(top));
    }
    return {{"tokens", std::move(toks)}, {"token_logprobs", std::move(lps)}, {"top_logprobs", std::move(tops)},
            {"text_offset", std::move(offsets)}};
  }

  // The choice-level keytok object: annotations of the path, plus (for choice 0) tree and cost.
  ordered_json keytok_json(const GenerationResult& r, int path, bool whole) const {
    ordered_json k;
    k["strategy"] = r.strategy;
    k["detector"] = detector.describe();
    k["detector_source"] = detector.source();
    if (req.annotate && path >= 0) {
      ordered_json toks = ordered_json::array();
      for (const TokenNote* n : path_notes(path, r.paths[static_cast<std::size_t>(path)].tokens.size())) {
        toks.push_back(token_json(*n));
      }
      k["tokens"] = std::move(toks);
    }
    if (whole) {
      if (req.tree) k["tree"] = ordered_json::parse(generation_to_json(r));
      k["cost"] = {{"prompt_tokens", r.cost.prompt_tokens}, {"generated_tokens", r.cost.generated_tokens},
                   {"decode_calls", r.cost.decode_calls},   {"peak_live", r.cost.peak_live},
                   {"forks", r.cost.forks},                 {"wall_ms", r.cost.wall_ms}};
      if (req.params.kind == StrategyKind::cascade) {
        k["cost"].update({{"large_prompt_tokens", r.cost.large_prompt_tokens},
                          {"large_prefill_tokens", r.cost.large_prefill_tokens},
                          {"large_decode_calls", r.cost.large_decode_calls},
                          {"large_decisions", r.cost.large_decisions},
                          {"large_changed", r.cost.large_changed},
                          {"rollbacks", r.cost.rollbacks},
                          {"rolled_back_tokens", r.cost.rolled_back_tokens}});
      }
    }
    return k;
  }

  ordered_json event_json(const StrategyEvent& e) const {
    switch (e.kind) {
      case StrategyEventKind::token: {
        ordered_json j = {{"type", "token"}, {"path", e.path}};
        const ordered_json fields = token_json(TokenNote::of(e));  // named: items() refers into it
        for (const auto& item : fields.items()) j[item.key()] = item.value();
        return j;
      }
      case StrategyEventKind::fork: {
        ordered_json alts = ordered_json::array();
        for (const ForkAlternative& a : e.fork->alternatives) {
          alts.push_back({{"token", a.piece}, {"id", a.id}, {"prob", a.prob}, {"path", a.path}});
        }
        return {{"type", "fork"}, {"path", e.path}, {"index", e.fork->index}, {"entropy", e.fork->entropy},
                {"margin", e.fork->margin}, {"alternatives", std::move(alts)}};
      }
      case StrategyEventKind::path_end:
        return {{"type", "end"}, {"path", e.path}, {"stop_reason", std::string(e.stop_reason)}};
      case StrategyEventKind::rollback:
        return {{"type", "rollback"}, {"path", e.path}, {"index", e.index}};
      case StrategyEventKind::vote: {
        ordered_json tallies = ordered_json::array();
        for (const VoteTally& t : e.vote->tallies) tallies.push_back({{"answer", t.answer}, {"count", t.count}});
        return {{"type", "vote"}, {"answer", e.vote->answer ? ordered_json(*e.vote->answer) : ordered_json(nullptr)},
                {"chosen_path", e.vote->chosen_path}, {"tallies", std::move(tallies)}};
      }
    }
    return {};
  }

  void note(const StrategyEvent& e) {
    if (e.kind == StrategyEventKind::token) {
      notes[e.path].push_back(TokenNote::of(e));
    } else if (e.kind == StrategyEventKind::rollback) {
      auto& n = notes[e.path];
      n.resize(std::min(n.size(), static_cast<std::size_t>(e.index)));
    } else if (e.kind == StrategyEventKind::fork) {
      for (const ForkAlternative& a : e.fork->alternatives) {
        if (a.path >= 0 && a.path != e.path) parents[a.path] = {e.path, e.fork->index};
      }
    }
  }

  GenerateRequest generate_request() const {
    GenerateRequest g;
    if (req.chat) {
      g.messages = req.messages;
    } else {
      g.prompt = req.prompt;
      g.raw = true;  // /v1/completions continues the text as given (OpenAI's completion API)
    }
    g.stop = req.stop;
    g.extract = answer_extractor(req.match);
    return g;
  }

  StrategyParams params() const {
    StrategyParams p = req.params;
    if (req.detector) {
      p.branch.detector = *req.detector;
      p.branch.detector_source = "request";
    } else {
      p.branch.detector = ctx.detector.params();
      p.branch.detector_source = ctx.detector.source();
    }
    return p;
  }

  // Whether one path's tokens are the answer as they come (greedy, sample, n choices, or a
  // cascade without rollback; a rollback would take back text already sent).
  bool streams_text() const {
    return req.params.kind == StrategyKind::greedy || req.params.kind == StrategyKind::sample ||
           (!req.keytok && req.params.kind == StrategyKind::self_consistency) ||
           (req.params.kind == StrategyKind::cascade && req.params.cascade.rollback_nats <= 0.0f);
  }

  // The paths the response's choices show: every path when each is the answer as it comes (one
  // for greedy and sample, n for n choices); else the one the vote chose.
  std::vector<int> choice_paths(const GenerationResult& r) const {
    if (!streams_text()) return {r.vote.chosen_path};
    std::vector<int> all;
    for (int i = 0; i < static_cast<int>(r.paths.size()); ++i) all.push_back(i);
    return all;
  }
};

ApiError run_error(const Status& st) {
  if (st.code() == StatusCode::aborted) return {.status = 400, .message = st.message(), .type = "cancelled"};
  if (st.code() == StatusCode::kv_full) {
    // The KV pool is shared by every request: no room now is a capacity problem, not a bug.
    return {.status = 429,
            .message = "the server's KV cache is full (its cells are shared by all requests in flight); retry "
                       "later, or send a shorter prompt or fewer max_tokens",
            .type = "server_busy"};
  }
  if (st.code() == StatusCode::context_overflow || st.code() == StatusCode::invalid_argument) {
    return {.status = 400, .message = st.message()};
  }
  return {.status = 500, .message = st.message(), .type = "server_error"};
}

}  // namespace

std::variant<Admitted, ApiError> admit(ServerContext& ctx, ServeRequest request, const std::atomic<bool>* cancel) {
  const Model& model = ctx.engine.model();
  auto tokens = request.chat ? model.encode_chat(request.messages) : model.encode_prompt(request.prompt, true);
  if (!tokens.ok()) return ApiError{.status = 400, .message = tokens.status().message(),
                                    .param = request.chat ? "messages" : "prompt"};
  const pos n_ctx = ctx.engine.max_positions();
  if (static_cast<pos>(tokens->size()) + 1 > n_ctx) {
    return ApiError{.status = 400,
                    .message = fmt::format("the prompt is {} tokens but the server's context holds {}; shorten it",
                                           tokens->size(), n_ctx),
                    .type = "invalid_request_error",
                    .param = request.chat ? "messages" : "prompt"};
  }
  const bool cascade = request.params.kind == StrategyKind::cascade;
  if (cascade && ctx.large == nullptr) {
    return ApiError{.status = 400,
                    .message = "strategy cascade needs a large model; start the server with --big-model PATH",
                    .param = "keytok.strategy"};
  }
  const auto refused = [](const Status& st) {
    if (st.code() == StatusCode::busy) return ApiError{.status = 429, .message = st.message(), .type = "server_busy"};
    if (st.code() == StatusCode::aborted) {
      return ApiError{.status = 503, .message = st.message(), .type = "server_unavailable"};
    }
    return ApiError{.status = 400, .message = st.message()};
  };
  auto target = ctx.engine.admit(request.params.max_live_sequences(), cancel);
  if (!target.ok()) return refused(target.status());
  Admitted admitted{.target = std::move(*target), .request = std::move(request)};
  if (cascade) {
    auto large = ctx.large->admit(1, cancel);
    if (!large.ok()) return refused(large.status());
    admitted.large = std::move(*large);
  }
  return admitted;
}

std::variant<std::string, ApiError> complete(ServerContext& ctx, Admitted& admitted, const std::atomic<bool>* cancel) {
  Run run{ctx, admitted.request, {}, {}, ctx.detector};
  const StrategyParams params = run.params();
  if (admitted.request.detector) run.detector = KeyTokenDetector(*admitted.request.detector, "request");
  auto strategy = make_strategy(params);
  if (!strategy.ok()) return ApiError{.status = 400, .message = strategy.status().message()};
  GenerateRequest g = run.generate_request();
  g.cancel = cancel;
  g.large = admitted.large.get();
  const bool collect = admitted.request.annotate || admitted.request.logprobs >= 0;
  if (collect) g.on_event = [&run](const StrategyEvent& e) { run.note(e); };
  auto r = (*strategy)->run(*admitted.target, g);
  if (!r.ok()) return run_error(r.status());
  ctx.metrics.prompt_tokens += r->cost.prompt_tokens;
  ctx.metrics.generated_tokens += r->cost.generated_tokens;

  const ServeRequest& req = admitted.request;
  ordered_json choices = ordered_json::array();
  const std::vector<int> chosen = run.choice_paths(*r);
  for (std::size_t c = 0; c < chosen.size(); ++c) {
    const int p = chosen[c];
    const PathResult* path = p >= 0 ? &r->paths[static_cast<std::size_t>(p)] : nullptr;
    const std::string text = path != nullptr ? path->text : std::string();
    ordered_json choice;
    choice["index"] = c;
    if (req.chat) {
      choice["message"] = {{"role", "assistant"}, {"content", text}};
    } else {
      choice["text"] = text;
    }
    if (req.logprobs >= 0 && path != nullptr) {
      choice["logprobs"] = run.logprobs_json(run.path_notes(p, path->tokens.size()), text.size());
    } else {
      choice["logprobs"] = nullptr;
    }
    choice["finish_reason"] = path != nullptr ? finish_reason(path->stop_reason) : "stop";
    if (req.keytok) choice["keytok"] = run.keytok_json(*r, p, c == 0);
    choices.push_back(std::move(choice));
  }
  const ordered_json body = {
      {"id", new_id(req.chat)},
      {"object", req.chat ? "chat.completion" : "text_completion"},
      {"created", static_cast<std::int64_t>(std::time(nullptr))},
      {"model", ctx.model_id},
      {"choices", std::move(choices)},
      {"usage", usage_json(r->cost)}};
  return dump(body);
}

void complete_stream(ServerContext& ctx, Admitted& admitted, std::atomic<bool>& cancel,
                     const std::function<bool(std::string_view)>& write) {
  const ServeRequest& req = admitted.request;
  Run run{ctx, req, {}, {}, ctx.detector};
  if (req.detector) run.detector = KeyTokenDetector(*req.detector, "request");
  const std::string id = new_id(req.chat);
  const auto created = static_cast<std::int64_t>(std::time(nullptr));
  bool gone = false;
  const auto send = [&](const ordered_json& chunk) {
    if (gone) return;
    if (!write("data: " + dump(chunk) + "\n\n")) {
      gone = true;
      cancel = true;  // the run stops at its next step and frees its sequences
    }
  };
  const auto chunk = [&](ordered_json choices) {
    return ordered_json{{"id", id},
                        {"object", req.chat ? "chat.completion.chunk" : "text_completion"},
                        {"created", created},
                        {"model", ctx.model_id},
                        {"choices", std::move(choices)}};
  };
  const auto delta_choice = [&](int index, const std::string& text) {
    ordered_json c = {{"index", index}};
    if (req.chat) {
      c["delta"] = {{"content", text}};
    } else {
      c["text"] = text;
    }
    c["logprobs"] = nullptr;
    c["finish_reason"] = nullptr;
    return c;
  };
  if (req.chat) {
    // OpenAI's first chat chunk names the role.
    ordered_json choices = ordered_json::array();
    for (int i = 0; i < (req.keytok ? 1 : req.n); ++i) {
      choices.push_back({{"index", i}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr},
                         {"finish_reason", nullptr}});
    }
    send(chunk(std::move(choices)));
  }

  const StrategyParams params = run.params();
  auto strategy = make_strategy(params);
  GenerateRequest g = run.generate_request();
  g.cancel = &cancel;
  g.large = admitted.large.get();
  // Text streamed so far per choice (path), and the bytes of it already sent.
  std::map<int, std::string> text;
  std::map<int, std::size_t> sent;
  const bool streams = run.streams_text();
  g.on_event = [&](const StrategyEvent& e) {
    run.note(e);
    if (req.keytok && req.annotate) {
      ordered_json c = chunk(ordered_json::array());
      c["keytok"] = {{"events", ordered_json::array({run.event_json(e)})}};
      send(c);
    }
    if (streams && e.kind == StrategyEventKind::token) {
      std::string& t = text[e.path];
      t += e.piece;
      const std::size_t hold = std::max(incomplete_utf8_tail(t), stop_prefix_tail(t, req.stop));
      std::size_t ready = t.size() - hold;
      // This token may complete a stop string (the path ends right after this event): never
      // send the stop string itself.
      for (const std::string& s : req.stop) ready = std::min(ready, t.find(s));
      if (ready > sent[e.path]) {
        send(chunk(ordered_json::array({delta_choice(e.path, t.substr(sent[e.path], ready - sent[e.path]))})));
        sent[e.path] = ready;
      }
    }
  };
  Result<GenerationResult> r = strategy.ok() ? (*strategy)->run(*admitted.target, g)
                                             : Result<GenerationResult>(strategy.status());
  if (!r.ok()) {
    if (gone) {
      ++ctx.metrics.requests_cancelled;
      return;
    }
    if (r.status().code() == StatusCode::aborted) {
      // Cancelled while the client still listens: the drain after SIGTERM ran out.
      ++ctx.metrics.requests_cancelled;
      send(ordered_json::parse(error_json({.status = 503,
                                           .message = "the server is shutting down; the request was cancelled",
                                           .type = "server_unavailable"})));
      write("data: [DONE]\n\n");
      return;
    }
    const ApiError err = run_error(r.status());
    send(ordered_json::parse(error_json(err)));
    write("data: [DONE]\n\n");
    return;
  }
  ctx.metrics.prompt_tokens += r->cost.prompt_tokens;
  ctx.metrics.generated_tokens += r->cost.generated_tokens;
  // The rest of each choice's text (what was held back, or the whole answer after a vote), then
  // its finish reason.
  for (const int p : run.choice_paths(*r)) {
    if (p < 0) continue;
    const PathResult& path = r->paths[static_cast<std::size_t>(p)];
    const int index = streams ? p : 0;
    const std::size_t done = streams ? sent[p] : 0;
    if (path.text.size() > done && path.text.compare(0, done, text[p], 0, done) == 0) {
      send(chunk(ordered_json::array({delta_choice(index, path.text.substr(done))})));
    }
    ordered_json fin = delta_choice(index, "");
    if (req.chat) fin["delta"] = ordered_json::object();
    if (req.logprobs >= 0) fin["logprobs"] = run.logprobs_json(run.path_notes(p, path.tokens.size()), path.text.size());
    fin["finish_reason"] = finish_reason(path.stop_reason);
    send(chunk(ordered_json::array({std::move(fin)})));
  }
  if (req.keytok) {
    ordered_json c = chunk(ordered_json::array());
    c["keytok"] = run.keytok_json(*r, -1, true);
    send(c);
  }
  if (req.include_usage) {
    ordered_json c = chunk(ordered_json::array());
    c["usage"] = usage_json(r->cost);
    send(c);
  }
  if (!gone) write("data: [DONE]\n\n");
}

}  // namespace keytok::server
