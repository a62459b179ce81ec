// Runs the real keytok binary and captures its exit code, stdout and stderr.
#pragma once

#include <string>
#include <vector>

namespace keytok::testing {

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

/// Runs `keytok args...` with a timeout of `timeout_s` seconds (exit 124 on timeout), with the
/// environment variables `env` ("NAME=VALUE") added.
CliRun run_keytok(const std::vector<std::string>& args, int timeout_s = 300,
                  const std::vector<std::string>& env = {});

/// Path of a test model under models/ (e.g. "gemma-3-270m-q4_k_m.gguf"), or "" when absent.
std::string test_model_or_empty(const std::string& file);

/// Path of the tests' default model (SmolLM2-135M, the fast one), or "" when absent.
std::string default_model_or_empty();

/// A fresh temporary directory for one test.
std::string temp_dir(const std::string& name);

void write_file(const std::string& path, const std::string& body);
std::string read_file(const std::string& path);

}  // namespace keytok::testing
