"""Regression metrics ``mse`` and ``mae``, computed on each split every epoch.

The classes live in core, :mod:`minidl.metrics`; the factories import them when called,
so listing plugins imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from minidl.hookspecs import Register, hookimpl

if TYPE_CHECKING:
    from minidl.metrics import MeanAbsoluteError, MeanSquaredError


def mse() -> MeanSquaredError:
    """Mean squared error, mean of (y_hat - y)**2."""
    from minidl.metrics import MeanSquaredError

    return MeanSquaredError()


def mae() -> MeanAbsoluteError:
    """Mean absolute error, mean of |y_hat - y|."""
    from minidl.metrics import MeanAbsoluteError

    return MeanAbsoluteError()


@hookimpl
def register_metrics(register: Register) -> None:
    """Register ``mse`` and ``mae``."""
    register("mse", mse)
    register("mae", mae)
