// The server's request schema: OpenAI's completion and chat requests, plus keytok's extension
// object, parsed and checked into native structs (docs/server.md). Every rejection says which
// field was wrong and what is allowed, as an OpenAI-shaped error with its HTTP code.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "keytok/key_token.hpp"
#include "keytok/model.hpp"
#include "keytok/strategy.hpp"
#include "keytok/tasks.hpp"

namespace keytok::server {

/// An error as the client sees it: {"error":{"message","type","param","code"}} with `status`.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the offending field; empty = none
};

/// What requests may ask for at most.
struct RequestLimits {
  int max_tokens = 4096;   // max_tokens
  int max_n = 8;           // n
  int max_paths = 16;      // sequences one request may use
  int default_max_tokens = 256;
};

/// One completion or chat request, checked.
struct ServeRequest {
  bool chat = false;
  std::string prompt;                    // completions
  std::vector<ChatMessage> messages;     // chat
  int n = 1;
  bool stream = false;
  bool include_usage = false;            // stream_options.include_usage
  int logprobs = -1;                     // top alternatives per token to return; -1 = no logprobs
  std::vector<std::string> stop;
  // The decoding: OpenAI's sampling fields and keytok's strategy folded into one StrategyParams.
  StrategyParams params;
  bool keytok = false;                   // the request had a keytok object
  bool annotate = false;                 // per-token entropy, margin, key
  bool tree = false;                     // the search tree
  std::optional<KeyTokenParams> detector;  // a rule override; nullopt = the server's detector
  MatchMode match = MatchMode::exact;    // answer extraction for the vote
};

/// Parses a request body. `chat` selects /v1/chat/completions.
std::variant<ServeRequest, ApiError> parse_request(std::string_view body, bool chat,
                                                   const RequestLimits& limits);

/// The error's JSON body.
std::string error_json(const ApiError& error);

}  // namespace keytok::server
