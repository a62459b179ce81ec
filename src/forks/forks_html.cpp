// The forks page (keytok/forks.hpp forks_html): one self-contained HTML file, no script. Each
// task's base answer is shown token by token, coloured by P(answer changes) at that position,
// so the positions that decide the answer stand out next to the ones the detector flags.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "forks/fork_format.hpp"
#include "keytok/forks.hpp"
#include "util/html.hpp"

namespace keytok {

namespace {

using detail::html_escape;

constexpr const char* kHead = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>)HTML";
constexpr const char* kStyle = R"HTML(</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:64rem;
  padding:0 1rem;color:#1d1d1f;background:#fafafa}
h1{font-size:1.4rem} h2{font-size:1.05rem;margin:1.6rem 0 .3rem}
table{border-collapse:collapse;margin:.8rem 0;font-size:.88rem}
td,th{padding:.2rem .7rem;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left;color:#444}
.meta{color:#555;font-size:.9rem;margin:.2rem 0} .ok{color:#17803d} .bad{color:#b3261e}
.text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:15px;line-height:1.9;
  white-space:pre-wrap;word-break:break-word;background:#fff;padding:.8rem 1rem;
  border:1px solid #ddd;border-radius:6px}
.text span{border-radius:3px;cursor:default}
.text span.n{background:#e2e2e2} .text span.k{outline:2px solid #1f5fbf;outline-offset:-1px}
.text span.f{text-decoration:underline 2px #7a0000}
.legend{display:flex;align-items:center;gap:.5rem;flex-wrap:wrap;font-size:.85rem;color:#555}
.bar{width:10rem;height:.8rem;border-radius:3px;background:linear-gradient(90deg,#fff,#f00);
  border:1px solid #ccc}
.box{display:inline-block;width:1rem;height:.8rem;border-radius:2px}
details pre{font-size:.8rem;white-space:pre-wrap}
</style></head><body>
)HTML";

// A piece shown as text: HTML-escaped, a newline as a visible mark and a line break.
std::string shown_piece(std::string_view piece) {
  std::string out;
  for (const char c : piece) {
    out += c == '\n' ? std::string("\u21b5\n") : html_escape(std::string_view(&c, 1));
  }
  return out;
}

// A piece inside a tooltip: on one line, its newlines as marks.
std::string one_line(std::string_view piece) {
  std::string out;
  for (const char c : piece) {
    if (c == '\n') {
      out += "\u21b5";
    } else {
      out += c;
    }
  }
  return out;
}

std::string table(const std::vector<std::vector<std::string>>& rows, bool header) {
  std::string s = "<table>\n";
  for (std::size_t r = 0; r < rows.size(); ++r) {
    const char* cell = header && r == 0 ? "th" : "td";
    s += "<tr>";
    for (const std::string& v : rows[r]) s += fmt::format("<{0}>{1}</{0}>", cell, html_escape(v));
    s += "</tr>\n";
  }
  return s + "</table>\n";
}

// The tooltip of one token: its signals and, when studied, each candidate's outcomes.
std::string tooltip(const ForkTask& task, std::size_t i, const ForkPosition* row) {
  const ForkSignals sig = i < task.signals.size() ? task.signals[i] : ForkSignals{};
  std::string t = fmt::format("#{} \"{}\"{}\nentropy {}  margin {}", i, one_line(task.pieces[i]),
                              sig.key ? "  FLAGGED" : "", detail::fork_number(sig.entropy),
                              detail::fork_number(sig.margin));
  if (row == nullptr || !row->studied) {
    const bool contested = i < task.contested.size() && task.contested[i];
    return t + (contested ? "\nnot studied (left out of the plan, or not reached yet)"
                          : "\nuncontested: no alternative");
  }
  t += fmt::format("\nP(change) {}  max shift {}  max TV {}{}", detail::fork_number(row->p_change),
                   detail::fork_number(row->max_shift), detail::fork_number(row->max_tv),
                   row->forks ? "  FORKS" : "");
  for (const ForkCandidate& c : row->candidates) {
    // Outcomes counted in first-seen order.
    std::vector<std::pair<std::string, int>> counts;
    for (const auto& a : c.answers) {
      const std::string name = a ? *a : "(none)";
      const auto it = std::find_if(counts.begin(), counts.end(),
                                   [&](const auto& kv) { return kv.first == name; });
      if (it == counts.end()) {
        counts.emplace_back(name, 1);
      } else {
        ++it->second;
      }
    }
    std::string outcomes;
    for (const auto& [name, n] : counts) {
      outcomes += fmt::format("{}{} \u00d7{}", outcomes.empty() ? "" : ", ", one_line(name), n);
    }
    t += fmt::format("\n\"{}\" {:.1f}%: {}", one_line(c.piece), 100.0 * c.prob, outcomes);
  }
  return t;
}

// White (answer never changes) to red (always changes).
std::string change_colour(double p) {
  const int v = static_cast<int>(std::lround(255.0 * (1.0 - std::clamp(p, 0.0, 1.0))));
  return fmt::format("#ff{:02x}{:02x}", v, v);
}

std::string task_section(
    const ForkTask& task,
    const std::map<std::pair<std::string_view, int>, const ForkPosition*>& rows) {
  int studied = 0, forking = 0;
  std::string spans;
  for (std::size_t i = 0; i < task.pieces.size(); ++i) {
    const auto it = rows.find({task.task_id, static_cast<int>(i)});
    const ForkPosition* row = it == rows.end() ? nullptr : it->second;
    const bool contested = i < task.contested.size() && task.contested[i];
    const bool key = i < task.signals.size() && task.signals[i].key;
    std::string cls, style;
    if (row != nullptr && row->studied && std::isfinite(row->p_change)) {
      ++studied;
      forking += row->forks ? 1 : 0;
      style = " style=\"background:" + change_colour(row->p_change) + "\"";
      if (row->forks) cls += " f";
    } else if (contested) {
      cls += " n";  // could have forked, but was not studied: grey, unknown
    }
    if (key) cls += " k";
    std::string title = html_escape(tooltip(task, i, row));
    for (std::size_t p = title.find('\n'); p != std::string::npos; p = title.find('\n', p)) {
      title.replace(p, 1, "&#10;");
    }
    spans += fmt::format("<span{}{} title=\"{}\">{}</span>",
                         cls.empty() ? "" : " class=\"" + cls.substr(1) + "\"", style, title,
                         shown_piece(task.pieces[i]));
  }
  return fmt::format(
      "<h2>{}</h2>\n<p class=\"meta\">expected <b>{}</b> &middot; base answer <b>{}</b> &middot; "
      "<span class=\"{}\">{}</span> &middot; stopped by {} &middot; {} tokens, {} studied, {} "
      "forking</p>\n<div class=\"text\">{}</div>\n",
      html_escape(task.task_id), html_escape(task.expected), html_escape(task.base_answer),
      task.correct ? "ok" : "bad", task.correct ? "correct" : "wrong",
      html_escape(task.stop_reason), task.pieces.size(), studied, forking, spans);
}

}  // namespace

std::string forks_html(const ForkResults& results, const ForkSummary& summary) {
  const std::string title = "keytok forks: " + results.model;
  std::string s = kHead + html_escape(title) + kStyle + "<h1>" + html_escape(title) + "</h1>\n";
  std::vector<std::vector<std::string>> overview;
  for (const auto& [label, value] : detail::fork_overview(summary))
    overview.push_back({label, value});
  s += table(overview, false);
  s += table(detail::fork_signal_table(summary), true);
  s += "<p class=\"meta\">Estimates weight each position by 1 / its chance of being studied; "
       "brackets are percentile bootstrap intervals over tasks.</p>\n";
  s += "<details><summary>settings</summary><pre>" + html_escape(results.settings_json) +
       "</pre></details>\n";
  s += "<p class=\"legend\">P(answer changes) 0 <span class=\"bar\"></span> 1 &nbsp; "
       "<span class=\"box\" style=\"background:#e2e2e2\"></span> not studied &nbsp; "
       "<span class=\"box\" style=\"outline:2px solid #1f5fbf\"></span> flagged by the detector "
       "&nbsp; <u>underlined</u>: forks &nbsp; (hover a token for its outcomes)</p>\n";
  std::map<std::pair<std::string_view, int>, const ForkPosition*> rows;  // pass 0 by position
  for (const ForkPosition& r : results.rows) {
    if (r.pass == 0) rows.try_emplace({r.task_id, r.index}, &r);
  }
  for (const ForkTask& task : results.tasks) s += task_section(task, rows);
  return s + "</body></html>\n";
}

}  // namespace keytok
