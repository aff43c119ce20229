"""What every drafter shares: the draft it returns, what it is given, and how a kind of
drafter declares itself to the registry.

Nothing here imports MLX: the registry (and so ``--help`` and ``specviz models``) must not
pay for loading it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Protocol

import numpy as np

from specviz.engine.errors import EngineError

if TYPE_CHECKING:
    from specviz.engine.sampling import Transform
    from specviz.sampling_params import SamplingParams


@dataclass
class DraftedToken:
    """One proposed token and what the drafter knows about it."""

    id: int
    logprob: float | None = None  # log q(id) under the sampling transform; None = no distribution
    entropy: float | None = None
    top: list[tuple[int, float]] = field(default_factory=list)  # (id, logprob) alternatives
    ms: float = 0.0  # time spent drafting it
    ngram_n: int | None = None  # n-gram drafters: order of the n-gram that matched
    source_pos: int | None = None  # n-gram drafters: context index the token was copied from
    source: str = ""  # how it was chosen ("ngram", "model", "filler", ...): DraftToken.draft_source


@dataclass
class Draft:
    """Up to K proposed tokens. ``q`` (n, V) rows of the draft sampling distribution, or None
    when the proposal is deterministic (q one-hot on each token)."""

    tokens: list[DraftedToken] = field(default_factory=list)
    q: np.ndarray | None = None

    @property
    def ids(self) -> list[int]:
        return [t.id for t in self.tokens]

    @property
    def logprobs(self) -> list[float | None]:
        return [t.logprob for t in self.tokens]

    @classmethod
    def of(cls, ids: list[int], ms: float = 0.0, **fields: Any) -> "Draft":
        """A deterministic draft of ``ids``, ``ms`` spread evenly over them; ``fields`` are
        shared by every token (e.g. ``source="ngram"``)."""
        each = ms / len(ids) if ids else 0.0
        return cls([DraftedToken(int(i), ms=each, **fields) for i in ids])


@dataclass
class DraftContext:
    """Per-run things a drafter needs: the sampling transform and the run's random stream."""

    params: SamplingParams
    transform: Transform
    rng: np.random.Generator
    vocab_size: int  # the target's distribution width
    n_top: int = 5
    # a K policy's stopping rule (``AdaptiveK.keep_drafting``): called with the log q of the
    # tokens drafted so far, False ends the draft early. Drafters that report q honour it.
    keep_drafting: Callable[[list[float | None]], bool] | None = None


class Drafter(Protocol):
    spec: str
    model_name: str

    def prefill(self, prompt_ids: list[int]) -> None: ...

    def propose(self, context: list[int], k: int, ctx: DraftContext) -> Draft: ...


@dataclass(frozen=True)
class DrafterSpec:
    """A parsed ``--drafter`` value: ``kind[:arg][+option[:value]]...``."""

    kind: str
    arg: str = ""
    options: tuple[tuple[str, str], ...] = ()

    @property
    def text(self) -> str:
        head = f"{self.kind}:{self.arg}" if self.arg else self.kind
        return head + "".join(f"+{name}:{value}" if value else f"+{name}" for name, value in self.options)

    def option(self, name: str, default: str | None = None) -> str | None:
        return dict(self.options).get(name, default)

    @property
    def n(self) -> int:
        """The argument as an integer (ngram:N, layerskip:N)."""
        return int(self.arg)


@dataclass(frozen=True)
class DrafterKind:
    """One kind of drafter as the registry knows it.

    ``parse_arg`` validates the text after ``prefix:`` (None when absent) and returns it in
    canonical form; ``build(spec, target)`` constructs the drafter; ``check(spec, target)``
    raises ``EngineError`` when the target cannot serve this drafter. ``options`` maps each
    accepted ``+name[:value]`` modifier to its help text; ``parse_option(name, value)``
    validates one and returns its canonical value.
    """

    prefix: str
    syntax: str  # as shown in help, e.g. "ngram[:N]"
    help: str  # one line
    build: Callable[[DrafterSpec, Any], Any]
    parse_arg: Callable[[str | None], str] = lambda arg: arg or ""
    check: Callable[[DrafterSpec, Any], None] = lambda spec, target: None
    options: dict[str, str] = field(default_factory=dict)
    parse_option: Callable[[str, str], str] = lambda name, value: value
    methods: tuple[str, ...] = ("speculative",)  # methods besides autoregressive it can serve
    tokenizer_source: Callable[[DrafterSpec], str | None] = lambda spec: None  # shares its vocabulary with a remote target


def int_arg(label: str, default: int | None = None, minimum: int = 1) -> Callable[[str | None], str]:
    """A ``parse_arg`` for an integer argument (``ngram:3``), with an optional default."""

    def parse(arg: str | None) -> str:
        if arg is None or arg == "":
            if default is None:
                raise EngineError(f"{label} needs a number, e.g. {label.replace(':N', ':8')}")
            return str(default)
        if not arg.isdigit() or int(arg) < minimum:
            raise EngineError(f"{label} needs N >= {minimum}, got {arg!r}")
        return str(int(arg))

    return parse


__all__ = ["Draft", "DraftedToken", "DraftContext", "Drafter", "DrafterSpec", "DrafterKind", "int_arg"]
