"""The ``--target-*`` options of an ``openai:`` target, as one decorator for ``specviz record``.

Every option has an environment default (``SPECVIZ_TARGET_*``), so a server's quirks can be
set once in the shell. ``target_options(**kwargs)`` turns the parsed values into the
``TargetOptions`` that ``OpenAITarget`` takes. ``--target-model`` is not here: ``specviz
record`` has it already, for every kind of target.
"""

from __future__ import annotations

from typing import Any, Callable

import click

from specviz.targets.capabilities import TargetOptions
from specviz.targets.transport import RetryPolicy

_OPTIONS = [
    click.option("--target-mode", envvar="SPECVIZ_TARGET_MODE", default="auto", show_default=True,
                 type=click.Choice(["auto", "score", "generate"]),
                 help="score: echo prompt logprobs, rule rejection-sampling-topk; generate: the "
                      "server's own tokens, rule exact-match; auto: probe, score if possible."),
    click.option("--target-logprobs-style", envvar="SPECVIZ_TARGET_LOGPROBS_STYLE", default="auto",
                 show_default=True, type=click.Choice(["auto", "legacy", "bool"]),
                 help="legacy: integer logprobs (vLLM, llama.cpp, Cerebras); bool: logprobs=true "
                      "plus top_logprobs (mlx_lm.server)."),
    click.option("--target-top-logprobs", envvar="SPECVIZ_TARGET_TOP_LOGPROBS", default=None, type=int,
                 metavar="N", help="Alternatives per position [default: 5 legacy, 0 bool]."),
    click.option("--target-retries", envvar="SPECVIZ_TARGET_RETRIES", default=4, show_default=True,
                 type=click.IntRange(1, 20), help="Tries per request for timeouts, 429 and 5xx."),
    click.option("--target-timeout", envvar="SPECVIZ_TARGET_TIMEOUT", default=60.0, show_default=True,
                 type=click.FloatRange(0.1), help="Seconds before a request counts as timed out."),
]


def remote_target_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def target_options(
    target_mode: str = "auto",
    target_logprobs_style: str = "auto",
    target_top_logprobs: int | None = None,
    target_retries: int = 4,
    target_timeout: float = 60.0,
    **_: Any,
) -> TargetOptions:
    return TargetOptions(
        mode=target_mode,  # type: ignore[arg-type]
        style=target_logprobs_style,  # type: ignore[arg-type]
        top_logprobs=target_top_logprobs,
        retry=RetryPolicy(attempts=target_retries, timeout_s=target_timeout),
    )
