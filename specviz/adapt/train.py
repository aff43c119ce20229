"""LoRA training of a model drafter toward the target, with mlx_lm's LoRA machinery
(``mlx_lm.tuner.utils.linear_to_lora_layers``, its adapter format) and ``mlx.optimizers``.

The student is the drafter (``layerskip:N``: copies of the target's first N layers plus its
shared norm and head; ``mlx:<model>``: a copy of that model). The teacher is the local
target: its top-``TEACHER_TOP`` distribution at every trained position is computed once,
before training, and the loss is the KL divergence from it (renormalised over those ids,
which hold nearly all of the mass) to the student's distribution. Validation agreement is
the share of held-out positions where the student's argmax is the target's: the acceptance a
greedy run would see.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten

TEACHER_TOP = 32


@dataclass
class TrainConfig:
    """Defaults sized for a shared 2-core CPU: a few minutes on the bundled model."""

    iters: int = 120
    batch_size: int = 4
    learning_rate: float = 2e-4  # peak; 5e-4 constant diverged at layerskip:26 on 200 prompts (BENCHMARKS.md)
    rank: int = 8
    scale: float = 20.0
    dropout: float = 0.0
    val_fraction: float = 0.25
    seed: int = 0
    teacher: str = "top"  # "top": the target's top-TEACHER_TOP, precomputed; "full": its whole distribution, every step
    disagree_weight: float = 1.0  # OSD-style: positions where the student's argmax is not the target's count this much
    warmup: int = 10  # steps of linear warm-up, then ...
    schedule: str = "cosine"  # ... "constant" or "cosine" decay of the learning rate to 0 at the last step
    lora_layers: int = 0  # LoRA on the drafter's last this many blocks (0: all); fewer = a shorter backward pass


@dataclass
class Item:
    """One training sequence and the positions i whose next token ids[i] is trained."""

    ids: list[int]
    positions: list[int]


@dataclass
class TrainResult:
    losses: list[float]
    val_agreement_before: float
    val_agreement_after: float
    train_items: int
    val_items: int
    train_positions: int
    seconds: float
    examples_per_s: float
    tokens_per_s: float
    config: dict = field(default_factory=dict)


@dataclass
class _Batch:
    inputs: mx.array  # (B, L) token ids, zero-padded
    mask: mx.array  # (B, L) 1 where the next token is trained
    top_ids: mx.array  # (B, L, T) teacher's top ids
    top_p: mx.array  # (B, L, T) teacher's probabilities over them (renormalised)
    teacher_logp: mx.array | None = None  # (B, L, V) the teacher's full log-distribution ("full" teacher)
    disagree_weight: float = 1.0


def lora_student(student: nn.Module, num_layers: int, config: TrainConfig) -> dict:
    """Freeze ``student`` and put LoRA on the linear layers of its last ``num_layers`` blocks;
    returns the LoRA parameters as mlx_lm's adapter_config.json records them."""
    from mlx_lm.tuner.utils import linear_to_lora_layers

    params = {"rank": config.rank, "scale": config.scale, "dropout": config.dropout}
    student.freeze()
    linear_to_lora_layers(student, num_layers, params)
    return params


def teacher_targets(teacher: nn.Module, item: Item) -> tuple[np.ndarray, np.ndarray]:
    """(ids, probs), best first, of the teacher's top-``TEACHER_TOP`` at each of ``item.positions``."""
    logits = teacher(mx.array(item.ids[:-1], mx.uint32)[None])[0]
    rows = np.asarray(logits[mx.array([p - 1 for p in item.positions])].astype(mx.float32))
    top = min(TEACHER_TOP, rows.shape[-1])
    idx = np.argpartition(-rows, top - 1, axis=-1)[:, :top]
    vals = np.take_along_axis(rows, idx, axis=-1)
    order = np.argsort(-vals, axis=-1, kind="stable")  # best first: column 0 is the target's argmax
    idx, vals = np.take_along_axis(idx, order, axis=-1), np.take_along_axis(vals, order, axis=-1)
    p = np.exp(vals - vals.max(axis=-1, keepdims=True))
    return idx.astype(np.int32), (p / p.sum(axis=-1, keepdims=True)).astype(np.float32)


def _batch(items: list[Item], teacher: list[tuple[np.ndarray, np.ndarray]] | None) -> _Batch:
    """Padded inputs and the trained positions' mask, with the precomputed top-T teacher
    (``None`` for the full teacher, computed per batch by ``with_full_teacher``)."""
    width = max(len(it.ids) for it in items) - 1
    b, top = len(items), teacher[0][0].shape[-1] if teacher else 1
    inputs = np.zeros((b, width), np.int32)
    mask = np.zeros((b, width), np.float32)
    top_ids = np.zeros((b, width, top), np.int32)
    top_p = np.zeros((b, width, top), np.float32)
    for r, it in enumerate(items):
        inputs[r, : len(it.ids) - 1] = it.ids[:-1]
        rows = [pos - 1 for pos in it.positions]  # logits at i-1 predict ids[i]
        mask[r, rows] = 1.0
        if teacher:
            top_ids[r, rows], top_p[r, rows] = teacher[r]
    return _Batch(mx.array(inputs), mx.array(mask), mx.array(top_ids), mx.array(top_p))


def kl_loss(student: nn.Module, batch: _Batch) -> mx.array:
    """Mean over trained positions of KL(teacher || student): over the teacher's top-T ids
    (renormalised), or over the whole vocabulary when the batch carries ``teacher_logp``.
    Positions where the student's argmax misses the teacher's weigh ``disagree_weight``."""
    logp = nn.log_softmax(student(batch.inputs).astype(mx.float32), axis=-1)
    if batch.teacher_logp is not None:
        t_logp = batch.teacher_logp
        kl = (mx.exp(t_logp) * (t_logp - logp)).sum(axis=-1)
        best = mx.argmax(t_logp, axis=-1)
    else:
        student_lp = mx.take_along_axis(logp, batch.top_ids, axis=-1)
        kl = (batch.top_p * (mx.log(mx.maximum(batch.top_p, 1e-12)) - student_lp)).sum(axis=-1)
        best = batch.top_ids[..., 0]
    weight = batch.mask
    if batch.disagree_weight != 1.0:
        missed = mx.stop_gradient(mx.argmax(logp, axis=-1) != best).astype(mx.float32)
        weight = weight * (1.0 + (batch.disagree_weight - 1.0) * missed)
    return (kl * weight).sum() / mx.maximum(weight.sum(), 1.0)


def with_full_teacher(teacher: nn.Module, batch: _Batch) -> _Batch:
    """``batch`` plus the teacher's full log-distribution at every position (no gradient)."""
    logits = teacher(batch.inputs).astype(mx.float32)
    batch.teacher_logp = mx.stop_gradient(nn.log_softmax(logits, axis=-1))
    return batch


def learning_rate(config: TrainConfig) -> Any:
    """A constant rate, or linear warm-up then cosine decay (mlx.optimizers' schedules)."""
    lr, warm = config.learning_rate, min(config.warmup, max(config.iters - 1, 0))
    if config.schedule == "cosine":
        decay = optim.cosine_decay(lr, max(config.iters - warm, 1))
        return optim.join_schedules([optim.linear_schedule(lr * 0.01, lr, warm), decay], [warm]) if warm else decay
    if config.schedule != "constant":
        raise ValueError(f"unknown schedule {config.schedule!r}: use constant or cosine")
    return optim.join_schedules([optim.linear_schedule(lr * 0.01, lr, warm), lambda _: lr], [warm]) if warm else lr


def agreement(student: nn.Module, items: list[Item], teacher: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Share of the items' positions where the student's argmax is the teacher's."""
    hits = total = 0
    for it, (ids, _) in zip(items, teacher):
        logits = student(mx.array(it.ids[:-1], mx.uint32)[None])[0]
        best = np.asarray(mx.argmax(logits[mx.array([p - 1 for p in it.positions])], axis=-1))
        hits += int((best == ids[:, 0]).sum())
        total += len(it.positions)
    return hits / total if total else float("nan")


def split(items: list[Item], val_fraction: float, seed: int) -> tuple[list[Item], list[Item]]:
    """A held-out split by sequence (never by position: positions of one sequence share context)."""
    order = np.random.default_rng(seed).permutation(len(items))
    n_val = min(len(items) - 1, max(1, round(len(items) * val_fraction))) if len(items) > 1 else 0
    return [items[i] for i in order[n_val:]], [items[i] for i in order[:n_val]]


def train(student: nn.Module, teacher: nn.Module, items: list[Item], config: TrainConfig,
          progress: Callable[[int, float, float], None] | None = None) -> TrainResult:
    """Train the LoRA parameters of ``student`` (already ``lora_student``-ed) in place."""
    train_items, val_items = split(items, config.val_fraction, config.seed)
    if not train_items:
        raise ValueError("no training sequences")
    full = config.teacher == "full"
    if config.teacher not in ("top", "full"):
        raise ValueError(f"unknown teacher {config.teacher!r}: use top or full")
    t_train = None if full else [teacher_targets(teacher, it) for it in train_items]
    t_val = [teacher_targets(teacher, it) for it in val_items]
    before = agreement(student, val_items, t_val)
    optimizer = optim.Adam(learning_rate=learning_rate(config))
    step = nn.value_and_grad(student, kl_loss)
    rng = np.random.default_rng(config.seed)
    losses: list[float] = []
    start, tokens = time.perf_counter(), 0
    student.train()
    for i in range(config.iters):
        pick = rng.choice(len(train_items), size=min(config.batch_size, len(train_items)), replace=False)
        batch = _batch([train_items[j] for j in pick], None if full else [t_train[j] for j in pick])
        batch.disagree_weight = config.disagree_weight
        if full:
            batch = with_full_teacher(teacher, batch)
        loss, grads = step(student, batch)
        optimizer.update(student, grads)
        mx.eval(student.trainable_parameters(), optimizer.state, loss)
        losses.append(float(loss.item()))
        tokens += int(batch.inputs.size)
        if progress is not None:
            progress(i + 1, losses[-1], tokens / (time.perf_counter() - start))
    seconds = time.perf_counter() - start
    student.eval()
    after = agreement(student, val_items, t_val)
    return TrainResult(
        losses=losses, val_agreement_before=before, val_agreement_after=after, train_items=len(train_items),
        val_items=len(val_items), train_positions=sum(len(it.positions) for it in train_items), seconds=seconds,
        examples_per_s=config.iters * config.batch_size / seconds if seconds else math.nan,
        tokens_per_s=tokens / seconds if seconds else math.nan, config=asdict(config),
    )


def lora_weights(student: nn.Module) -> dict[str, mx.array]:
    return dict(tree_flatten(student.trainable_parameters()))


__all__ = ["TrainConfig", "Item", "TrainResult", "lora_student", "train", "agreement", "split", "lora_weights", "TEACHER_TOP"]
