// keytok serve: an OpenAI-compatible server with key-token annotations and strategies, and a
// web viewer (docs/server.md). SIGINT/SIGTERM stop it cleanly: in-flight requests finish.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "cli_common.hpp"
#include "commands.hpp"
#include "keytok/model_registry.hpp"
#include "server.hpp"

namespace keytok::cli {

namespace {

struct ServeOptions {
  ModelOptions model;
  KvOptions kv;
  DetectorSpec detector;
  std::string big_model;  // cascade's large model: a path or a known model's name
  server::ServeParams params;
};

int run_serve(ServeOptions& o) {
  constexpr std::string_view kCmd = "serve";
  server::ServeParams p = o.params;
  auto path = resolve_model(o.model.model.path);
  if (!path.ok()) return fail(kCmd, path.status());
  p.model = o.model.model;
  p.model.path = *path;
  auto sp = with_kv(o.kv, o.model.session);
  if (!sp.ok()) return fail(kCmd, sp.status());
  p.session = *sp;
  p.detector = o.detector;
  if (!o.big_model.empty()) {
    auto big = resolve_model(o.big_model);
    if (!big.ok()) return fail(kCmd, Status(big.status().code(), "--big-model: " + big.status().message()));
    p.big_model = o.model.model;
    p.big_model.path = *big;
  }
  if (p.api_key.empty()) {
    if (const char* env = std::getenv("KEYTOK_API_KEY")) p.api_key = env;
  }
  // Loopback is the default (SECURITY.md); another address without a key opens the model, and
  // the machine's cores, to anyone who can reach the port.
  if (p.api_key.empty() && p.host != "127.0.0.1" && p.host != "::1" && p.host != "localhost") {
    std::fprintf(stderr,
                 "keytok serve: warning: listening on %s without an API key; anyone who can reach this port can "
                 "use the model (pass --api-key KEY or set KEYTOK_API_KEY)\n",
                 p.host.c_str());
  }
  if (!p.web_dir.empty() && !std::filesystem::is_directory(p.web_dir)) {
    return fail(kCmd, Status::not_found("--web-dir " + p.web_dir + " is not a directory"));
  }
  if (p.request_limits.max_paths > p.limits.sequences) {
    return fail(kCmd, Status::invalid_argument(fmt::format(
        "--max-paths {} exceeds --sequences {}; a request could never be admitted",
        p.request_limits.max_paths, p.limits.sequences)));
  }

  // A client that hangs up mid-stream must cost an EPIPE on that socket, not the process
  // (httplib sends without MSG_NOSIGNAL).
  std::signal(SIGPIPE, SIG_IGN);
  // SIGINT and SIGTERM go to one thread that asks the server to stop; every other thread
  // (llama.cpp's, httplib's) inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGUSR1);  // wakes the signal thread when the server ends on its own
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  server::HttpServer srv(p);
  if (auto st = srv.bind(); !st.ok()) return fail(kCmd, st);
  std::fprintf(stderr, "keytok serve: listening on http://%s:%d (loading %s)\n", p.host.c_str(), srv.port(),
               p.model.path.c_str());
  std::thread waiter([&srv, &signals] {
    int sig = 0;
    sigwait(&signals, &sig);
    if (sig == SIGUSR1) return srv.stop();
    const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
    if (srv.loading()) {
      // Nothing is in flight while the model loads or calibrates (which can take minutes and
      // cannot be interrupted); a calibration in progress writes nothing until it is complete.
      std::fprintf(stderr, "keytok serve: %s while loading: exiting\n", name);
      std::fflush(stderr);
      std::_Exit(0);
    }
    std::fprintf(stderr, "keytok serve: %s: finishing the requests in flight (a second signal exits at once)\n",
                 name);
    srv.stop();
    sigwait(&signals, &sig);
    if (sig == SIGUSR1) return;
    std::fprintf(stderr, "keytok serve: second signal: exiting without waiting\n");
    std::fflush(stderr);
    std::_Exit(1);
  });
  const Status st = srv.run([](const std::string& text) { std::fprintf(stderr, "keytok serve: %s\n", text.c_str()); });
  pthread_kill(waiter.native_handle(), SIGUSR1);
  waiter.join();
  if (!st.ok()) return fail(kCmd, st);
  std::fprintf(stderr, "keytok serve: stopped\n");
  return 0;
}

}  // namespace

void setup_serve(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ServeOptions>();
  o->model.session.n_ctx = o->params.session.n_ctx;
  CLI::App* cmd = app.add_subcommand("serve", "OpenAI-compatible server with key-token annotations and a web viewer");
  add_model_options(cmd, o->model);
  add_kv_options(cmd, o->kv, /*fraction_allowed=*/false);
  add_detector_options(cmd, o->detector);
  server::ServeParams& p = o->params;
  cmd->add_option("--host", p.host, "Address to listen on (loopback by default)")->capture_default_str();
  cmd->add_option("--port", p.port, "Port (0 = any free port)")->capture_default_str()->check(CLI::Range(0, 65535));
  cmd->add_option("--api-key", p.api_key, "Require Authorization: Bearer KEY on /v1/* (or set KEYTOK_API_KEY)");
  cmd->add_option("--big-model", o->big_model,
                  "Large model for the cascade strategy (a GGUF file or a known model's name; same vocabulary)");
  cmd->add_option("--web-dir", p.web_dir, "Serve the viewer from this folder instead of the built-in copy");
  cmd->add_option("--parallel", p.limits.parallel, "Requests decoding at once")->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--queue", p.limits.queue, "Requests waiting for a slot; more get HTTP 429")->capture_default_str()
      ->check(CLI::Range(0, 4096));
  cmd->add_option("--sequences", p.limits.sequences, "KV sequences over all requests (every path of each)")
      ->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--max-paths", p.request_limits.max_paths, "KV sequences one request may use")
      ->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--max-tokens", p.request_limits.max_tokens, "max_tokens a request may ask for")
      ->capture_default_str()->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--max-n", p.request_limits.max_n, "n (choices) a request may ask for")->capture_default_str()
      ->check(CLI::Range(1, 256));
  cmd->add_option("--max-body", p.max_body_bytes, "Request body size at most, bytes")->capture_default_str()
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30));
  cmd->add_option("--drain-seconds", p.drain_seconds, "On SIGINT/SIGTERM, how long requests in flight may take")
      ->capture_default_str()->check(CLI::Range(0.0, 3600.0));
  cmd->footer(
      "Examples:\n"
      "  keytok serve -m qwen2.5-coder-0.5b                  # then open http://127.0.0.1:8080/\n"
      "  curl http://127.0.0.1:8080/v1/chat/completions -d '{\"messages\":[{\"role\":\"user\",\"content\":"
      "\"Hi\"}],\"keytok\":{\"strategy\":\"branch\"}}'\n"
      "API: docs/server.md");
  cmd->callback([o, &exit_code] { exit_code = run_serve(*o); });
}

}  // namespace keytok::cli
