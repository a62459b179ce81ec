// resolve_detector(): user options -> KeyTokenDetector, calibrating the model on first use.
#include "keytok/detector_setup.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "keytok/model_identity.hpp"

namespace keytok {

namespace {

// A calibration must fit the model it is used with: same vocabulary and, when the file records
// it, the same model file. A mismatch means thresholds tuned on another model.
Status check_fits(const Calibration& cal, const std::string& path, const Model& model) {
  if (cal.n_vocab != model.n_vocab()) {
    return Status::invalid_argument(fmt::format(
        "calibration {} was made for a model with {} tokens, not {} ({}); run `keytok calibrate` "
        "for this model or pass --calibration",
        path, cal.n_vocab, model.n_vocab(), model.name()));
  }
  if (!cal.model_sha256.empty()) {
    auto id = file_sha256(model.path());
    if (!id.ok()) return id.status();
    if (*id != cal.model_sha256) {
      return Status::invalid_argument(fmt::format(
          "calibration {} was made for another model file (sha256 {}), not {} (sha256 {}); delete it "
          "or run `keytok calibrate` for this model",
          path, cal.model_sha256.substr(0, 12), model.path(), id->substr(0, 12)));
    }
  }
  return Status::ok_status();
}

Result<Calibration> load_fitting(const std::string& path, const Model& model) {
  auto cal = load_calibration(path);
  if (!cal.ok()) return cal.status();
  KEYTOK_RETURN_IF_ERROR(check_fits(*cal, path, model));
  return cal;
}

Result<FoundCalibration> calibrate_automatically(const std::shared_ptr<const Model>& model,
                                                 const std::string& sha, int n_threads,
                                                 const DetectorEvents& events) {
  const auto prompts = builtin_calibration_prompts();
  const std::string path = auto_calibration_path(sha);
  if (events.notice) {
    events.notice(fmt::format(
        "no key-token calibration for {} yet: calibrating once on the model's own answers to {} built-in "
        "prompts (up to {} tokens each; the {:.0f}% most uncertain tokens become key). This takes about "
        "80 s for a 0.5B model on 2 cores; the result is cached in {} for this model file. Pass "
        "--no-auto-calibrate to use the fixed default rule instead.",
        model->name(), prompts.size(), kAutoTokensPerAnswer, 100.0 * kAutoKeyFraction, path));
  }
  SelfCalibrationParams p;
  p.n_predict = kAutoTokensPerAnswer;
  p.key_fraction = kAutoKeyFraction;
  auto r = calibrate_on_generations(model, prompts, p, n_threads, events.progress);
  if (!r.ok()) {
    return Status(r.status().code(), "automatic calibration failed: " + r.status().message() +
                                         "; pass --no-auto-calibrate to skip it");
  }
  Calibration cal = r->calibration;
  cal.model_sha256 = sha;
  cal.text_source = builtin_prompt_set_id();
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (auto st = save_calibration(cal, path); !st.ok()) {
    return Status::io_error(st.message() + "; set KEYTOK_CACHE to a writable folder");
  }
  if (events.notice) {
    KeyTokenDetector det(cal.params);
    events.notice(fmt::format("calibrated in {:.0f} s on {} answer tokens: {} (flags {:.1f}% of them)",
                              r->seconds, cal.n_positions, det.describe(), 100.0 * cal.achieved_fraction));
  }
  return FoundCalibration{std::move(cal), path, true};
}

}  // namespace

std::string sidecar_calibration_path(const std::string& model_path) {
  return model_path + ".keytok-calibration.json";
}

std::string auto_calibration_path(const std::string& model_sha256) {
  return cache_dir() + "/calibrations/" + model_sha256 + "." + builtin_prompt_set_id() + ".json";
}

Result<std::optional<FoundCalibration>> find_calibration(const Model& model, bool automatic) {
  std::error_code ec;
  const std::string sidecar = sidecar_calibration_path(model.path());
  if (std::filesystem::exists(sidecar, ec)) {
    auto cal = load_fitting(sidecar, model);
    if (!cal.ok()) return cal.status();
    return std::optional<FoundCalibration>(FoundCalibration{std::move(*cal), sidecar, false});
  }
  if (!automatic) return std::optional<FoundCalibration>();
  auto sha = file_sha256(model.path());
  if (!sha.ok()) return sha.status();
  const std::string cached = auto_calibration_path(*sha);
  if (!std::filesystem::exists(cached, ec)) return std::optional<FoundCalibration>();
  auto cal = load_fitting(cached, model);
  if (!cal.ok()) {
    return Status(cal.status().code(), cal.status().message() + " (a cached automatic calibration: delete " +
                                           cached + " to redo it)");
  }
  // Made with other settings (an older keytok): not this version's automatic calibration, so it
  // is made again and replaces the file.
  if (cal->method != "generate" || cal->n_predict != kAutoTokensPerAnswer || cal->key_fraction != kAutoKeyFraction ||
      cal->text_source != builtin_prompt_set_id()) {
    return std::optional<FoundCalibration>();
  }
  return std::optional<FoundCalibration>(FoundCalibration{std::move(*cal), cached, true});
}

Result<KeyTokenDetector> resolve_detector(const DetectorSpec& spec, const std::shared_ptr<const Model>& model,
                                          int n_threads, const DetectorEvents& events) {
  if (!model) return Status::invalid_argument("resolve_detector needs a loaded model");
  KeyTokenParams params;
  std::string source = "default rule";
  const bool thresholds_given = spec.entropy_threshold_nats >= 0 || spec.margin_threshold >= 0;

  std::optional<FoundCalibration> found;
  if (!spec.calibration_file.empty()) {
    auto cal = load_fitting(spec.calibration_file, *model);
    if (!cal.ok()) return cal.status();
    found = FoundCalibration{std::move(*cal), spec.calibration_file, false};
  } else if (!thresholds_given) {
    auto f = find_calibration(*model, spec.auto_calibrate);
    if (!f.ok()) return f.status();
    found = std::move(*f);
    if (!found && spec.auto_calibrate) {
      auto sha = file_sha256(model->path());
      if (!sha.ok()) return sha.status();
      auto made = calibrate_automatically(model, *sha, n_threads, events);
      if (!made.ok()) return made.status();
      found = std::move(*made);
    }
  }
  if (found) {
    params = found->calibration.params;
    source = (found->automatic ? "auto-calibration " : "calibration ") + found->path;
  }

  const bool overridden = !spec.rule.empty() || thresholds_given;
  if (!spec.rule.empty()) {
    auto rule = parse_key_rule(spec.rule);
    if (!rule.ok()) return rule.status();
    params.rule = *rule;
  }
  if (spec.entropy_threshold_nats >= 0) params.entropy_threshold_nats = spec.entropy_threshold_nats;
  if (spec.margin_threshold >= 0) params.margin_threshold = spec.margin_threshold;
  if (overridden) source = source == "default rule" ? "flags" : source + " with flags";
  KEYTOK_RETURN_IF_ERROR(params.validate());
  return KeyTokenDetector(params, source);
}

}  // namespace keytok
