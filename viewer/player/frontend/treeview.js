// The token tree drawn as plain SVG from the figure SpecvizCharts.tree builds.
// It is redrawn on every frame of playback: Plotly.react of this figure cost ~20 ms a
// frame (idle machine), setting attributes on a pool of ~100 circles costs well under 1.
// Zoom (wheel), pan (drag), reset (double-click), hover and click are handled here.
"use strict";

const SpecvizTree = (() => {
  const NS = "http://www.w3.org/2000/svg";
  const M = { l: 12, r: 12, t: 30, b: 40 }; // as the figure's own margins
  const Y_RANGE = [-3, 3];
  const HIT_PX = 4;

  const el = (tag, attrs = {}, parent = null) => {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  };

  // Tick spacing of 1, 2 or 5 × 10^n giving at most `most` ticks over `span`.
  function tickStep(span, most) {
    const raw = Math.max(1, span / most), p = 10 ** Math.floor(Math.log10(raw));
    return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
  }

  class TreeView {
    // host: the element to draw into; labels: the HTML label layer over it;
    // on: {click(seq), zoom(range or null), tip(html or null, clientX, clientY)}.
    constructor(host, labels, on) {
      this.host = host; this.labelBox = labels; this.on = on;
      this.range = null; this.fig = null; this.nodes = [];
      this.svg = el("svg", { class: "tree-svg", width: "100%", height: "100%" }, host);
      this.title = el("text", { x: M.l, y: 18, class: "tree-title" }, this.svg);
      this.axis = el("g", { class: "tree-axis" }, this.svg);
      this.axisTitle = el("text", { class: "tree-axis-title", "text-anchor": "middle" }, this.svg);
      this.edgeG = el("g", {}, this.svg);
      this.nodeG = el("g", {}, this.svg);
      this.note = el("text", { class: "tree-note", "text-anchor": "middle" }, this.svg);
      this.wire();
    }

    // The plot's size, read once per render: reading layout between writes would make the
    // browser lay the page out again for every node.
    measure() {
      const w = this.host.clientWidth || 800, h = this.host.clientHeight || 340;
      this.dims = { w, h, pw: Math.max(10, w - M.l - M.r), ph: Math.max(10, h - M.t - M.b) };
      return this.dims;
    }

    size() { return this.dims || this.measure(); }

    // Data x/y to pixels in the SVG; the x range is the user's zoom or the nodes' extent.
    scales(xs) {
      const { pw, ph } = this.size();
      let [lo, hi] = this.range || [Math.min(...xs) - 0.6, Math.max(...xs) + 0.6];
      if (!(hi > lo)) { lo -= 1; hi += 1; }
      this.extent = [lo, hi];
      const kx = pw / (hi - lo), ky = ph / (Y_RANGE[1] - Y_RANGE[0]);
      return { x: (x) => M.l + (x - lo) * kx, y: (y) => M.t + (Y_RANGE[1] - y) * ky, lo, hi };
    }

    render(fig) {
      this.fig = fig;
      this.title.textContent = (fig.layout.title && fig.layout.title.text) || "";
      const tokens = fig.data.find((t) => t.name === "tokens");
      const empty = !tokens || !tokens.x.length;
      const { w, h } = this.size(); // measured by the caller before it wrote anything this frame
      this.note.textContent = empty ? ((fig.layout.annotations || [])[0] || {}).text || "" : "";
      this.note.setAttribute("x", w / 2); this.note.setAttribute("y", h / 2);
      this.axis.style.display = this.axisTitle.style.display = empty ? "none" : "";
      this.labelBox.hidden = empty;
      if (empty) { this.pool(0); this.edges([]); this.nodes = []; return; }
      const s = this.scales(tokens.x);
      this.edges(fig.data.filter((t) => t.mode === "lines"), s);
      this.drawNodes(tokens, s);
      this.drawAxis(s, w, h);
      this.drawLabels(fig.labels || [], s);
    }

    edges(traces, s) {
      while (this.edgeG.children.length < traces.length) el("path", { fill: "none" }, this.edgeG);
      [...this.edgeG.children].forEach((p, i) => {
        const t = traces[i];
        if (!t) { p.setAttribute("d", ""); return; }
        let d = "", pen = false;
        for (let j = 0; j < t.x.length; j++) {
          if (t.x[j] === null) { pen = false; continue; }
          d += `${pen ? "L" : "M"}${s.x(t.x[j]).toFixed(1)} ${s.y(t.y[j]).toFixed(1)}`;
          pen = true;
        }
        p.setAttribute("d", d);
        p.setAttribute("stroke", t.line.color); p.setAttribute("stroke-width", t.line.width);
        p.setAttribute("stroke-dasharray", t.line.dash === "dash" ? "6 4" : t.line.dash === "dot" ? "2 3" : "");
      });
    }

    pool(n) {
      const kids = this.nodeG.children;
      while (kids.length < n) el("circle", { stroke: "#374151", "stroke-width": 0.5 }, this.nodeG);
      for (let i = 0; i < kids.length; i++) kids[i].style.display = i < n ? "" : "none";
      return kids;
    }

    drawNodes(t, s) {
      const kids = this.pool(t.x.length), m = t.marker, right = this.size().w - M.r;
      this.nodes = [];
      for (let i = 0; i < t.x.length; i++) {
        const c = kids[i], cx = s.x(t.x[i]), cy = s.y(t.y[i]), r = m.size[i] / 2;
        c.setAttribute("cx", cx.toFixed(1)); c.setAttribute("cy", cy.toFixed(1)); c.setAttribute("r", r);
        c.setAttribute("fill", m.color[i]); c.setAttribute("fill-opacity", m.opacity[i]);
        c.dataset.seq = t.customdata[i];
        c.style.visibility = cx < M.l - r || cx > right + r ? "hidden" : "";
        this.nodes.push({ cx, cy, r, seq: t.customdata[i], hover: t.hovertext[i] });
      }
    }

    drawAxis(s, w, h) {
      const key = `${s.lo}:${s.hi}:${w}:${h}`;
      if (this.axisKey === key) return; // playback moves the window one position at a time
      this.axisKey = key;
      const step = tickStep(s.hi - s.lo, Math.max(2, Math.floor((w - M.l - M.r) / 70)));
      const ticks = [];
      for (let v = Math.ceil(s.lo / step) * step; v <= s.hi; v += step) ticks.push(v);
      const kids = this.axis.children;
      while (kids.length < ticks.length) el("text", { "text-anchor": "middle", class: "tree-tick" }, this.axis);
      for (let i = 0; i < kids.length; i++) {
        const k = kids[i];
        k.style.display = i < ticks.length ? "" : "none";
        if (i >= ticks.length) continue;
        k.setAttribute("x", s.x(ticks[i]).toFixed(1)); k.setAttribute("y", h - M.b + 16);
        k.textContent = ticks[i];
      }
      this.axisTitle.setAttribute("x", M.l + (w - M.l - M.r) / 2); this.axisTitle.setAttribute("y", h - 6);
      this.axisTitle.textContent = "output position";
    }

    // Token labels: a pool of absolutely placed HTML spans over the plot (cheaper than SVG text).
    drawLabels(labels, s) {
      const box = this.labelBox, { w } = this.size();
      while (box.children.length < labels.length) box.appendChild(document.createElement("span"));
      for (let i = 0; i < box.children.length; i++) {
        const e = box.children[i], l = labels[i];
        if (!l || !l.text) { e.hidden = true; continue; }
        const x = s.x(l.x), y = s.y(l.y);
        e.hidden = x < M.l - 2 || x > w - M.r + 2;
        e.textContent = l.text;
        e.style.transform = `translate(${x.toFixed(1)}px, ${y.toFixed(1)}px) translate(-50%, ${l.below ? "7px" : "-21px"})`;
      }
    }

    // The node under a pointer (within its radius and a few pixels), or null.
    hit(e) {
      const r = this.svg.getBoundingClientRect(), x = e.clientX - r.left, y = e.clientY - r.top;
      let best = null, bestD = Infinity;
      for (const n of this.nodes) {
        const d = Math.hypot(n.cx - x, n.cy - y);
        if (d <= n.r + HIT_PX && d < bestD) { best = n; bestD = d; }
      }
      return best;
    }

    setRange(range) {
      this.range = range;
      this.on.zoom(range);
    }

    wire() {
      const svg = this.svg;
      let drag = null;
      svg.addEventListener("wheel", (e) => {
        if (!this.extent || !this.nodes.length) return;
        e.preventDefault();
        const [lo, hi] = this.extent, r = svg.getBoundingClientRect(), { pw } = this.size();
        const at = lo + (e.clientX - r.left - M.l) / pw * (hi - lo), f = Math.exp(e.deltaY * 0.0015);
        this.setRange([at - (at - lo) * f, at + (hi - at) * f]);
      }, { passive: false });
      svg.addEventListener("mousedown", (e) => {
        if (this.extent) drag = { x: e.clientX, range: this.extent.slice(), moved: false };
      });
      window.addEventListener("mousemove", (e) => {
        if (drag) {
          const dx = e.clientX - drag.x;
          if (Math.abs(dx) > 3) drag.moved = true;
          if (!drag.moved) return;
          const [lo, hi] = drag.range, d = dx / this.size().pw * (hi - lo);
          this.setRange([lo - d, hi - d]);
          return;
        }
        const n = svg.contains(e.target) ? this.hit(e) : null;
        svg.style.cursor = n ? "pointer" : "grab";
        if (n || this.tipping) this.on.tip(n ? n.hover : null, e.clientX, e.clientY); // the text panel has tips too
        this.tipping = !!n;
      });
      window.addEventListener("mouseup", (e) => {
        const was = drag;
        drag = null;
        if (!was || was.moved) return;
        const n = this.hit(e);
        if (n) this.on.click(n.seq);
      });
      svg.addEventListener("mouseleave", () => { if (this.tipping) this.on.tip(null); this.tipping = false; });
      svg.addEventListener("dblclick", () => this.setRange(null));
    }
  }

  return { TreeView };
})();
