// Shared flag groups, model loading and detector selection for the subcommands.
#include "cli_common.hpp"

#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>

#include "keytok/model_registry.hpp"

namespace keytok::cli {

void add_model_options(CLI::App* cmd, ModelOptions& opts) {
  opts.model.path = default_model_path();
  cmd->add_option("-m,--model", opts.model.path,
                  "GGUF model file, or a known model's name (see `keytok models`)")->capture_default_str();
  cmd->add_option("--ctx", opts.session.n_ctx,
                  "Context size in tokens, rounded up to a multiple of 256 by llama.cpp "
                  "(0 = the model's training context)")
      ->capture_default_str()
      ->check(at_least(0));
  cmd->add_option("-t,--threads", opts.session.n_threads, "CPU threads (0 = physical cores)")
      ->capture_default_str()
      ->check(at_least(0));
  cmd->add_option("--gpu-layers", opts.model.n_gpu_layers, "Layers to offload to a GPU backend (-1 = all)")
      ->capture_default_str()
      ->check(CLI::Range(-1, 100000));
  cmd->add_option("--chat-template", opts.model.chat_template,
                  "llama.cpp built-in chat template (chatml, gemma, llama3, ...) instead of the model's");
  cmd->add_option("--rpc", opts.model.rpc_servers,
                  "HOST:PORT[,...] of llama.cpp rpc-servers (ggml-rpc-server) to run the layers on "
                  "(docs/scale-out.md)")
      ->delimiter(',');
  cmd->add_flag("--verbose", opts.model.verbose, "Show llama.cpp's log");
}

void add_kv_options(CLI::App* cmd, KvOptions& opts, bool fraction_allowed) {
  cmd->add_option("--kv-policy", opts.policy,
                  "Bounded KV memory: full (no eviction), window (sinks + recent, StreamingLLM), keytoken "
                  "(sinks + recent + the most surprising tokens), chunk (whole sentences ranked by their "
                  "tokens) or random (the control); docs/kv.md")
      ->capture_default_str()
      ->check(CLI::IsMember({"full", "window", "keytoken", "chunk", "random"}));
  cmd->add_option("--kv-budget", opts.budget,
                  fraction_allowed ? "KV cells a branch keeps: a count (4096) or a fraction of the text (25%)"
                                   : "KV cells a branch keeps (a count)");
  add_kv_knob_options(cmd, opts);
}

void add_kv_knob_options(CLI::App* cmd, KvOptions& opts) {
  cmd->add_option("--kv-sinks", opts.params.sinks, "First cells always kept (attention sinks)")
      ->capture_default_str()->check(at_least(0));
  cmd->add_option("--kv-window", opts.params.window,
                  "Most recent cells always kept by keytoken, chunk and random (-1 = 3/4 of the budget)")
      ->capture_default_str()->check(at_least(-1));
  cmd->add_option("--kv-step", opts.params.evict_step,
                  "Cells freed per eviction round, and the prefill chunk (-1 = budget / 8)")
      ->capture_default_str()->check(at_least(-1));
  cmd->add_option("--kv-importance", opts.importance,
                  "What ranks cells for keytoken and chunk: surprisal or entropy")
      ->capture_default_str()->check(CLI::IsMember({"surprisal", "entropy"}));
  cmd->add_option("--kv-seed", opts.params.seed, "Seed of the random policy")->capture_default_str();
}

Result<SessionParams> with_kv(const KvOptions& opts, SessionParams base, int n_text_tokens) {
  KvPolicyParams kv = opts.params;
  const auto policy = parse_kv_policy(opts.policy);
  if (!policy) return Status::invalid_argument("unknown --kv-policy '" + opts.policy + "'; use " + kv_policy_names());
  kv.policy = *policy;
  const auto importance = parse_kv_importance(opts.importance);
  if (!importance) return Status::invalid_argument("unknown --kv-importance '" + opts.importance + "'; use surprisal or entropy");
  kv.importance = *importance;
  if (kv.evicts()) {
    if (opts.budget.empty()) {
      return Status::invalid_argument("--kv-policy " + opts.policy + " needs --kv-budget (cells, e.g. 1024)");
    }
    auto budget = parse_kv_budget(opts.budget);
    if (!budget.ok()) return budget.status();
    if (budget->is_fraction() && n_text_tokens < 0) {
      return Status::invalid_argument("--kv-budget " + opts.budget +
                                      " is a fraction of a text, and this command has none; give cells, e.g. 1024");
    }
    kv.budget = budget->resolve(n_text_tokens);
  } else if (!opts.budget.empty()) {
    return Status::invalid_argument("--kv-budget needs an evicting --kv-policy (window, keytoken, chunk or random)");
  }
  KEYTOK_RETURN_IF_ERROR(kv.validate());
  base.kv = kv;
  return base;
}

void add_detector_options(CLI::App* cmd, DetectorSpec& spec) {
  cmd->add_option("--calibration", spec.calibration_file,
                  "Calibration file from `keytok calibrate` (default: <model>.keytok-calibration.json if "
                  "present, else the model's automatic calibration)");
  cmd->add_option("--key-rule", spec.rule, "Key-token rule: entropy, margin, both or either")
      ->check(CLI::IsMember({"entropy", "margin", "both", "either"}));
  cmd->add_option("--entropy-threshold", spec.entropy_threshold_nats, "Key when entropy >= this (nats)")
      ->check(at_least_real(0));
  cmd->add_option("--margin-threshold", spec.margin_threshold, "Key when top1-top2 probability <= this")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--no-auto-calibrate{false}", spec.auto_calibrate,
                "Use no automatic calibration (neither make one nor read the cached one): without a "
                "calibration file, the rule is the fixed default, entropy >= 2.0 nats");
}

void add_sampling_options(CLI::App* cmd, SamplingParams& params) {
  cmd->add_option("--temp", params.temperature, "Sampling temperature (0 = greedy)")
      ->capture_default_str()->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-k", params.top_k, "Sampling top-k (0 = off)")->capture_default_str()
      ->check(at_least(0));
  cmd->add_option("--top-p", params.top_p, "Sampling top-p")->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-p", params.min_p, "Sampling min-p")->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", params.seed, "Sampling seed")->capture_default_str();
}

Result<std::shared_ptr<const Model>> load_model(const ModelOptions& opts) {
  auto path = resolve_model(opts.model.path);
  if (!path.ok()) return path.status();
  ModelParams params = opts.model;
  params.path = *path;
  return Model::load(params);
}

CalibrationProgressFn calibration_progress(std::optional<Progress>& bar) {
  return [&bar](const CalibrationProgress& p) {
    if (!bar) {
      const auto began = std::chrono::steady_clock::now() -
                         std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                             std::chrono::duration<double>(p.seconds));
      bar.emplace(p.prompts_total, "answers", began);
    }
    bar->tick();
  };
}

DetectorEvents detector_events(std::optional<Progress>& bar) {
  DetectorEvents events;
  events.notice = [&bar](const std::string& text) {
    if (bar) bar->finish(), bar.reset();
    std::fprintf(stderr, "keytok: %s\n", text.c_str());
  };
  events.progress = calibration_progress(bar);
  return events;
}

Result<KeyTokenDetector> make_detector(const DetectorSpec& spec, const std::shared_ptr<const Model>& model,
                                       const SessionParams& session) {
  std::optional<Progress> bar;
  auto det = resolve_detector(spec, model, session.n_threads, detector_events(bar));
  if (bar) bar->finish();
  return det;
}

void add_shard_option(CLI::App* cmd, std::string& spec) {
  cmd->add_option("--shard", spec,
                  "Run shard I of N of the tasks (I/N, from 1; task p goes to shard p mod N + 1); "
                  "join the shards' -o files with keytok merge");
}

std::string file_name(const std::string& path) { return std::filesystem::path(path).filename().string(); }

Result<bool> has_rows_to_resume(const std::string& path, bool resume) {
  std::error_code ec;
  const bool exists = std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) > 0;
  if (exists && !resume) {
    return Status::invalid_argument(path + " exists; pass --resume to continue it, or remove it");
  }
  return exists;
}

Result<std::string> read_text(const std::string& path) {
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Status::not_found("text file not found: " + path);
  if (std::filesystem::is_directory(path, ec)) {
    return Status::invalid_argument(path + " is a directory; pass a text file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io_error("cannot read " + path + "; check its permissions");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void simulate_kill_after_rows(std::int64_t rows_written) {
  const char* value = std::getenv("KEYTOK_DEBUG_KILL_AFTER_ROWS");
  if (value == nullptr) return;
  char* end = nullptr;
  const long long n = std::strtoll(value, &end, 10);
  // SIGKILL, not exit(): no destructor, flush or handler runs, as when the OOM killer strikes.
  if (end != value && *end == '\0' && n >= 1 && rows_written >= n) std::raise(SIGKILL);
}

int fail(std::string_view cmd, const Status& status) {
  std::fprintf(stderr, "keytok %.*s: error: %s\n", static_cast<int>(cmd.size()), cmd.data(),
               status.message().c_str());
  return 1;
}

CLI::Validator open_unit_interval() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        try {
          std::size_t used = 0;
          const double v = std::stod(s, &used);
          if (used == s.size() && v > 0.0 && v < 1.0) return {};
        } catch (...) {
        }
        return "must be a number strictly between 0 and 1 (e.g. 0.08), got " + s;
      },
      "FRACTION in (0,1)");
}

// CLI11's NonNegativeNumber and PositiveNumber print DBL_MAX, 309 digits, as the maximum.
CLI::Validator at_least(std::int64_t min) {
  return CLI::Validator(
      [min](std::string& s) -> std::string {
        std::int64_t v = 0;
        const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
        if (ec == std::errc() && end == s.data() + s.size() && v >= min) return {};
        if (ec == std::errc() && end == s.data() + s.size()) return fmt::format("must be >= {} (got {})", min, s);
        return fmt::format("must be a whole number >= {} (got {})", min, s);
      },
      min == 0 ? "NONNEGATIVE" : min == 1 ? "POSITIVE" : fmt::format(">= {}", min));
}

CLI::Validator at_least_real(double min) {
  return CLI::Validator(
      [min](std::string& s) -> std::string {
        try {
          std::size_t used = 0;
          const double v = std::stod(s, &used);
          if (used == s.size() && v >= min) return {};
          if (used == s.size()) return fmt::format("must be >= {:g} (got {})", min, s);
        } catch (...) {
        }
        return fmt::format("must be a number >= {:g} (got {})", min, s);
      },
      min == 0 ? "NONNEGATIVE" : fmt::format(">= {:g}", min));
}

}  // namespace keytok::cli
