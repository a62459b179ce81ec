// Runs the real keytok binary and captures its exit code (or the signal that ended it), stdout
// and stderr.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace keytok::testing {

struct CliRun {
  int exit_code = -1;      // exit status; 128 + signal when a signal ended keytok; 124 on timeout
                           // (-1 when it could not be started)
  int signal = 0;          // the signal that ended keytok (e.g. SIGKILL); 0 when it exited
  bool timed_out = false;  // killed by run_keytok after timeout_s
  std::string out;
  std::string err;
};

/// Runs `keytok args...` (no shell in between) with a timeout of `timeout_s` seconds (then
/// SIGKILL, exit code 124, timed_out), with the environment variables `env` ("NAME=VALUE") added.
CliRun run_keytok(const std::vector<std::string>& args, int timeout_s = 300,
                  const std::vector<std::string>& env = {});

/// Success when keytok exited by itself (no signal, no timeout) with exactly `code` and its
/// stderr contains `message`. Use as EXPECT_TRUE(exits_with(run_keytok(...), 1, "...")).
::testing::AssertionResult exits_with(const CliRun& r, int code, const std::string& message);

/// Path of a test model under models/ (e.g. "gemma-3-270m-q4_k_m.gguf"), or "" when absent.
std::string test_model_or_empty(const std::string& file);

/// Path of the tests' default model (SmolLM2-135M, the fast one), or "" when absent.
std::string default_model_or_empty();

/// A fresh temporary directory for one test.
std::string temp_dir(const std::string& name);

void write_file(const std::string& path, const std::string& body);
std::string read_file(const std::string& path);

}  // namespace keytok::testing
