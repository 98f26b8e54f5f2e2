"""The training loops the benchmark compares, all with one signature.

``loop(X, y, w0, *, batch_size, epochs, lr, seed, max_steps) -> loss``: train linear
regression from ``w = w0``, ``b = 0`` on ``(X, y)`` (y shaped ``(n, 1)``) with SGD at
``lr`` on the batch *mean* of the squared loss ``(y_hat - y)**2 / 2``, each epoch in the
order ``torch.randperm(n, generator=torch.Generator().manual_seed(seed))`` (the order
minidl's Trainer draws), stopping each epoch after ``max_steps`` steps when set; return
the loss over the whole data after the last epoch. Each loop computes that loss at the
end of every epoch, as the notebook does.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

from minidl import hookimpl

Loop = Callable[..., float]


def _full_loss(X: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> float:
    with torch.no_grad():
        return ((torch.mm(X, w) + b - y) ** 2 / 2).mean().item()


def bare_loop(X: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, *, batch_size: int, epochs: int,
              lr: float, seed: int, max_steps: int | None = None) -> float:
    """A bare PyTorch loop: one randperm per epoch, slices, autograd, in-place update."""
    generator = torch.Generator().manual_seed(seed)
    n = len(X)
    w = w0.clone().requires_grad_(True)
    b = torch.zeros(1, device=X.device, requires_grad=True)
    stop = n if max_steps is None else min(n, max_steps * batch_size)
    loss = float("nan")
    for _epoch in range(epochs):
        order = torch.randperm(n, generator=generator).to(X.device)
        for i in range(0, stop, batch_size):
            j = order[i : i + batch_size]
            Xb, yb = X.index_select(0, j), y.index_select(0, j)
            l = ((torch.mm(Xb, w) + b - yb) ** 2 / 2).mean()  # noqa: E741
            l.backward()
            with torch.no_grad():
                w.sub_(w.grad, alpha=lr)
                b.sub_(b.grad, alpha=lr)
            w.grad = b.grad = None
        loss = _full_loss(X, y, w, b)
    return loss


def closed_form_loop(X: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, *, batch_size: int, epochs: int,
                     lr: float, seed: int, max_steps: int | None = None) -> float:
    """The floor: the seed's closed-form gradient, dL/dw = X^T r / m, dL/db = mean(r), no autograd."""
    generator = torch.Generator().manual_seed(seed)
    n = len(X)
    w = w0.clone()
    b = torch.zeros(1, device=X.device)
    stop = n if max_steps is None else min(n, max_steps * batch_size)
    loss = float("nan")
    for _epoch in range(epochs):
        order = torch.randperm(n, generator=generator).to(X.device)
        for i in range(0, stop, batch_size):
            j = order[i : i + batch_size]
            Xb, yb = X.index_select(0, j), y.index_select(0, j)
            r = torch.mm(Xb, w) + b - yb  # (m, 1)
            m = len(j)
            w.sub_(torch.mm(Xb.t(), r), alpha=lr / m)
            b.sub_(r.mean(), alpha=lr)
        loss = _full_loss(X, y, w, b)
    return loss


class _Truncated:
    """A minidl Dataset whose epochs stop after ``max_steps`` batches (C-level islice)."""

    def __init__(self, data: Any, max_steps: int) -> None:
        self.data, self.max_steps = data, max_steps

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Any]:
        return itertools.islice(self.data.batches(batch_size, generator), self.max_steps)

    def to(self, device: Any) -> _Truncated:
        self.data = self.data.to(device)
        return self

    def __getattr__(self, name: str) -> Any:
        return getattr(self.data, name)


class StepHook:
    """A callback with a no-op ``on_batch_end``: what a per-step hook costs."""

    @hookimpl
    def on_batch_end(self, trainer: Any, epoch: int, step: int, loss: float) -> None:
        """Do nothing."""


def minidl_loop(X: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, *, batch_size: int, epochs: int,
                lr: float, seed: int, max_steps: int | None = None, grad: str = "autograd",
                callbacks: tuple[Any, ...] = ()) -> float:
    """minidl's Trainer with the default plugins: linreg, squared, sgd, TensorData."""
    import minidl
    from minidl.adapters import TensorData

    plugins = _plugins()
    registry = plugins.registry
    model = registry.build("model", "linreg", {"num_inputs": X.shape[1], "grad": grad})
    with torch.no_grad():
        model.w.copy_(w0)
    loss = registry.build("loss", "squared", {})
    optimizer = registry.build("optimizer", "sgd", {"lr": lr}, params=model.parameters())
    data: Any = TensorData(X, y)
    if max_steps is not None:
        data = _Truncated(data, max_steps)
    trainer = minidl.Trainer(max_epochs=epochs, batch_size=batch_size, seed=seed, plugins=plugins,
                             callbacks=callbacks, device=str(X.device.type))
    return trainer.fit(model, data, loss, optimizer)[-1]["loss"]


_PLUGINS: list[Any] = []


def _plugins() -> Any:
    """The default plugins, loaded once per process (as ``minidl train`` loads them once)."""
    if not _PLUGINS:
        import minidl

        _PLUGINS.append(minidl.load_plugins())
    return _PLUGINS[0]


def minidl_analytic_loop(X: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, **options: Any) -> float:
    """minidl's Trainer with ``linreg`` ``grad=analytic`` (closed-form gradient)."""
    return minidl_loop(X, y, w0, grad="analytic", **options)


def minidl_hook_loop(X: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, **options: Any) -> float:
    """minidl's Trainer with a callback implementing a no-op ``on_batch_end``."""
    return minidl_loop(X, y, w0, callbacks=(StepHook(),), **options)


def _loader(X: torch.Tensor, y: torch.Tensor, batch_size: int, seed: int, max_steps: int | None) -> Any:
    from torch.utils import data

    dataset = data.TensorDataset(X, y)
    loader = data.DataLoader(dataset, batch_size=batch_size, sampler=_EpochOrder(len(dataset), seed))
    return loader if max_steps is None else _FirstSteps(loader, max_steps)


class _EpochOrder:
    """``RandomSampler``'s order with its own generator, one randperm per epoch.

    ``RandomSampler`` draws a second (empty-sliced) permutation at the end of each pass,
    which would put every later epoch out of step with the other loops.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.generator = n, torch.Generator().manual_seed(seed)

    def __iter__(self) -> Iterator[int]:
        yield from torch.randperm(self.n, generator=self.generator).tolist()

    def __len__(self) -> int:
        return self.n


class _FirstSteps:
    """The first ``max_steps`` batches of each pass over a DataLoader."""

    def __init__(self, loader: Any, max_steps: int) -> None:
        self.loader, self.max_steps = loader, max_steps

    def __iter__(self) -> Iterator[Any]:
        return itertools.islice(iter(self.loader), self.max_steps)

    def __len__(self) -> int:
        return min(len(self.loader), self.max_steps)


def concise_loop(X: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, *, batch_size: int, epochs: int,
                 lr: float, seed: int, max_steps: int | None = None) -> float:
    """The book's concise version (3.3): DataLoader, nn.Linear, nn.MSELoss, optim.SGD.

    ``MSELoss`` has no 1/2, so ``lr`` is halved to make the very same updates as the others.
    """
    from torch import nn, optim

    net = nn.Sequential(nn.Linear(X.shape[1], 1)).to(X.device)
    with torch.no_grad():
        net[0].weight.copy_(w0.t())
        net[0].bias.zero_()
    loss = nn.MSELoss()
    optimizer = optim.SGD(net.parameters(), lr=lr / 2)
    loader = _loader(X, y, batch_size, seed, max_steps)
    result = float("nan")
    for _epoch in range(epochs):
        for Xb, yb in loader:
            output = net(Xb)
            l = loss(output, yb.view(-1, 1))  # noqa: E741
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
        result = _full_loss(X, y, net[0].weight.t(), net[0].bias)
    return result


def lightning_available() -> bool:
    """True when PyTorch Lightning (``lightning``) can be imported."""
    import importlib.util

    return importlib.util.find_spec("lightning") is not None


def lightning_loop(X: torch.Tensor, y: torch.Tensor, w0: torch.Tensor, *, batch_size: int, epochs: int,
                   lr: float, seed: int, max_steps: int | None = None) -> float:
    """PyTorch Lightning: a LightningModule with w and b, a DataLoader, optim.SGD."""
    import logging

    import lightning as L

    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)

    class LinRegModule(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(w0.clone())
            self.b = torch.nn.Parameter(torch.zeros(1))

        def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
            Xb, yb = batch
            return ((torch.mm(Xb, self.w) + self.b - yb) ** 2 / 2).mean()

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=lr)

        def on_train_epoch_end(self) -> None:
            self.epoch_loss = _full_loss(X, y, self.w, self.b)

    module = LinRegModule()
    trainer = L.Trainer(max_epochs=epochs, accelerator=X.device.type, devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0,
                        limit_train_batches=max_steps if max_steps is not None else 1.0)
    with warnings.catch_warnings():  # lightning 2.6 on torch 2.13 warns of its own pytree use at every fit
        warnings.filterwarnings("ignore", message=r".*LeafSpec.* is deprecated")
        trainer.fit(module, _loader(X, y, batch_size, seed, None))
    return module.epoch_loss
