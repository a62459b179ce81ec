// Summary table and accuracy-vs-tokens plot of `keytok bench`.
#include "bench_report.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace keytok::cli {

void print_bench_table(const std::vector<BenchSummary>& summaries, std::ostream& out) {
  out << fmt::format("{:<14} {:>5} {:>8} {:>17} {:>12} {:>11} {:>14}\n", "strategy", "tasks", "accuracy",
                     "95% Wilson", "tokens/task", "ms/task", "tokens/correct");
  for (const BenchSummary& s : summaries) {
    const std::string tpc = s.correct > 0 ? fmt::format("{:.1f}", s.tokens_per_correct) : "-";
    out << fmt::format("{:<14} {:>5} {:>7.1f}% {:>8.1f}-{:>5.1f}%  {:>12.1f} {:>11.0f} {:>14}\n", s.strategy,
                       s.n, 100 * s.accuracy, 100 * s.lo, 100 * s.hi, s.mean_tokens, s.mean_wall_ms, tpc);
  }
  for (const BenchSummary& s : summaries) {
    if (s.strategy == "cascade" && s.n > 0) {
      out << fmt::format("{}: the large model chose {:.1f}% of the generated tokens\n", s.strategy,
                         100 * s.large_fraction);
    }
  }
}

void write_bench_html(const std::vector<BenchSummary>& summaries, const std::string& title, std::ostream& out) {
  constexpr double kW = 640, kH = 400, kL = 60, kR = 20, kT = 20, kB = 50;
  double max_tokens = 1.0;
  for (const auto& s : summaries) max_tokens = std::max(max_tokens, s.mean_tokens);
  max_tokens *= 1.1;
  auto x = [&](double t) { return kL + (kW - kL - kR) * t / max_tokens; };
  auto y = [&](double a) { return kT + (kH - kT - kB) * (1.0 - a); };
  std::string svg = fmt::format("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" "
                                "font-family=\"sans-serif\" font-size=\"12\">\n", kW, kH);
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{2}\" y2=\"{1}\" stroke=\"#333\"/>\n", kL, y(0), kW - kR);
  svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#333\"/>\n", kL, y(0), y(1));
  for (int i = 0; i <= 4; ++i) {
    const double a = i / 4.0, t = max_tokens * i / 4.0;
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{:.0f}%</text>\n", kL - 6, y(a) + 4, 100 * a);
    svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{:.0f}</text>\n", x(t), y(0) + 16, t);
  }
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">mean generated tokens per task</text>\n",
                     (kL + kW - kR) / 2, kH - 10);
  for (const auto& s : summaries) {
    svg += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#36c\"/>\n", x(s.mean_tokens),
                       y(s.lo), y(s.hi));
    svg += fmt::format("<circle cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"#36c\"/>\n", x(s.mean_tokens), y(s.accuracy));
    svg += fmt::format("<text x=\"{}\" y=\"{}\">{}</text>\n", x(s.mean_tokens) + 7, y(s.accuracy) - 6, s.strategy);
  }
  svg += "</svg>\n";
  out << "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>keytok bench</title></head><body>\n";
  out << "<h1>keytok bench</h1>\n<p>" << title << "</p>\n<p>Accuracy (95% Wilson interval) against mean "
      << "generated tokens per task.</p>\n" << svg << "<table border=\"1\" cellpadding=\"4\">\n"
      << "<tr><th>strategy</th><th>tasks</th><th>accuracy</th><th>95% Wilson</th><th>tokens/task</th>"
      << "<th>ms/task</th><th>tokens/correct</th></tr>\n";
  for (const auto& s : summaries) {
    out << fmt::format("<tr><td>{}</td><td>{}</td><td>{:.1f}%</td><td>{:.1f}-{:.1f}%</td><td>{:.1f}</td>"
                       "<td>{:.0f}</td><td>{:.1f}</td></tr>\n", s.strategy, s.n, 100 * s.accuracy, 100 * s.lo,
                       100 * s.hi, s.mean_tokens, s.mean_wall_ms, s.tokens_per_correct);
  }
  out << "</table>\n</body></html>\n";
}

}  // namespace keytok::cli
