// keytok: find and handle the key tokens of local LLM generation.
// main only builds the app from the subcommands and maps errors to exit codes.
#include <cstdio>
#include <exception>

#include "commands.hpp"
#include "keytok/threading.hpp"

int main(int argc, char** argv) {
  // Short OpenMP barrier spins, so that keytok shares a busy machine fairly (keytok/threading.hpp).
  keytok::reexec_with_omp_defaults(argc, argv);
  CLI::App app{"keytok: find the key tokens where a local LLM's output forks, and handle them.\n"
               "Every model command takes -m NAME or -m MODEL.gguf (default: Qwen2.5-Coder-0.5B-Instruct\n"
               "from scripts/fetch_models.sh; `keytok models` lists the known ones)."};
  app.name("keytok");
  app.set_help_all_flag("--help-all", "Show help for all subcommands");
  app.set_version_flag("--version", keytok::cli::version_text,
                       "Print the keytok and llama.cpp versions and the CPU features in use");
  app.require_subcommand(1);
  app.footer("Example:\n  keytok demo\n  keytok analyze -p \"Name three primes.\" --generate 64 --html report.html");

  int exit_code = 0;
  keytok::cli::setup_analyze(app, exit_code);
  keytok::cli::setup_calibrate(app, exit_code);
  keytok::cli::setup_demo(app, exit_code);
  keytok::cli::setup_tasks(app, exit_code);
  keytok::cli::setup_fit(app, exit_code);
  keytok::cli::setup_sweep(app, exit_code);
  keytok::cli::setup_generate(app, exit_code);
  keytok::cli::setup_bench(app, exit_code);
  keytok::cli::setup_merge(app, exit_code);
  keytok::cli::setup_longctx(app, exit_code);
  keytok::cli::setup_forks(app, exit_code);
  keytok::cli::setup_models(app, exit_code);
  keytok::cli::setup_serve(app, exit_code);

  // CLI11 would only say "a subcommand is required"; name the word it did not know.
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      known = known || sub->check_name(argv[1]);
    }
    if (!known) {
      std::fprintf(stderr, "keytok: error: unknown subcommand '%s'; run `keytok --help` for the list\n", argv[1]);
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "keytok: error: %s\n", e.what());
    return 1;
  }
  return exit_code;
}
