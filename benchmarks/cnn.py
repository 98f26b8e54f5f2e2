"""The LeNet row (issue 10.6): LeNet on 28x28 images at batch 256, three ways.

Each loop has the signature of :mod:`benchmarks.loops` (so :func:`benchmarks.timing.measure`
times them as it times the linear ones): ``loop(X, y, state0, *, batch_size, epochs, lr,
seed, max_steps) -> loss``. It trains the book's LeNet (5.5) from the weights ``state0``
on images ``X`` (n, 1, 28, 28) with labels ``y`` (n,), with Adam at the book's 0.001 (the
``lr`` argument, the linear workloads' SGD rate, is not used) on the batch mean of the
cross-entropy, each epoch in the order ``torch.randperm(n, generator)`` of a generator
seeded with ``seed`` (the order minidl's Trainer draws), and returns the mean
cross-entropy over the whole data after the last epoch.

Like with like: every loop passes once over the whole data at the end of each epoch
(minidl's Trainer evaluates its training split; the bare loop computes that loss; the
book's loop runs its ``evaluate_accuracy`` over a loader of the same images), and
every loop returns the same final loss, computed after its last epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from benchmarks.loops import _EpochOrder, _plugins, _Truncated
from benchmarks.timing import Measurement, Workload, measure, paired_ratio

ADAM_LR = 0.001  # the book's (5.5)
SIDE = 28
LABELS = {
    "bare": "bare PyTorch (randperm, index_select, LeNet, F.cross_entropy, Adam)",
    "book": "the book's train_ch5 loop (DataLoader, nn.CrossEntropyLoss, Adam, evaluate_accuracy)",
    "minidl": "minidl Trainer (model lenet, loss cross-entropy, torch.optim.Adam, TensorData)",
}


def lenet(state0: dict[str, torch.Tensor] | None = None) -> nn.Module:
    """The book's LeNet (the vision plugin's ``lenet``, tested to be the book's), from ``state0``."""
    net = _plugins().registry.build("model", "lenet", num_inputs=SIDE * SIDE, num_outputs=10)
    if state0 is not None:
        net.load_state_dict(state0)
    return net


def make_data(workload: Workload, seed: int, device: str = "cpu") -> tuple[Any, ...]:
    """Images in [0, 1] with a class each, a little learnable (a bright square per class),
    and LeNet's initial weights, all from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    n = workload.num_examples
    y = torch.randint(0, 10, (n,), generator=generator)  # (n,)
    X = torch.rand(n, 1, SIDE, SIDE, generator=generator) * 0.5  # (n, 1, 28, 28)
    for label in range(10):  # class c lights a 6x6 square at row 2 + 2c
        rows = (y == label).nonzero().squeeze(1)
        X[rows, :, 2 + 2 * label: 8 + 2 * label, 10:16] += 0.5
    torch.manual_seed(seed)
    state0 = {k: v.clone() for k, v in lenet().state_dict().items()}
    return X.to(device), y.to(device), {k: v.to(device) for k, v in state0.items()}


def _full_loss(net: nn.Module, X: torch.Tensor, y: torch.Tensor, batch_size: int) -> float:
    """Mean cross-entropy over the whole data, a batch at a time (as minidl's Trainer and
    the book's ``evaluate_accuracy`` pass over it: one pass over all 5,120 images at once
    is about a quarter slower per image here, and would make the bare loop look slow)."""
    net.eval()
    total = torch.zeros((), dtype=torch.float64, device=X.device)
    with torch.no_grad():
        for i in range(0, len(X), batch_size):
            total += F.cross_entropy(net(X[i: i + batch_size]), y[i: i + batch_size], reduction="sum")
    net.train()
    return total.item() / len(X)


def bare_loop(X: torch.Tensor, y: torch.Tensor, state0: dict[str, torch.Tensor], *, batch_size: int,
              epochs: int, lr: float, seed: int, max_steps: int | None = None) -> float:
    """A bare PyTorch loop: one randperm per epoch, index_select, autograd, Adam, grads to None."""
    generator = torch.Generator().manual_seed(seed)
    net = lenet(state0).to(X.device)
    optimizer = torch.optim.Adam(net.parameters(), lr=ADAM_LR)
    n = len(X)
    stop = n if max_steps is None else min(n, max_steps * batch_size)
    loss = float("nan")
    for _epoch in range(epochs):
        order = torch.randperm(n, generator=generator).to(X.device)
        for i in range(0, stop, batch_size):
            j = order[i: i + batch_size]
            l = F.cross_entropy(net(X.index_select(0, j)), y.index_select(0, j))  # noqa: E741
            l.backward()
            optimizer.step()
            optimizer.zero_grad()
        loss = _full_loss(net, X, y, batch_size)  # the epoch's pass over the whole data
    return loss


def _evaluate_accuracy(data_iter: Any, net: nn.Module, device: Any = None) -> float:
    """The book's ``evaluate_accuracy`` (5.5, ``d2lzh_pytorch``), as written."""
    if device is None and isinstance(net, torch.nn.Module):
        device = list(net.parameters())[0].device  # noqa: RUF015 - the book's code
    acc_sum, n = 0.0, 0
    with torch.no_grad():
        for X, y in data_iter:
            net.eval()
            acc_sum += (net(X.to(device)).argmax(dim=1) == y.to(device)).float().sum().cpu().item()
            net.train()
            n += y.shape[0]
    return acc_sum / n


def book_loop(X: torch.Tensor, y: torch.Tensor, state0: dict[str, torch.Tensor], *, batch_size: int,
              epochs: int, lr: float, seed: int, max_steps: int | None = None) -> float:
    """The book's ``train_ch5`` loop as written (its print left out), over a DataLoader."""
    from torch.utils import data

    dataset = data.TensorDataset(X, y)
    train_iter: Any = data.DataLoader(dataset, batch_size=batch_size, sampler=_EpochOrder(len(X), seed))
    if max_steps is not None:
        train_iter = _First(train_iter, max_steps)
    test_iter = data.DataLoader(dataset, batch_size=batch_size)  # the epoch's pass over the whole data
    device = X.device
    net = lenet(state0).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=ADAM_LR)
    loss = torch.nn.CrossEntropyLoss()
    batch_count = 0
    for _epoch in range(epochs):
        train_l_sum, train_acc_sum, n = 0.0, 0.0, 0
        for Xb, yb in train_iter:
            Xb = Xb.to(device)
            yb = yb.to(device)
            y_hat = net(Xb)
            l = loss(y_hat, yb)  # noqa: E741
            optimizer.zero_grad()
            l.backward()
            optimizer.step()
            train_l_sum += l.cpu().item()
            train_acc_sum += (y_hat.argmax(dim=1) == yb).sum().cpu().item()
            n += yb.shape[0]
            batch_count += 1
        _evaluate_accuracy(test_iter, net)
    return _full_loss(net, X, y, batch_size)


class _First:
    """The first ``max_steps`` batches of each pass over a loader."""

    def __init__(self, loader: Any, max_steps: int) -> None:
        self.loader, self.max_steps = loader, max_steps

    def __iter__(self) -> Iterator[Any]:
        for step, batch in enumerate(self.loader):
            if step == self.max_steps:
                return
            yield batch


def minidl_loop(X: torch.Tensor, y: torch.Tensor, state0: dict[str, torch.Tensor], *, batch_size: int,
                epochs: int, lr: float, seed: int, max_steps: int | None = None) -> float:
    """minidl's Trainer: the registered ``lenet`` and ``cross-entropy``, ``torch-adam``, TensorData."""
    import minidl
    from minidl.adapters import TensorData

    plugins = _plugins()
    registry = plugins.registry
    model = lenet(state0)
    loss = registry.build("loss", "cross-entropy", {})
    optimizer = registry.build("optimizer", "torch-adam", {"lr": ADAM_LR}, params=model.parameters())
    data: Any = TensorData(X, y)
    if max_steps is not None:
        data = _Truncated(data, max_steps)
    trainer = minidl.Trainer(max_epochs=epochs, batch_size=batch_size, seed=seed, plugins=plugins,
                             device=str(X.device.type))
    return trainer.fit(model, data, loss, optimizer)[-1]["loss"]  # its own pass over the whole data


LOOPS: dict[str, Callable[..., float]] = {"bare": bare_loop, "book": book_loop, "minidl": minidl_loop}


def workload(batches: int, epochs: int = 2) -> Workload:
    """LeNet at batch 256 on ``batches`` full batches of 28x28 images; short run one epoch,
    long run ``epochs``."""
    n = batches * 256
    return Workload(f"LeNet, {n:,} images 28x28, batch 256, {epochs} epochs", n, SIDE * SIDE, 256, epochs)


def time_lenet(work: Workload, *, repeats: int, seed: int, clock: Callable[[], float],
               loops: dict[str, Callable[..., float]] | None = None) -> dict[str, Measurement]:
    """Time the LeNet loops on ``work``, interleaved, ``repeats`` times."""
    data = make_data(work, seed)
    return measure(loops or LOOPS, work, data, repeats=repeats, seed=seed, clock=clock)


def target(results: dict[str, Measurement]) -> tuple[str, float, float]:
    """The issue's target: minidl's Trainer within 1.05x the bare loop, per step."""
    return "minidl Trainer / bare loop, LeNet 28x28 batch 256", paired_ratio(results, "minidl", "bare"), 1.05


def section(args: Any) -> tuple[list[str], list[Any]]:
    """The LeNet table and target for ``python -m benchmarks.run`` (its ``args``); raises
    :class:`~benchmarks.timing.LossMismatchError` before any time is shown."""
    import time

    from benchmarks.report import Target, timing_table
    from benchmarks.timing import check_losses

    work = workload(args.lenet_batches)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(f"timing {work.name} ...", flush=True)
    results = time_lenet(work, repeats=args.repeats, seed=args.seed, clock=clock)
    check_losses(results, "bare", args.rtol)
    table = timing_table(work.name, results, LABELS, notebook="book", notebook_header="vs book loop")
    what, ratio, limit = target(results)
    return table, [Target(what, ratio, limit)]
