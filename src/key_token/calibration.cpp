// Quantile calibration of key-token thresholds and the calibration file format.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "keytok/key_token.hpp"
#include "util/json_number.hpp"

namespace keytok {

namespace {

constexpr char kFormat[] = "keytok-calibration";

// Threshold that flags round(fraction * n) values: the largest ones when `high` (flag >= t),
// the smallest ones otherwise (flag <= t). Midway between neighbours so ties at the cut are rare.
float quantile_threshold(std::vector<float> v, double fraction, bool high) {
  std::sort(v.begin(), v.end());
  const auto n = static_cast<std::ptrdiff_t>(v.size());
  const auto m = static_cast<std::ptrdiff_t>(std::llround(fraction * static_cast<double>(n)));
  if (high) {
    if (m <= 0) return std::nextafter(v.back(), INFINITY);
    if (m >= n) return v.front();
    return 0.5f * (v[n - m - 1] + v[n - m]);
  }
  if (m <= 0) return std::nextafter(v.front(), -INFINITY);
  if (m >= n) return v.back();
  return 0.5f * (v[m - 1] + v[m]);
}

}  // namespace

double flagged_fraction(const KeyTokenParams& params, std::span<const float> entropies,
                        std::span<const float> margins) {
  if (entropies.empty()) return 0.0;
  const KeyTokenDetector det(params);
  std::size_t k = 0;
  for (std::size_t i = 0; i < entropies.size(); ++i) k += det.is_key(entropies[i], margins[i]);
  return static_cast<double>(k) / static_cast<double>(entropies.size());
}

Result<KeyTokenParams> calibrate_thresholds(std::span<const float> entropies,
                                            std::span<const float> margins, KeyRule rule,
                                            double key_fraction) {
  if (!(key_fraction > 0.0 && key_fraction < 1.0)) {
    return Status::invalid_argument("key fraction must be between 0 and 1 (exclusive), e.g. 0.08");
  }
  if (entropies.empty() || entropies.size() != margins.size()) {
    return Status::invalid_argument("calibration needs at least one scored position");
  }
  const std::vector<float> ent(entropies.begin(), entropies.end());
  const std::vector<float> mar(margins.begin(), margins.end());
  KeyTokenParams p;
  p.rule = rule;
  auto at_level = [&](double r) {
    p.entropy_threshold_nats = std::max(0.0f, quantile_threshold(ent, r, /*high=*/true));
    p.margin_threshold = std::clamp(quantile_threshold(mar, r, /*high=*/false), 0.0f, 1.0f);
  };
  if (rule == KeyRule::entropy || rule == KeyRule::margin) {
    at_level(key_fraction);
    return p;
  }
  // Combined rules: the flagged fraction grows with the common level r; bisect for the target.
  double lo = 0.0, hi = 1.0, best_r = key_fraction, best_err = INFINITY;
  for (int it = 0; it < 60; ++it) {
    const double r = 0.5 * (lo + hi);
    at_level(r);
    const double f = flagged_fraction(p, ent, mar);
    if (std::abs(f - key_fraction) < best_err) best_err = std::abs(f - key_fraction), best_r = r;
    (f < key_fraction ? lo : hi) = r;
  }
  at_level(best_r);
  return p;
}

Status save_calibration(const Calibration& cal, const std::string& path) {
  const nlohmann::ordered_json j = {
      {"format", kFormat},
      {"version", Calibration::kVersion},
      {"rule", key_rule_name(cal.params.rule)},
      {"entropy_threshold_nats", cal.params.entropy_threshold_nats},
      {"margin_threshold", cal.params.margin_threshold},
      {"key_fraction", cal.key_fraction},
      {"achieved_fraction", cal.achieved_fraction},
      {"n_positions", cal.n_positions},
      {"model",
       {{"name", cal.model_name},
        {"n_vocab", cal.n_vocab},
        {"file_size", cal.model_file_size},
        {"sha256", cal.model_sha256}}},
      {"method", cal.method},
      {"text_source", cal.text_source},
      {"n_prompts", cal.n_prompts},
      {"n_predict", cal.n_predict},
  };
  // Written to a temporary file and renamed: a reader (another keytok process using the same
  // cache) never sees half a file, and a failed write leaves the old file intact.
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp);
    if (!out) return Status::io_error("cannot write calibration file " + path + "; check the folder exists and is writable");
    out << j.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      return Status::io_error("failed writing calibration file " + path + " (disk full?)");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status::io_error("cannot move the calibration into place at " + path);
  }
  return Status::ok_status();
}

Result<Calibration> load_calibration(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::not_found("calibration file not found: " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return parse_calibration(text.str(), path);
}

Result<Calibration> parse_calibration(std::string_view text, const std::string& source) {
  const std::string again = "; run `keytok calibrate` again to write a new one";
  try {
    const auto j = nlohmann::json::parse(text);
    if (!j.is_object() || j.value("format", "") != kFormat) {
      return Status::format_error(source + " is not a keytok calibration file" + again);
    }
    if (detail::json_value(j, "version", 0) != Calibration::kVersion) {
      return Status::format_error(source + " has calibration format version " +
                                  j.value("version", nlohmann::json()).dump() + ", this keytok reads " +
                                  std::to_string(Calibration::kVersion) + again);
    }
    Calibration c;
    auto rule = parse_key_rule(j.at("rule").get<std::string>());
    if (!rule.ok()) return Status::format_error(source + ": " + rule.status().message());
    c.params.rule = *rule;
    c.params.entropy_threshold_nats = detail::json_get<float>(j.at("entropy_threshold_nats"));
    c.params.margin_threshold = detail::json_get<float>(j.at("margin_threshold"));
    if (auto st = c.params.validate(); !st.ok()) return Status::format_error(source + ": " + st.message());
    c.key_fraction = j.at("key_fraction").get<double>();
    c.achieved_fraction = j.at("achieved_fraction").get<double>();
    c.n_positions = detail::json_get<std::size_t>(j.at("n_positions"));
    c.model_name = j.at("model").at("name").get<std::string>();
    c.n_vocab = detail::json_get<int>(j.at("model").at("n_vocab"));
    c.model_file_size = detail::json_get<std::uint64_t>(j.at("model").at("file_size"));
    c.model_sha256 = j.at("model").value("sha256", "");
    c.method = j.value("method", "text");
    if (c.method != "text" && c.method != "generate") {
      return Status::format_error(source + ": unknown calibration method '" + c.method + "'" + again);
    }
    c.text_source = j.value("text_source", "");
    c.n_prompts = detail::json_value(j, "n_prompts", 0);
    c.n_predict = detail::json_value(j, "n_predict", 0);
    return c;
  } catch (const nlohmann::json::exception& e) {
    return Status::format_error(source + " is not a valid calibration file (" + e.what() + ")" + again);
  }
}

}  // namespace keytok
