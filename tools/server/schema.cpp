// Request parsing and checking for the OpenAI-compatible endpoints (docs/server.md).
#include "schema.hpp"

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace keytok::server {

namespace {

using nlohmann::json;

ApiError bad(std::string param, std::string message) {
  return ApiError{.status = 400, .message = std::move(message), .param = std::move(param)};
}

// The keytok object's keys: the CLI's option names (keytok generate --help).
constexpr std::array<std::string_view, 24> kKeytokKeys = {
    "strategy", "budget", "alternatives", "min-alt-prob", "max-live", "max-paths", "min-fork-distance",
    "prune-gap", "merge-after", "stop-agree", "warmup", "window", "keep-percent", "consensus", "combine",
    "match", "key-rule", "entropy-threshold", "margin-threshold", "rollback", "check-every",
    "max-decisions", "annotate", "tree"};

std::string known_keys() {
  std::string out;
  for (std::string_view k : kKeytokKeys) out += (out.empty() ? "" : ", ") + std::string(k);
  return out;
}

// The offending value, for a message. An array or an object is named, not shown: nlohmann's
// dump() recurses once per level, and a 1 MB body of '[' overflowed the stack (docs/fuzzing.md).
std::string shown(const json& v) {
  if (v.is_array()) return "an array";
  if (v.is_object()) return "an object";
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Typed field readers: nullopt when absent or null; an ApiError for a wrong type or range.
struct Reader {
  const json& obj;
  std::string prefix;  // "keytok." for the extension object
  std::optional<ApiError> error;

  const json* find(std::string_view key) {
    const auto it = obj.find(std::string(key));
    if (it == obj.end() || it->is_null()) return nullptr;
    return &*it;
  }
  void fail(std::string_view key, std::string message) {
    if (!error) error = bad(prefix + std::string(key), std::move(message));
  }
  std::optional<long long> integer(std::string_view key, long long lo, long long hi) {
    const json* v = find(key);
    if (v == nullptr) return std::nullopt;
    // 7.0 counts as 7 (some clients send every number as a double).
    const bool whole = v->is_number_integer() ||
                       (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>() &&
                        std::abs(v->get<double>()) < 1e15);
    const long long x = !whole ? 0 : v->is_number_integer() ? v->get<long long>() : static_cast<long long>(v->get<double>());
    if (!whole || x < lo || x > hi) {
      fail(key, fmt::format("{}{} must be an integer in {}..{} (got {})", prefix, key, lo, hi, shown(*v)));
      return std::nullopt;
    }
    return x;
  }
  std::optional<double> number(std::string_view key, double lo, double hi, bool lo_open = false) {
    const json* v = find(key);
    if (v == nullptr) return std::nullopt;
    const double x = v->is_number() ? v->get<double>() : std::numeric_limits<double>::quiet_NaN();
    if (!v->is_number() || !(lo_open ? x > lo : x >= lo) || !(x <= hi)) {
      fail(key, fmt::format("{}{} must be a number in {}{}, {}] (got {})", prefix, key, lo_open ? "(" : "[", lo,
                            hi, shown(*v)));
      return std::nullopt;
    }
    return x;
  }
  std::optional<bool> boolean(std::string_view key) {
    const json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_boolean()) {
      fail(key, fmt::format("{}{} must be true or false (got {})", prefix, key, shown(*v)));
      return std::nullopt;
    }
    return v->get<bool>();
  }
  std::optional<std::string> string(std::string_view key) {
    const json* v = find(key);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) {
      fail(key, fmt::format("{}{} must be a string (got {})", prefix, key, shown(*v)));
      return std::nullopt;
    }
    return v->get<std::string>();
  }
};

// A message's content: a string, or an array of {"type":"text","text":...} parts.
std::optional<std::string> message_content(const json& content, std::size_t i, std::optional<ApiError>& error) {
  if (content.is_string()) return content.get<std::string>();
  if (content.is_array()) {
    std::string text;
    for (const json& part : content) {
      // Compared, not read with value("type", ""), which throws when "type" is not a string.
      if (!part.is_object() || !part.contains("type") || part["type"] != "text" ||
          !part.contains("text") || !part["text"].is_string()) {
        error = bad(fmt::format("messages[{}].content", i),
                    "only text content parts ({\"type\":\"text\",\"text\":...}) are supported");
        return std::nullopt;
      }
      text += part["text"].get<std::string>();
    }
    return text;
  }
  error = bad(fmt::format("messages[{}].content", i), "content must be a string or an array of text parts");
  return std::nullopt;
}

std::optional<ApiError> parse_keytok(const json& k, ServeRequest& r) {
  if (!k.is_object()) return bad("keytok", "keytok must be an object, e.g. {\"strategy\":\"branch\"}");
  for (const auto& item : k.items()) {
    bool known = false;
    for (std::string_view key : kKeytokKeys) known = known || item.key() == key;
    if (!known) {
      return bad("keytok." + item.key(),
                 fmt::format("unknown keytok option \"{}\"; known: {}", item.key(), known_keys()));
    }
  }
  Reader rd{k, "keytok."};
  const std::optional<std::string> spec = rd.string("strategy");
  if (rd.error) return rd.error;
  StrategyParams base = r.params;
  if (spec) {
    auto p = parse_strategy(*spec, base);
    if (!p.ok()) return bad("keytok.strategy", p.status().message());
    r.params = *p;
  }
  StrategyParams& p = r.params;
  if (auto v = rd.integer("budget", 0, 1'000'000)) p.budget_tokens = static_cast<int>(*v);
  if (auto v = rd.integer("alternatives", 2, 16)) p.branch.alternatives = static_cast<int>(*v);
  if (auto v = rd.number("min-alt-prob", 0.0, 1.0)) p.branch.min_alternative_prob = static_cast<float>(*v);
  if (auto v = rd.integer("max-live", 1, kMaxSequences)) p.branch.max_live = static_cast<int>(*v);
  if (auto v = rd.integer("max-paths", 1, 10'000)) p.branch.max_paths = static_cast<int>(*v);
  if (auto v = rd.integer("min-fork-distance", 0, 1'000'000)) p.branch.min_fork_distance = static_cast<int>(*v);
  if (auto v = rd.number("prune-gap", -1e9, 1e9)) p.branch.prune_gap_nats = static_cast<float>(*v);
  if (auto v = rd.integer("merge-after", 0, 1'000'000)) p.branch.merge_after = static_cast<int>(*v);
  if (auto v = rd.integer("stop-agree", 0, kMaxSequences)) p.stop_agree = static_cast<int>(*v);
  if (auto v = rd.integer("warmup", 0, kMaxSequences)) p.deepconf.warmup = static_cast<int>(*v);
  if (auto v = rd.integer("window", 1, 1'000'000)) p.deepconf.window = static_cast<int>(*v);
  if (auto v = rd.number("keep-percent", 0.0, 100.0, true)) p.deepconf.keep_percent = static_cast<float>(*v);
  if (auto v = rd.number("consensus", 0.0, 1.0, true)) p.deepconf.consensus = static_cast<float>(*v);
  if (auto v = rd.number("rollback", 0.0, 1e6)) p.cascade.rollback_nats = static_cast<float>(*v);
  if (auto v = rd.integer("check-every", 1, 1'000'000)) p.cascade.check_every = static_cast<int>(*v);
  if (auto v = rd.integer("max-decisions", 0, 1'000'000)) p.cascade.max_decisions = static_cast<int>(*v);
  if (auto v = rd.string("combine")) {
    auto rule = parse_combine_rule(*v);
    if (!rule.ok()) return bad("keytok.combine", rule.status().message());
    p.combine = *rule;
  }
  if (auto v = rd.string("match")) {
    const std::optional<MatchMode> mode = parse_match_mode(*v);
    if (!mode || *mode == MatchMode::regex) {
      return bad("keytok.match", fmt::format("unknown match mode \"{}\"; use exact, number or contains", *v));
    }
    r.match = *mode;
  }
  const std::optional<std::string> rule = rd.string("key-rule");
  const std::optional<double> entropy = rd.number("entropy-threshold", 0.0, 1e6);
  const std::optional<double> margin = rd.number("margin-threshold", 0.0, 1.0);
  if (rd.error) return rd.error;
  if (rule || entropy || margin) {
    KeyTokenParams d = p.branch.detector;
    if (rule) {
      auto kr = parse_key_rule(*rule);
      if (!kr.ok()) return bad("keytok.key-rule", kr.status().message());
      d.rule = *kr;
    }
    if (entropy) d.entropy_threshold_nats = static_cast<float>(*entropy);
    if (margin) d.margin_threshold = static_cast<float>(*margin);
    r.detector = d;
  }
  const bool several = p.kind == StrategyKind::self_consistency || p.kind == StrategyKind::branch ||
                       p.kind == StrategyKind::deepconf || p.kind == StrategyKind::cascade;
  r.annotate = rd.boolean("annotate").value_or(true);
  r.tree = rd.boolean("tree").value_or(several);
  if (rd.error) return rd.error;
  return std::nullopt;
}

}  // namespace

std::string error_json(const ApiError& e) {
  const nlohmann::ordered_json body = {{"error",
                      {{"message", e.message},
                       {"type", e.type},
                       {"param", e.param.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(e.param)},
                       {"code", nullptr}}}};
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::variant<ServeRequest, ApiError> parse_request(std::string_view body, bool chat, const RequestLimits& limits) {
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {
    // nlohmann checks UTF-8 inside strings, so invalid UTF-8 lands here too; so does a number
    // too large for a double (out_of_range).
    return bad("", fmt::format("the request body is not valid JSON ({})", e.what()));
  }
  if (!j.is_object()) return bad("", "the request body must be a JSON object");
  ServeRequest r;
  r.chat = chat;
  Reader rd{j, ""};

  if (chat) {
    const json* msgs = rd.find("messages");
    if (msgs == nullptr) return bad("messages", "messages is required: [{\"role\":\"user\",\"content\":\"...\"}]");
    if (!msgs->is_array() || msgs->empty()) return bad("messages", "messages must be a non-empty array");
    for (std::size_t i = 0; i < msgs->size(); ++i) {
      const json& m = (*msgs)[i];
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
        return bad(fmt::format("messages[{}]", i), "each message needs a string \"role\" and \"content\"");
      }
      const std::string role = m["role"].get<std::string>();
      if (role != "system" && role != "user" && role != "assistant" && role != "developer") {
        return bad(fmt::format("messages[{}].role", i),
                   fmt::format("unknown role \"{}\"; use system, user or assistant", role));
      }
      if (!m.contains("content") || m["content"].is_null()) {
        return bad(fmt::format("messages[{}].content", i), "each message needs a string \"content\"");
      }
      std::optional<ApiError> err;
      auto content = message_content(m["content"], i, err);
      if (!content) return *err;
      r.messages.push_back({role == "developer" ? "system" : role, std::move(*content)});
    }
  } else {
    const json* prompt = rd.find("prompt");
    if (prompt == nullptr) return bad("prompt", "prompt is required (a string)");
    if (prompt->is_array()) {
      if (prompt->size() != 1 || !(*prompt)[0].is_string()) {
        return bad("prompt", "prompt must be a string (or an array of one string); send one prompt per request");
      }
      r.prompt = (*prompt)[0].get<std::string>();
    } else if (prompt->is_string()) {
      r.prompt = prompt->get<std::string>();
    } else {
      return bad("prompt", "prompt must be a string");
    }
    if (r.prompt.empty()) return bad("prompt", "prompt is empty");
  }

  if (const json* m = rd.find("model"); m != nullptr && !m->is_string()) {
    return bad("model", "model must be a string");
  }
  std::optional<long long> max_tokens = rd.integer("max_tokens", 1, limits.max_tokens);
  if (chat && !max_tokens) max_tokens = rd.integer("max_completion_tokens", 1, limits.max_tokens);
  const std::optional<double> temperature = rd.number("temperature", 0.0, 2.0);
  const std::optional<double> top_p = rd.number("top_p", 0.0, 1.0, true);
  r.n = static_cast<int>(rd.integer("n", 1, limits.max_n).value_or(1));
  const std::optional<long long> seed = rd.integer("seed", 0, std::numeric_limits<std::uint32_t>::max());
  r.stream = rd.boolean("stream").value_or(false);
  if (rd.error) return *rd.error;
  if (const json* so = rd.find("stream_options")) {
    if (!so->is_object()) return bad("stream_options", "stream_options must be an object");
    Reader sr{*so, "stream_options."};
    r.include_usage = sr.boolean("include_usage").value_or(false);
    if (sr.error) return *sr.error;
  }
  if (const json* stop = rd.find("stop")) {
    if (stop->is_string()) {
      r.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array() && stop->size() <= 4) {
      for (const json& s : *stop) {
        if (!s.is_string()) return bad("stop", "stop must be a string or an array of up to 4 strings");
        r.stop.push_back(s.get<std::string>());
      }
    } else {
      return bad("stop", "stop must be a string or an array of up to 4 strings");
    }
    std::erase(r.stop, std::string());
  }
  if (chat) {
    const bool want = rd.boolean("logprobs").value_or(false);
    const std::optional<long long> top = rd.integer("top_logprobs", 0, 20);
    if (rd.error) return *rd.error;
    if (top && !want) return bad("top_logprobs", "top_logprobs needs logprobs: true");
    if (want) r.logprobs = static_cast<int>(top.value_or(0));
  } else {
    const std::optional<long long> lp = rd.integer("logprobs", 0, 20);
    if (lp) r.logprobs = static_cast<int>(*lp);
  }
  // Fields that would change the output in ways keytok does not implement.
  for (const char* key : {"frequency_penalty", "presence_penalty"}) {
    if (auto v = rd.number(key, -2.0, 2.0); v && *v != 0.0) {
      return bad(key, fmt::format("{} is not supported; leave it out or set it to 0", key));
    }
  }
  for (const char* key : {"tools", "functions", "logit_bias", "suffix"}) {
    const json* v = rd.find(key);
    if (v != nullptr && !(v->is_object() && v->empty()) && !(v->is_array() && v->empty()) &&
        !(v->is_string() && v->get<std::string>().empty())) {
      return bad(key, fmt::format("{} is not supported by keytok serve", key));
    }
  }
  if (rd.boolean("echo").value_or(false)) return bad("echo", "echo is not supported; leave it out");
  if (auto best_of = rd.integer("best_of", 1, 1'000); best_of && *best_of != r.n) {
    return bad("best_of", "best_of is not supported (use keytok.strategy sc:N for a vote over N samples)");
  }
  if (rd.error) return *rd.error;

  // OpenAI's sampling: temperature 1 and top_p 1 by default, and nothing else truncates.
  StrategyParams& p = r.params;
  p.max_tokens = static_cast<int>(max_tokens.value_or(limits.default_max_tokens));
  p.sampling = SamplingParams{.temperature = static_cast<float>(temperature.value_or(1.0)),
                              .top_k = 0,
                              .top_p = static_cast<float>(top_p.value_or(1.0)),
                              .min_p = 0.0f,
                              .seed = static_cast<std::uint32_t>(seed.value_or(0))};
  const bool greedy = p.sampling.temperature <= 0.0f;
  p.kind = r.n > 1 ? StrategyKind::self_consistency : greedy ? StrategyKind::greedy : StrategyKind::sample;
  p.n = r.n;

  if (const json* k = rd.find("keytok")) {
    r.keytok = true;
    if (auto err = parse_keytok(*k, r)) return *err;
    if (r.n > 1 && (k->contains("strategy"))) {
      return bad("n", "n must be 1 with a keytok strategy; the strategy's paths are in keytok.tree");
    }
  }
  if (const Status st = p.validate(); !st.ok()) return bad(r.keytok ? "keytok" : "", st.message());
  if (p.max_live_sequences() > limits.max_paths) {
    return bad(r.keytok ? "keytok.strategy" : "n",
               fmt::format("this request would decode {} sequences at once; the server allows {} per request",
                           p.max_live_sequences(), limits.max_paths));
  }
  return r;
}

}  // namespace keytok::server
