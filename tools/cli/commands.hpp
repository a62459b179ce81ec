// The keytok subcommands. Each cmd_<name>.cpp defines setup_<name>, which adds the subcommand
// to the app and, when it runs, stores its exit code in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace keytok::cli {

void setup_analyze(CLI::App& app, int& exit_code);
void setup_calibrate(CLI::App& app, int& exit_code);
void setup_demo(CLI::App& app, int& exit_code);
void setup_tasks(CLI::App& app, int& exit_code);
void setup_fit(CLI::App& app, int& exit_code);
void setup_sweep(CLI::App& app, int& exit_code);
void setup_generate(CLI::App& app, int& exit_code);
void setup_bench(CLI::App& app, int& exit_code);
void setup_merge(CLI::App& app, int& exit_code);
void setup_longctx(CLI::App& app, int& exit_code);
void setup_forks(CLI::App& app, int& exit_code);
void setup_models(CLI::App& app, int& exit_code);
void setup_serve(CLI::App& app, int& exit_code);

/// The text of `keytok --version`: versions, CPU build and the CPU features in use.
std::string version_text();

}  // namespace keytok::cli
