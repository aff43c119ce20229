"""Every sampling parameter a server might default, stated in every request, and which of them
the server refused.

Servers sample with settings of their own unless told otherwise: llama.cpp-based servers apply
``repeat_penalty = 1.1`` even at temperature 0, and at T > 0 also ``top_k = 40`` and
``min_p = 0.05``; vLLM and SGLang read ``repetition_penalty``; mlx_lm.server reads
``repetition_penalty``, ``min_p`` and ``xtc_probability``. So every request names each of
them with the value that switches it off, under every server's spelling. A lenient server
ignores names it does not know; a strict one (OpenAI, Cerebras) refuses the request, and
``negotiate`` then drops what the refusal names (or, when it names nothing, every
non-standard name), remembering each dropped name as *ignored*: the server's behaviour for it
is unknown, and rows that depend on the server's own sampling say so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from specviz.sampling_params import SamplingParams

# name -> the value that turns it off. Floats stay floats: mlx_lm.server rejects an int
# where it validates a float (xtc_probability).
NEUTRAL: dict[str, Any] = {
    "presence_penalty": 0.0,  # OpenAI standard; mlx_lm.server, vLLM, SGLang, llama.cpp
    "frequency_penalty": 0.0,
    "top_k": 0,  # llama.cpp, llama-cpp-python, mlx_lm.server: 0 = off (vLLM/SGLang: -1, see below)
    "min_p": 0.0,  # llama.cpp (default 0.05), mlx_lm.server, vLLM, SGLang
    "typical_p": 1.0,  # llama.cpp, llama-cpp-python (typical sampling off)
    "tfs_z": 1.0,  # older llama.cpp / llama-cpp-python (tail-free sampling off)
    "repeat_penalty": 1.0,  # llama.cpp, llama-cpp-python (default 1.1)
    "repetition_penalty": 1.0,  # vLLM, SGLang, mlx_lm.server
    "mirostat": 0,  # llama.cpp server
    "mirostat_mode": 0,  # llama-cpp-python
    "dry_multiplier": 0.0,  # llama.cpp (DRY repetition penalty off)
    "xtc_probability": 0.0,  # llama.cpp, mlx_lm.server
}
STANDARD = ("presence_penalty", "frequency_penalty")  # what the OpenAI API itself knows
# vLLM before 0.7 and SGLang refuse top_k = 0 and spell "off" as -1.
TOP_K_OFF_ALTERNATIVE = -1
# Statuses of a reply that refuses the request's parameters (not the server failing).
REFUSED = {400, 422}


@dataclass
class SamplingDialect:
    """The neutral parameters a server accepts, and those it refused (behaviour unknown)."""

    neutral: dict[str, Any] = field(default_factory=lambda: dict(NEUTRAL))
    ignored: list[str] = field(default_factory=list)

    def request(self, sampling: SamplingParams) -> dict[str, Any]:
        """Body fields for one request (sent as the SDK's ``extra_body``)."""
        body = dict(self.neutral)
        if sampling.top_k > 0:
            body["top_k"] = sampling.top_k
        return body

    def record(self, sampling: SamplingParams) -> dict[str, str]:
        """Every sampling parameter sent, as ``RunStarted.target_params`` records it."""
        sent: dict[str, Any] = {"temperature": sampling.temperature, "top_p": sampling.top_p}
        if sampling.seed is not None:
            sent["seed"] = f"{sampling.seed} + round"
        sent.update(self.request(sampling))
        return {name: str(value) for name, value in sent.items()}

    def refused(self, status: int | None, message: str) -> bool:
        """Adjust to a refusal; False when there is nothing left to adjust (a real refusal)."""
        if status not in REFUSED:
            return False
        named = [name for name in self.neutral if re.search(rf"\b{name}\b", message)]
        if "top_k" in named and self.neutral["top_k"] != TOP_K_OFF_ALTERNATIVE:
            self.neutral["top_k"] = TOP_K_OFF_ALTERNATIVE
            named.remove("top_k")
            if not named:
                return True
        if not named:
            named = [name for name in self.neutral if name not in STANDARD]
        if not named:
            return False
        for name in named:
            del self.neutral[name]
            self.ignored.append(name)
        return True


__all__ = ["NEUTRAL", "SamplingDialect"]
