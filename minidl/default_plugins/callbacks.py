"""Built-in callbacks: ``early-stopping``, ``stop-at``, ``lr-schedule``, ``grad-clip``.

A callback is an object whose methods implement training-event hooks; the Trainer
registers it with pluggy for the duration of one ``fit``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Annotated, Any, Literal

from minidl.errors import MinidlError
from minidl.hookspecs import Register, hookimpl
from minidl.options import Ge, Gt, Le

if TYPE_CHECKING:
    from minidl.trainer import Trainer


def _read(metrics: dict[str, Any], monitor: str, callback: str) -> float:
    if monitor not in metrics:
        available = ", ".join(k for k in metrics if k != "epoch")
        raise MinidlError(f"callback {callback!r}: no metric {monitor!r} to monitor; available: {available}")
    return float(metrics[monitor])


class EarlyStopping:
    """Stops when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(self, monitor: str, patience: int, min_delta: float, mode: str) -> None:
        self.monitor, self.patience, self.min_delta, self.mode = monitor, patience, min_delta, mode
        self.best = math.inf if mode == "min" else -math.inf
        self.wait = 0

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    @hookimpl
    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Count epochs without improvement; ask the trainer to stop after ``patience``."""
        value = _read(metrics, self.monitor, "early-stopping")
        if self._improved(value):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            trainer.should_stop = True
            trainer.stop_reason = (
                f"early stopping at epoch {epoch}: {self.monitor} has not improved "
                f"on {self.best:g} for {self.wait} epochs"
            )

    def state_dict(self) -> dict[str, Any]:
        """The best value so far and the epochs waited."""
        return {"best": self.best, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.best, self.wait = float(state["best"]), int(state["wait"])


class StopAt:
    """Stops once ``monitor`` crosses ``threshold`` (below it in mode min, above in max)."""

    def __init__(self, monitor: str, threshold: float, mode: str) -> None:
        self.monitor, self.threshold, self.mode = monitor, threshold, mode

    @hookimpl
    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Ask the trainer to stop when the threshold is crossed."""
        value = _read(metrics, self.monitor, "stop-at")
        crossed = value < self.threshold if self.mode == "min" else value > self.threshold
        if crossed:
            trainer.should_stop = True
            side = "below" if self.mode == "min" else "above"
            trainer.stop_reason = (
                f"stopped at epoch {epoch}: {self.monitor} {value:g} is {side} {self.threshold:g}"
            )


class StepLR:
    """Multiplies every learning rate by ``gamma`` every ``step`` epochs."""

    def __init__(self, step: int, gamma: float) -> None:
        self.step, self.gamma = step, gamma

    @hookimpl
    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Decay the learning rates after every ``step``-th epoch."""
        if epoch % self.step == 0:
            for group in trainer.optimizer.param_groups:
                group["lr"] *= self.gamma


class GradClip:
    """Clips the global gradient norm to ``max_norm`` before each optimizer step."""

    def __init__(self, max_norm: float) -> None:
        self.max_norm = max_norm

    @hookimpl
    def on_before_optimizer_step(self, trainer: Trainer, epoch: int, step: int) -> None:
        """Rescale all gradients together when their joint norm exceeds ``max_norm``."""
        from torch.nn.utils import clip_grad_norm_

        clip_grad_norm_(list(trainer.model.parameters()), self.max_norm)


def early_stopping(monitor: str = "loss", patience: Annotated[int, Ge(1)] = 3,
                   min_delta: Annotated[float, Ge(0)] = 0.0,
                   mode: Literal["min", "max"] = "min") -> EarlyStopping:
    """Stop when a metric stops improving.

    Args:
        monitor: the metric to watch (loss, test_loss, or a metric name)
        patience: epochs without improvement before stopping
        min_delta: smallest change that counts as an improvement
        mode: min (lower is better) or max
    """
    return EarlyStopping(monitor, patience, min_delta, mode)


def stop_at(monitor: str = "loss", threshold: float = 1e-4,
            mode: Literal["min", "max"] = "min") -> StopAt:
    """Stop once a metric crosses a threshold.

    Args:
        monitor: the metric to watch
        threshold: the value to cross
        mode: min (stop below the threshold) or max (stop above it)
    """
    return StopAt(monitor, threshold, mode)


def lr_schedule(step: Annotated[int, Ge(1)] = 1, gamma: Annotated[float, Gt(0), Le(1)] = 0.5) -> StepLR:
    """Step decay: multiply the learning rate by gamma every step epochs.

    Args:
        step: epochs between decays
        gamma: the factor applied at each decay, in (0, 1]
    """
    return StepLR(step, gamma)


def grad_clip(max_norm: Annotated[float, Gt(0)] = 1.0) -> GradClip:
    """Clip gradients by their global norm.

    Args:
        max_norm: the largest allowed norm of all gradients together
    """
    return GradClip(max_norm)


@hookimpl
def register_callbacks(register: Register) -> None:
    """Register the built-in callbacks."""
    register("early-stopping", early_stopping)
    register("stop-at", stop_at)
    register("lr-schedule", lr_schedule)
    register("grad-clip", grad_clip)
