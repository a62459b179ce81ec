#include "cli/cli_runner.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>
#include <thread>

extern char** environ;

namespace keytok::testing {

std::string temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("keytok_cli_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

void write_file(const std::string& path, const std::string& body) {
  std::ofstream(path, std::ios::binary) << body;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

CliRun run_keytok(const std::vector<std::string>& args, int timeout_s, const std::vector<std::string>& env) {
  static int counter = 0;
  const std::string dir = temp_dir("run" + std::to_string(counter++));
  const std::string out_path = dir + "/out", err_path = dir + "/err";
  // argv and envp are built before fork: the child only calls async-signal-safe functions.
  std::vector<std::string> argv_s = {KEYTOK_CLI_BINARY};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<std::string> env_s;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view var(*e);
    const bool overridden = std::any_of(env.begin(), env.end(), [&](const std::string& v) {
      return v.substr(0, v.find('=') + 1) == var.substr(0, var.find('=') + 1);
    });
    if (!overridden) env_s.emplace_back(var);
  }
  env_s.insert(env_s.end(), env.begin(), env.end());
  std::vector<char*> argv, envp;
  for (std::string& a : argv_s) argv.push_back(a.data());
  for (std::string& e : env_s) envp.push_back(e.data());
  argv.push_back(nullptr);
  envp.push_back(nullptr);

  CliRun r;
  const pid_t pid = fork();
  if (pid < 0) {
    r.err = std::string("fork failed: ") + std::strerror(errno);
    return r;
  }
  if (pid == 0) {
    const int in = open("/dev/null", O_RDONLY);
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  // Poll, so that a hung keytok is killed at the deadline.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) {
      r.err = std::string("waitpid failed: ") + std::strerror(errno);
      return r;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (r.timed_out) {
    r.exit_code = 124;
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
    r.exit_code = 128 + r.signal;
  } else {
    r.exit_code = WEXITSTATUS(status);
  }
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  std::filesystem::remove_all(dir);
  return r;
}

::testing::AssertionResult exits_with(const CliRun& r, int code, const std::string& message) {
  if (r.timed_out) return ::testing::AssertionFailure() << "timed out; stderr: " << r.err;
  if (r.signal != 0) {
    return ::testing::AssertionFailure() << "killed by signal " << r.signal << " (" << strsignal(r.signal)
                                         << "); stderr: " << r.err;
  }
  if (r.exit_code != code) {
    return ::testing::AssertionFailure() << "exit code " << r.exit_code << ", expected " << code
                                         << "; stderr: " << r.err;
  }
  if (r.err.find(message) == std::string::npos) {
    return ::testing::AssertionFailure() << "stderr lacks \"" << message << "\"; stderr: " << r.err;
  }
  return ::testing::AssertionSuccess();
}

std::string test_model_or_empty(const std::string& file) {
  const std::string p = std::string(KEYTOK_SOURCE_DIR) + "/models/" + file;
  return std::filesystem::exists(p) ? p : "";
}

std::string default_model_or_empty() { return test_model_or_empty("SmolLM2-135M-Instruct.Q4_1.gguf"); }

}  // namespace keytok::testing
