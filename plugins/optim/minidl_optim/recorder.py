"""A training callback that records the loss over the whole training split every N examples.

Book chapter 7's curves: ``minidl optim compare`` and the book's ``train_ch7``
(:mod:`minidl.d2l`) both draw them from it.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from minidl.hookspecs import hookimpl

__all__ = ["LossRecorder"]


class LossRecorder:
    """Training callback: the loss over the whole training split every ``every`` examples.

    ``losses[0]`` is the loss before training, as the book's ``ls = [eval_loss()]``; a
    loss is recorded after each step that reaches a multiple of ``every`` examples
    (the book's ``(batch_i + 1) * batch_size % 100 == 0`` when the batch size divides
    100). ``epochs`` holds where each was taken, in epochs; ``epoch_seconds`` the
    duration of each epoch.
    """

    def __init__(self, every: int = 100) -> None:
        self.every = every
        self.losses: list[float] = []
        self.epochs: list[float] = []
        self.epoch_seconds: list[float] = []
        self._start = 0.0

    def _record(self, trainer: Any, position: float) -> None:
        X, y = trainer.data.tensors("train")
        with torch.no_grad():
            self.losses.append(trainer.loss(trainer.model(X), y).mean().item())
        self.epochs.append(position)

    @hookimpl
    def on_fit_start(self, trainer: Any) -> None:
        """Record the loss of the initial parameters."""
        self._record(trainer, float(trainer.epoch))

    @hookimpl
    def on_epoch_start(self, trainer: Any, epoch: int) -> None:
        """Start the epoch's clock."""
        self._start = time.perf_counter()

    @hookimpl
    def on_batch_end(self, trainer: Any, epoch: int, step: int, loss: float) -> None:
        """Record the loss when this step reached a multiple of ``every`` examples."""
        size = len(trainer.data.tensors("train")[0])
        seen = min(step * trainer.batch_size, size)  # the last batch may be short
        before = (step - 1) * trainer.batch_size
        if seen // self.every > before // self.every:
            self._record(trainer, epoch - 1 + seen / size)

    @hookimpl
    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
        """Stop the epoch's clock."""
        self.epoch_seconds.append(time.perf_counter() - self._start)
