// The server's request parsing (tools/server/schema.hpp parse_request): the body of every
// /v1/completions and /v1/chat/completions request, parsed as both. Invariants: an error is a
// 4xx with a message and an error body that is valid JSON; a parsed request is within the
// limits and its strategy parameters validate.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <variant>

#include "fuzz_check.hpp"
#include "server/schema.hpp"

namespace {

using keytok::server::ApiError;
using keytok::server::ServeRequest;

void check(const std::variant<ServeRequest, ApiError>& parsed, bool chat,
           const keytok::server::RequestLimits& limits) {
  if (const auto* e = std::get_if<ApiError>(&parsed)) {
    FUZZ_CHECK(e->status >= 400 && e->status < 500, e->message);
    FUZZ_CHECK(!e->message.empty(), "an error says what was wrong");
    const auto body = nlohmann::json::parse(keytok::server::error_json(*e), nullptr, false);
    FUZZ_CHECK(!body.is_discarded() && body["error"]["message"].is_string(), e->message);
    return;
  }
  const ServeRequest& r = std::get<ServeRequest>(parsed);
  FUZZ_CHECK(r.chat == chat, "chat");
  if (chat) {
    FUZZ_CHECK(!r.messages.empty(), "a chat request has messages");
    for (const auto& m : r.messages) {
      FUZZ_CHECK(m.role == "system" || m.role == "user" || m.role == "assistant", m.role);
    }
  } else {
    FUZZ_CHECK(!r.prompt.empty(), "a completion request has a prompt");
  }
  FUZZ_CHECK(r.n >= 1 && r.n <= limits.max_n, "n within its limit");
  FUZZ_CHECK(r.params.max_tokens >= 1 && r.params.max_tokens <= limits.max_tokens, "max_tokens");
  FUZZ_CHECK(r.logprobs >= -1 && r.logprobs <= 20, "logprobs");
  FUZZ_CHECK(r.stop.size() <= 4, "at most 4 stop strings");
  for (const std::string& s : r.stop) FUZZ_CHECK(!s.empty(), "no empty stop string");
  FUZZ_CHECK(r.params.sampling.temperature >= 0.0f && r.params.sampling.temperature <= 2.0f,
             "temperature");
  FUZZ_CHECK(r.params.validate().ok(), r.params.validate().message());
  FUZZ_CHECK(r.params.max_live_sequences() <= limits.max_paths, "sequences within the limit");
  if (r.detector) FUZZ_CHECK(r.detector->validate().ok(), r.detector->validate().message());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const keytok::server::RequestLimits limits;
  for (const bool chat : {false, true}) {
    check(keytok::server::parse_request(body, chat, limits), chat, limits);
  }
  return 0;
}
