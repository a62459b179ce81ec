// The registry of known models, compiled in from data/models.tsv (cmake/KeytokModels.cmake).
#include "keytok/model_registry.hpp"

#include <cstdlib>
#include <filesystem>

namespace keytok {

namespace {

// Generated at configure time from data/models.tsv: a braced list of KnownModel initialisers.
const std::vector<KnownModel>& table() {
  static const std::vector<KnownModel> models = {
#include "known_models.inc"
  };
  return models;
}

bool looks_like_path(std::string_view s) {
  return s.find('/') != std::string_view::npos || s.ends_with(".gguf") || s.ends_with(".GGUF");
}

std::string known_names() {
  std::string out;
  for (const auto& m : table()) out += (out.empty() ? "" : ", ") + m.name;
  return out;
}

}  // namespace

bool KnownModel::has_role(std::string_view role) const {
  for (const auto& r : roles) {
    if (r == role) return true;
  }
  return false;
}

std::span<const KnownModel> known_models() { return table(); }

const KnownModel* find_known_model(std::string_view name) {
  for (const auto& m : table()) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

const KnownModel& default_known_model() {
  for (const auto& m : table()) {
    if (m.has_role("default")) return m;
  }
  return table().front();  // data/models.tsv always has one; CMake checks it
}

std::string models_dir() {
  if (const char* env = std::getenv("KEYTOK_MODELS_DIR"); env != nullptr && *env != '\0') return env;
  const std::string in_tree = std::string(KEYTOK_SOURCE_DIR) + "/models";
  std::error_code ec;
  if (std::filesystem::is_directory(in_tree, ec)) return in_tree;
  return "models";
}

std::string installed_path(const KnownModel& model) { return models_dir() + "/" + model.file; }

std::string default_model_path() {
  if (const char* env = std::getenv("KEYTOK_MODEL"); env != nullptr && *env != '\0') return env;
  return installed_path(default_known_model());
}

Result<std::string> resolve_model(std::string_view name_or_path) {
  const std::string arg(name_or_path);
  if (arg.empty()) return Status::invalid_argument("no model given; pass -m NAME or -m PATH.gguf");
  std::error_code ec;
  if (std::filesystem::exists(arg, ec) || looks_like_path(arg)) return arg;
  if (const KnownModel* m = find_known_model(arg)) {
    const std::string path = installed_path(*m);
    if (!std::filesystem::exists(path, ec)) {
      return Status::not_found("model " + m->name + " (" + m->description + ") is not installed at " + path +
                               "; run scripts/fetch_models.sh " + m->name);
    }
    return path;
  }
  return Status::not_found("no file '" + arg + "' and no known model of that name; known models: " +
                           known_names() + " (run `keytok models`), or pass a path to a GGUF file");
}

}  // namespace keytok
