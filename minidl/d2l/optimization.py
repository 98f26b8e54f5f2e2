"""Chapter 7's helpers (optimisation algorithms) under the book's names and signatures.

``get_data_ch7`` reads the airfoil self-noise data; ``train_ch7`` / ``train_pytorch_ch7``
train a linear regression with a book-style optimizer function or a ``torch.optim``
class, print ``loss: %f, %f sec per epoch`` and plot the loss every 100 examples;
``train_2d`` / ``show_trace_2d`` trace a 2-D toy problem. Training runs on minidl's
:class:`~minidl.Trainer` (set up as every book loop, :func:`~minidl.d2l.training.book_trainer`),
not on a copy of the book's loop. The airfoil reader and the loss recorder are the optim
plugin's (``minidl_optim``), imported when first needed: without the plugin these
helpers raise an ImportError naming it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from minidl.adapters import TensorData
from minidl.d2l.lazy import first_party
from minidl.d2l.linear import set_figsize
from minidl.d2l.plotting import pyplot
from minidl.d2l.training import book_trainer
from minidl.default_plugins.notebook_components import LinReg, SquaredLoss
from minidl.errors import MinidlError
from minidl.optim import ManualOptimizer

__all__ = [
    "BookOptimizer",
    "get_data_ch7",
    "show_trace_2d",
    "train_2d",
    "train_ch7",
    "train_pytorch_ch7",
]

NEEDS_OPTIM = "the chapter 7 data and loss recorder"


def get_data_ch7(path: str | os.PathLike[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The airfoil data, every column standardised: features ``(1500, 5)``, labels ``(1500,)``.

    ``path`` defaults to ``airfoil_self_noise.dat`` in the folder named by ``MINIDL_DATA``,
    else to the book's ``../../data/airfoil_self_noise.dat``.
    """
    data: tuple[torch.Tensor, torch.Tensor] = first_party("minidl_optim.data", NEEDS_OPTIM).load_airfoil(path)
    return data


class BookOptimizer(ManualOptimizer):
    """Wraps a book-style ``optimizer_fn(params, states, hyperparams)`` as a minidl optimizer.

    ``hyperparams['lr']`` (when present) follows the group's ``lr``, so learning-rate
    schedules apply; AdaDelta's hyperparams have no ``lr`` and the group shows 1.0.
    """

    def __init__(self, optimizer_fn: Callable[..., Any], params: Iterable[torch.Tensor],
                 states: Any, hyperparams: dict[str, Any]) -> None:
        if not callable(optimizer_fn):
            raise TypeError(f"train_ch7: optimizer_fn must be a function optimizer_fn(params, states, hyperparams), "
                            f"got {type(optimizer_fn).__name__}")
        if not isinstance(hyperparams, dict):
            raise TypeError(f"train_ch7: hyperparams must be a dict such as {{'lr': 0.05}}, got {hyperparams!r}")
        super().__init__(params, {"lr": hyperparams.get("lr", 1.0)})
        self.optimizer_fn, self.states, self.hyperparams = optimizer_fn, states, hyperparams

    def step(self) -> None:
        """Call ``optimizer_fn`` on the parameters, as the book's training loop does."""
        group = self.param_groups[0]
        if "lr" in self.hyperparams:
            self.hyperparams["lr"] = group["lr"]
        try:
            self.optimizer_fn(group["params"], self.states, self.hyperparams)
        except KeyError as exc:
            key = exc.args[0] if exc.args else None
            if not isinstance(key, str) or key in self.hyperparams:
                raise
            name = getattr(self.optimizer_fn, "__name__", "optimizer_fn")
            raise MinidlError(f"train_ch7: {name} reads hyperparams[{key!r}], which the hyperparams given "
                              f"({self.hyperparams}) lack; add {key!r} to them") from None


def _fit_ch7(model: nn.Module, optimizer: Any, features: torch.Tensor, labels: torch.Tensor,
             batch_size: int, num_epochs: int) -> list[float]:
    """Train on minidl's Trainer, print the book's line, plot; return the recorded losses."""
    recorder = first_party("minidl_optim.recorder", NEEDS_OPTIM).LossRecorder(every=100)
    trainer = book_trainer(num_epochs, batch_size, callbacks=[recorder])
    # SquaredLoss is (y_hat - y)**2 / 2, the book's squared_loss and its nn.MSELoss() / 2.
    trainer.fit(model, TensorData(features, labels), SquaredLoss(), optimizer)
    ls = recorder.losses
    seconds = recorder.epoch_seconds[-1] if recorder.epoch_seconds else 0.0
    print("loss: %f, %f sec per epoch" % (ls[-1], seconds))  # noqa: UP031 - the book's line
    set_figsize()
    plt = pyplot()
    plt.plot(np.linspace(0, num_epochs, len(ls)), ls)
    plt.xlabel("epoch")
    plt.ylabel("loss")
    return ls


def _check_data(where: str, features: Any, labels: Any) -> None:
    """Features (n, d) and labels (n,) tensors, as ``get_data_ch7`` gives them."""
    for name, value, dims in (("features", features, 2), ("labels", labels, 1)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{where}: {name} must be a tensor, got {type(value).__name__}")
        if value.dim() != dims:
            raise MinidlError(f"{where}: {name} must be {'(n, d)' if dims == 2 else '(n,)'}, as get_data_ch7() "
                              f"gives them, got shape {tuple(value.shape)}")


def train_ch7(optimizer_fn: Callable[..., Any], states: Any, hyperparams: dict[str, Any],
              features: torch.Tensor, labels: torch.Tensor,
              batch_size: int = 10, num_epochs: int = 2) -> list[float]:
    """Train ``linreg`` with the squared loss (batch mean) and a book-style optimizer.

    ``optimizer_fn(params, states, hyperparams)`` updates ``[w, b]`` from their
    gradients. Prints ``loss: %f, %f sec per epoch``, plots the loss every 100 examples
    against the epoch, and returns those losses (the first before training).
    """
    _check_data("train_ch7", features, labels)
    model = LinReg(features.shape[1])
    optimizer = BookOptimizer(optimizer_fn, [model.w, model.b], states, hyperparams)
    return _fit_ch7(model, optimizer, features, labels, batch_size, num_epochs)


def train_pytorch_ch7(optimizer_fn: Callable[..., Any], optimizer_hyperparams: dict[str, Any],
                      features: torch.Tensor, labels: torch.Tensor,
                      batch_size: int = 10, num_epochs: int = 2) -> list[float]:
    """As :func:`train_ch7`, with ``nn.Linear`` and ``optimizer_fn(params, **optimizer_hyperparams)``.

    ``optimizer_fn`` is a ``torch.optim`` class such as ``torch.optim.SGD``; the loss is
    halved like the book's, so the numbers compare with :func:`train_ch7`'s.
    """
    _check_data("train_pytorch_ch7", features, labels)
    model = nn.Sequential(nn.Linear(features.shape[-1], 1))
    optimizer = optimizer_fn(model.parameters(), **optimizer_hyperparams)
    return _fit_ch7(model, optimizer, features, labels, batch_size, num_epochs)


def train_2d(trainer: Callable[[float, float, float, float], Sequence[float]]) -> list[tuple[float, float]]:
    """Iterate ``(x1, x2, s1, s2) = trainer(x1, x2, s1, s2)`` 20 times from (-5, -2).

    ``s1``, ``s2`` are the optimizer's state. Prints the final point as the book does
    and returns the trace ``[(x1, x2), ...]``.
    """
    start: tuple[float, float, float, float] = (-5, -2, 0, 0)
    x1, x2, s1, s2 = start
    results: list[tuple[float, float]] = [(x1, x2)]
    epochs = 20
    for _ in range(epochs):
        x1, x2, s1, s2 = trainer(x1, x2, s1, s2)
        results.append((x1, x2))
    print("epoch %d, x1 %f, x2 %f" % (epochs, x1, x2))  # noqa: UP031 - the book's line
    return results


def show_trace_2d(f: Callable[[Any, Any], Any], results: Sequence[tuple[float, float]]) -> None:
    """Plot the trace over the contour lines of ``f(x1, x2)`` on [-5.5, 1] x [-3, 1]."""
    plt = pyplot()
    plt.plot(*zip(*results), "-o", color="#ff7f0e")
    x1, x2 = np.meshgrid(np.arange(-5.5, 1.0, 0.1), np.arange(-3.0, 1.0, 0.1))
    plt.contour(x1, x2, f(x1, x2), colors="#1f77b4")
    plt.xlabel("x1")
    plt.ylabel("x2")

