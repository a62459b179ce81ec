// keytok viewer: sends one chat request to keytok serve and draws its stream of events.
//
// The request is POST /v1/chat/completions with stream: true and a keytok object
// ({strategy, annotate: true, tree: true, ...}); docs/server.md describes the answer. The stream is
// read with fetch() and a ReadableStream reader, parsed as server-sent events (`data: ` lines,
// `data: [DONE]` ends it), and each event changes the page at once:
//   token  -> a coloured span in #answer (one-path strategies) and a cell in the path's row (#tree)
//   fork   -> a dot in the parent's row and a new row for each child (#tree .fork, .path)
//   end    -> the path's stop reason; pruned / low_confidence rows turn grey
//   vote   -> the tallies (#vote) and, for several paths, the chosen path's tokens in #answer
//   content deltas -> the plain answer text (#answer-text)
//   last keytok object -> cost (#cost), and the server's tree fills in what the events left out
// Errors (HTTP 4xx/5xx JSON or a `data: {"error":...}` event) go to #error. No library, no build.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------------------------------------
  // Entropy colour scale: calm (low entropy, pale) to hot (high entropy, red). Saturates at
  // kEntropyMax nats; the legend under "Answer" shows the same function.
  const kEntropyMax = 4.0;
  const kSeveralPaths = /^(sc|branch|deepconf)/;
  const kPrunedReasons = new Set(["pruned", "low_confidence"]);

  function entropyColor(nats) {
    const t = Math.max(0, Math.min(1, (Number(nats) || 0) / kEntropyMax));
    const hue = 55 - 55 * t;       // yellow-white -> red
    const light = 97 - 38 * t;     // 97% -> 59%
    return `hsl(${hue.toFixed(1)}, 90%, ${light.toFixed(1)}%)`;
  }

  // Whitespace made visible, for tooltips and row summaries (the answer keeps the raw text).
  function visible(s) {
    return String(s).replace(/ /g, "\u2423").replace(/\n/g, "\u23ce").replace(/\t/g, "\u21e5");
  }
  function oneLine(s, max) {
    const t = String(s).replace(/\s+/g, " ").trim();
    return t.length > max ? t.slice(0, max - 1) + "\u2026" : t;
  }
  const pct = (p) => (100 * p).toFixed(p >= 0.001 ? 1 : 3) + "%";
  const fmt2 = (x) => (x === undefined || x === null ? "?" : Number(x).toFixed(2));

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  const kSvgNs = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, parent) {
    const e = document.createElementNS(kSvgNs, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  // ---------------------------------------------------------------------------------------------
  // State of the current request. Tokens are kept in one array (run.tokens) so that any span or
  // cell can name its token by index (data-tok) for the tooltip.
  let run = null;
  let controller = null;  // AbortController of the request in flight

  function newRun(strategy, maxTokens) {
    return {
      strategy,
      several: kSeveralPaths.test(strategy),
      maxTokens: maxTokens > 0 ? maxTokens : 32,
      tokens: [],            // every token event, in arrival order
      paths: new Map(),      // id -> {id, parent, forkIndex, own: [token index], stop, answer, votes}
      forks: [],             // fork events: {path, index, entropy, margin, alternatives}
      vote: null,            // {answer, chosen_path, tallies}
      text: "",              // the answer as streamed in the content deltas
      answerPath: null,      // the path whose tokens #answer shows
      error: null,
      treeDirty: false,
    };
  }

  function pathOf(id) {
    let p = run.paths.get(id);
    if (!p) {
      p = {id, parent: -1, forkIndex: 0, own: [], stop: null, answer: null, votes: null, text: null};
      run.paths.set(id, p);
    }
    return p;
  }

  // Token indices of path id from its first token: the parent's prefix up to the fork, then its own.
  function chain(id, depth = 0) {
    const p = run.paths.get(id);
    if (!p) return [];
    const prefix = p.parent >= 0 && depth < 64 ? chain(p.parent, depth + 1).slice(0, p.forkIndex) : [];
    return prefix.concat(p.own);
  }

  // ---------------------------------------------------------------------------------------------
  // The answer: one span per token, coloured by entropy; key tokens get the class `key`.
  function tokenSpan(i) {
    const t = run.tokens[i];
    const s = el("span", t.key ? "tok key" : "tok", t.token);
    s.dataset.tok = String(i);
    s.style.backgroundColor = entropyColor(t.entropy);
    return s;
  }

  function showAnswerPath(id) {
    run.answerPath = id;
    const box = $("answer");
    box.replaceChildren(...chain(id).map(tokenSpan));
    const keys = box.querySelectorAll(".tok.key").length;
    $("answer-note").textContent = run.several
      ? `path ${id}, chosen by the vote \u00b7 ${box.children.length} tokens, ${keys} key`
      : `${box.children.length} tokens, ${keys} key`;
  }

  function drawLegend(detector) {
    const legend = $("legend");
    legend.replaceChildren();
    const stops = [];
    for (let i = 0; i <= 8; ++i) stops.push(`${entropyColor((kEntropyMax * i) / 8)} ${(100 * i) / 8}%`);
    const bar = el("span", "scale");
    bar.style.background = `linear-gradient(to right, ${stops.join(", ")})`;
    legend.append(el("span", null, "entropy (nats over the full vocabulary): 0 calm"), bar,
                  el("span", null, `\u2265 ${kEntropyMax} hot`));
    const sample = el("span", "tok key sample", "key");
    sample.style.backgroundColor = entropyColor(2.5);
    legend.append(el("span", "gap"), sample, el("span", null, detector ? `key token: ${detector}` : "key token"));
  }

  // ---------------------------------------------------------------------------------------------
  // The tree: one SVG row per path (g.path), a cell per token at its position in the path, a dot
  // (g.fork) where children leave the parent and a line down to each child's row.
  const kRowH = 22, kLabelW = 86, kSummaryMinW = 280, kCharW = 6.8;  // px; kCharW: 11px monospace

  function scheduleTree() {
    if (!run.several || run.treeDirty) return;
    run.treeDirty = true;
    requestAnimationFrame(() => { if (run && run.treeDirty) drawTree(); });
  }

  function drawTree() {
    run.treeDirty = false;
    const box = $("tree");
    const ids = [...run.paths.keys()].sort((a, b) => a - b);
    const row = new Map(ids.map((id, r) => [id, r]));
    // Columns are token positions; room for max_tokens from the deepest fork keeps the scale steady.
    let len = run.maxTokens;
    for (const p of run.paths.values()) len = Math.max(len, p.forkIndex + Math.max(p.own.length, run.maxTokens));
    const width = Math.max(box.clientWidth || 900, kLabelW + 4 * len + kSummaryMinW);
    const cw = Math.max(4, Math.min(14, Math.floor((width - kLabelW - kSummaryMinW) / len)));
    const x = (i) => kLabelW + i * cw;
    const yc = (id) => row.get(id) * kRowH + kRowH / 2;
    const summaryChars = Math.max(16, Math.floor((width - x(len) - 12) / kCharW));
    const root = svg("svg", {width, height: Math.max(1, ids.length) * kRowH + 4, class: "tree-svg"});
    const chosen = run.vote ? run.vote.chosen_path : -1;

    const links = svg("g", {class: "links"}, root);
    for (const id of ids) {
      const p = run.paths.get(id);
      const classes = ["path"];
      if (id === chosen) classes.push("chosen");
      if (kPrunedReasons.has(p.stop)) classes.push("pruned");
      if (!p.stop) classes.push("live");
      const g = svg("g", {class: classes.join(" "), "data-path": id}, root);
      const y = row.get(id) * kRowH;
      if (id === chosen) svg("rect", {class: "chosen-bg", x: 0, y: y + 1, width, height: kRowH - 2, rx: 3}, g);
      const label = svg("text", {x: 4, y: y + kRowH / 2 + 4, class: "label", "data-path-label": id}, g);
      label.textContent = (id === chosen ? "\u2605 " : "") + `path ${id}` + (p.stop ? "" : " \u2026");
      // The shared prefix (tokens this path took from its parent): a faint line.
      if (p.forkIndex > 0) {
        svg("line", {class: "prefix", x1: kLabelW, x2: x(p.forkIndex), y1: y + kRowH / 2, y2: y + kRowH / 2}, g);
      }
      p.own.forEach((ti, k) => {
        const t = run.tokens[ti];
        svg("rect", {class: t.key ? "cell key" : "cell", x: x(p.forkIndex + k) + 0.5, y: y + 4,
                     width: Math.max(1, cw - 1), height: kRowH - 8, fill: entropyColor(t.entropy),
                     "data-tok": ti}, g);
      });
      const text = p.text !== null ? p.text : chain(id).map((ti) => run.tokens[ti].token).join("");
      const summary = svg("text", {x: x(len) + 8, y: y + kRowH / 2 + 4, class: "summary"}, g);
      const stop = p.stop || "decoding";
      summary.textContent = `${stop} \u00b7 ${oneLine(text, summaryChars - stop.length - 3)}`;
    }
    run.forks.forEach((f, fi) => {
      if (!row.has(f.path)) return;
      const g = svg("g", {class: "fork", "data-fork": fi}, root);
      const fx = x(f.index), fy = yc(f.path);
      for (const a of f.alternatives) {
        if (a.path === f.path || !row.has(a.path)) continue;
        svg("path", {class: "link", d: `M${fx},${fy} V${yc(a.path)} h4`}, links);
      }
      svg("circle", {cx: fx, cy: fy, r: 4.5}, g);
    });
    box.replaceChildren(root);
  }

  // ---------------------------------------------------------------------------------------------
  // Vote and cost panels.
  function drawVote(vote, rule) {
    run.vote = vote;
    const box = $("vote");
    box.replaceChildren();
    const tallies = vote.tallies || [];
    const total = tallies.reduce((s, t) => s + (t.count || 0), 0) || 1;
    const head = el("div", "vote-head");
    head.append(el("span", null, `chosen: path ${vote.chosen_path}`),
                el("span", "hint", rule ? ` (${rule} vote over ${total})` : ` (over ${total})`));
    box.append(head);
    for (const t of tallies) {
      const line = el("div", t.answer === vote.answer ? "tally chosen" : "tally");
      const bar = el("span", "bar");
      bar.style.width = `${Math.round((100 * (t.count || 0)) / total)}%`;
      line.append(el("span", "count", String(t.count)), el("span", "bar-box"),
                  el("span", "vote-answer", oneLine(t.answer === null ? "(no answer)" : t.answer, 90)));
      line.children[1].append(bar);
      box.append(line);
    }
    $("vote-panel").hidden = false;
  }

  function drawCost(cost) {
    const box = $("cost");
    box.replaceChildren();
    const rows = [
      ["generated tokens", cost.generated_tokens], ["prompt tokens", cost.prompt_tokens],
      ["decode calls", cost.decode_calls], ["peak live paths", cost.peak_live], ["forks", cost.forks],
      ["wall ms", cost.wall_ms !== undefined ? Number(cost.wall_ms).toFixed(0) : undefined],
    ];
    if (cost.wall_ms > 0) rows.push(["tokens / s", ((1000 * cost.generated_tokens) / cost.wall_ms).toFixed(1)]);
    const dl = el("dl", "cost-list");
    for (const [k, v] of rows) {
      if (v === undefined) continue;
      dl.append(el("dt", null, k), el("dd", null, String(v)));
    }
    box.append(dl);
    $("cost-panel").hidden = false;
  }

  // ---------------------------------------------------------------------------------------------
  // Stream events (docs/server.md, "Streaming").
  function onEvent(e) {
    switch (e.type) {
      case "token": {
        const i = run.tokens.length;
        run.tokens.push(e);
        pathOf(e.path).own.push(i);
        // One-path strategies: the answer grows token by token. Several paths: it waits for the vote.
        if (!run.several) {
          if (run.answerPath === null) run.answerPath = e.path;
          if (e.path === run.answerPath) $("answer").append(tokenSpan(i));
        }
        break;
      }
      case "fork": {
        run.forks.push(e);
        pathOf(e.path);
        for (const a of e.alternatives || []) {
          if (a.path === undefined || a.path < 0 || a.path === e.path) continue;
          const child = pathOf(a.path);
          child.parent = e.path;
          child.forkIndex = e.index;
        }
        break;
      }
      case "end":
        pathOf(e.path).stop = e.stop_reason;
        break;
      case "vote":
        // A one-path strategy also "votes" (one tally of one); only several paths show it.
        if (!run.several) break;
        drawVote(e);
        if (e.chosen_path >= 0) showAnswerPath(e.chosen_path);
        break;
    }
    scheduleTree();
  }

  // The final keytok object: detector, cost and the server's own tree (paths, forks, vote).
  function onFinal(k) {
    if (k.detector) drawLegend(`${k.detector} (${k.detector_source || "?"})`);
    if (k.cost) drawCost(k.cost);
    const tree = k.tree;
    if (tree && Array.isArray(tree.paths)) {
      for (const tp of tree.paths) {
        const p = pathOf(tp.id);
        if (tp.parent !== undefined) p.parent = tp.parent;
        if (tp.fork_index !== undefined) p.forkIndex = tp.fork_index;
        if (tp.stop_reason) p.stop = tp.stop_reason;
        if (tp.text !== undefined) p.text = tp.text;
        p.answer = tp.answer;
        p.votes = tp.votes;
      }
      if (run.forks.length === 0 && Array.isArray(tree.forks)) {
        // Forks the events did not carry (annotate: false): the tree names tokens `piece`.
        for (const f of tree.forks) {
          onEvent({type: "fork", path: f.path, index: f.index, entropy: f.entropy, margin: f.margin,
                   alternatives: (f.alternatives || []).map((a) => ({token: a.piece ?? a.token, prob: a.prob,
                                                                     path: a.path}))});
        }
      }
      if (run.several && tree.vote) {
        // The tree's vote also names its rule (majority, weighted, ...); the event's tallies stay.
        drawVote(run.vote || tree.vote, tree.vote.rule);
        if (run.answerPath === null && tree.vote.chosen_path >= 0) showAnswerPath(tree.vote.chosen_path);
      }
    }
    if (run.several) drawTree();
  }

  // One parsed `data:` payload (a chunk of OpenAI's stream, maybe with keytok events).
  function onChunk(chunk) {
    if (chunk.error) {
      run.error = chunk.error;
      showError(chunk.error.message || JSON.stringify(chunk.error), "stream");
      return;
    }
    for (const c of chunk.choices || []) {
      const piece = c.delta && typeof c.delta.content === "string" ? c.delta.content : c.text;
      if (c.index === 0 && piece) {
        run.text += piece;
        $("answer-text").textContent = run.text;
      }
    }
    const k = chunk.keytok;
    if (k) {
      for (const e of k.events || []) onEvent(e);
      if (!k.events) onFinal(k);
    }
    if (!run.error) {
      const live = [...run.paths.values()].filter((p) => !p.stop).length;
      setStatus(`streaming\u2026 ${run.tokens.length} tokens` + (run.several ? `, ${live} paths live` : ""), "busy");
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Server-sent events over fetch(): lines `data: X`, an empty line ends an event. Returns whether
  // `[DONE]` arrived.
  async function readEvents(response, onData) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder("utf-8");
    let buffer = "", data = [];
    for (;;) {
      const {value, done} = await reader.read();
      buffer += done ? decoder.decode() : decoder.decode(value, {stream: true});
      let nl;
      while ((nl = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, nl).replace(/\r$/, "");
        buffer = buffer.slice(nl + 1);
        if (line === "") {
          if (data.length) {
            const payload = data.join("\n");
            data = [];
            if (payload === "[DONE]") return true;
            onData(payload);
          }
        } else if (line.startsWith("data:")) {
          data.push(line.slice(5).replace(/^ /, ""));
        }  // other fields (event:, id:, comments) are not used by keytok serve
      }
      if (done) return false;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // The form.
  function setStatus(text, state) {
    const s = $("status");
    s.textContent = text;
    s.dataset.state = state;
  }

  function showError(message, where) {
    const box = $("error");
    box.textContent = message;
    box.dataset.where = where || "";
    box.hidden = false;
  }

  function authHeaders() {
    const key = $("api-key").value.trim();
    return key ? {Authorization: `Bearer ${key}`} : {};
  }

  // A number field: omitted when empty; otherwise the number as typed (the server checks ranges).
  function numberField(id) {
    const v = $(id).value.trim();
    return v === "" ? undefined : Number(v);
  }

  function buildRequest() {
    const strategy = $("strategy").value;
    const keytok = {strategy, annotate: true, tree: true};
    const threshold = numberField("entropy-threshold");
    if (threshold !== undefined) {
      keytok["key-rule"] = "entropy";
      keytok["entropy-threshold"] = threshold;
    }
    const pruneGap = numberField("prune-gap");
    if (pruneGap !== undefined) keytok["prune-gap"] = pruneGap;
    const body = {messages: [{role: "user", content: $("prompt").value}], stream: true, keytok};
    for (const [field, id] of [["max_tokens", "max-tokens"], ["temperature", "temperature"], ["seed", "seed"]]) {
      const v = numberField(id);
      if (v !== undefined) body[field] = v;
    }
    return body;
  }

  function reset(strategy, maxTokens) {
    run = newRun(strategy, maxTokens);
    for (const id of ["answer", "tree", "vote", "cost"]) $(id).replaceChildren();
    $("answer-text").textContent = "";
    $("answer-note").textContent = run.several ? "(the chosen path appears after the vote)" : "";
    $("error").hidden = true;
    $("error").textContent = "";
    $("tree-panel").hidden = !run.several;
    $("vote-panel").hidden = true;
    $("cost-panel").hidden = true;
    hideTooltip();
  }

  async function send() {
    if (controller) controller.abort();
    const body = buildRequest();
    reset(body.keytok.strategy, body.max_tokens);
    const mine = (controller = new AbortController());
    $("send").disabled = true;
    $("stop").disabled = false;
    setStatus("sending\u2026", "busy");
    try {
      const response = await fetch("v1/chat/completions", {
        method: "POST",
        headers: {"Content-Type": "application/json", Accept: "text/event-stream", ...authHeaders()},
        body: JSON.stringify(body),
        signal: mine.signal,
      });
      if (!response.ok) {
        // OpenAI's error shape: {"error": {"message", "type", "param", "code"}}.
        const raw = await response.text();
        let message = raw;
        try { message = JSON.parse(raw).error.message; } catch (_) { /* not JSON: show as is */ }
        run.error = {message};
        showError(`HTTP ${response.status}: ${message}`, "http");
        setStatus("error", "error");
        return;
      }
      const complete = await readEvents(response, (payload) => {
        let chunk;
        try { chunk = JSON.parse(payload); } catch (err) {
          showError(`unreadable event from the server: ${payload.slice(0, 200)}`, "stream");
          return;
        }
        onChunk(chunk);
      });
      if (run.several) drawTree();
      if (run.error) {
        setStatus("error", "error");
      } else if (!complete) {
        showError("the stream ended before data: [DONE]", "stream");
        setStatus("error", "error");
      } else {
        setStatus("done", "done");
      }
    } catch (err) {
      if (err.name === "AbortError") {
        setStatus("stopped", "stopped");
      } else {
        showError(`cannot reach the server: ${err.message}`, "network");
        setStatus("error", "error");
      }
    } finally {
      if (controller === mine) {
        controller = null;
        $("send").disabled = false;
        $("stop").disabled = true;
      }
    }
  }

  // The model line: GET /v1/models (id, context, the server's key-token detector).
  async function loadModel() {
    const line = $("model");
    try {
      const r = await fetch("v1/models", {headers: authHeaders()});
      const j = await r.json().catch(() => ({}));
      if (!r.ok) {
        line.textContent = `model: ? (${(j.error && j.error.message) || "HTTP " + r.status})`;
        return;
      }
      const m = (j.data || [])[0] || {};
      const meta = m.meta || {};
      line.textContent = `model: ${m.id}` + (meta.n_ctx ? ` \u00b7 context ${meta.n_ctx}` : "") +
                         (meta.detector ? ` \u00b7 key tokens: ${meta.detector} (${meta.detector_source})` : "");
      line.dataset.model = m.id || "";
      drawLegend(meta.detector ? `${meta.detector} (server)` : "");
    } catch (err) {
      line.textContent = `model: ? (${err.message})`;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Tooltip: a token (span or cell: alternatives, entropy, margin), a fork dot (alternatives and
  // their paths) or a path label (its text and stop reason).
  function tokenTip(t) {
    const tip = [el("div", "tip-head", `${visible(t.token)}  (id ${t.id})${t.key ? " \u2014 key token" : ""}`)];
    tip.push(el("div", null, `p ${pct(Math.exp(t.logprob))} \u00b7 entropy ${fmt2(t.entropy)} nats` +
                             ` \u00b7 margin ${fmt2(t.margin)}`));
    const top = (t.top || []).slice(0, 10);
    tip.push(alternatives(top.map((a) => ({token: a.token, prob: a.prob, note: a.id === t.id ? "chosen" : ""}))));
    return tip;
  }

  function alternatives(list) {
    const table = el("table", "alts");
    for (const a of list) {
      const tr = el("tr", a.note === "chosen" ? "chosen" : "");
      const bar = el("span", "bar");
      bar.style.width = `${Math.max(1, Math.round(60 * a.prob))}px`;
      const barCell = el("td");
      barCell.append(bar);
      tr.append(el("td", "alt-token", visible(a.token)), el("td", "num", pct(a.prob)), barCell,
                el("td", "hint", a.note || ""));
      table.append(tr);
    }
    return table;
  }

  function forkTip(f) {
    return [el("div", "tip-head", `fork of path ${f.path} at token ${f.index}`),
            el("div", null, `entropy ${fmt2(f.entropy)} nats \u00b7 margin ${fmt2(f.margin)}`),
            alternatives((f.alternatives || []).map((a) => ({token: a.token ?? a.piece, prob: a.prob,
                                                             note: `\u2192 path ${a.path}`})))];
  }

  function pathTip(id) {
    const p = run.paths.get(id);
    const text = p.text !== null ? p.text : chain(id).map((ti) => run.tokens[ti].token).join("");
    const origin = p.parent >= 0 ? `forked from path ${p.parent} at token ${p.forkIndex}` : "root path";
    const out = [el("div", "tip-head", `path ${id}: ${p.stop || "decoding"}`), el("div", null, origin)];
    if (p.answer !== null && p.answer !== undefined) out.push(el("div", null, `answer: ${oneLine(p.answer, 120)}`));
    out.push(el("pre", "tip-text", text));
    return out;
  }

  function showTooltip(target) {
    let parts = null;
    if (target.dataset.tok !== undefined) parts = tokenTip(run.tokens[Number(target.dataset.tok)]);
    else if (target.dataset.fork !== undefined) parts = forkTip(run.forks[Number(target.dataset.fork)]);
    else if (target.dataset.pathLabel !== undefined) parts = pathTip(Number(target.dataset.pathLabel));
    if (!parts) return;
    const tip = $("tooltip");
    tip.replaceChildren(...parts);
    tip.hidden = false;
    const r = target.getBoundingClientRect();
    const w = tip.offsetWidth, h = tip.offsetHeight;
    let left = Math.min(r.left, window.innerWidth - w - 8);
    let top = r.bottom + 6;
    if (top + h > window.innerHeight - 4) top = Math.max(4, r.top - h - 6);
    tip.style.left = `${Math.max(4, left)}px`;
    tip.style.top = `${top}px`;
  }

  function hideTooltip() { $("tooltip").hidden = true; }

  // ---------------------------------------------------------------------------------------------
  // Wiring.
  document.addEventListener("mouseover", (ev) => {
    const target = ev.target.closest && ev.target.closest("[data-tok], [data-fork], [data-path-label]");
    if (target && run) showTooltip(target);
    else if (!(ev.target.closest && ev.target.closest("#tooltip"))) hideTooltip();
  });
  $("form").addEventListener("submit", (ev) => { ev.preventDefault(); send(); });
  $("prompt").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) { ev.preventDefault(); send(); }
  });
  $("stop").addEventListener("click", () => { if (controller) controller.abort(); });
  $("api-key").addEventListener("change", loadModel);
  window.addEventListener("resize", () => { if (run && run.several) drawTree(); });

  drawLegend("");
  loadModel();
})();
