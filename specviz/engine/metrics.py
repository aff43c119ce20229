"""Per-round and per-run metrics, with the definitions vLLM and Spec-Bench use.

Per round (one target verification step):
  drafted   draft tokens proposed (K, or fewer: n-gram misses, K shrinking near max_tokens)
  tested    draft positions the target scored *and* decided: accepted ones plus the first
            rejected one; positions after a rejection were never decided and do not count
  accepted  draft tokens kept
  produced  tokens appended to the output: accepted + the correction or bonus token
            (less when EOS or max_tokens cuts the round short)

Per run:
  acceptance rate  accepted / tested  (vLLM's "draft acceptance rate" is accepted / drafted;
                   both counts are recorded)
  tau              produced / verify steps: mean tokens per target forward, the bonus or
                   correction token included (Spec-Bench's mean accepted length)
  alpha            mean over tested positions of sum_x min(p(x), q(x)): the expected
                   acceptance per position (Leviathan); needs full distributions, else None
  survival[i]      P(accepted > i | drafted > i): share of rounds whose position i survived
  histogram[i]     rounds (with at least one draft) that accepted exactly i tokens
  tokens/s         produced / decode time (sum of round times; prefill excluded)
  speedup          tokens/s / baseline tokens/s; the baseline is an autoregressive run of
                   the same target and prompt from the store when one exists, otherwise an
                   estimate (timed single-token target steps) marked baseline_estimated
  rolling          acceptance over the last 50 rounds (the seed's window)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

WINDOW = 50


@dataclass
class RoundCounts:
    drafted: int
    tested: int
    accepted: int
    produced: int
    draft_ms: float = 0.0
    verify_ms: float = 0.0
    sample_ms: float = 0.0
    round_ms: float = 0.0
    overlaps: list[float] = field(default_factory=list)  # sum_x min(p, q) per tested position
    inexact: bool = False  # a verify event of the round has exact = false


@dataclass
class RunMetrics:
    window: int = WINDOW
    rounds: int = 0
    drafted: int = 0
    tested: int = 0
    accepted: int = 0
    produced: int = 0
    draft_ms: float = 0.0
    verify_ms: float = 0.0
    sample_ms: float = 0.0
    round_ms: float = 0.0
    overlap_sum: float = 0.0
    overlap_n: int = 0
    inexact_rounds: int = 0
    histogram: list[int] = field(default_factory=list)
    reached: list[int] = field(default_factory=list)  # rounds with drafted > i
    survived: list[int] = field(default_factory=list)  # ... and accepted > i
    baseline_tokens_per_s: float | None = None
    baseline_estimated: bool = True
    _recent: deque = field(default_factory=deque)

    def add(self, c: RoundCounts) -> None:
        self.rounds += 1
        self.drafted += c.drafted
        self.tested += c.tested
        self.accepted += c.accepted
        self.produced += c.produced
        self.draft_ms += c.draft_ms
        self.verify_ms += c.verify_ms
        self.sample_ms += c.sample_ms
        self.round_ms += c.round_ms
        self.overlap_sum += sum(c.overlaps)
        self.overlap_n += len(c.overlaps)
        self.inexact_rounds += int(c.inexact)
        if c.drafted > 0:
            _grow(self.histogram, c.accepted + 1)
            self.histogram[c.accepted] += 1
            _grow(self.reached, c.drafted)
            _grow(self.survived, c.drafted)
            for i in range(c.drafted):
                self.reached[i] += 1
                if c.accepted > i:
                    self.survived[i] += 1
        self._recent.append((c.accepted, c.tested))
        if len(self._recent) > self.window:
            self._recent.popleft()

    # -- derived ---------------------------------------------------------------------
    @property
    def acceptance(self) -> float | None:
        return self.accepted / self.tested if self.tested else None

    @property
    def acceptance_rolling(self) -> float | None:
        tested = sum(t for _, t in self._recent)
        return sum(a for a, _ in self._recent) / tested if tested else None

    @property
    def tau(self) -> float | None:
        return self.produced / self.rounds if self.rounds else None

    @property
    def alpha(self) -> float | None:
        return self.overlap_sum / self.overlap_n if self.overlap_n else None

    @property
    def tokens_per_s(self) -> float:
        return self.produced / (self.round_ms / 1e3) if self.round_ms > 0 else 0.0

    @property
    def speedup(self) -> float | None:
        if not self.baseline_tokens_per_s or not self.round_ms:
            return None
        return self.tokens_per_s / self.baseline_tokens_per_s

    @property
    def survival(self) -> list[float]:
        return [s / r for s, r in zip(self.survived, self.reached) if r]

    @property
    def k_effective(self) -> float | None:
        return self.drafted / self.rounds if self.rounds else None

    def round_fields(self) -> dict:
        """Running values for a RoundMetrics event."""
        return dict(
            acceptance_rolling=self.acceptance_rolling,
            acceptance_cumulative=self.acceptance,
            tau_cumulative=self.tau,
            total_tokens=self.produced,
            tokens_per_s=self.tokens_per_s,
            baseline_tokens_per_s=self.baseline_tokens_per_s,
            baseline_estimated=self.baseline_estimated,
            speedup=self.speedup,
        )

    def run_fields(self) -> dict:
        """Totals for the RunFinished event."""
        return dict(
            rounds=self.rounds,
            drafted=self.drafted,
            tested=self.tested,
            accepted=self.accepted,
            produced=self.produced,
            acceptance_rate=self.acceptance,
            tau=self.tau,
            alpha=self.alpha,
            tokens_per_s=self.tokens_per_s if self.round_ms else None,
            baseline_tokens_per_s=self.baseline_tokens_per_s,
            baseline_estimated=self.baseline_estimated,
            speedup=self.speedup,
            draft_ms=self.draft_ms,
            verify_ms=self.verify_ms,
            sample_ms=self.sample_ms,
            accepted_histogram=list(self.histogram),
            survival=self.survival,
            k_effective=self.k_effective,
            inexact_rounds=self.inexact_rounds,
        )


def leviathan_speedup(alpha: float, k: float, c: float) -> float:
    """Expected wall-time speedup (Leviathan et al. 2023, Thm 3.8):
    (1 - alpha^(K+1)) / ((1 - alpha)(cK + 1)), c = draft step cost / target step cost."""
    if alpha >= 1.0:
        return (k + 1) / (c * k + 1)
    return (1 - alpha ** (k + 1)) / ((1 - alpha) * (c * k + 1))


def _grow(values: list[int], n: int) -> None:
    if len(values) < n:
        values.extend([0] * (n - len(values)))


__all__ = ["WINDOW", "RoundCounts", "RunMetrics", "leviathan_speedup"]
