// The fit report as JSON ({"format":"keytok-fit","version":1,...}) and back. Field names are
// documented in docs/reliability.md; non-finite numbers are written as null.
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "keytok/reliability.hpp"

namespace keytok {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr const char* kFitFormat = "keytok-fit";
constexpr int kFitVersion = 1;

ordered_json number(double x) { return std::isfinite(x) ? ordered_json(x) : ordered_json(); }
double read_number(const json& j) {
  return j.is_number() ? j.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

ordered_json bin_json(const LengthBin& b) {
  ordered_json j;
  j["n_lo"] = b.n_lo;
  j["n_hi"] = b.n_hi;
  j["n_mean"] = number(b.n_mean);
  j["trials"] = b.trials;
  j["successes"] = b.successes;
  j["observed"] = number(b.observed.estimate);
  j["observed_lo"] = number(b.observed.lo);
  j["observed_hi"] = number(b.observed.hi);
  j["mean_k"] = b.mean_k >= 0 ? number(b.mean_k) : ordered_json();
  return j;
}

ordered_json model_json(const ModelFit& m) {
  ordered_json j;
  j["name"] = m.name;
  j["fitted"] = m.fitted;
  j["n_params"] = m.n_params;
  if (!m.fitted) {
    j["skip_reason"] = m.skip_reason;
    return j;
  }
  j["log_likelihood"] = number(m.log_likelihood);
  j["aic"] = number(m.aic);
  j["bic"] = number(m.bic);
  j["delta_aic"] = number(m.delta_aic);
  j["ranked"] = m.ranked;
  if (!m.ranked) j["unranked_reason"] = m.unranked_reason;
  j["converged"] = m.converged;
  ordered_json params = ordered_json::array();
  for (const ParameterEstimate& p : m.parameters) {
    ordered_json pj;
    pj["name"] = p.name;
    pj["estimate"] = number(p.estimate);
    pj["lo"] = number(p.lo);
    pj["hi"] = number(p.hi);
    pj["lo_at_bound"] = p.lo_at_bound;
    pj["hi_at_bound"] = p.hi_at_bound;
    params.push_back(pj);
  }
  j["parameters"] = params;
  ordered_json predicted = ordered_json::array();
  for (const double p : m.predicted) predicted.push_back(number(p));
  j["predicted"] = predicted;
  ordered_json curve = ordered_json::array();
  for (const auto& [n, p] : m.curve) curve.push_back({number(n), number(p)});
  j["curve"] = curve;
  return j;
}

}  // namespace

std::string fit_report_json(const FitReport& report) {
  ordered_json j;
  j["format"] = kFitFormat;
  j["version"] = kFitVersion;
  j["n_trials"] = report.n_trials;
  j["ci_level"] = report.ci_level;
  j["ci_method"] = report.ci_method;
  j["winner"] = report.winner;
  j["runner_up"] = report.runner_up;
  j["delta_aic"] = number(report.delta_aic);
  ordered_json bins = ordered_json::array();
  for (const LengthBin& b : report.bins) bins.push_back(bin_json(b));
  j["bins"] = bins;
  ordered_json models = ordered_json::array();
  for (const ModelFit& m : report.models) models.push_back(model_json(m));
  j["models"] = models;
  return j.dump(2);
}

Result<FitReport> parse_fit_report_json(std::string_view text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return Status::format_error(fmt::format("fit report is not valid JSON ({})", e.what()));
  }
  if (!j.is_object() || j.value("format", "") != kFitFormat) {
    return Status::format_error(
        "not a keytok fit report (expected \"format\":\"keytok-fit\"); write one with keytok fit "
        "--json");
  }
  if (j.value("version", 0) != kFitVersion) {
    return Status::format_error(fmt::format(
        "fit report version {} is not supported (this keytok reads version {}); refit with this "
        "keytok",
        j.value("version", 0), kFitVersion));
  }
  try {
    FitReport r;
    r.n_trials = j.at("n_trials").get<int>();
    r.ci_level = j.at("ci_level").get<double>();
    r.ci_method = j.at("ci_method").get<std::string>();
    r.winner = j.at("winner").get<std::string>();
    r.runner_up = j.at("runner_up").get<std::string>();
    r.delta_aic = read_number(j.at("delta_aic"));
    for (const json& b : j.at("bins")) {
      LengthBin bin;
      bin.n_lo = b.at("n_lo").get<int>();
      bin.n_hi = b.at("n_hi").get<int>();
      bin.n_mean = read_number(b.at("n_mean"));
      bin.trials = b.at("trials").get<int>();
      bin.successes = b.at("successes").get<int>();
      bin.observed = {read_number(b.at("observed")), read_number(b.at("observed_lo")),
                      read_number(b.at("observed_hi"))};
      bin.mean_k = b.at("mean_k").is_null() ? -1.0 : read_number(b.at("mean_k"));
      r.bins.push_back(bin);
    }
    for (const json& m : j.at("models")) {
      ModelFit fit;
      fit.name = m.at("name").get<std::string>();
      const std::optional<ReliabilityModel> model = parse_reliability_model(fit.name);
      if (model) fit.model = *model;
      if (!model) {
        return Status::format_error(
            fmt::format("fit report names an unknown model \"{}\"", fit.name));
      }
      fit.fitted = m.at("fitted").get<bool>();
      fit.n_params = m.at("n_params").get<int>();
      if (!fit.fitted) {
        fit.skip_reason = m.at("skip_reason").get<std::string>();
        r.models.push_back(std::move(fit));
        continue;
      }
      fit.log_likelihood = read_number(m.at("log_likelihood"));
      fit.aic = read_number(m.at("aic"));
      fit.bic = read_number(m.at("bic"));
      fit.delta_aic = read_number(m.at("delta_aic"));
      fit.ranked = m.value("ranked", true);
      fit.unranked_reason = m.value("unranked_reason", "");
      fit.converged = m.at("converged").get<bool>();
      for (const json& p : m.at("parameters")) {
        fit.parameters.push_back({p.at("name").get<std::string>(), read_number(p.at("estimate")),
                                  read_number(p.at("lo")), read_number(p.at("hi")),
                                  p.at("lo_at_bound").get<bool>(),
                                  p.at("hi_at_bound").get<bool>()});
      }
      for (const json& p : m.at("predicted")) fit.predicted.push_back(read_number(p));
      for (const json& c : m.at("curve"))
        fit.curve.emplace_back(read_number(c.at(0)), read_number(c.at(1)));
      r.models.push_back(std::move(fit));
    }
    return r;
  } catch (const json::exception& e) {
    return Status::format_error(
        fmt::format("fit report is missing or mistypes a field ({})", e.what()));
  }
}

}  // namespace keytok
