// The run as of any scrub position, answered in the browser from the payload that
// viewer/player/payload.py builds once per run (the Python twin is specviz.replay).
// Every fact carries the event index at which it became true; a position is a set of
// prefix counts found by bisection, so a scrub step costs the same at round 10 as at 2,000.
"use strict";

const SpecvizModel = (() => {
  const COLORS = {
    accepted: "#16a34a", rejected: "#dc2626", resampled: "#ea580c", bonus: "#2563eb",
    pending: "#9ca3af", skipped: "#d1d5db",
  };
  const LABELS = { skipped: "not tested", pending: "pending" };
  const label = (status) => LABELS[status] || status;

  // How many of the sorted values are <= x.
  function countUpTo(arr, x) {
    let lo = 0, hi = arr.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (arr[mid] <= x) lo = mid + 1; else hi = mid;
    }
    return lo;
  }

  function showToken(text) {
    if (text === "") return "∅";
    return text.replace(/\n/g, "⏎").replace(/\t/g, "⇥").replace(/ /g, "·");
  }

  function pct(x) {
    if (x === null || x === undefined) return "—";
    const v = 100 * x;
    if (v >= 0.1 || v === 0) return `${v.toFixed(1)}%`;
    return `${v.toPrecision(2)}%`;
  }

  const num = (x, digits = 2) => (x === null || x === undefined ? "—" : x.toFixed(digits));

  class Run {
    constructor(data) {
      this.d = data;
      this.S = data.strings;
      this.status = data.statuses;
      const ev = data.events;
      this.nEvents = ev.round.length;
      this.last = this.nEvents - 1;
      this.live = data.live;
      this.types = ev.type.map((i) => data.event_types[i]);
      this.drafts = data.drafts;
      this.verifies = data.verifies;
      this.commits = data.commits;
      this.metrics = data.metrics;
      this.errorSeq = data.errors.map((e) => e[0]);
      this._rounds();
      this._tested();
    }

    _rounds() {
      // Round -> output index its branch grows from, and its first draft (sorted by round).
      this.baseRound = this.d.round_base.map((p) => p[0]);
      this.baseAt = this.d.round_base.map((p) => p[1]);
      this.draftStart = new Map();
      this.drafts.round.forEach((r, i) => { if (!this.draftStart.has(r)) this.draftStart.set(r, i); });
      this.maxRound = Math.max(0, ...this.d.events.round);
      // The events that close each round, for round steps (event_round is non-decreasing).
      this.roundLast = new Map();
      this.d.events.round.forEach((r, i) => this.roundLast.set(r, i));
    }

    _tested() {
      // Tested draft positions in verdict order: acceptance by position and vs entropy.
      const idx = [];
      this.drafts.verify.forEach((v, i) => { if (v >= 0) idx.push(i); });
      idx.sort((a, b) => this.drafts.verdict_at[a] - this.drafts.verdict_at[b]);
      this.tested = idx;
      this.testedAt = idx.map((i) => this.drafts.verdict_at[i]);
    }

    roundOf(pos) { return pos >= 0 ? this.d.events.round[pos] : -1; }
    timeOf(pos) { return pos >= 0 ? this.d.events.t[pos] : 0; }

    roundEnd(round) {
      // The last event carrying that round (or the nearest earlier one).
      return Math.max(0, countUpTo(this.d.events.round, round) - 1);
    }

    roundBase(round) {
      const i = countUpTo(this.baseRound, round) - 1;
      return i >= 0 && this.baseRound[i] === round ? this.baseAt[i] : null;
    }

    at(pos) {
      pos = Math.max(-1, Math.min(pos, this.last));
      return {
        pos,
        round: this.roundOf(pos),
        time: this.timeOf(pos),
        nCommits: countUpTo(this.commits.seq, pos),
        nMetrics: countUpTo(this.metrics.seq, pos),
        nDrafts: countUpTo(this.drafts.seq, pos),
        nTested: countUpTo(this.testedAt, pos),
        nErrors: countUpTo(this.errorSeq, pos),
      };
    }

    draftStatus(i, pos) {
      const at = this.drafts.verdict_at[i];
      return at !== null && at <= pos ? this.status[this.drafts.status[i]] : "pending";
    }

    commitStatus(c) { return this.status[this.verifies.status[this.commits.verify[c]]]; }
    commitText(c) { return this.S[this.verifies.text[this.commits.verify[c]]]; }
    draftText(i) { return this.S[this.drafts.text[i]]; }

    // Where a click on a token lands: the moment its current look became true.
    draftSeq(i, pos) {
      const at = this.drafts.verdict_at[i];
      return at !== null && at <= pos ? at : this.drafts.seq[i];
    }

    tops(flat) {
      const out = [];
      for (let i = 0; i < flat.length; i += 2) out.push(`${showToken(this.S[flat[i]])} ${pct(flat[i + 1])}`);
      return out.join(", ") || "—";
    }

    _verdictLine(v) {
      const V = this.verifies;
      const acc = V.acc[v];
      const u = V.u[v];
      let line = `p ${pct(V.p[v])} · q ${pct(V.q[v])} · acceptance min(1, p/q) ${pct(acc)} · u ${num(u, 3)}`;
      if (u !== null && acc !== null) line += u < acc ? " (u < acceptance: kept)" : " (u ≥ acceptance: rejected)";
      return line;
    }

    _tail(lines, v, draft) {
      const V = this.verifies;
      const dEnt = draft >= 0 ? this.drafts.ent[draft] : null;
      lines.push(`entropy: draft ${num(dEnt)} · target ${num(v >= 0 ? V.ent[v] : null)} nats`);
      if (v >= 0) lines.push(`target top: ${this.tops(V.top[v])}`);
      if (draft >= 0) lines.push(`draft top: ${this.tops(this.drafts.top[draft])}`);
      if (v >= 0 && V.exact[v] === false) lines.push(`inexact: ${V.inexact[v] || "p came from the top-k only"}`);
      return lines;
    }

    // The facts behind a committed token, its own numbers first; a resampled token's
    // rejected draft gets a line of its own.
    commitLines(c) {
      const V = this.verifies;
      const v = this.commits.verify[c];
      const draft = this.commits.draft[c];
      const status = this.status[V.status[v]];
      const lines = [`${showToken(this.S[V.text[v]])}  [${label(status)}]`, `round ${V.round[v]} · output position ${c}`];
      if (status === "accepted") {
        lines.push(`draft accepted: ${this._verdictLine(v)}`);
      } else if (status === "resampled") {
        lines.push(`p(this token) ${pct(V.final_p[v])} under the target; drawn from the residual max(0, p − q)`);
        const rv = draft >= 0 ? this.drafts.verify[draft] : -1;
        if (rv >= 0) lines.push(`rejected draft ${showToken(this.draftText(draft))}: ${this._verdictLine(rv)}`);
      } else {
        lines.push(`p(this token) ${pct(V.final_p[v] ?? V.p[v])} · the target's own token (no draft to test)`);
      }
      return this._tail(lines, v, draft);
    }

    draftLines(i, pos) {
      const status = this.draftStatus(i, pos);
      const D = this.drafts;
      const lines = [`${showToken(this.draftText(i))}  [draft · ${label(status)}]`, `round ${D.round[i]} · draft position ${D.pos[i]}`];
      const v = D.verify[i];
      if (status === "rejected" && v >= 0) {
        lines.push(this._verdictLine(v));
        lines.push(`replaced by ${showToken(this.S[this.verifies.text[v]])} (p ${pct(this.verifies.final_p[v])})`);
      } else if (status === "skipped") {
        lines.push(`q ${pct(D.q[i])} · not tested: an earlier draft in this round was rejected`);
      } else {
        lines.push(`q ${pct(D.q[i])} · waiting for the target's verdict`);
      }
      return this._tail(lines, status === "rejected" ? v : -1, i);
    }
  }

  return { Run, COLORS, label, showToken, pct, num, countUpTo };
})();
