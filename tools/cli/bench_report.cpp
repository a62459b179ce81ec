// Results file, summary table and accuracy-vs-tokens plot of `keytok bench`.
#include "bench_report.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli_common.hpp"
#include "keytok/reliability.hpp"

namespace keytok::cli {

using nlohmann::json;

std::string bench_header_line(const std::string& model_name) {
  return json{{"format", "keytok-bench"}, {"version", kBenchFileVersion}, {"model", model_name}}.dump();
}

std::string bench_row_line(const BenchRow& r) {
  return json{{"task", r.task_id}, {"strategy", r.strategy}, {"correct", r.correct},
              {"answer", r.answer}, {"expected", r.expected}, {"generated_tokens", r.generated_tokens},
              {"prompt_tokens", r.prompt_tokens}, {"decode_calls", r.decode_calls},
              {"peak_live", r.peak_live}, {"forks", r.forks}, {"paths", r.paths}, {"wall_ms", r.wall_ms}}
      .dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<std::vector<BenchRow>> read_bench_file(const std::string& path, const std::string& model_name) {
  KEYTOK_RETURN_IF_ERROR(truncate_partial_last_line(path));
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io_error("cannot read " + path);
  const std::string body(std::istreambuf_iterator<char>(in), {});
  std::vector<BenchRow> rows;
  std::size_t start = 0;
  int line_no = 0;
  while (start < body.size()) {
    const std::size_t end = body.find('\n', start);
    const std::string line = body.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (line.empty()) continue;
    json j = json::parse(line, nullptr, false);
    const std::string where = fmt::format("{}:{}", path, line_no);
    if (j.is_discarded() || !j.is_object()) return Status::format_error(where + ": not a JSON object");
    if (line_no == 1) {
      if (j.value("format", "") != "keytok-bench" || j.value("version", 0) != kBenchFileVersion) {
        return Status::format_error(where + ": not a keytok-bench v1 file; pass another -o");
      }
      if (j.value("model", "") != model_name) {
        return Status::format_error(where + ": results of model '" + j.value("model", "") +
                                    "', not '" + model_name + "'; pass another -o");
      }
      continue;
    }
    try {
      BenchRow r;
      r.task_id = j.at("task").get<std::string>();
      r.strategy = j.at("strategy").get<std::string>();
      r.correct = j.at("correct").get<bool>();
      r.answer = j.value("answer", "");
      r.expected = j.value("expected", "");
      r.generated_tokens = j.at("generated_tokens").get<std::int64_t>();
      r.prompt_tokens = j.value("prompt_tokens", 0);
      r.decode_calls = j.value("decode_calls", std::int64_t{0});
      r.peak_live = j.value("peak_live", 0);
      r.forks = j.value("forks", 0);
      r.paths = j.value("paths", 0);
      r.wall_ms = j.at("wall_ms").get<double>();
      rows.push_back(std::move(r));
    } catch (const json::exception& e) {
      return Status::format_error(where + ": " + e.what());
    }
  }
  if (line_no == 0) return Status::format_error(path + " is empty; remove it or pass another -o");
  return rows;
}

std::vector<BenchSummary> summarize_bench(const std::vector<BenchRow>& rows,
                                          const std::vector<std::string>& strategies) {
  std::vector<BenchSummary> out;
  for (const std::string& name : strategies) {
    BenchSummary s{.strategy = name};
    double tokens = 0.0, wall = 0.0;
    for (const BenchRow& r : rows) {
      if (r.strategy != name) continue;
      ++s.n;
      s.correct += r.correct ? 1 : 0;
      tokens += static_cast<double>(r.generated_tokens);
      wall += r.wall_ms;
    }
    if (s.n > 0) {
      const Interval ci = wilson_interval(s.correct, s.n);
      s.accuracy = static_cast<double>(s.correct) / s.n;
      s.lo = ci.lo;
      s.hi = ci.hi;
      s.mean_tokens = tokens / s.n;
      s.mean_wall_ms = wall / s.n;
    }
    s.tokens_per_correct = s.correct > 0 ? tokens / s.correct : 0.0;
    out.push_back(s);
  }
  return out;
}

void print_bench_table(const std::vector<BenchSummary>& summaries, std::ostream& out) {
  out << fmt::format("{:<14} {:>5} {:>8} {:>17} {:>12} {:>11} {:>14}\n", "strategy", "tasks", "accuracy",
                     "95% Wilson", "tokens/task", "ms/task", "tokens/correct");
  for (const BenchSummary& s : summaries) {
    const std::string tpc = s.correct > 0 ? fmt::format("{:.1f}", s.tokens_per_correct) : "-";
    out << fmt::format("{:<14} {:>5} {:>7.1f}% {:>8.1f}-{:>5.1f}%  {:>12.1f} {:>11.0f} {:>14}\n", s.strategy,
                       s.n, 100 * s.accuracy, 100 * s.lo, 100 * s.hi, s.mean_tokens, s.mean_wall_ms, tpc);
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
