// The fit report as one self-contained HTML page: an inline SVG of observed success per length
// (95% Wilson intervals) with each fitted curve, then the model and per-length tables.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "keytok/reliability.hpp"
#include "util/html.hpp"

namespace keytok {
namespace {

constexpr double kWidth = 760, kHeight = 440;
constexpr double kLeft = 60, kRight = 190, kTop = 20, kBottom = 50;  // plot margins, px
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c",
                                   "#9467bd", "#ff7f0e", "#8c564b"};

using detail::html_escape;

std::string num(double x, int digits = 4) {
  return std::isfinite(x) ? fmt::format("{:.{}g}", x, digits) : "&ndash;";
}

struct Axes {
  double ln_lo = 0, ln_hi = 1;
  double x(double n) const {
    return kLeft + (std::log(n) - ln_lo) / (ln_hi - ln_lo) * (kWidth - kLeft - kRight);
  }
  static double y(double p) { return kTop + (1.0 - p) * (kHeight - kTop - kBottom); }
};

std::string svg_plot(const FitReport& r) {
  double lo = 1e300, hi = 0;
  for (const LengthBin& b : r.bins) {
    lo = std::min(lo, static_cast<double>(b.n_lo));
    hi = std::max(hi, static_cast<double>(b.n_hi));
  }
  if (r.bins.empty()) lo = hi = 1;
  Axes ax{std::log(lo) - 0.15, std::log(std::max(hi, lo * 1.5)) + 0.15};
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} "
      "{1}\" font-family=\"sans-serif\" font-size=\"12\">\n",
      kWidth, kHeight);
  const double x0 = kLeft, x1 = kWidth - kRight, y0 = Axes::y(0), y1 = Axes::y(1);
  s += fmt::format(
      "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>\n", x0,
      y1, x1 - x0, y0 - y1);
  for (int i = 0; i <= 5; ++i) {
    const double p = i / 5.0;
    s += fmt::format(
        "<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#eee\"/>"
        "<text x=\"{3}\" y=\"{4:.1f}\" text-anchor=\"end\">{5:.1f}</text>\n",
        x0, x1, Axes::y(p), x0 - 6, Axes::y(p) + 4, p);
  }
  // x ticks at powers of two inside the range (log axis).
  for (double n = 1; n <= hi * 2; n *= 2) {
    if (n < lo / 1.2 || n > hi * 1.2) continue;
    s += fmt::format(
        "<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#eee\"/>"
        "<text x=\"{0:.1f}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>\n",
        ax.x(n), y1, y0, y0 + 16, n);
  }
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">length n (log scale)</text>\n",
                   (x0 + x1) / 2, kHeight - 12);
  s += fmt::format(
      "<text transform=\"translate(16,{}) rotate(-90)\" text-anchor=\"middle\">"
      "P(success)</text>\n",
      (y0 + y1) / 2);
  int color = 0, legend = 0;
  for (const ModelFit& m : r.models) {
    if (!m.fitted || m.curve.empty()) continue;
    const char* c = kColors[color++ % 6];
    std::string points;
    for (const auto& [n, p] : m.curve) points += fmt::format("{:.1f},{:.1f} ", ax.x(n), Axes::y(p));
    const bool dashed = m.model == ReliabilityModel::two_rate_measured_k;
    s += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{} points=\"{}\"/>\n",
                     c, dashed ? " stroke-dasharray=\"6,4\"" : "", points);
    const double ly = kTop + 14 + 18 * legend++;
    s += fmt::format(
        "<line x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\" stroke=\"{3}\" "
        "stroke-width=\"2\"/><text x=\"{4}\" y=\"{5}\">{6}{7}</text>\n",
        x1 + 10, x1 + 34, ly, c, x1 + 40, ly + 4, html_escape(m.name),
        m.name == r.winner ? " *" : "");
  }
  for (const LengthBin& b : r.bins) {
    const double x = ax.x(b.n_mean);
    s += fmt::format(
        "<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1:.1f}\" y2=\"{2:.1f}\" stroke=\"#000\"/>"
        "<circle cx=\"{0:.1f}\" cy=\"{3:.1f}\" r=\"3.5\" fill=\"#000\"><title>n={4}: "
        "{5}/{6} = {7} [{8}, {9}]</title></circle>\n",
        x, Axes::y(b.observed.lo), Axes::y(b.observed.hi), Axes::y(b.observed.estimate),
        num(b.n_mean), b.successes, b.trials, num(b.observed.estimate, 3), num(b.observed.lo, 3),
        num(b.observed.hi, 3));
  }
  s += fmt::format("<text x=\"{}\" y=\"{}\">&#9679; observed (95% Wilson)</text>\n", x1 + 10,
                   kTop + 14 + 18 * legend + 4);
  s += "</svg>\n";
  return s;
}

std::string model_table(const FitReport& r) {
  std::string s =
      "<table>\n<tr><th>model</th><th>parameters (" + num(100 * r.ci_level, 3) + "% CI, " +
      html_escape(r.ci_method) +
      ")</th><th>k</th><th>log L</th><th>AIC</th><th>&Delta;AIC</th><th>BIC</th></tr>\n";
  for (const ModelFit& m : r.models) {
    if (!m.fitted) {
      s += fmt::format("<tr><td>{}</td><td colspan=\"6\">skipped: {}</td></tr>\n",
                       html_escape(m.name), html_escape(m.skip_reason));
      continue;
    }
    std::string params;
    for (const ParameterEstimate& p : m.parameters) {
      params += fmt::format("{} = {} [{}{}, {}{}]<br>", html_escape(p.name), num(p.estimate),
                            num(p.lo), p.lo_at_bound ? "<sup>b</sup>" : "", num(p.hi),
                            p.hi_at_bound ? "<sup>b</sup>" : "");
    }
    s += fmt::format(
        "<tr{}><td>{}{}</td><td>{}</td><td>{}</td><td>{:.2f}</td><td>{:.2f}</td>"
        "<td>{:.2f}</td><td>{:.2f}</td></tr>\n",
        m.name == r.winner ? " class=\"win\"" : "", html_escape(m.name),
        m.converged ? "" : " (not converged)", params, m.n_params, m.log_likelihood, m.aic,
        m.delta_aic, m.bic);
  }
  s += "</table>\n<p><sup>b</sup>: the interval reaches the parameter's bound.</p>\n";
  for (const ModelFit& m : r.models) {
    if (m.fitted && !m.ranked) s += "<p>" + html_escape(m.name) + " is not ranked: " + html_escape(m.unranked_reason) + ".</p>\n";
  }
  return s;
}

std::string length_table(const FitReport& r) {
  std::string s =
      "<table>\n<tr><th>n</th><th>trials</th><th>observed [95% Wilson]</th><th>mean k</th>";
  for (const ModelFit& m : r.models) {
    if (m.fitted) s += "<th>" + html_escape(m.name) + "</th>";
  }
  s += "</tr>\n";
  for (std::size_t i = 0; i < r.bins.size(); ++i) {
    const LengthBin& b = r.bins[i];
    const std::string n =
        b.n_lo == b.n_hi ? std::to_string(b.n_lo) : fmt::format("{}&ndash;{}", b.n_lo, b.n_hi);
    s += fmt::format("<tr><td>{}</td><td>{}</td><td>{:.3f} [{:.3f}, {:.3f}]</td><td>{}</td>", n,
                     b.trials, b.observed.estimate, b.observed.lo, b.observed.hi,
                     b.mean_k >= 0 ? num(b.mean_k, 3) : "&ndash;");
    for (const ModelFit& m : r.models) {
      if (m.fitted) s += "<td>" + (i < m.predicted.size() ? num(m.predicted[i], 3) : "") + "</td>";
    }
    s += "</tr>\n";
  }
  return s + "</table>\n";
}

}  // namespace

std::string fit_report_html(const FitReport& report, const std::string& title) {
  std::string s = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
                  html_escape(title) +
                  "</title>\n<style>body{font-family:sans-serif;margin:2em;max-width:"
                  "1000px}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
                  "padding:4px 8px;text-align:left;vertical-align:top}tr.win{background:#eef7ee}"
                  "</style></head><body>\n<h1>" +
                  html_escape(title) + "</h1>\n";
  s += fmt::format("<p>{} trials. Winner by AIC: <b>{}</b>", report.n_trials,
                   html_escape(report.winner.empty() ? "none" : report.winner));
  if (!report.runner_up.empty()) {
    s += fmt::format(", &Delta;AIC {:.2f} to the runner-up {}", report.delta_aic,
                     html_escape(report.runner_up));
  }
  s += ".</p>\n" + svg_plot(report) + "<h2>Models</h2>\n" + model_table(report) +
       "<h2>Predicted against observed success</h2>\n" + length_table(report) + "</body></html>\n";
  return s;
}

Status write_fit_html(const FitReport& report, const std::string& path, const std::string& title) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::io_error(fmt::format("cannot open {} for writing", path));
  out << fit_report_html(report, title);
  out.flush();
  if (!out) return Status::io_error(fmt::format("writing {} failed", path));
  return Status::ok_status();
}

}  // namespace keytok
