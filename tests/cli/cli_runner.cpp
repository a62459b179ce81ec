#include "cli/cli_runner.hpp"

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace keytok::testing {

namespace {
std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}
}  // namespace

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
  std::string cmd = "env";
  for (const auto& e : env) cmd += " " + quote(e);
  cmd += " timeout " + std::to_string(timeout_s) + " " + quote(KEYTOK_CLI_BINARY);
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " </dev/null >" + quote(dir + "/out") + " 2>" + quote(dir + "/err");
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(dir + "/out");
  r.err = read_file(dir + "/err");
  std::filesystem::remove_all(dir);
  return r;
}

std::string test_model_or_empty(const std::string& file) {
  const std::string p = std::string(KEYTOK_SOURCE_DIR) + "/models/" + file;
  return std::filesystem::exists(p) ? p : "";
}

std::string default_model_or_empty() { return test_model_or_empty("SmolLM2-135M-Instruct.Q4_1.gguf"); }

}  // namespace keytok::testing
