"""The report as text (for people) and JSON (for scripts); both from one ``Report``."""

from __future__ import annotations

import math

import msgspec

from specviz.analysis.acceptance import Rates
from specviz.analysis.report import GroupReport, Report, RunReport

_JSON = msgspec.json.Encoder()
DETAIL_RUNS = 20  # per-run details are printed for selections up to this size (and for suspects)


def to_json(report: Report) -> bytes:
    return _JSON.encode(report)


def _p(x: float | None, spec: str = ".3f") -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _ci(lo, hi) -> str:
    return "—" if lo is None else f"[{lo:.2f}, {hi:.2f}]"


def _rates_table(title: str, rates: Rates, label: str, limit: int = 16) -> list[str]:
    if rates.empty:
        return [f"{title}: not measured (no tested drafts)"]
    lines = [f"{title} (95% Wilson interval)", f"  {label:>8}  {'tested':>7}  {'accepted':>8}  {'rate':>5}  95% CI"]
    step = max(1, math.ceil(len(rates.x) / limit))
    for i in range(0, len(rates.x), step):
        lines.append(f"  {rates.x[i]:>8g}  {rates.tested[i]:>7}  {rates.accepted[i]:>8}  {_p(rates.rate[i], '.2f'):>5}  "
                     f"{_ci(rates.lo[i], rates.hi[i])}")
    return lines


def _k_section(g: GroupReport) -> list[str]:
    c = g.k
    if c is None:
        return ["τ(K), speedup(K): not measured (no drafted rounds)"]
    m = c.costs
    lines = [
        f"Cost model over {m.rounds} rounds (ms): draft = {m.draft.intercept:.2f} + {m.draft.slope:.3f}·drafted, "
        f"verify = {m.verify.intercept:.2f} + {m.verify.slope:.3f}·scored, other = {m.other_ms:.2f}; "
        f"one target step = {m.step_ms:.2f}",
        "τ(K) and expected speedup(K) (* = beyond any recorded K: tail positions extrapolated)",
        f"  {'K':>3}  {'τ':>5}  {'drafted':>7}  {'ms/round':>8}  {'tok/s':>7}  {'speedup':>7}",
    ]
    for i, k in enumerate(c.ks):
        star = "*" if c.extrapolated[i] else " "
        lines.append(f"  {k:>3}{star} {c.tau[i]:>5.2f}  {c.drafted[i]:>7.2f}  {c.round_ms[i]:>8.2f}  "
                     f"{c.tokens_per_s[i]:>7.1f}  {c.speedup[i]:>6.2f}×")
    lines.append(f"Best fixed K in hindsight: K = {c.best_k} ({c.best_speedup:.2f}× modelled); the recorded rounds "
                 f"(mean K {c.recorded_k:.1f}) model to {c.recorded_speedup:.2f}×")
    lines.append(f"Oracle K per round: {c.oracle_speedup:.2f}× modelled, {c.left_on_table:+.0%} over the recorded rounds "
                 "(left on the table; a lower bound: rounds that accepted everything are not lengthened)")
    if g.recorded_by_k:
        lines.append("Recorded tokens/s by fixed K: " + " · ".join(f"K={k} {v:.1f}" for k, v in g.recorded_by_k.items()))
    return lines


def _conventions(c, indent: str = "  ") -> list[str]:
    per = " ".join(f"{x:.2f}" for x in c.vllm_acceptance_per_position[:16]) or "—"
    return [
        f"{indent}specviz    acceptance_rate {_p(c.acceptance_rate)} (accepted/tested {c.accepted}/{c.tested}) · "
        f"τ {_p(c.tau, '.2f')} (produced/rounds {c.produced}/{c.rounds})",
        f"{indent}vLLM       draft_acceptance_rate {_p(c.vllm_draft_acceptance_rate)} · mean_acceptance_length "
        f"{_p(c.vllm_mean_acceptance_length, '.2f')} (num_drafts {c.vllm_num_drafts}) · per position {per}",
        f"{indent}SGLang     spec_accept_length {_p(c.sglang_spec_accept_length, '.2f')}",
        f"{indent}llama.cpp  draft_n_accepted/draft_n {c.llamacpp_draft_n_accepted}/{c.llamacpp_draft_n} = "
        f"{_p(c.llamacpp_acceptance)}",
    ]


def _group(g: GroupReport) -> list[str]:
    lines = [f"== {g.label} ({len(g.run_ids)} run{'s' if len(g.run_ids) != 1 else ''}) =="]
    lines += _rates_table("Acceptance per draft position", g.per_position, "position")
    lines += _rates_table("Acceptance by output position", g.by_output_position, "from")
    lines += _rates_table("Acceptance by context length", g.by_context_length, "from")
    h = g.heatmap
    lines.append("Round × position heatmap: " + ("not measured" if h.empty else
                 f"{len(h.rounds)} rounds × {len(h.positions)} positions (in --format json; drawn by the viewer)"))
    lines += _k_section(g)
    lines.append("Metric conventions")
    lines += _conventions(g.conventions)
    lines += [f"note: {n}" for n in g.notes]
    return lines


def _run(r: RunReport, details: bool) -> list[str]:
    k = "auto" if r.k_policy == "auto" else str(r.k)
    lines = [f"{r.run_id}  K={k:<4} tok/s {_p(r.tokens_per_s, '.1f'):>6}  speedup {_p(r.speedup, '.2f'):>5}  "
             f"τ {_p(r.conventions.tau, '.2f')}  {r.audit.verdict}"]
    if not details and not r.audit.verdict.startswith("suspect"):
        return lines
    lines += [f"    {d}" for d in r.audit.details]
    if r.audit.kind == "sampled" and r.audit.positions:
        obs = " · ".join(f"{p.position}: {p.accepted}/{p.tested} vs {p.expected:.1f}" for p in r.audit.positions[:8])
        lines.append(f"    accepted vs expected per position: {obs}")
        if r.audit.ks_p is not None:
            lines.append(f"    draws u: KS D = {r.audit.ks_d:.3f}, p = {r.audit.ks_p:.3g}")
    if r.replay is not None:
        rp = r.replay
        cells = " · ".join(f"K={k} {t:.2f}/{n}" for k, t, n in zip(rp.ks, rp.tau, rp.rounds))
        lines.append(f"    replay τ/rounds: {cells}")
        lines.append(f"    replay at the recorded K reproduces its {'rounds' if rp.reproduces else 'rounds: NO'}; "
                     f"best K {rp.best_k}")
    elif r.replay_note:
        lines.append(f"    {r.replay_note}")
    if details:
        lines += _conventions(r.conventions, "    ")
    return lines


def render_text(report: Report) -> str:
    n = len(report.runs)
    lines = [f"specviz analyze · {n} run{'s' if n != 1 else ''} · {len(report.groups)} configuration"
             f"{'s' if len(report.groups) != 1 else ''}", ""]
    for g in report.groups:
        lines += _group(g) + [""]
    lines.append("== Runs (verdict: lossless / suspect: reason / unverified: why) ==")
    details = n <= DETAIL_RUNS
    for r in report.runs:
        lines += _run(r, details)
    lines += [f"note: {x}" for x in report.notes]
    return "\n".join(lines)


__all__ = ["render_text", "to_json"]
