"""`specviz chat`: an interactive loop for exploring; every turn is recorded as a run."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace

import click

from recorder.record_cmds import _load_engine, summary_line
from specviz.errors import SpecvizError
from specviz.statuses import TERMINAL_COLOURS

HELP = ("/stats  this session's runs so far   /k N  draft length   /drafter SPEC   /temperature T   "
        "/help   /quit (or Ctrl-D)")


@dataclass
class Session:
    target: str
    drafter: str
    k: int
    temperature: float
    max_tokens: int
    results: list = field(default_factory=list)

    def stats(self) -> str:
        if not self.results:
            return "no turns yet"
        fin = [r.finished for r in self.results]
        tested = sum(f.tested for f in fin)
        acc = f"{sum(f.accepted for f in fin) / tested:.0%}" if tested else "–"
        rounds = sum(f.rounds for f in fin)
        tau = sum(f.produced for f in fin) / rounds if rounds else 0.0
        return (f"{len(fin)} turns · {sum(f.produced for f in fin)} tokens · acceptance {acc} · τ {tau:.2f} · "
                f"drafter {self.drafter} k={self.k} T={self.temperature} · last run {self.results[-1].run_id}")


def _command(session: Session, line: str) -> tuple[Session, str | None]:
    """Apply one /command; (new session, message) — message None means quit."""
    from specviz.engine.drafters import parse_drafter

    name, _, arg = line[1:].strip().partition(" ")
    arg = arg.strip()
    try:
        if name in ("quit", "exit", "q"):
            return session, None
        if name == "stats":
            return session, session.stats()
        if name == "k":
            k = _number(int, arg, "/k takes a whole number of draft tokens, 1 or more")
            return replace(session, k=k), f"k = {k}"
        if name == "temperature":
            t = _number(float, arg, "/temperature takes a number, 0 (greedy) or more")
            return replace(session, temperature=t), f"temperature = {t}"
        if name == "drafter":
            spec = parse_drafter(arg).text
            return replace(session, drafter=spec), f"drafter = {spec}"
    except (ValueError, SpecvizError) as exc:
        return session, f"error: {exc}"
    return session, HELP


def _number(kind, text: str, rule: str):
    """``kind(text)`` when it is a number >= the rule's least value, else the rule in words
    (Python's "invalid literal for int() with base 10" says nothing to someone chatting)."""
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value != value or value < (1 if kind is int else 0):
        raise ValueError(f"{rule}, not {text!r}")
    return value


@click.command("chat")
@click.option("--drafter", envvar="SPECVIZ_DRAFTER", default="ngram", show_default=True, help="Starting drafter.")
@click.option("-k", "k", type=click.IntRange(1), default=4, show_default=True, help="Starting draft length.")
@click.option("--temperature", type=click.FloatRange(0), default=0.0, show_default=True, help="Starting temperature.")
@click.option("--target", envvar="SPECVIZ_TARGET", default="bundled", show_default=True, help="Target model.")
@click.option("--max-tokens", type=click.IntRange(1), default=128, show_default=True, help="Tokens per turn.")
@click.pass_context
def chat_command(ctx, drafter, k, temperature, target, max_tokens) -> None:
    """Type prompts, watch the coloured stream; /k 6, /drafter nasd:4, /temperature 0.7, /stats.

    Each prompt is one independent turn (no conversation memory), recorded as a run.
    """
    from specviz.engine.drafters import parse_drafter

    traces = (ctx.obj or {}).get("traces", "traces")
    session = Session(target, parse_drafter(drafter).text, k, temperature, max_tokens)
    click.echo(f"specviz chat · {HELP}", err=True)
    while True:
        click.echo("> ", nl=False, err=True)
        line = sys.stdin.readline()
        if not line:
            break
        line = line.strip()
        if not line:
            continue
        if line.startswith("/"):
            session, message = _command(session, line)
            if message is None:
                break
            click.echo(message)
            continue
        try:
            result = _turn(session, line, traces)
        except SpecvizError as exc:  # e.g. a drafter this target cannot serve: say so, keep chatting
            click.echo(f"error: {exc}")
            continue
        session.results.append(result)
        click.echo()
        click.echo(summary_line(result))


def _turn(session: Session, prompt: str, traces: str):
    from specviz.engine import RunOptions

    engine = _load_engine(session.target, session.drafter, None, "speculative", {})
    options = RunOptions(k=session.k, temperature=session.temperature, max_tokens=session.max_tokens, tags={"chat": "1"})
    return engine.record(prompt, options, traces=traces,
                         on_text=lambda piece, st: click.echo(click.style(piece, fg=TERMINAL_COLOURS.get(st)), nl=False))


COMMANDS = [chat_command]
