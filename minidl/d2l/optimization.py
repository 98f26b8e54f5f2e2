"""Chapter 7's helpers (optimisation algorithms) under the book's names and signatures.

``get_data_ch7`` reads the airfoil self-noise data; ``train_ch7`` / ``train_pytorch_ch7``
train a linear regression with a book-style optimizer function or a ``torch.optim``
class, print ``loss: %f, %f sec per epoch`` and plot the loss every 100 examples;
``train_2d`` / ``show_trace_2d`` trace a 2-D toy problem. Training runs on minidl's
:class:`~minidl.Trainer`, not on a copy of the book's loop.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from minidl.d2l.linear import set_figsize
from minidl.d2l.plotting import pyplot
from minidl.errors import MinidlError
from minidl.hookspecs import hookimpl
from minidl.optim import ManualOptimizer
from minidl.trainer import Trainer

__all__ = [
    "AIRFOIL_FILE",
    "BookOptimizer",
    "LossRecorder",
    "get_data_ch7",
    "show_trace_2d",
    "train_2d",
    "train_ch7",
    "train_pytorch_ch7",
]

AIRFOIL_FILE = "airfoil_self_noise.dat"
AIRFOIL_COLUMNS = 6  # 5 features, then the scaled sound pressure level (the label)
AIRFOIL_ROWS = 1500  # the book keeps the first 1500 of 1503 rows
BOOK_DATA_PATH = Path("..") / ".." / "data" / AIRFOIL_FILE  # the book's path, from its notebooks


def airfoil_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The file to read: ``path``, else ``$MINIDL_DATA/airfoil_self_noise.dat``, else the book's."""
    if path is not None:
        return Path(path)
    data_dir = os.environ.get("MINIDL_DATA")
    return Path(data_dir) / AIRFOIL_FILE if data_dir else BOOK_DATA_PATH


def read_airfoil(path: Path) -> np.ndarray:
    """Read the tab-separated table as float64 ``(rows, 6)``; bad input raises MinidlError."""
    expected = f"expected the UCI airfoil self-noise file ({AIRFOIL_COLUMNS} numeric columns per line)"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MinidlError(f"airfoil data file {str(path)!r} does not exist; {expected}; "
                          "give its path or set MINIDL_DATA to its folder") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MinidlError(f"airfoil data file {str(path)!r} cannot be read ({exc}); {expected}") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != AIRFOIL_COLUMNS:
            raise MinidlError(f"airfoil data file {str(path)!r}, line {number}: "
                              f"{len(fields)} columns; {expected}")
        try:
            rows.append([float(field) for field in fields])
        except ValueError:
            raise MinidlError(f"airfoil data file {str(path)!r}, line {number}: "
                              f"non-numeric value in {line.strip()!r}; {expected}") from None
    if len(rows) < 2:
        raise MinidlError(f"airfoil data file {str(path)!r} has {len(rows)} rows; {expected}, "
                          "at least 2 rows")
    return np.asarray(rows)


def get_data_ch7(path: str | os.PathLike[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The airfoil data, every column standardised: features ``(1500, 5)``, labels ``(1500,)``.

    ``path`` defaults to ``airfoil_self_noise.dat`` in the folder named by ``MINIDL_DATA``,
    else to the book's ``../../data/airfoil_self_noise.dat``.
    """
    file = airfoil_path(path)
    data = read_airfoil(file)
    std = data.std(axis=0)  # population std (ddof=0), as the book's numpy call
    if not np.all(std > 0):
        column = int(np.argmin(std)) + 1
        raise MinidlError(f"airfoil data file {str(file)!r}: column {column} is constant; "
                          "expected varying measurements in every column")
    data = (data - data.mean(axis=0)) / std
    return (torch.tensor(data[:AIRFOIL_ROWS, :-1], dtype=torch.float32),
            torch.tensor(data[:AIRFOIL_ROWS, -1], dtype=torch.float32))


class BookOptimizer(ManualOptimizer):
    """Wraps a book-style ``optimizer_fn(params, states, hyperparams)`` as a minidl optimizer.

    ``hyperparams['lr']`` (when present) follows the group's ``lr``, so learning-rate
    schedules apply; AdaDelta's hyperparams have no ``lr`` and the group shows 1.0.
    """

    def __init__(self, optimizer_fn: Callable[..., Any], params: Iterable[torch.Tensor],
                 states: Any, hyperparams: dict[str, Any]) -> None:
        super().__init__(params, {"lr": hyperparams.get("lr", 1.0)})
        self.optimizer_fn, self.states, self.hyperparams = optimizer_fn, states, hyperparams

    def step(self) -> None:
        """Call ``optimizer_fn`` on the parameters, as the book's training loop does."""
        group = self.param_groups[0]
        if "lr" in self.hyperparams:
            self.hyperparams["lr"] = group["lr"]
        self.optimizer_fn(group["params"], self.states, self.hyperparams)


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


def _fit_ch7(model: nn.Module, optimizer: Any, features: torch.Tensor, labels: torch.Tensor,
             batch_size: int, num_epochs: int) -> list[float]:
    """Train on minidl's Trainer, print the book's line, plot; return the recorded losses."""
    # Imported here: minidl.adapters and the notebook components import minidl.d2l themselves.
    from minidl.adapters import TensorData
    from minidl.default_plugins.notebook_components import SquaredLoss
    from minidl.plugins import Plugins

    recorder = LossRecorder(every=100)
    # The shuffling seed comes from torch's global RNG, so torch.manual_seed makes a run repeatable.
    seed = int(torch.randint(2**31 - 1, ()).item())
    trainer = Trainer(max_epochs=num_epochs, batch_size=batch_size, seed=seed,
                      callbacks=[recorder], plugins=Plugins())
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


def train_ch7(optimizer_fn: Callable[..., Any], states: Any, hyperparams: dict[str, Any],
              features: torch.Tensor, labels: torch.Tensor,
              batch_size: int = 10, num_epochs: int = 2) -> list[float]:
    """Train ``linreg`` with the squared loss (batch mean) and a book-style optimizer.

    ``optimizer_fn(params, states, hyperparams)`` updates ``[w, b]`` from their
    gradients. Prints ``loss: %f, %f sec per epoch``, plots the loss every 100 examples
    against the epoch, and returns those losses (the first before training).
    """
    from minidl.default_plugins.notebook_components import LinReg

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

