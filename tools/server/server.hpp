// keytok serve: the HTTP server (docs/server.md). The only header of the server that the CLI
// includes; cpp-httplib stays inside http.cpp.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "engine.hpp"
#include "keytok/detector_setup.hpp"
#include "keytok/model.hpp"
#include "keytok/session.hpp"
#include "keytok/status.hpp"
#include "schema.hpp"

namespace keytok::server {

struct ServeParams {
  std::string host = "127.0.0.1";   // loopback by default: nothing outside this machine reaches it
  int port = 8080;                  // 0 = any free port (see HttpServer::port)
  std::string api_key;              // non-empty: /v1/* needs "Authorization: Bearer <key>"
  std::string web_dir;              // non-empty: serve the viewer from this folder, not the binary
  ModelParams model;                // model.path resolved
  ModelParams big_model;            // cascade's large model; path resolved; empty path = none
  SessionParams session{.n_ctx = 8192};
  DetectorSpec detector;            // the key-token rule for annotations and branch
  EngineLimits limits;
  RequestLimits request_limits;
  std::size_t max_body_bytes = 1 << 20;
  double drain_seconds = 30.0;      // on stop, how long requests in flight may take to finish
};

class HttpServer {
 public:
  explicit HttpServer(ServeParams params);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds host:port. io_error naming the address when it is taken or not allowed.
  Status bind();
  /// The bound port (useful with port 0).
  int port() const;
  /// Loads the model (GET /health answers 503 meanwhile), then serves until stop(). Returns the
  /// load error if the model cannot be loaded.
  Status run(const std::function<void(const std::string&)>& notice);
  /// From any thread: stop accepting, let the requests in flight finish (up to drain_seconds,
  /// then cancel them), and make run() return.
  void stop();
  /// Whether the model is still loading (or calibrating); nothing is in flight then.
  bool loading() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace keytok::server
