// The fork summary as JSON and as the text table `keytok forks` prints (keytok/forks.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "forks/fork_format.hpp"
#include "keytok/forks.hpp"
#include "util/jsonl.hpp"

namespace keytok {

namespace detail {

std::string fork_number(double x, int decimals) {
  return std::isfinite(x) ? fmt::format("{:.{}f}", x, decimals) : "-";
}

std::string fork_interval(const Interval& v, int decimals) {
  std::string s = fork_number(v.estimate, decimals);
  if (std::isfinite(v.lo) && std::isfinite(v.hi)) {
    s += fmt::format(" [{:.{}f}, {:.{}f}]", v.lo, decimals, v.hi, decimals);
  }
  return s;
}

std::vector<std::pair<std::string, std::string>> fork_overview(const ForkSummary& s) {
  std::vector<std::pair<std::string, std::string>> rows = {
      {"tasks", fmt::format("{}", s.tasks)},
      {"positions", fmt::format("{}", s.positions)},
      {"contested", fmt::format("{}", s.contested)},
      {"studied", fmt::format("{}", s.studied)},
      {"completion tokens", fmt::format("{}", s.completion_tokens)},
      {"fork share", fork_interval(s.fork_share)},
      {"fork share, contested", fork_interval(s.fork_share_contested)},
      {"detector flag share", fork_interval(s.key_share)},
      {"mean P(change)", fork_interval(s.p_change_mean)},
      {"detector accuracy", fork_interval(s.detector_accuracy)},
      {"detector balanced accuracy", fork_interval(s.detector_balanced_accuracy)},
  };
  if (s.noise_positions > 0) {
    rows.emplace_back("noise floor: positions", fmt::format("{}", s.noise_positions));
    rows.emplace_back("noise floor: verdicts differ", fork_number(s.noise_disagreement));
    rows.emplace_back("noise floor: mean |dP(change)|", fork_number(s.noise_mean_abs_p_change));
  }
  return rows;
}

std::vector<std::vector<std::string>> fork_signal_table(const ForkSummary& s) {
  std::vector<std::vector<std::string>> rows = {
      {"signal", "AUROC", "AUROC contested", "precision", "recall", "threshold"}};
  for (const ForkSignalScore& g : s.signals) {
    rows.push_back({g.signal, fork_interval(g.auroc), fork_interval(g.auroc_contested),
                    fork_interval(g.precision), fork_interval(g.recall),
                    fork_number(g.threshold, 4)});
  }
  return rows;
}

}  // namespace detail

namespace {

using nlohmann::ordered_json;

// nlohmann would write NaN and infinities as null too; said here so that the format does not
// depend on it.
ordered_json number(double x) { return std::isfinite(x) ? ordered_json(x) : ordered_json(nullptr); }

ordered_json interval(const Interval& v) {
  return {{"estimate", number(v.estimate)}, {"lo", number(v.lo)}, {"hi", number(v.hi)}};
}

}  // namespace

std::string fork_summary_json(const ForkSummary& s) {
  ordered_json signals = ordered_json::array();
  for (const ForkSignalScore& g : s.signals) {
    signals.push_back({{"signal", g.signal},
                       {"auroc", interval(g.auroc)},
                       {"auroc_contested", interval(g.auroc_contested)},
                       {"precision", interval(g.precision)},
                       {"recall", interval(g.recall)},
                       {"threshold", number(g.threshold)}});
  }
  return detail::dump_line({{"tasks", s.tasks},
                            {"positions", s.positions},
                            {"contested", s.contested},
                            {"studied", s.studied},
                            {"completion_tokens", s.completion_tokens},
                            {"fork_share", interval(s.fork_share)},
                            {"fork_share_contested", interval(s.fork_share_contested)},
                            {"key_share", interval(s.key_share)},
                            {"p_change_mean", interval(s.p_change_mean)},
                            {"signals", signals},
                            {"detector_accuracy", interval(s.detector_accuracy)},
                            {"detector_balanced_accuracy", interval(s.detector_balanced_accuracy)},
                            {"noise_positions", s.noise_positions},
                            {"noise_disagreement", number(s.noise_disagreement)},
                            {"noise_mean_abs_p_change", number(s.noise_mean_abs_p_change)}});
}

std::string fork_summary_text(const ForkSummary& s) {
  const auto overview = detail::fork_overview(s);
  std::size_t label_width = 0;
  for (const auto& [label, value] : overview) label_width = std::max(label_width, label.size());
  std::string out;
  for (const auto& [label, value] : overview) {
    out += fmt::format("{:<{}}  {}\n", label, label_width, value);
  }
  // Columns as wide as their widest cell; the signal name left-aligned, figures right.
  const auto table = detail::fork_signal_table(s);
  std::vector<std::size_t> width(table.front().size(), 0);
  for (const auto& row : table) {
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  out += "\n";
  for (const auto& row : table) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      line += c == 0 ? fmt::format("{:<{}}", row[c], width[c])
                     : fmt::format("  {:>{}}", row[c], width[c]);
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace keytok
