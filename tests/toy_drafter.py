"""A toy drafter, written the way the README's "Extending" section says: one module holding
the drafter and its ``DrafterKind``. ``echo[:N][+shift:S]`` proposes the token N places back
in the context (default 1: the last one), plus S modulo the vocabulary, K times over."""

from __future__ import annotations

from specviz.engine.drafters import Draft, DrafterKind, DrafterSpec
from specviz.engine.drafters.base import int_arg


class EchoDrafter:
    model_name = ""

    def __init__(self, back: int, shift: int, spec: str) -> None:
        self.back, self.shift, self.spec = back, shift, spec

    def prefill(self, prompt_ids: list[int]) -> None:
        return None

    def propose(self, context, k, ctx):
        token = (context[-self.back] + self.shift) % ctx.vocab_size
        return Draft.of([token] * k, source="echo")


def _build(spec: DrafterSpec, target) -> EchoDrafter:
    return EchoDrafter(spec.n, int(spec.option("shift", "0")), spec.text)


KIND = DrafterKind(
    prefix="echo",
    syntax="echo[:N]",
    help="propose the token N places back, K times",
    parse_arg=int_arg("echo:N", default=1),
    options={"shift": "add S to the echoed id"},
    parse_option=lambda name, value: str(int(value)),
    build=_build,
)
