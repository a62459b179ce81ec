// The HTML heatmap: one self-contained page; the data travels as JSON, a small script renders it.
#include <nlohmann/json.hpp>
#include <string>

#include "analyze/report_json.hpp"
#include "keytok/report.hpp"

namespace keytok {

namespace {

// JSON inside <script> must not close the element early.
std::string script_safe(std::string s) {
  for (std::size_t i = s.find("</"); i != std::string::npos; i = s.find("</", i + 3)) {
    s.replace(i, 2, "<\\/");
  }
  return s;
}

constexpr const char* kHead = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>keytok report</title>
<style>
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:60rem;
  padding:0 1rem;color:#1d1d1f;background:#fafafa}
h1{font-size:1.4rem;margin-bottom:.2rem} .sub{color:#666;margin-top:0}
table.sum{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
table.sum td{padding:.2rem .8rem;border-bottom:1px solid #ddd} table.sum td:first-child{color:#555}
.prompt{background:#eef;padding:.6rem .8rem;border-radius:6px;white-space:pre-wrap;font-size:.9rem}
#text{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:15px;line-height:1.9;
  white-space:pre-wrap;word-break:break-word;background:#fff;padding:1rem;border:1px solid #ddd;border-radius:6px}
#text span{border-radius:3px;cursor:default}
#text span.key{outline:2px solid #c00;outline-offset:-1px}
#tip{position:fixed;display:none;background:#222;color:#eee;font:12px/1.4 ui-monospace,monospace;
  padding:.5rem .7rem;border-radius:5px;pointer-events:none;max-width:26rem;z-index:9;white-space:pre}
.legend{display:flex;align-items:center;gap:.5rem;font-size:.85rem;color:#555;margin:.5rem 0}
.bar{width:12rem;height:.8rem;border-radius:3px;background:linear-gradient(90deg,hsl(60,90%,97%),hsl(35,95%,70%),hsl(0,85%,55%))}
.keybox{display:inline-block;width:1rem;height:.8rem;outline:2px solid #c00;outline-offset:-1px}
</style></head><body>
)HTML";

constexpr const char* kScript = R"HTML(
<script>
(function(){
const d = JSON.parse(document.getElementById('data').textContent);
const s = d.summary;
document.getElementById('title').textContent = 'keytok: ' + s.model;
document.getElementById('sub').textContent = (s.mode === 'generate' ? 'generated text' : 'teacher-forced text') +
  ' \u00b7 key rule: ' + s.rule + ' (' + s.rule_source + ')';
if (d.prompt) { const p = document.getElementById('prompt'); p.textContent = 'Prompt: ' + d.prompt; p.style.display = 'block'; }
const rows = [['tokens', s.n_tokens], ['key tokens', s.n_key + ' (' + (100*s.key_fraction).toFixed(1) + '%)'],
  ['surprisal share of key tokens', (100*s.surprisal_share_key).toFixed(1) + '%'],
  ['mean entropy', s.mean_entropy.toFixed(3) + ' nats'], ['mean entropy of key tokens', s.mean_entropy_key.toFixed(3) + ' nats'],
  ['mean logprob', s.mean_logprob.toFixed(3) + ' nats'], ['perplexity', s.perplexity.toFixed(2)]];
if (s.stop_reason) rows.push(['stopped by', s.stop_reason]);
if (s.n_windows > 1) rows.push(['context windows', s.n_windows]);
const tb = document.getElementById('sum');
for (const [k, v] of rows) { const tr = tb.insertRow(); tr.insertCell().textContent = k; tr.insertCell().textContent = v; }
let emax = 0; for (const t of d.tokens) emax = Math.max(emax, t.entropy);
emax = Math.max(emax, 1e-6);
document.getElementById('emax').textContent = emax.toFixed(2) + ' nats';
const color = e => { const x = Math.min(1, e / emax); const h = 60 - 60*x, l = 97 - 42*x; return 'hsl(' + h + ',90%,' + l + '%)'; };
const box = document.getElementById('text'), tip = document.getElementById('tip');
const show = p => p.replace(/\n/g, '\u21b5').replace(/ /g, '\u00b7');
d.tokens.forEach((t, i) => {
  const sp = document.createElement('span'); sp.textContent = t.piece; sp.style.background = color(t.entropy);
  if (t.key) sp.className = 'key';
  sp.dataset.i = i; box.appendChild(sp);
});
box.addEventListener('mousemove', ev => {
  const i = ev.target.dataset ? ev.target.dataset.i : undefined;
  if (i === undefined) { tip.style.display = 'none'; return; }
  const t = d.tokens[+i];
  let txt = '#' + t.pos + ' "' + show(t.piece) + '"' + (t.key ? '  KEY' : '') +
    '\nentropy ' + t.entropy.toFixed(3) + '  varentropy ' + t.varentropy.toFixed(3) +
    '\nlogprob ' + t.logprob.toFixed(3) + '  rank ' + t.rank + '  margin ' + t.margin.toFixed(3) + '\n';
  for (const a of t.top) txt += '\n' + (100*a.prob).toFixed(1).padStart(5) + '%  "' + show(a.piece) + '"';
  tip.textContent = txt; tip.style.display = 'block';
  tip.style.left = Math.min(ev.clientX + 14, window.innerWidth - tip.offsetWidth - 8) + 'px';
  tip.style.top = (ev.clientY + 16) + 'px';
});
box.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
})();
</script></body></html>
)HTML";

}  // namespace

void write_html(const Analysis& analysis, const AnalysisSummary& summary, std::ostream& out) {
  nlohmann::ordered_json data = {{"summary", detail::summary_to_json(analysis, summary)},
                         {"prompt", analysis.prompt},
                         {"tokens", nlohmann::ordered_json::array()}};
  for (const auto& r : analysis.tokens) data["tokens"].push_back(detail::record_to_json(r));
  out << kHead
      << "<h1 id=\"title\">keytok</h1><p class=\"sub\" id=\"sub\"></p>\n"
         "<div class=\"prompt\" id=\"prompt\" style=\"display:none\"></div>\n"
         "<table class=\"sum\" id=\"sum\"></table>\n"
         "<div class=\"legend\">entropy 0 <span class=\"bar\"></span> <span id=\"emax\"></span>"
         " &nbsp; <span class=\"keybox\"></span> key token &nbsp; (hover a token for its alternatives)</div>\n"
         "<div id=\"text\"></div><div id=\"tip\"></div>\n"
         "<script type=\"application/json\" id=\"data\">"
      << script_safe(detail::dump_json(data, -1)) << "</script>" << kScript;
}

}  // namespace keytok
