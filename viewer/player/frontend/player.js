// The replay player: scrub, play and follow a run entirely in the browser.
// Runs as a Streamlit component (the page sends the run once; the position moves here and
// is posted back, throttled, for the URL) or standalone in an exported HTML file.
"use strict";

const SpecvizPlayer = (() => {
  const { Run, COLORS, label, pct, countUpTo } = SpecvizModel;
  const C = SpecvizCharts;
  const SPEEDS = [["real time", 1], ["2×", 2], ["5×", 5], ["20×", 20], ["100×", 100]];
  const WINDOWS = [4, 8, 12, 24, 48];
  // One Plotly chart per frame at most (the rest wait for the next frames; a run's first
  // frame draws them all, as nothing moves yet), and while the
  // position moves (playing, or scrubbed within MOVING_MS) one every CHART_GAP_MS: the
  // tree, text and numbers move every frame, the run's summary charts take turns (each
  // about twice a second) and catch up when the position rests.
  const CHART_GAP_MS = 100;
  const MOVING_MS = 300;
  const POST_EVERY_MS = 1000;
  const TEXT_TOKENS = 400; // laid out per frame: ~3 panel heights of text
  const LIVE_TICK_MS = 500;
  const $ = (id) => document.getElementById(id);
  // Not `responsive`: Plotly then redraws every chart on each window resize, and the
  // frame's height changes when a run arrives (Streamlit resizes the frame to fit), which
  // redrew all five charts right after the first frame drew them. Charts are redrawn
  // when their own width changes instead (Player.watchWidths).
  const PLOT_CONFIG = { displaylogo: false, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  // Streamlit's component messages (what streamlit-component-lib sends), without a build step.
  const Bridge = {
    active: false,
    send(type, data) { window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type }, data), "*"); },
    ready() { this.send("streamlit:componentReady", { apiVersion: 1 }); },
    height(h) { this.send("streamlit:setFrameHeight", { height: h }); },
    value(v) { this.send("streamlit:setComponentValue", { value: v, dataType: "json" }); },
  };

  const CHARTS = [ // id, builder, what it depends on (redrawn only when that changes)
    ["chart-timeline", C.timeline, (s) => `${s.nMetrics}:${s.nErrors}`],
    ["chart-tps", C.tokensPerSecond, (s) => s.nMetrics],
    ["chart-latency", C.latency, (s) => s.nMetrics],
    ["chart-position", C.byPosition, (s) => s.nTested],
    ["chart-entropy", C.entropy, (s) => s.nTested],
  ];

  class Player {
    constructor() {
      this.run = null; this.pos = 0; this.playing = false; this.follow = false;
      this.speed = 1; this.window = 12; this.treeRange = null;
      this.keys = {}; this.frameQueued = false; this.lastPost = 0; this.postTimer = null;
      this.shown = [0, 0]; this.marked = []; this.chartAt = 0; this.nextChart = 0;
      this.version = null; this.received = []; // what the page sent: [kind, characters] (tests read it)
      this.stats = { frames: 0, positions: 0, t0: 0, work: [] };
      this.controls();
    }

    // -- data ------------------------------------------------------------------------
    setData(data, opts = {}, version = null) {
      const prev = this.run;
      this.version = version;
      const sameRun = prev && prev.d.run.run_id === data.run.run_id;
      this.run = new Run(data);
      if (!sameRun) {
        this.follow = this.run.live;
        this.pos = this.follow || opts.pos === null || opts.pos === undefined ? this.run.last : opts.pos;
        this.treeRange = null;
        this.opening = true; // its first frame draws every chart: nobody is scrubbing yet
        this.header();
      } else if (this.follow) {
        this.pos = this.run.last; // a new event, or the run's final one when it has just finished
      }
      if (!this.run.live && this.follow) {
        this.follow = false; // followed to its final event above: tell the page (the URL names it)
        this.postSoon();
      }
      this.pos = Math.max(0, Math.min(this.pos, this.run.last));
      this.buildText(sameRun);
      this.keys = {};
      $("player").classList.remove("loading");
      this.draw();
    }

    header() {
      const r = this.run.d.run;
      const esc = C.escapeHtml;
      $("runinfo").innerHTML = `run <code>${esc(r.run_id || "")}</code> · ${esc(r.method || "")} · drafter <code>${esc(r.drafter || "—")}</code>`
        + ` → target <code>${esc(r.target || "—")}</code> · K=${r.k ?? "—"} · T=${r.temperature ?? "—"}`;
      $("prompt").textContent = r.prompt || "";
      $("round-slider").max = this.run.maxRound;
    }

    // Every committed token is a span made once; a position shows a prefix of them.
    buildText(sameRun) {
      const box = $("commits");
      const have = sameRun ? box.children.length : 0;
      if (!sameRun) { box.textContent = ""; this.shown = [0, 0]; this.marked = []; }
      const frag = document.createDocumentFragment();
      for (let c = have; c < this.run.commits.seq.length; c++) {
        const s = document.createElement("span");
        s.className = `s-${this.run.commitStatus(c)}`;
        s.textContent = this.run.commitText(c);
        s.dataset.c = c;
        s.hidden = true;
        frag.appendChild(s);
      }
      box.appendChild(frag);
    }

    // -- position --------------------------------------------------------------------
    goto(pos, { keepPlaying = false } = {}) {
      if (!this.run) return;
      if (!keepPlaying) this.setPlaying(false);
      this.follow = false;
      this.pos = Math.max(0, Math.min(pos, this.run.last));
      this.movedAt = performance.now();
      this.draw();
      this.postSoon(); // a scrub posts at most once a second: each post reruns the page on the server
    }

    stepRound(delta) {
      const r = this.run.roundOf(this.pos);
      let target = r + (delta > 0 ? (this.run.roundEnd(r) === this.pos ? 1 : 0) : -1);
      if (target < 0) return this.goto(0);
      if (target > this.run.maxRound) return this.goto(this.run.last);
      this.goto(this.run.roundEnd(target));
    }

    setPlaying(on) {
      const was = this.playing;
      if (on && !was) {
        if (this.pos >= this.run.last && !this.run.live) this.pos = 0; // play from the start when at the end
        this.follow = false;
        this.anchor();
        this.stats = { frames: 0, positions: 0, t0: performance.now(), work: [] };
      }
      this.playing = on;
      $("btn-play").textContent = on ? "❚❚ Pause" : "▶ Play";
      if (on) this.draw(); else if (was) this.post();
    }

    // Playback maps wall time since this moment onto the trace's clock from `pos`.
    anchor() { this.wall0 = performance.now(); this.trace0 = this.run.timeOf(this.pos); }

    advance() {
      const clock = this.trace0 + (performance.now() - this.wall0) / 1000 * this.speed;
      const next = Math.max(this.pos, countUpTo(this.run.d.events.t, clock) - 1);
      this.pos = Math.min(next, this.run.last);
      if (this.pos >= this.run.last && !this.run.live) this.setPlaying(false);
    }

    // -- drawing ---------------------------------------------------------------------
    draw() {
      if (this.frameQueued) return;
      this.frameQueued = true;
      requestAnimationFrame((t) => this.frame(t));
    }

    frame() {
      this.frameQueued = false;
      if (!this.run) return;
      const t0 = performance.now();
      const before = this.pos;
      if (this.playing) this.advance();
      const st = this.run.at(this.pos);
      const pending = this.renderParts(st, t0);
      this.pending = pending;
      this.opening = false;
      if (this.playing) {
        this.stats.frames += 1;
        if (this.pos !== before) this.stats.positions += 1;
        this.stats.work.push(performance.now() - t0);
        this.postSoon();
      }
      if (this.playing || pending) this.draw();
      else if (!this.drawnMarked && this.drawn()) { this.drawnMarked = true; performance.mark("specviz:drawn"); }
    }

    // Cheap parts every frame; charts only when their input changed, one per frame.
    renderParts(st, now) {
      const width = this.tree.measure().w; // layout is read before this frame writes any
      this.status(st);
      this.text(st);
      const treeKey = `${st.pos}:${this.window}:${this.treeRange}:${width}`;
      if (this.keys.tree !== treeKey) {
        this.keys.tree = treeKey;
        this.tree.render(C.tree(this.run, st, this.window, width, this.treeRange));
      }
      let pending = false, drew = false;
      const first = this.nextChart;
      for (let k = 0; k < CHARTS.length; k++) { // in turns, starting after the last one drawn
        const i = (first + k) % CHARTS.length, [id, build, key] = CHARTS[i];
        if (this.keys[id] === key(st)) continue;
        const moving = this.playing || now - (this.movedAt || -1e9) < MOVING_MS;
        if ((drew && !this.opening) || (moving && now - this.chartAt < CHART_GAP_MS)) { pending = true; continue; }
        this.drawChart(id, () => build(this.run, st), key(st), now);
        drew = true;
        this.nextChart = (i + 1) % CHARTS.length;
      }
      this.nowLine(st);
      return pending;
    }

    drawChart(id, build, key, now) {
      if (this.keys[id] === key) return;
      this.keys[id] = key;
      this.chartAt = now;
      const fig = build();
      const gd = $(id);
      Plotly.react(gd, fig.data, fig.layout, PLOT_CONFIG);
      if (!gd.specvizWired) this.wire(gd);
    }

    // Charts drawn while the run is being read (see SpecvizCharts.waiting); the run's own
    // figures replace them.
    warmUp() {
      if (this.run || this.warm) return;
      this.warm = true;
      const fig = C.waiting();
      for (const [id] of CHARTS) Plotly.react($(id), fig.data, fig.layout, PLOT_CONFIG);
    }

    // A chart whose width changed (window, Streamlit's layout, 1024 px screens) is re-fitted.
    watchWidths() {
      const widths = new Map();
      const observer = new ResizeObserver((entries) => {
        for (const e of entries) {
          const gd = e.target, w = Math.round(e.contentRect.width);
          if (widths.get(gd) !== w && widths.has(gd) && gd._fullLayout) Plotly.Plots.resize(gd);
          widths.set(gd, w);
        }
      });
      for (const [id] of CHARTS) observer.observe($(id));
    }

    wire(gd) {
      gd.specvizWired = true;
      gd.on("plotly_click", (e) => {
        const p = e.points && e.points[0];
        if (!p || p.customdata === undefined || p.customdata === null) return;
        this.goto(Array.isArray(p.customdata) ? p.customdata[1] : p.customdata);
      });
    }

    status(st) {
      const run = this.run, M = run.metrics, m = st.nMetrics - 1;
      const type = run.types[st.pos] || "—";
      $("caption").innerHTML = `event ${st.pos} of ${run.last}: <code>${type}</code> · round ${Math.max(st.round, 0)}`
        + ` · ${st.time.toFixed(2)} s` + (run.live ? ' · <span class="live">live run, still recording</span>' : "");
      $("round-val").textContent = Math.max(st.round, 0);
      $("event-val").textContent = st.pos;
      $("round-slider").value = Math.max(st.round, 0);
      $("event-slider").max = run.last; $("event-slider").value = st.pos;
      $("follow-box").hidden = !run.live;
      $("follow").checked = this.follow;
      $("st-round").textContent = Math.max(st.round, 0);
      $("st-tokens").textContent = st.nCommits;
      $("st-acc").textContent = m < 0 ? "—" : pct(M.acceptance_cumulative[m]);
      $("st-speedup").textContent = m < 0 || M.speedup[m] === null ? "—" : `${M.speedup[m].toFixed(2)}×`;
      $("st-tps").textContent = m < 0 ? "—" : M.tokens_per_s[m].toFixed(1);
      const roll = m < 0 ? null : (M.acceptance_rolling[m] ?? M.acceptance_cumulative[m]);
      $("st-rolling").textContent = roll === null ? "no data yet" : pct(roll);
      $("gauge-bar").style.left = roll === null ? "0" : `${(100 * roll).toFixed(1)}%`;
      $("gauge-bar").hidden = roll === null;
      const errs = run.d.errors.slice(0, st.nErrors);
      $("errors").classList.toggle("none", !errs.length);
      if (errs.length) { const e = errs[errs.length - 1]; $("errors").textContent = `${errs.length} error event(s) so far; last: ${e[2]}: ${e[3]}`; }
    }

    // The text up to the position, its last TEXT_TOKENS tokens laid out (a long run's
    // whole text would make every frame re-lay thousands of spans).
    text(st) {
      const box = $("commits"), kids = box.children, n = Math.min(st.nCommits, kids.length);
      const lo = Math.max(0, n - TEXT_TOKENS), [oldLo, oldHi] = this.shown || [0, 0];
      for (let i = oldLo; i < oldHi; i++) if (i < lo || i >= n) kids[i].hidden = true;
      for (let i = lo; i < n; i++) if (i < oldLo || i >= oldHi) kids[i].hidden = false;
      this.shown = [lo, n];
      $("earlier").hidden = lo === 0;
      $("earlier").textContent = `… ${lo} earlier tokens (scrub back to read them) … `;
      for (const el of this.marked) el.classList.remove("round", "cur");
      this.marked = [];
      const roundStart = this.run.roundBase(st.round);
      for (let i = roundStart === null ? n : roundStart; i < n; i++) { kids[i].classList.add("round"); this.marked.push(kids[i]); }
      const pend = $("pending");
      pend.textContent = "";
      const run = this.run;
      const start = run.draftStart.get(st.round);
      if (start !== undefined) {
        for (let i = start; i < st.nDrafts && run.drafts.round[i] === st.round; i++) {
          if (run.draftStatus(i, st.pos) !== "pending") continue;
          const s = document.createElement("span");
          s.className = "s-pending round"; s.textContent = run.draftText(i); s.dataset.d = i;
          pend.appendChild(s);
        }
      }
      const cur = pend.lastElementChild || (n ? kids[n - 1] : null);
      if (cur) { cur.classList.add("cur"); this.marked.push(cur); }
      $("no-tokens").hidden = !!cur;
      // The panel shows its end (player.css), where `cur` is, unless the reader scrolled it.
      if (this.textScrolled) { this.textScrolled = false; $("text").scrollTop = 0; }
    }


    // The timeline's "now" marker moves every event: an overlay, not a Plotly redraw.
    nowLine(st) {
      const gd = $("chart-timeline"), line = $("now-line"), fl = gd._fullLayout;
      if (!fl || !fl.xaxis || !fl.xaxis.visible) { line.hidden = true; return; }
      const x = fl.xaxis.l2p(st.time) + fl.xaxis._offset;
      line.hidden = !(x >= fl.xaxis._offset && x <= fl.xaxis._offset + fl.xaxis._length);
      line.style.left = `${x}px`; line.style.top = `${fl.yaxis._offset}px`; line.style.height = `${fl.yaxis._length}px`;
    }

    // Every chart drawn for the current position (tests and benchmarks wait on this).
    drawn() {
      return !!this.run && !this.frameQueued && !this.pending && !!this.keys.tree
        && [...document.querySelectorAll(".chart")].every((d) => d.querySelector(".main-svg"));
    }

    // The page sends the whole run, or while it records what changed since the version
    // it sent last; "" when the player says it has this one. Whatever cannot be used (a
    // remounted player; a delta from a version whose message this player never got) is
    // asked for again by posting the version held: the page then diffs from that one, or
    // sends the whole run.
    receive(a) {
      const d = a.data ? JSON.parse(a.data) : null;
      if (this.received.length > 100) this.received.shift();
      if (d && d.delta && d.base === this.version && this.run) {
        this.received.push(["delta", a.data.length]);
        this.setData(applyDelta(this.run.d, d.delta), { pos: a.pos }, a.version);
      } else if (d && !d.delta) {
        performance.mark("specviz:data"); // the benchmark splits an open into its parts by these marks
        this.received.push(["whole", a.data.length]);
        this.setData(d, { pos: a.pos }, a.version);
      } else {
        this.received.push(["ask", 0]);
        this.asked = true;
        this.post(true);
        return;
      }
      if (this.asked) { this.asked = false; this.post(); } // the page stops diffing from the asked version
      else this.postSoon(); // the page learns which version this player holds
    }

    // A run the page had read for the player to fetch (viewer/prefetch.py), maybe already
    // under way since the frame loaded (index.html). If it fails, the page is told
    // (fetch_failed) and sends the run itself.
    async fetchRun(a) {
      if (this.fetchedFrom === a.fetch) return;
      this.fetchedFrom = a.fetch;
      const early = window.SpecvizEarly, started = early && early.fetches[a.fetch];
      try {
        const r = await (started || fetch(a.fetch));
        if (!r.ok) throw new Error(`${r.status} ${await r.text()}`);
        const version = r.headers.get("X-Specviz-Version"), d = await r.json();
        performance.mark("specviz:data");
        this.received.push(["fetched", d.events.round.length]);
        this.setData(d, { pos: a.pos }, version);
        // The page learns which version this player holds, a second later: its rerun
        // would otherwise compete with the first frame's paint.
        this.lastPost = performance.now();
        this.postSoon();
      } catch (err) {
        console.warn("specviz: fetching the run failed, asking the page for it:", err);
        this.fetchFailed = true;
        this.post(true);
      }
    }

    // -- position back to the page (for the URL), at most once a second ----------------
    post(ask = false) {
      if (!Bridge.active) return;
      clearTimeout(this.postTimer); this.postTimer = null;
      this.lastPost = performance.now();
      this.posts = (this.posts || 0) + 1; // every post is a new value, so the page always reruns
      Bridge.value({ pos: this.pos, follow: this.follow, playing: this.playing, run: this.run && this.run.d.run.run_id,
        have: this.version, ask, n: this.posts, fetch_failed: !!this.fetchFailed });
    }

    // While the run records, the player asks the page for its new events itself: a rerun
    // per tick that no server-side timer has to keep alive, so following cannot stall.
    // The page re-reads the whole run per tick (workMs, which it reports): ticks come no
    // closer than twice that, so following a long run keeps the server at most half busy.
    tick() {
      if (!Bridge.active || !this.run || !this.run.live || this.postTimer) return;
      const now = performance.now();
      if (now - this.lastPost < Math.max(LIVE_TICK_MS, 2 * (this.workMs || 0)) - 50) return;
      this.post();
    }

    postSoon() {
      if (!Bridge.active || this.postTimer) return;
      const wait = Math.max(0, POST_EVERY_MS - (performance.now() - this.lastPost));
      this.postTimer = setTimeout(() => this.post(), wait);
    }

    // -- controls --------------------------------------------------------------------
    controls() {
      const on = (id, fn) => $(id).addEventListener("click", fn);
      on("btn-start", () => this.goto(0));
      on("btn-end", () => this.goto(this.run.last));
      on("btn-prev-event", () => this.goto(this.pos - 1));
      on("btn-next-event", () => this.goto(this.pos + 1));
      on("btn-prev-round", () => this.stepRound(-1));
      on("btn-next-round", () => this.stepRound(1));
      on("btn-play", () => this.setPlaying(!this.playing));
      const speed = $("speed");
      SPEEDS.forEach(([name, v]) => speed.add(new Option(name, v)));
      speed.addEventListener("change", () => { this.speed = Number(speed.value); if (this.playing) this.anchor(); });
      const win = $("window");
      WINDOWS.forEach((w) => win.add(new Option(String(w), w, w === this.window, w === this.window)));
      win.addEventListener("change", () => { this.window = Number(win.value); this.draw(); });
      $("round-slider").addEventListener("input", (e) => this.goto(this.run.roundEnd(Number(e.target.value))));
      $("event-slider").addEventListener("input", (e) => this.goto(Number(e.target.value)));
      $("follow").addEventListener("change", (e) => {
        this.follow = e.target.checked;
        if (this.follow) { this.setPlaying(false); this.pos = this.run.last; this.draw(); }
        this.post();
      });
      $("tree-legend").innerHTML = legendHtml();
      this.tree = new SpecvizTree.TreeView($("chart-tree"), $("tree-labels"), {
        click: (seq) => this.goto(seq),
        zoom: (range) => { this.treeRange = range; this.draw(); }, // labels re-fit the zoomed width
        tip: (html, x, y) => this.showTip(html, x, y),
      });
      this.tooltips();
      this.watchWidths();
      this.keyboard(window);
      try { if (window.parent !== window) this.keyboard(window.parent); } catch (e) { /* another origin: keys work inside the player only */ }
    }

    keyboard(win) {
      win.addEventListener("keydown", (e) => {
        if (!this.run) return;
        const t = e.target, tag = (t && t.tagName) || "";
        if ((tag === "INPUT" && t.type !== "range" && t.type !== "checkbox") || tag === "TEXTAREA" || tag === "SELECT"
          || (t && t.isContentEditable)) return;
        if (e.key === " " || e.code === "Space") this.setPlaying(!this.playing);
        else if (e.key === "ArrowLeft") e.shiftKey ? this.stepRound(-1) : this.goto(this.pos - 1);
        else if (e.key === "ArrowRight") e.shiftKey ? this.stepRound(1) : this.goto(this.pos + 1);
        else if (e.key === "Home") this.goto(0);
        else if (e.key === "End") this.goto(this.run.last);
        else return;
        e.preventDefault();
      });
    }

    // The tree's tooltips (escaped HTML lines, made by the chart builder) beside the pointer.
    showTip(html, x, y) {
      const tip = $("tip");
      tip.hidden = !html;
      if (!html) return;
      tip.innerHTML = html;
      tip.style.left = `${Math.max(0, Math.min(x + 12, window.innerWidth - 530))}px`;
      tip.style.top = `${y + 14}px`;
    }

    tooltips() {
      const tip = $("tip"), box = $("text");
      box.addEventListener("mouseover", (e) => {
        const el = e.target;
        if (!el.dataset || (el.dataset.c === undefined && el.dataset.d === undefined)) return;
        const lines = el.dataset.c !== undefined ? this.run.commitLines(Number(el.dataset.c)) : this.run.draftLines(Number(el.dataset.d), this.pos);
        tip.textContent = lines.join("\n");
        tip.hidden = false;
        const r = el.getBoundingClientRect();
        tip.style.left = `${Math.min(r.left, window.innerWidth - 530)}px`;
        tip.style.top = `${r.bottom + 6}px`;
      });
      box.addEventListener("mouseout", () => { tip.hidden = true; });
      box.addEventListener("scroll", () => { this.textScrolled = box.scrollTop !== 0; }, { passive: true });
      box.addEventListener("click", (e) => {
        const c = e.target.dataset && e.target.dataset.c;
        if (c !== undefined) this.goto(this.run.commits.seq[Number(c)]);
      });
    }
  }

  function legendHtml() {
    const dot = (s, open) => `<span><i class="${open ? "open" : ""}" style="background:${COLORS[s]}"></i>${label(s)}</span>`;
    return ["accepted", "rejected", "resampled", "bonus", "pending"].map((s) => dot(s)).join("") + dot("skipped", true)
      + "<span>· size = draft entropy (bigger: less sure) · opacity = acceptance prob min(1, p/q) · dashed red = rejection"
      + " · scroll to zoom, drag to pan, double-click to reset · click a token to go there</span>";
  }

  // Entry point: standalone (data inlined by the HTML export) or as a Streamlit component.
  async function boot() {
    performance.mark("specviz:boot");
    const player = new Player();
    window.specviz = player;
    new ResizeObserver(() => Bridge.active && Bridge.height(document.documentElement.scrollHeight)).observe(document.body);
    const lib = document.getElementById("specviz-plotly");
    if (lib) {
      const s = document.createElement("script");
      s.textContent = await inflate(lib.textContent);
      document.head.appendChild(s); // runs now: Plotly is defined before the first draw
    }
    const inline = document.getElementById("specviz-data");
    if (inline) return player.setData(JSON.parse(await inflate(inline.textContent)), {});
    Bridge.active = true;
    let nonce = null;
    const render = (a) => {
      player.workMs = a.work_ms;
      if (a.fetch) player.fetchRun(a);
      else if (!a.version) { // drawn before the server has read the run: the run follows
        player.warmUp();
        return;
      } else if (a.version !== player.version) player.receive(a);
      if (a.nonce !== nonce) { // a position the page asks for (a deep link), not our own echo
        if (nonce !== null && a.pos !== null && a.pos !== undefined) player.goto(a.pos);
        nonce = a.nonce;
      }
    };
    window.addEventListener("message", (e) => {
      if (e.data && e.data.type === "streamlit:render") render(e.data.args);
    });
    const early = window.SpecvizEarly; // a render message that came while Plotly loaded
    if (early && early.args) render(early.args);
    Bridge.ready();
    setInterval(() => player.tick(), LIVE_TICK_MS / 5);
  }

  // A delta from viewer/player/payload.py: lists keep a prefix and gain a tail, nested
  // objects likewise, anything else is replaced.
  function applyDelta(obj, delta) {
    for (const [k, v] of Object.entries(delta)) {
      const isObj = v !== null && typeof v === "object" && !Array.isArray(v);
      if (isObj && "$d" in v) applyDelta(obj[k], v.$d);
      else if (isObj && "$keep" in v) {
        const arr = obj[k];
        arr.length = v.$keep;
        for (const x of v.$tail) arr.push(x);
      } else obj[k] = v;
    }
    return obj;
  }

  // The export inlines Plotly and the run as base64 gzip: the browser inflates them natively.
  async function inflate(b64) {
    const bytes = Uint8Array.from(atob(b64.trim()), (ch) => ch.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }

  return { boot, inflate, applyDelta, Player };
})();
