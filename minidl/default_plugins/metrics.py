"""Regression metrics ``mse`` and ``mae``, computed on each split every epoch."""

from __future__ import annotations

from typing import Any

from minidl.hookspecs import Register, hookimpl


class MeanSquaredError:
    """Mean of (y_hat - y)**2 over all examples (no factor 1/2)."""

    higher_is_better = False
    label = "mse"

    def __call__(self, y_hat: Any, y: Any) -> float:
        """The metric over a whole split."""
        return float(((y_hat - y.reshape(y_hat.shape)) ** 2).mean())


class MeanAbsoluteError:
    """Mean of |y_hat - y| over all examples."""

    higher_is_better = False
    label = "mae"

    def __call__(self, y_hat: Any, y: Any) -> float:
        """The metric over a whole split."""
        return float((y_hat - y.reshape(y_hat.shape)).abs().mean())


def mse() -> MeanSquaredError:
    """Mean squared error, mean of (y_hat - y)**2."""
    return MeanSquaredError()


def mae() -> MeanAbsoluteError:
    """Mean absolute error, mean of |y_hat - y|."""
    return MeanAbsoluteError()


@hookimpl
def register_metrics(register: Register) -> None:
    """Register ``mse`` and ``mae``."""
    register("mse", mse)
    register("mae", mae)
