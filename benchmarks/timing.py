"""Timing the loops: interleaved repeats, per-step cost by difference, the loss check.

Each loop is run twice per repeat, a short and a long run of the same workload, one
right after the other; the cost per step is ``(T_long - T_short) / (steps_long -
steps_short)``. What every run pays once (building a Trainer, Lightning's setup, for a
step-limited run also the epoch's permutation and its closing loss) cancels out and is
reported apart as the fixed cost. For whole-epoch workloads the long run has more epochs
than the short one, so each epoch's own costs (its permutation, its closing loss) stay in
the cost per step, as a user pays them. Loops run round-robin, the starting loop turning
each repeat, with the garbage collector off while a run is timed (as ``timeit`` does).
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import torch

from benchmarks.loops import Loop

LR = 0.03


@dataclass(frozen=True)
class Workload:
    """A size to train at: ``num_examples`` x ``num_inputs`` data, its batch size and length."""

    name: str  # as the table shows it
    num_examples: int
    num_inputs: int
    batch_size: int
    epochs: int  # of the long run; the short run has one (whole-epoch workloads)
    max_steps: int | None = None  # per epoch; when set, the short run has a fifth of them

    def steps(self, epochs: int, max_steps: int | None) -> int:
        """Optimizer steps in a run of ``epochs`` epochs, each cut at ``max_steps``."""
        per_epoch = math.ceil(self.num_examples / self.batch_size)
        return epochs * (per_epoch if max_steps is None else min(per_epoch, max_steps))

    def runs(self) -> tuple[dict[str, int | None], dict[str, int | None]]:
        """Options of the short and the long run."""
        if self.max_steps is not None:
            return ({"epochs": 1, "max_steps": max(1, self.max_steps // 5)},
                    {"epochs": 1, "max_steps": self.max_steps})
        return {"epochs": 1, "max_steps": None}, {"epochs": max(2, self.epochs), "max_steps": None}


@dataclass
class Measurement:
    """What the repeats of one loop on one workload gave."""

    loop: str
    per_step: list[float] = field(default_factory=list)  # seconds, one per repeat
    fixed: list[float] = field(default_factory=list)  # seconds, one per repeat
    losses: list[float] = field(default_factory=list)  # after the long run, one per repeat

    @property
    def median(self) -> float:
        """Median cost per step, in seconds."""
        return statistics.median(self.per_step)


class LossMismatchError(RuntimeError):
    """Loops that did not reach the same loss: their times would not be comparable."""


def make_data(workload: Workload, seed: int, device: str = "cpu") -> tuple[torch.Tensor, ...]:
    """Data ``X (n, d)``, ``y (n, 1)`` drawn as the notebook does, and the initial ``w0 (d, 1)``."""
    generator = torch.Generator().manual_seed(seed)
    n, d = workload.num_examples, workload.num_inputs
    true_w = torch.tensor([2.0, -3.4]) if d == 2 else torch.linspace(-3.4, 2.0, d)
    X = torch.empty(n, d).normal_(generator=generator)  # (n, d)
    y = torch.empty(n, 1)  # (n, 1)
    for start in range(0, n, 1 << 20):  # in chunks: no temporaries the size of the data
        chunk = slice(start, start + (1 << 20))
        y[chunk] = X[chunk] @ true_w[:, None] + 4.2
        y[chunk] += torch.empty_like(y[chunk]).normal_(0.0, 0.01, generator=generator)
    w0 = torch.empty(d, 1).normal_(0.0, 0.01, generator=generator)
    return X.to(device), y.to(device), w0.to(device)


def _timed(loop: Loop, data: Sequence[torch.Tensor], workload: Workload, seed: int,
           clock: Callable[[], float], options: dict[str, int | None]) -> tuple[float, float]:
    X, y, w0 = data
    gc.collect()
    gc.disable()
    try:
        start = clock()
        loss = loop(X, y, w0, batch_size=workload.batch_size, lr=LR, seed=seed, **options)
        if X.is_cuda:
            torch.cuda.synchronize()
        return clock() - start, loss
    finally:
        gc.enable()


def measure(loops: dict[str, Loop], workload: Workload, data: Sequence[torch.Tensor], *, repeats: int,
            seed: int, clock: Callable[[], float] = time.perf_counter) -> dict[str, Measurement]:
    """Time every loop on ``workload``, ``repeats`` times, round-robin; one warm-up run each."""
    short, _ = workload.runs()
    results = {name: Measurement(name) for name in loops}
    names = list(loops)
    for name in names:
        _timed(loops[name], data, workload, seed, clock, short)
    gc.collect()
    gc.freeze()  # what the imports and warm-ups made is kept out of every later collection
    try:
        _repeats(loops, workload, data, repeats, seed, clock, results)
    finally:
        gc.unfreeze()
    return results


def _repeats(loops: dict[str, Loop], workload: Workload, data: Sequence[torch.Tensor], repeats: int,
             seed: int, clock: Callable[[], float], results: dict[str, Measurement]) -> None:
    short, long = workload.runs()
    steps_short, steps_long = workload.steps(**short), workload.steps(**long)
    names = list(loops)
    for repeat in range(repeats):
        for name in names[repeat % len(names):] + names[: repeat % len(names)]:
            t_short, _ = _timed(loops[name], data, workload, seed, clock, short)
            t_long, loss = _timed(loops[name], data, workload, seed, clock, long)
            per_step = (t_long - t_short) / (steps_long - steps_short)
            results[name].per_step.append(per_step)
            results[name].fixed.append(t_short - steps_short * per_step)
            results[name].losses.append(loss)


def check_losses(results: dict[str, Measurement], reference: str, rtol: float) -> None:
    """Raise :class:`LossMismatchError` unless every loop's loss is the reference loop's to ``rtol``."""
    expected = results[reference].losses[0]
    bad = [(name, loss) for name, m in results.items() for loss in m.losses
           if not (math.isfinite(loss) and abs(loss - expected) <= rtol * abs(expected) + 1e-12)]
    if bad:
        listed = ", ".join(f"{name} {loss:.9g}" for name, loss in bad)
        raise LossMismatchError(
            f"loops disagree with {reference} ({expected:.9g}) beyond rtol {rtol}: {listed} (the notebook "
            "divides a short last batch's gradient by the full batch size: where it alone disagrees, "
            "choose a number of examples the batch sizes divide, or more epochs)"
        )


def paired_ratio(results: dict[str, Measurement], name: str, reference: str) -> float:
    """Median over repeats of ``name``'s cost per step over ``reference``'s in the same repeat.

    ``nan`` when no repeat measured a positive cost for both: on a busy machine a long
    run can take no longer than its short run, and such a repeat says nothing.
    """
    pairs = zip(results[name].per_step, results[reference].per_step)
    ratios = [a / b for a, b in pairs if a > 0 and b > 0]
    return statistics.median(ratios) if ratios else math.nan


def with_examples(workload: Workload, num_examples: int) -> Workload:
    """The same workload at another size."""
    return replace(workload, num_examples=num_examples)
