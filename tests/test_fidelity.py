"""The Trainer against the seed notebook's own code: same data, parameters, batch order.

The notebook's cells are read from ``../shared/seed/notebook_code.py`` and executed
(all but the display cells), so the oracle is the notebook itself, not a copy of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import minidl
from minidl import hookimpl
from minidl.adapters import TensorData
from minidl.config import RunConfig
from minidl.run import build

NOTEBOOK = Path(__file__).resolve().parents[2] / "shared" / "seed" / "notebook_code.py"
LR = 0.03


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    """Only the built-in plugins: these tests are about the core, whatever else is installed."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    return minidl.load_plugins(entry_points=False)


def notebook_cells() -> dict[int, str]:
    """The notebook's code cells by number, split at its ``# In[k]`` lines."""
    if not NOTEBOOK.is_file():
        pytest.skip(f"the notebook's code {NOTEBOOK} is missing")
    parts = re.split(r"^# In\[(\d+)\]\s*$", NOTEBOOK.read_text(encoding="utf-8"), flags=re.M)
    return {int(number): code for number, code in zip(parts[1::2], parts[2::2])}


class _Shuffler:
    """Stands in for the ``random`` module in the notebook's ``data_iter``: each
    ``shuffle`` puts the indices in the next order the Trainer used."""

    def __init__(self, orders: list[list[int]]) -> None:
        self.orders = iter(orders)

    def shuffle(self, indices: list[int]) -> None:
        indices[:] = next(self.orders)


def notebook_namespace(seed: int = 0) -> dict[str, Any]:
    """Run the notebook's data (1), data_iter (4), parameters (6, 7) and model, loss and
    sgd (8-10) cells; return their namespace."""
    cells = notebook_cells()
    torch.manual_seed(seed)
    np.random.seed(seed)
    namespace: dict[str, Any] = {"torch": torch, "np": np, "random": None}
    for number in (1, 4, 6, 7, 8, 9, 10):
        exec(compile(cells[number], f"{NOTEBOOK}:In[{number}]", "exec"), namespace)
    return namespace


class RecordingData(TensorData):
    """TensorData that remembers every batch it served, per epoch."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor) -> None:
        super().__init__(X, y)
        self.epochs: list[list[tuple[torch.Tensor, torch.Tensor]]] = []

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Any]:
        served: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.epochs.append(served)
        for X, y in super().batches(batch_size, generator):
            served.append((X.clone(), y.clone()))
            yield X, y

    def orders(self, features: torch.Tensor) -> list[list[int]]:
        """Each epoch's example order, as indices into ``features``."""
        index = {tuple(row.tolist()): i for i, row in enumerate(features)}
        assert len(index) == len(features)
        return [[index[tuple(row.tolist())] for X, _ in epoch for row in X] for epoch in self.epochs]


class Snapshots:
    """A callback keeping the parameters before and after every optimizer step."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.before: list[list[torch.Tensor]] = []
        self.after: list[list[torch.Tensor]] = []

    def _params(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.model.parameters()]

    @hookimpl
    def on_before_optimizer_step(self, trainer: Any, epoch: int, step: int) -> None:
        self.before.append(self._params())

    @hookimpl
    def on_batch_end(self, trainer: Any, epoch: int, step: int, loss: float) -> None:
        self.after.append(self._params())


def train_like_notebook(plugins: minidl.Plugins, namespace: dict[str, Any], batch_size: int,
                        epochs: int) -> tuple[Any, RecordingData, Snapshots, minidl.History]:
    """The Trainer with the default components, on the notebook's data and parameters."""
    registry = plugins.registry
    model = registry.build("model", "linreg", num_inputs=2)
    model.load_state_dict({"w": namespace["w"].detach().clone(), "b": namespace["b"].detach().clone()})
    data = RecordingData(namespace["features"].clone(), namespace["labels"].clone())
    loss = registry.build("loss", "squared")
    optimizer = registry.build("optimizer", "sgd", {"lr": LR}, params=list(model.parameters()))
    snapshots = Snapshots(model)
    trainer = minidl.Trainer(max_epochs=epochs, batch_size=batch_size, seed=0, callbacks=[snapshots],
                             plugins=plugins)
    history = trainer.fit(model, data, loss, optimizer)
    return model, data, snapshots, history


def test_same_parameters_as_the_notebook_after_every_step(plugins, capsys):
    namespace = notebook_namespace()
    _, data, snapshots, history = train_like_notebook(plugins, namespace, batch_size=10, epochs=3)

    notebook_steps: list[list[torch.Tensor]] = []
    sgd = namespace["sgd"]

    def sgd_and_snapshot(params: list[torch.Tensor], lr: float, batch_size: int) -> None:
        sgd(params, lr, batch_size)
        notebook_steps.append([p.detach().clone() for p in params])

    namespace["random"] = _Shuffler(data.orders(namespace["features"]))
    namespace["sgd"] = sgd_and_snapshot
    namespace["batch_size"] = 10  # set by cell 5, which prints every batch
    capsys.readouterr()
    exec(compile(notebook_cells()[11], f"{NOTEBOOK}:In[11]", "exec"), namespace)
    printed = capsys.readouterr().out.splitlines()

    assert len(notebook_steps) == len(snapshots.after) == 3 * 100
    for step, (ours, theirs) in enumerate(zip(snapshots.after, notebook_steps), 1):
        for mine, notebook in zip(ours, theirs):
            notebook = notebook.reshape(mine.shape)
            assert torch.allclose(mine, notebook, rtol=1e-5, atol=1e-6), f"step {step}: {mine} != {notebook}"
    # The epoch lines: the notebook's ``train_l.mean()`` is the Trainer's ``loss``.
    assert len(printed) == len(history) == 3
    for line, record in zip(printed, history):
        epoch, loss = re.fullmatch(r"epoch (\d+), loss ([\d.]+)", line).groups()
        assert int(epoch) == record["epoch"]
        assert float(loss) == pytest.approx(record["loss"], rel=1e-3, abs=2e-6)


def test_short_last_batch_is_divided_by_its_own_size(plugins):
    namespace = notebook_namespace()
    _, data, snapshots, _ = train_like_notebook(plugins, namespace, batch_size=300, epochs=1)
    assert [len(X) for X, _ in data.epochs[0]] == [300, 300, 300, 100]

    linreg, squared_loss, notebook_sgd = namespace["linreg"], namespace["squared_loss"], namespace["sgd"]
    for step, ((X, y), before, after) in enumerate(zip(data.epochs[0], snapshots.before, snapshots.after)):
        w, b = (p.clone().requires_grad_() for p in before)
        squared_loss(linreg(X, w, b), y).sum().backward()  # the notebook's summed gradient
        expected = [p.detach() - LR * p.grad / len(X) for p in (w, b)]
        for mine, oracle in zip(after, expected):
            assert torch.allclose(mine, oracle, rtol=1e-5, atol=1e-7), f"step {step + 1}"
        if len(X) == 100:
            # The notebook divides the short batch's sum by the configured 300: a third of the step.
            notebook_sgd([w, b], LR, 300)
            for mine, start, notebook in zip(after, before, (w.detach(), b.detach())):
                assert not torch.allclose(mine, notebook, rtol=1e-5, atol=1e-7)
                assert torch.allclose(start - notebook, (start - mine) / 3, rtol=1e-3, atol=1e-7)


def test_default_run_converges(plugins):
    run = build(RunConfig(), plugins)
    assert (run.config.train.epochs, run.config.train.batch_size) == (3, 10)
    assert run.config.optimizer.options["lr"] == LR
    history = run.fit()
    assert len(history) == 3
    assert history[-1]["loss"] < 1e-4
    true = run.dataset.true_params
    learned = run.parameters()
    assert learned["w"] == pytest.approx(true["w"], abs=0.01)
    assert learned["b"] == pytest.approx(true["b"], abs=0.01)
    assert true == {"w": [2.0, -3.4], "b": 4.2}
