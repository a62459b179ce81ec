// keytok models: the known models (data/models.tsv) and any other GGUF in the models folder:
// where each is, whether it is installed, what it is, and which calibration it would use.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "commands.hpp"
#include "keytok/detector_setup.hpp"
#include "keytok/model_registry.hpp"

namespace keytok::cli {

namespace {

struct ModelsOptions {
  bool json = false;
};

struct Row {
  std::string name;  // short name; the file name for a GGUF outside the registry
  std::string path;
  std::string description;
  bool is_default = false;
  bool installed = false;
  std::uint64_t size_bytes = 0;
  std::string architecture = "-", chat_template = "-", calibration = "-";
  int n_vocab = 0;
};

std::string human_size(std::uint64_t b) {
  return b >= 1000000000 ? fmt::format("{:.2f} GB", b / 1e9) : fmt::format("{:.0f} MB", b / 1e6);
}

// Fills what the file says about itself; a file llama.cpp cannot read says so in the row.
void inspect(Row& r) {
  std::error_code ec;
  r.installed = std::filesystem::is_regular_file(r.path, ec);
  if (!r.installed) {
    r.calibration = "-";
    return;
  }
  r.size_bytes = std::filesystem::file_size(r.path, ec);
  auto model = Model::load({.path = r.path, .vocab_only = true});
  if (!model.ok()) {
    r.architecture = "unreadable: " + model.status().message();
    return;
  }
  const Model& m = **model;
  r.architecture = m.architecture();
  r.n_vocab = m.n_vocab();
  r.chat_template = m.has_chat_template() ? "yes" : "none";
  auto found = find_calibration(m);
  if (!found.ok()) {
    r.calibration = "bad: " + found.status().message();
  } else if (!*found) {
    r.calibration = "none yet (automatic on first use)";
  } else {
    const KeyTokenDetector det((*found)->calibration.params);
    r.calibration = fmt::format("{}: {} ({})", (*found)->automatic ? "auto" : "file", det.describe(),
                                (*found)->path);
  }
}

std::vector<Row> collect() {
  std::vector<Row> rows;
  for (const KnownModel& k : known_models()) {
    Row r{.name = k.name, .path = installed_path(k), .description = k.description,
          .is_default = k.has_role("default")};
    r.size_bytes = k.size_bytes;
    rows.push_back(std::move(r));
  }
  // Other GGUFs in the models folder, so a user's own models show up too.
  std::error_code ec;
  std::vector<std::string> others;
  for (const auto& e : std::filesystem::directory_iterator(models_dir(), ec)) {
    const std::string file = e.path().filename().string();
    if (!e.is_regular_file(ec) || !file.ends_with(".gguf")) continue;
    bool known = false;
    for (const KnownModel& k : known_models()) known = known || k.file == file;
    if (!known) others.push_back(file);
  }
  std::sort(others.begin(), others.end());
  for (const auto& file : others) {
    rows.push_back(Row{.name = file, .path = models_dir() + "/" + file, .description = "local file"});
  }
  for (auto& r : rows) inspect(r);
  return rows;
}

void print_table(const std::vector<Row>& rows) {
  std::cout << fmt::format("{:<22} {:<9} {:>8}  {:<8} {:>7}  {:<8} {}\n", "NAME", "INSTALLED", "SIZE", "ARCH",
                           "VOCAB", "TEMPLATE", "CALIBRATION");
  for (const Row& r : rows) {
    std::cout << fmt::format("{:<22} {:<9} {:>8}  {:<8} {:>7}  {:<8} {}\n", r.name + (r.is_default ? "*" : ""),
                             r.installed ? "yes" : "no", human_size(r.size_bytes), r.architecture,
                             r.n_vocab > 0 ? std::to_string(r.n_vocab) : "-", r.chat_template, r.calibration);
  }
  std::cout << "\n* the default model (used without -m). Pass -m NAME or -m PATH.gguf to any command.\n";
  for (const Row& r : rows) {
    std::cout << fmt::format("  {}: {}\n    {}{}\n", r.name, r.description, r.path,
                             r.installed ? "" : fmt::format("  (not installed: scripts/fetch_models.sh {})", r.name));
  }
}

void print_json(const std::vector<Row>& rows) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const Row& r : rows) {
    out.push_back({{"name", r.name},
                   {"default", r.is_default},
                   {"installed", r.installed},
                   {"path", r.path},
                   {"size_bytes", r.size_bytes},
                   {"architecture", r.architecture},
                   {"n_vocab", r.n_vocab},
                   {"chat_template", r.chat_template},
                   {"calibration", r.calibration},
                   {"description", r.description}});
  }
  std::cout << out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
}

int run_models(const ModelsOptions& o) {
  const auto rows = collect();
  if (o.json) {
    print_json(rows);
  } else {
    print_table(rows);
  }
  return 0;
}

}  // namespace

void setup_models(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<ModelsOptions>();
  CLI::App* cmd = app.add_subcommand("models", "List the known models, whether each is installed, and its calibration");
  cmd->add_flag("--json", o->json, "Print a JSON array instead of a table");
  cmd->footer(
      "Models live in $KEYTOK_MODELS_DIR, else the source tree's models/ folder.\n"
      "Examples:\n"
      "  keytok models\n"
      "  scripts/fetch_models.sh qwen2.5-coder-1.5b   # install one\n"
      "  keytok analyze -m qwen2.5-coder-1.5b -p \"Name three primes.\" --generate 32");
  cmd->callback([o, &exit_code] { exit_code = run_models(*o); });
}

}  // namespace keytok::cli
