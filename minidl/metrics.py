"""Metric classes any plugin may use: accuracy, mean squared and mean absolute error.

A metric is called with a whole split's (or an evaluation chunk's) predictions and
labels and returns one float; ``higher_is_better`` tells early stopping which way is
better, ``label`` names it on the epoch line and ``fmt`` formats it there. The
registration of ``mse`` and ``mae`` is in :mod:`minidl.default_plugins.metrics`, that of
``accuracy`` in the classify plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from minidl.errors import MinidlError
from minidl.functional import count_correct

if TYPE_CHECKING:
    import torch

__all__ = ["Accuracy", "MeanAbsoluteError", "MeanSquaredError"]


class Accuracy:
    """The fraction of examples whose predicted class (argmax over dim 1) is the label."""

    higher_is_better = True
    label = "acc"
    fmt = "{:.3f}"
    label_kind = "class"  # needs class-index labels (compatibility declaration)

    def __call__(self, y_hat: torch.Tensor, y: torch.Tensor) -> float:
        """Accuracy over all examples of ``y_hat`` (n, q) and ``y`` (n,)."""
        if len(y_hat) != len(y):
            raise MinidlError(f"metric 'accuracy': {len(y_hat)} predictions but {len(y)} labels")
        return count_correct(y_hat, y) / len(y) if len(y) else 0.0


class MeanSquaredError:
    """Mean of (y_hat - y)**2 over all examples (no factor 1/2)."""

    higher_is_better = False
    label = "mse"
    label_kind = "real"

    def __call__(self, y_hat: Any, y: Any) -> float:
        """The metric over a whole split."""
        return float(((y_hat - y.reshape(y_hat.shape)) ** 2).mean())


class MeanAbsoluteError:
    """Mean of |y_hat - y| over all examples."""

    higher_is_better = False
    label = "mae"
    label_kind = "real"

    def __call__(self, y_hat: Any, y: Any) -> float:
        """The metric over a whole split."""
        return float((y_hat - y.reshape(y_hat.shape)).abs().mean())
