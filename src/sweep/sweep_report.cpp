// summarize_sweep: success, key fraction, error recall and per-step error rates by group.
#include <fmt/format.h>

#include <map>
#include <nlohmann/json.hpp>

#include "keytok/sweep.hpp"

namespace keytok {

namespace {

SweepGroup summarize_group(const std::vector<const TrialRecord*>& trials, std::string family, int length,
                           const BootstrapParams& boot) {
  SweepGroup g;
  g.family = std::move(family);
  g.length = length;
  g.trials = static_cast<int>(trials.size());
  long tokens = 0, keys = 0;
  int on_key = 0;
  std::vector<RateRatioUnit> units;
  for (const TrialRecord* t : trials) {
    g.successes += t->success;
    tokens += t->n_output_tokens;
    keys += t->n_key;
    if (t->first_error_token && t->first_error_key) {
      ++g.first_errors;
      on_key += *t->first_error_key;
    }
    if (t->n_at_risk && t->n_key_at_risk) {
      const bool err = t->first_error_token.has_value() && t->first_error_key.has_value();
      const bool err_key = err && *t->first_error_key;
      units.push_back({.num_events = err_key ? 1.0 : 0.0,
                       .num_total = static_cast<double>(*t->n_key_at_risk),
                       .den_events = err && !err_key ? 1.0 : 0.0,
                       .den_total = static_cast<double>(*t->n_at_risk - *t->n_key_at_risk)});
    }
  }
  g.success_rate = wilson_interval(g.successes, g.trials);
  g.key_fraction = tokens > 0 ? static_cast<double>(keys) / static_cast<double>(tokens) : 0.0;
  if (g.first_errors > 0) g.error_recall = wilson_interval(on_key, g.first_errors);
  if (!units.empty()) {
    auto rate = [&](bool key) {
      return bootstrap_ci(units.size(), [&](const std::vector<std::size_t>& idx) {
        double ev = 0, tot = 0;
        for (std::size_t i : idx) {
          ev += key ? units[i].num_events : units[i].den_events;
          tot += key ? units[i].num_total : units[i].den_total;
        }
        return tot > 0 ? ev / tot : NAN;
      }, boot);
    };
    if (auto r = rate(true); r.ok()) g.p_error_key = *r;
    if (auto r = rate(false); r.ok()) g.p_error_non_key = *r;
    if (auto r = bootstrap_rate_ratio(units, boot); r.ok()) g.error_ratio = *r;
  }
  return g;
}

std::string fmt_interval(const std::optional<Interval>& i, int digits = 3) {
  if (!i) return "n/a";
  return fmt::format("{:.{}f} [{:.{}f}, {:.{}f}]", i->estimate, digits, i->lo, digits, i->hi, digits);
}

nlohmann::json interval_json(const std::optional<Interval>& i) {
  if (!i || !std::isfinite(i->estimate)) return nullptr;
  return {{"estimate", i->estimate}, {"lo", i->lo}, {"hi", i->hi}};
}

nlohmann::json group_json(const SweepGroup& g) {
  return {{"family", g.family},
          {"length", g.length},
          {"trials", g.trials},
          {"successes", g.successes},
          {"success_rate", interval_json(g.success_rate)},
          {"key_fraction", g.key_fraction},
          {"first_errors", g.first_errors},
          {"error_recall", g.first_errors > 0 ? interval_json(g.error_recall) : nullptr},
          {"p_error_key", interval_json(g.p_error_key)},
          {"p_error_non_key", interval_json(g.p_error_non_key)},
          {"error_ratio", interval_json(g.error_ratio)}};
}

}  // namespace

SweepReport summarize_sweep(const std::vector<TrialRecord>& trials, const BootstrapParams& boot) {
  std::vector<const TrialRecord*> all;
  std::map<std::string, std::vector<const TrialRecord*>> by_family;
  std::map<std::pair<std::string, int>, std::vector<const TrialRecord*>> by_fl;
  for (const auto& t : trials) {
    all.push_back(&t);
    by_family[t.family].push_back(&t);
    by_fl[{t.family, t.length}].push_back(&t);
  }
  SweepReport r;
  r.overall = summarize_group(all, "", -1, boot);
  for (const auto& [f, v] : by_family) r.by_family.push_back(summarize_group(v, f, -1, boot));
  for (const auto& [fl, v] : by_fl) r.by_family_length.push_back(summarize_group(v, fl.first, fl.second, boot));
  return r;
}

std::string sweep_report_text(const SweepReport& report) {
  std::string out = fmt::format("{:<12} {:>6} {:>7} {:>24} {:>8} {:>7} {:>24} {:>24}\n", "family", "length",
                                "trials", "success [95% CI]", "key frac", "errors", "error recall [95% CI]",
                                "P(err|key)/P(err|non)");
  auto row = [&](const SweepGroup& g) {
    out += fmt::format("{:<12} {:>6} {:>7} {:>24} {:>8.3f} {:>7} {:>24} {:>24}\n",
                       g.family.empty() ? "(all)" : g.family, g.length < 0 ? std::string("all") : std::to_string(g.length),
                       g.trials, fmt_interval(g.success_rate, 2), g.key_fraction, g.first_errors,
                       g.first_errors > 0 ? fmt_interval(g.error_recall, 2) : "n/a", fmt_interval(g.error_ratio, 1));
  };
  for (const auto& g : report.by_family_length) row(g);
  out += "\n";
  for (const auto& g : report.by_family) row(g);
  row(report.overall);
  out += fmt::format("\nper step at risk, all trials: P(error|key) = {}, P(error|non-key) = {}\n",
                     fmt_interval(report.overall.p_error_key, 4), fmt_interval(report.overall.p_error_non_key, 4));
  return out;
}

std::string sweep_report_json(const SweepReport& report) {
  nlohmann::json j = {{"format", "keytok-sweep-report"}, {"version", 1}, {"overall", group_json(report.overall)}};
  j["by_family"] = nlohmann::json::array();
  for (const auto& g : report.by_family) j["by_family"].push_back(group_json(g));
  j["by_family_length"] = nlohmann::json::array();
  for (const auto& g : report.by_family_length) j["by_family_length"].push_back(group_json(g));
  return j.dump(2);
}

}  // namespace keytok
