// Shared flag groups, model loading and detector selection for the subcommands.
#include "cli_common.hpp"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>

namespace keytok::cli {

namespace {
constexpr char kDefaultModelFile[] = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
}

std::string default_model_path() {
  if (const char* env = std::getenv("KEYTOK_MODEL"); env != nullptr && *env != '\0') return env;
  const std::string in_tree = std::string(KEYTOK_SOURCE_DIR) + "/" + kDefaultModelFile;
  std::error_code ec;
  if (std::filesystem::exists(in_tree, ec)) return in_tree;
  return kDefaultModelFile;
}

std::string default_calibration_path(const std::string& model_path) {
  return model_path + ".keytok-calibration.json";
}

void add_model_options(CLI::App* cmd, ModelOptions& opts) {
  opts.model.path = default_model_path();
  cmd->add_option("-m,--model", opts.model.path, "GGUF model file")->capture_default_str();
  cmd->add_option("--ctx", opts.session.n_ctx, "Context size in tokens (0 = the model's training context)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-t,--threads", opts.session.n_threads, "CPU threads (0 = physical cores)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--gpu-layers", opts.model.n_gpu_layers, "Layers to offload to a GPU backend (-1 = all)")
      ->capture_default_str()
      ->check(CLI::Range(-1, 100000));
  cmd->add_option("--chat-template", opts.model.chat_template,
                  "llama.cpp built-in chat template (chatml, gemma, llama3, ...) instead of the model's");
  cmd->add_flag("--verbose", opts.model.verbose, "Show llama.cpp's log");
}

void add_detector_options(CLI::App* cmd, DetectorOptions& opts) {
  cmd->add_option("--calibration", opts.calibration,
                  "Calibration file from `keytok calibrate` (default: <model>.keytok-calibration.json if present)");
  cmd->add_option("--key-rule", opts.rule, "Key-token rule: entropy, margin, both or either")
      ->check(CLI::IsMember({"entropy", "margin", "both", "either"}));
  cmd->add_option("--entropy-threshold", opts.entropy_threshold, "Key when entropy >= this (nats)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--margin-threshold", opts.margin_threshold, "Key when top1-top2 probability <= this")
      ->check(CLI::Range(0.0, 1.0));
}

void add_sampling_options(CLI::App* cmd, SamplingParams& params) {
  cmd->add_option("--temp", params.temperature, "Sampling temperature (0 = greedy)")
      ->capture_default_str()->check(CLI::Range(0.0, 100.0));
  cmd->add_option("--top-k", params.top_k, "Sampling top-k (0 = off)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-p", params.top_p, "Sampling top-p")->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--min-p", params.min_p, "Sampling min-p")->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--seed", params.seed, "Sampling seed")->capture_default_str();
}

Result<std::shared_ptr<const Model>> load_model(const ModelOptions& opts) {
  return Model::load(opts.model);
}

Result<KeyTokenDetector> make_detector(const DetectorOptions& opts, const Model& model) {
  KeyTokenParams params;
  std::string source = "default rule";
  std::string cal_path = opts.calibration;
  std::error_code ec;
  if (cal_path.empty() && std::filesystem::exists(default_calibration_path(model.path()), ec)) {
    cal_path = default_calibration_path(model.path());
  }
  if (!cal_path.empty()) {
    auto cal = load_calibration(cal_path);
    if (!cal.ok()) return cal.status();
    if (cal->n_vocab != model.n_vocab()) {
      return Status::invalid_argument(fmt::format(
          "calibration {} was made for a model with {} tokens, not {} ({}); run `keytok calibrate` "
          "for this model or pass --calibration", cal_path, cal->n_vocab, model.n_vocab(), model.name()));
    }
    params = cal->params;
    source = "calibration " + cal_path;
  }
  const bool overridden = !opts.rule.empty() || opts.entropy_threshold >= 0 || opts.margin_threshold >= 0;
  if (!opts.rule.empty()) {
    auto rule = parse_key_rule(opts.rule);
    if (!rule.ok()) return rule.status();
    params.rule = *rule;
  }
  if (opts.entropy_threshold >= 0) params.entropy_threshold_nats = opts.entropy_threshold;
  if (opts.margin_threshold >= 0) params.margin_threshold = opts.margin_threshold;
  if (overridden) source = source == "default rule" ? "flags" : source + " with flags";
  KEYTOK_RETURN_IF_ERROR(params.validate());
  return KeyTokenDetector(params, source);
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

Status truncate_partial_last_line(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::ok_status();
  const std::string body(std::istreambuf_iterator<char>(in), {});
  in.close();
  const auto last_nl = body.find_last_of('\n');
  const std::size_t keep = last_nl == std::string::npos ? 0 : last_nl + 1;
  if (keep == body.size()) return Status::ok_status();
  std::error_code ec;
  std::filesystem::resize_file(path, keep, ec);
  if (ec) return Status::io_error("cannot cut the partial last line of " + path + ": " + ec.message());
  return Status::ok_status();
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

}  // namespace keytok::cli
