// Figure builders: (run, position state) in, a Plotly {data, layout} out. No DOM here.
// Each builder bounds what it draws (a window of rounds, the last N points), so a frame
// costs the same anywhere in a long run.
"use strict";

const SpecvizCharts = (() => {
  const { COLORS, label, showToken, pct } = SpecvizModel;
  const PHASE = { draft: "#0d9488", verify: "#d97706", sample: "#7c3aed" };
  const LANES = [1, -1, 2, -2]; // neighbouring rounds' branches never share a lane
  const CHAR_PX = 6.2; // width of one label character at the tree's font size
  const TIMELINE_ROUNDS = 40;
  const LATENCY_ROUNDS = 10;
  const ENTROPY_POINTS = 300;
  const SERIES_POINTS = 400;

  const font = { family: "system-ui, sans-serif", size: 11 };

  function base(title, xTitle, yTitle, extra = {}) {
    return Object.assign({
      title: { text: title, font: { size: 13 }, x: 0, xanchor: "left" },
      margin: { l: 52, r: 12, t: 34, b: 44 }, font,
      xaxis: { title: { text: xTitle }, zeroline: false },
      yaxis: { title: { text: yTitle }, zeroline: false },
      legend: { orientation: "h", y: -0.28, x: 0 },
      paper_bgcolor: "white", plot_bgcolor: "white",
    }, extra);
  }

  // A chart with nothing to show says why, instead of drawing empty axes.
  function note(layout, text) {
    layout.xaxis = Object.assign({}, layout.xaxis, { visible: false });
    layout.yaxis = Object.assign({}, layout.yaxis, { visible: false });
    layout.annotations = [{ text, xref: "paper", yref: "paper", x: 0.5, y: 0.5, showarrow: false,
      font: { size: 13, color: "#6b7280" } }];
    layout.showlegend = false;
    return { data: [], layout };
  }

  const size = (ent) => (ent === null || ent === undefined ? 10 : 7 + 5 * Math.min(ent, 4));
  const opacity = (acc) => (acc === null || acc === undefined ? 1 : 0.3 + 0.7 * Math.max(0, Math.min(1, acc)));

  function clip(text, chars) {
    const t = showToken(text);
    if (chars < 1) return "";
    return t.length <= chars ? t : (chars < 2 ? "" : t.slice(0, chars - 1) + "…");
  }

  // Committed tokens on a trunk (y = 0), each token drawn once: accepted drafts become
  // trunk nodes; a round's rejected, untested and pending drafts hang off it in a lane.
  function tree(run, st, window, widthPx, xrange) {
    const first = Math.max(0, st.round - window + 1);
    let base0 = st.nCommits;
    for (let i = 0; i < run.baseRound.length; i++) if (run.baseRound[i] >= first) { base0 = run.baseAt[i]; break; }
    const N = { x: [], y: [], color: [], size: [], opacity: [], text: [], pos: [], hover: [], seq: [], lane: [] };
    const V = run.verifies, D = run.drafts, C = run.commits;
    const add = (x, y, status, ent, acc, text, hover, seq) => {
      N.x.push(x); N.y.push(y); N.color.push(COLORS[status]); N.size.push(size(ent));
      N.opacity.push(status === "pending" ? 0.6 : opacity(acc)); N.text.push(text); N.hover.push(hover); N.seq.push(seq);
    };
    for (let c = base0; c < st.nCommits; c++) {
      const v = C.verify[c], d = C.draft[c], status = run.status[V.status[v]];
      const ent = status === "accepted" && d >= 0 ? D.ent[d] : V.ent[v];
      add(c, 0, status, ent, status === "accepted" ? V.acc[v] : null, run.S[V.text[v]], hoverFor(run, "c", c, st.pos), C.seq[c]);
    }
    const edges = { trunk: [[], []], branch: [[], []], rejection: [[], []], skipped: [[], []] };
    if (st.nCommits > base0) edges.trunk = [[base0, st.nCommits - 1], [0, 0]];
    const prev = new Map();
    const startDraft = firstDraftFrom(run, first, st.nDrafts);
    for (let i = startDraft; i < st.nDrafts; i++) {
      const status = run.draftStatus(i, st.pos);
      if (status === "accepted") continue; // drawn on the trunk as the token it became
      const r = D.round[i], lane = LANES[r % LANES.length];
      const x = (run.roundBase(r) ?? 0) + D.pos[i];
      const p = prev.get(r);
      const [px, py] = p && p[0] === x - 1 ? p : [x - 1, 0];
      const kind = status === "rejected" ? "rejection" : status === "skipped" ? "skipped" : "branch";
      edges[kind][0].push(px, x, null); edges[kind][1].push(py, lane, null);
      prev.set(r, [x, lane]);
      const v = D.verify[i];
      add(x, lane, status, D.ent[i], status === "rejected" && v >= 0 ? V.acc[v] : null, run.draftText(i),
        hoverFor(run, "d", i, st.pos), run.draftSeq(i, st.pos));
    }
    placeLabels(N, widthPx, xrange);
    const style = {
      trunk: { color: "#6b7280", width: 2 }, branch: { color: "#9ca3af", width: 1 },
      rejection: { color: COLORS.rejected, width: 2, dash: "dash" }, skipped: { color: "#9ca3af", width: 1, dash: "dot" },
    };
    const data = Object.entries(edges).map(([k, [x, y]]) => ({
      type: "scatter", mode: "lines", x, y, line: style[k], hoverinfo: "skip", showlegend: false, name: k,
    }));
    data.push({
      type: "scatter", mode: "markers", name: "tokens", x: N.x, y: N.y, hovertext: N.hover, hoverinfo: "text",
      customdata: N.seq, showlegend: false, cliponaxis: false,
      marker: { color: N.color, size: N.size, opacity: N.opacity, line: { width: 0.5, color: "#374151" } },
    });
    const layout = base(`Token tree · rounds ${first}–${Math.max(st.round, first)}`, "output position", "", {
      margin: { l: 12, r: 12, t: 30, b: 40 }, showlegend: false, dragmode: "pan", uirevision: "tree",
      yaxis: { visible: false, range: [-3, 3], fixedrange: true }, hoverlabel: { align: "left" },
    });
    if (!N.x.length) return note(layout, "no tokens yet: the first round has not drafted");
    // Labels are drawn by the player over the plot (HTML, not Plotly text: half the cost of a frame).
    const labels = N.x.map((x, i) => ({ x, y: N.y[i], text: N.label[i], below: N.textpos[i] === "bottom center" }));
    return { data, layout, labels };
  }

  function firstDraftFrom(run, round, fallback) {
    let best = fallback;
    for (const [r, i] of run.draftStart) if (r >= round && i < best) best = i;
    return best;
  }

  // Labels that cannot collide: trunk labels alternate above and below (so each has two
  // positions of room), branch labels sit on the far side of their lane; a label longer
  // than its room is shortened, and dropped when not even two characters fit.
  function placeLabels(N, widthPx, xrange) {
    let lo = xrange ? xrange[0] : Math.min(...N.x), hi = xrange ? xrange[1] : Math.max(...N.x);
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    const pxPer = Math.max(1, (widthPx - 24) / Math.max(1, hi - lo + 1));
    N.label = []; N.textpos = [];
    for (let i = 0; i < N.x.length; i++) {
      const trunk = N.y[i] === 0;
      const room = trunk ? 2 * pxPer : pxPer;
      N.label.push(clip(N.text[i], Math.floor(room / CHAR_PX)));
      N.textpos.push(trunk ? (N.x[i] % 2 ? "bottom center" : "top center") : N.y[i] > 0 ? "top center" : "bottom center");
    }
  }

  function hoverFor(run, kind, i, pos) {
    const hoverCache = run.hoverCache || (run.hoverCache = new Map());
    const status = kind === "c" ? run.commitStatus(i) : run.draftStatus(i, pos);
    const key = `${kind}${i}:${status}`;
    let h = hoverCache.get(key);
    if (h === undefined) {
      const lines = kind === "c" ? run.commitLines(i) : run.draftLines(i, pos);
      h = lines.map(escapeHtml).join("<br>");
      hoverCache.set(key, h);
    }
    return h;
  }

  function escapeHtml(s) {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
  }

  function timeline(run, st) {
    const spans = run.d.spans.slice(Math.max(0, st.nMetrics - TIMELINE_ROUNDS), st.nMetrics);
    const layout = base("Timeline: where each round's time went", "seconds since run start", "", {
      barmode: "overlay", uirevision: "timeline", legend: { orientation: "h", y: -0.35, x: 0 },
      yaxis: { categoryorder: "array", categoryarray: ["errors", "sample", "verify", "draft"], title: { text: "phase" } },
    });
    if (!spans.length) return note(layout, "no data yet: no round has finished");
    const data = ["draft", "verify", "sample"].map((phase, k) => ({
      type: "bar", orientation: "h", name: phase, y: spans.map(() => phase),
      base: spans.map((s) => s[2 + k]), x: spans.map((s) => Math.max(0, s[3 + k] - s[2 + k])),
      marker: { color: PHASE[phase] }, customdata: spans.map((s) => [s[0], s[1]]),
      hovertemplate: `round %{customdata[0]} · ${phase} %{x:.3f} s from %{base:.3f} s<extra>click: go to this round</extra>`,
    }));
    const errs = run.d.errors.slice(0, st.nErrors).filter((e) => e[1] >= spans[0][2]);
    for (const [name, retry, symbol, color] of [["error", false, "x", COLORS.rejected], ["retry", true, "triangle-up", "#d97706"]]) {
      const sel = errs.filter((e) => (e[5] || e[4] > 0) === retry);
      if (!sel.length) continue;
      data.push({ type: "scatter", mode: "markers", name, x: sel.map((e) => e[1]), y: sel.map(() => "errors"),
        marker: { symbol, size: 11, color }, hovertext: sel.map((e) => escapeHtml(`${e[2]}: ${e[3]} (attempt ${e[4]})`)),
        hoverinfo: "text", customdata: sel.map((e) => [null, e[0]]) });
    }
    return { data, layout };
  }

  function thin(n) {
    const step = Math.max(1, Math.ceil(n / SERIES_POINTS));
    const out = [];
    for (let i = 0; i < n - 1; i += step) out.push(i);
    if (n) out.push(n - 1);
    return out;
  }

  function tokensPerSecond(run, st) {
    const M = run.metrics, idx = thin(st.nMetrics);
    const layout = base("Output speed: tokens/s against the autoregressive baseline", "round", "tokens / s");
    if (!idx.length) return note(layout, "no data yet: no round has finished");
    const data = [{ type: "scatter", mode: "lines", name: "this run (tokens/s so far)", x: idx.map((i) => M.round[i]),
      y: idx.map((i) => M.tokens_per_s[i]), line: { color: COLORS.bonus }, fill: "tozeroy", fillcolor: "rgba(37,99,235,0.12)" }];
    if (idx.some((i) => M.baseline_tokens_per_s[i] !== null)) {
      data.push({ type: "scatter", mode: "lines", name: "autoregressive baseline", x: idx.map((i) => M.round[i]),
        y: idx.map((i) => M.baseline_tokens_per_s[i]), line: { color: COLORS.rejected, dash: "dash" } });
    }
    return { data, layout };
  }

  function latency(run, st) {
    const M = run.metrics, lo = Math.max(0, st.nMetrics - LATENCY_ROUNDS);
    const idx = []; for (let i = lo; i < st.nMetrics; i++) idx.push(i);
    const layout = base(`Time per round by phase (last ${LATENCY_ROUNDS} rounds)`, "round", "milliseconds", {
      barmode: "stack", xaxis: { title: { text: "round" }, type: "category" },
    });
    if (!idx.length) return note(layout, "no data yet: no round has finished");
    const x = idx.map((i) => String(M.round[i]));
    const measured = idx.some((i) => M.draft_ms[i] || M.verify_ms[i]);
    if (!measured) {
      layout.annotations = [{ text: "draft / verify split not measured by this method: whole rounds only",
        xref: "paper", yref: "paper", x: 0, y: 1.02, xanchor: "left", showarrow: false, font: { size: 11, color: "#6b7280" } }];
      return { data: [{ type: "bar", name: "whole round ms", x, y: idx.map((i) => M.round_ms[i]), marker: { color: "#6b7280" } }], layout };
    }
    const data = ["draft", "verify", "sample"].map((phase) => ({
      type: "bar", name: `${phase} ms`, x, y: idx.map((i) => M[`${phase}_ms`][i]), marker: { color: PHASE[phase] },
    }));
    return { data, layout };
  }

  function testedSoFar(run, st, last) {
    const lo = last ? Math.max(0, st.nTested - last) : 0;
    return run.tested.slice(lo, st.nTested);
  }

  function byPosition(run, st) {
    const layout = base("Draft acceptance by position in the round (all tested so far)", "draft position (0 = first drafted)",
      "accepted / tested", { yaxis: { title: { text: "accepted / tested" }, range: [0, 1.05], tickformat: ".0%" } });
    layout.xaxis.dtick = 1;
    if (!run.d.run.k && !run.drafts.round.length) return note(layout, "autoregressive run: nothing is drafted");
    const tested = [], accepted = [];
    const V = run.verifies;
    for (const i of testedSoFar(run, st)) {
      const p = run.drafts.pos[i];
      while (tested.length <= p) { tested.push(0); accepted.push(0); }
      tested[p] += 1;
      if (run.status[V.status[run.drafts.verify[i]]] === "accepted") accepted[p] += 1;
    }
    if (!tested.length) return note(layout, "no data yet: no draft has been tested");
    return { layout, data: [{ type: "bar", name: "accepted / tested at this position", x: tested.map((_, i) => i),
      y: tested.map((t, i) => (t ? accepted[i] / t : 0)), customdata: tested.map((t, i) => [accepted[i], t]),
      marker: { color: COLORS.accepted }, hovertemplate: "position %{x}: %{y:.0%} (%{customdata[0]}/%{customdata[1]})<extra></extra>" }] };
  }

  function entropy(run, st) {
    const layout = base(`Acceptance probability vs draft entropy (last ${ENTROPY_POINTS} tested)`, "draft entropy (nats)",
      "min(1, p/q)", { yaxis: { title: { text: "acceptance prob min(1, p/q)" }, range: [0, 1.05] } });
    const pts = testedSoFar(run, st, ENTROPY_POINTS);
    if (!pts.length) return note(layout, "no data yet: no draft has been tested");
    const D = run.drafts, V = run.verifies;
    const withEnt = pts.filter((i) => D.ent[i] !== null && V.acc[D.verify[i]] !== null);
    if (!withEnt.length) {
      const ngram = String(run.d.run.drafter || "").startsWith("ngram");
      return note(layout, ngram ? "no distributions for n-gram drafts: they propose tokens without probabilities"
        : "not measured: this run recorded no draft entropies");
    }
    const data = ["accepted", "rejected"].map((name) => {
      const sel = withEnt.filter((i) => run.status[V.status[D.verify[i]]] === name);
      return { type: "scatter", mode: "markers", name: `${name} draft`, x: sel.map((i) => D.ent[i]),
        y: sel.map((i) => V.acc[D.verify[i]]), marker: { color: COLORS[name], size: 5, opacity: 0.6 } };
    });
    return { data, layout };
  }

  // What a chart shows while the server reads the run (a first open). Drawn with the trace
  // types the real charts use, so Plotly has compiled their code and each chart has its
  // SVG by the time the run arrives (that first draw otherwise lands on the open's end).
  function waiting() {
    const layout = base("Reading the run…", "", "", { showlegend: false });
    const faint = { color: "rgba(0,0,0,0)" };
    return { layout, data: [
      { type: "scatter", mode: "lines+markers", x: [0, 1], y: [0, 1], line: faint, marker: faint, hoverinfo: "skip", fill: "tozeroy", fillcolor: "rgba(0,0,0,0)" },
      { type: "bar", orientation: "h", x: [1], y: ["a"], base: [0], marker: faint, hoverinfo: "skip", xaxis: "x", yaxis: "y" },
    ] };
  }

  return { tree, timeline, tokensPerSecond, latency, byPosition, entropy, waiting, escapeHtml, pct, label };
})();
