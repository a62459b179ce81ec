// Running one completion or chat request on the engine and writing OpenAI's response: whole, or
// as server-sent events (docs/server.md). No HTTP here: the caller gives a writer for the
// stream and maps the result to a status line.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "engine.hpp"
#include "keytok/key_token.hpp"
#include "metrics.hpp"
#include "schema.hpp"

namespace keytok::server {

/// What every request shares.
struct ServerContext {
  Engine& engine;
  Engine* large;              // cascade's large model (--big-model); null when none
  KeyTokenDetector detector;  // the model's calibrated rule, for annotations and branch
  std::string model_id;       // what /v1/models lists
  Metrics& metrics;
};

/// A request admitted to the engine, with its prompt checked against the context.
struct Admitted {
  std::unique_ptr<RequestTarget> target;
  std::unique_ptr<RequestTarget> large;  // cascade: one sequence of the large model's engine
  ServeRequest request;
};

/// Checks the prompt's length and waits for a slot (cascade: one on each engine). 400 (prompt over the context), 429 (queue
/// full), 503 (shutting down), 499-like cancellation is reported as 400 with type "cancelled".
std::variant<Admitted, ApiError> admit(ServerContext& ctx, ServeRequest request, const std::atomic<bool>* cancel);

/// Runs an admitted request and returns the response body (200) or an error.
std::variant<std::string, ApiError> complete(ServerContext& ctx, Admitted& admitted,
                                             const std::atomic<bool>* cancel);

/// Runs an admitted request as a stream: each `data: ...\n\n` event goes to `write`, which
/// returns false once the client is gone (the run is then cancelled at its next step). Errors
/// after the stream began are sent as an error event. Ends with `data: [DONE]`.
void complete_stream(ServerContext& ctx, Admitted& admitted, std::atomic<bool>& cancel,
                     const std::function<bool(std::string_view)>& write);

}  // namespace keytok::server
