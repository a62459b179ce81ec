// The HTTP side of keytok serve, on cpp-httplib: routes, auth, errors, SSE, static files, and the
// stop sequence. Everything past the request body is in schema/completion/engine.
#include <httplib.h>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <thread>

#include "completion.hpp"
#include "metrics.hpp"
#include "server.hpp"
#include "web_assets.hpp"

namespace keytok::server {

namespace {

// `name` inside `folder` as a regular file, after following links: nothing outside the folder,
// not even through a link placed in it, is served (SECURITY.md). The route already admits only
// one path segment without a leading dot; this holds whatever the route lets through.
std::optional<std::filesystem::path> file_in_folder(const std::string& folder, const std::string& name) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path root = fs::canonical(folder, ec);
  if (ec) return std::nullopt;
  const fs::path p = fs::canonical(root / name, ec);
  if (ec || !fs::is_regular_file(p, ec)) return std::nullopt;
  // Inside means every component of the folder's path is a leading component of the file's.
  if (std::mismatch(root.begin(), root.end(), p.begin(), p.end()).first != root.end()) return std::nullopt;
  return p;
}

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  if (e.status == 429) res.set_header("Retry-After", "1");
  res.set_content(error_json(e), "application/json");
}

// Constant time in the key's length: the comparison does not stop at the first wrong byte.
bool same_secret(std::string_view given, std::string_view key) {
  unsigned char diff = given.size() == key.size() ? 0 : 1;
  for (std::size_t i = 0; i < key.size(); ++i) {
    diff |= static_cast<unsigned char>(key[i] ^ (i < given.size() ? given[i] : 0));
  }
  return diff == 0;
}

std::string status_message(int status) {
  switch (status) {
    case 401: return "a valid API key is required: send Authorization: Bearer KEY";
    case 404: return "no such endpoint; see GET /v1/models, POST /v1/completions, POST /v1/chat/completions";
    case 405: return "method not allowed on this endpoint";
    case 413: return "the request body is too large";  // with the limit: see routes()
    default: return fmt::format("HTTP {}", status);
  }
}

}  // namespace

struct HttpServer::Impl {
  ServeParams params;
  httplib::Server svr;
  int port = -1;
  std::atomic<bool> loading{true};
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Engine> large;  // cascade's large model, when --big-model
  std::unique_ptr<ServerContext> ctx;
  Metrics metrics;

  std::mutex m;
  std::condition_variable cv;
  bool stop_requested = false;
  std::set<std::atomic<bool>*> inflight;  // cancel flags of the requests being served

  void track(std::atomic<bool>* flag) {
    std::lock_guard lk(m);
    inflight.insert(flag);
  }
  void untrack(std::atomic<bool>* flag) {
    {
      std::lock_guard lk(m);
      inflight.erase(flag);
    }
    cv.notify_all();
  }

  void routes();
  std::string too_large() const {
    return fmt::format("the request body is too large; this server takes at most {} bytes (--max-body)",
                       params.max_body_bytes);
  }
  void completion(const httplib::Request& req, httplib::Response& res, bool chat);
  void static_file(const std::string& name, httplib::Response& res);
};

void HttpServer::Impl::routes() {
  svr.set_payload_max_length(params.max_body_bytes);
  // An idle keep-alive connection holds a worker (and a stop) for this long; clients reconnect.
  svr.set_keep_alive_timeout(1);
  const std::size_t threads = static_cast<std::size_t>(params.limits.parallel + params.limits.queue + 4);
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };

  svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (params.api_key.empty() || req.path.rfind("/v1/", 0) != 0) return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string_view prefix = "Bearer ";
    const bool ok = auth.rfind(prefix, 0) == 0 && same_secret(std::string_view(auth).substr(prefix.size()), params.api_key);
    if (ok) return httplib::Server::HandlerResponse::Unhandled;
    res.set_header("WWW-Authenticate", "Bearer");
    send_error(res, {.status = 401, .message = auth.empty() ? "no API key: send Authorization: Bearer KEY"
                                                            : "the API key is not valid",
                     .type = "authentication_error"});
    return httplib::Server::HandlerResponse::Handled;
  });
  svr.set_error_handler(httplib::Server::HandlerWithResponse(
      [this](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        std::string message = status_message(res.status);
        if (res.status == 413) message = too_large();
        send_error(res, {.status = res.status, .message = message,
                         .type = res.status >= 500 ? "server_error" : "invalid_request_error"});
        return httplib::Server::HandlerResponse::Handled;
      }));
  svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    send_error(res, {.status = 500, .message = "internal error: " + what, .type = "server_error"});
  });
  svr.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    if (req.path.rfind("/v1/", 0) == 0 && req.method == "POST") metrics.count_status(res.status);
  });

  svr.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    if (loading) {
      res.status = 503;
      res.set_content(R"({"status":"loading"})", "application/json");
    } else {
      res.set_content(R"({"status":"ok"})", "application/json");
    }
  });
  svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    // `loading` turns false only after the engine exists (a sequentially consistent store).
    const EngineStats stats = loading ? EngineStats{} : engine->stats();
    res.set_content(metrics_text(metrics, stats, loading), "text/plain; version=0.0.4");
  });
  svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    if (loading) return send_error(res, {.status = 503, .message = "the model is still loading", .type = "server_unavailable"});
    const nlohmann::ordered_json body = {
        {"object", "list"},
        {"data", {{{"id", ctx->model_id},
                   {"object", "model"},
                   {"created", 0},
                   {"owned_by", "keytok"},
                   {"meta", {{"n_vocab", engine->model().n_vocab()},
                             {"n_ctx", engine->stats().n_ctx},
                             {"kv_policy", kv_policy_name(engine->kv_policy().policy)},
                             {"kv_budget", engine->kv_policy().budget},
                             {"detector", ctx->detector.describe()},
                             {"detector_source", ctx->detector.source()}}}}}}};
    res.set_content(body.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace), "application/json");
  });
  svr.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) { completion(req, res, false); });
  svr.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) { completion(req, res, true); });
  // A known path with the wrong method is a 405 naming the right one, not a 404.
  const auto wrong_method = [this](const char* path, const char* allowed, bool get, bool post) {
    const auto handler = [allowed](const httplib::Request&, httplib::Response& res) {
      res.set_header("Allow", allowed);
      send_error(res, {.status = 405, .message = fmt::format("use {} on this endpoint", allowed)});
    };
    if (get) svr.Get(path, handler);
    if (post) svr.Post(path, handler);
    svr.Put(path, handler);
    svr.Delete(path, handler);
    svr.Patch(path, handler);
  };
  for (const char* path : {"/v1/completions", "/v1/chat/completions"}) wrong_method(path, "POST", true, false);
  for (const char* path : {"/v1/models", "/health", "/metrics", "/"}) wrong_method(path, "GET", false, true);
  svr.Get("/", [this](const httplib::Request&, httplib::Response& res) { static_file("index.html", res); });
  // One path segment of safe characters: nothing can climb out of the web folder.
  svr.Get(R"(/([A-Za-z0-9_-][A-Za-z0-9_.-]*))", [this](const httplib::Request& req, httplib::Response& res) {
    static_file(req.matches[1].str(), res);
  });
}

void HttpServer::Impl::static_file(const std::string& name, httplib::Response& res) {
  if (params.web_dir.empty()) {
    if (const WebAsset* a = find_web_asset(name)) {
      res.set_content(std::string(a->body), std::string(a->content_type));
      return;
    }
  } else if (const std::optional<std::filesystem::path> p = file_in_folder(params.web_dir, name)) {
    std::ifstream in(*p, std::ios::binary);
    if (in) {
      res.set_content(std::string(std::istreambuf_iterator<char>(in), {}), std::string(web_content_type(name)));
      return;
    }
  }
  send_error(res, {.status = 404, .message = "no such file: /" + name});
}

void HttpServer::Impl::completion(const httplib::Request& req, httplib::Response& res, bool chat) {
  if (loading) {
    return send_error(res, {.status = 503, .message = "the model is still loading; retry when GET /health says ok",
                            .type = "server_unavailable"});
  }
  // httplib enforces the limit on Content-Length bodies only; a chunked body is checked here.
  if (req.body.size() > params.max_body_bytes) {
    return send_error(res, {.status = 413, .message = too_large()});
  }
  auto parsed = parse_request(req.body, chat, params.request_limits);
  if (const ApiError* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
  struct State {
    std::atomic<bool> cancel{false};
    std::optional<Admitted> admitted;
  };
  auto state = std::make_shared<State>();
  track(&state->cancel);
  auto admitted = admit(*ctx, std::move(std::get<ServeRequest>(parsed)), &state->cancel);
  if (const ApiError* e = std::get_if<ApiError>(&admitted)) {
    untrack(&state->cancel);
    return send_error(res, *e);
  }
  state->admitted.emplace(std::move(std::get<Admitted>(admitted)));
  if (!state->admitted->request.stream) {
    auto out = complete(*ctx, *state->admitted, &state->cancel);
    state->admitted.reset();  // frees the sequences before the response goes out
    untrack(&state->cancel);
    if (const ApiError* e = std::get_if<ApiError>(&out)) return send_error(res, *e);
    res.set_content(std::get<std::string>(out), "application/json");
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, state](std::size_t, httplib::DataSink& sink) {
        complete_stream(*ctx, *state->admitted, state->cancel, [&sink](std::string_view s) {
          return sink.is_writable() && sink.write(s.data(), s.size());
        });
        sink.done();
        return true;
      },
      [this, state](bool) {
        // Runs whether the stream finished or the client went away: the request's sequences
        // leave the KV cache here.
        state->admitted.reset();
        untrack(&state->cancel);
      });
}

HttpServer::HttpServer(ServeParams params) : impl_(std::make_unique<Impl>()) {
  impl_->params = std::move(params);
}

HttpServer::~HttpServer() = default;

Status HttpServer::bind() {
  Impl& s = *impl_;
  s.routes();
  s.port = s.params.port == 0 ? s.svr.bind_to_any_port(s.params.host) : (s.svr.bind_to_port(s.params.host, s.params.port) ? s.params.port : -1);
  if (s.port < 0) {
    return Status::io_error(fmt::format("cannot listen on {}:{} (in use, or not an address of this machine); "
                                        "pass another --port or --host",
                                        s.params.host, s.params.port));
  }
  return Status::ok_status();
}

int HttpServer::port() const { return impl_->port; }

namespace {

// cascade's large model: its own engine, one sequence per running request, after the same
// vocabulary check as the CLI's (open_large_model). Null when no --big-model was given.
Result<std::unique_ptr<Engine>> open_large_engine(const ServeParams& params, const Model& small) {
  if (params.big_model.path.empty()) return std::unique_ptr<Engine>();
  auto large = Model::load(params.big_model);
  if (!large.ok()) return Status(large.status().code(), "--big-model: " + large.status().message());
  KEYTOK_RETURN_IF_ERROR(check_same_vocabulary(small, **large));
  EngineLimits limits = params.limits;
  limits.sequences = std::min(kMaxSequences, limits.parallel);
  return Engine::create(*large, params.session, limits);
}

}  // namespace

Status HttpServer::run(const std::function<void(const std::string&)>& notice) {
  Impl& s = *impl_;
  std::atomic<bool> listener_done{false};
  std::thread listener([&s, &listener_done] {
    s.svr.listen_after_bind();
    listener_done = true;
  });
  Status result;
  auto model = Model::load(s.params.model);
  if (model.ok()) {
    DetectorEvents events;
    events.notice = notice;
    auto detector = resolve_detector(s.params.detector, *model, s.params.session.n_threads, events);
    auto engine = detector.ok() ? Engine::create(*model, s.params.session, s.params.limits)
                                : Result<std::unique_ptr<Engine>>(detector.status());
    auto large = engine.ok() ? open_large_engine(s.params, **model) : Result<std::unique_ptr<Engine>>(engine.status());
    if (!large.ok()) engine = large.status();
    if (engine.ok()) {
      {
        std::lock_guard lk(s.m);
        s.engine = std::move(*engine);
        s.large = std::move(*large);
      }
      const std::string id = s.params.model.path.empty() ? (*model)->name()
                                                         : std::filesystem::path(s.params.model.path).stem().string();
      s.ctx = std::make_unique<ServerContext>(ServerContext{*s.engine, s.large.get(), *detector, id, s.metrics});
      s.loading = false;
      if (notice) notice(fmt::format("ready: {} on http://{}:{} ({})", id, s.params.host, s.port, detector->describe()));
    } else {
      result = engine.status();
    }
  } else {
    result = model.status();
  }
  if (!result.ok()) {
    stop();
  }
  {
    std::unique_lock lk(s.m);
    s.cv.wait(lk, [&s] { return s.stop_requested; });
  }
  // Stop accepting: the listening socket closes; the requests in flight go on. httplib's stop()
  // does nothing before its accept loop runs (a model that fails to load at once gets here
  // that early), so wait for the loop first.
  while (!s.svr.is_running() && !listener_done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  s.svr.stop();
  {
    // Drain: they finish, up to drain_seconds; then they are cancelled at their next step.
    std::unique_lock lk(s.m);
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(s.params.drain_seconds));
    if (!s.cv.wait_until(lk, deadline, [&s] { return s.inflight.empty(); })) {
      for (std::atomic<bool>* flag : s.inflight) *flag = true;
    }
  }
  listener.join();
  s.ctx.reset();
  s.engine.reset();
  s.large.reset();
  return result;
}

bool HttpServer::loading() const { return impl_->loading; }

void HttpServer::stop() {
  Impl& s = *impl_;
  {
    std::lock_guard lk(s.m);
    s.stop_requested = true;
    if (s.engine) s.engine->stop_admitting();  // queued requests get 503
    if (s.large) s.large->stop_admitting();
  }
  s.cv.notify_all();
}

}  // namespace keytok::server
