"""The book's training loops on minidl's :class:`~minidl.trainer.Trainer`: ``train_ch3``
(sections 3.6-3.10) and the setup every book loop shares (:func:`book_trainer`).

A book loop prints only its own line, so the Trainer runs with no installed plugin's
hooks; its seed is drawn from torch's global RNG, so ``torch.manual_seed`` before the
call makes a run repeatable, as in the book.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils import data as torch_data

from minidl.adapters import DatasetWrapper, as_dataset
from minidl.default_plugins.notebook_components import SGD
from minidl.errors import MinidlError
from minidl.functional import count_correct
from minidl.hookspecs import hookimpl
from minidl.metrics import Accuracy
from minidl.trainer import Trainer

if TYPE_CHECKING:
    from minidl.trainer import History

__all__ = ["book_trainer", "train_ch3"]


def book_trainer(num_epochs: int, batch_size: int, *, callbacks: Sequence[Any] = (),
                 metrics: Mapping[str, Any] | None = None, device: str = "cpu") -> Trainer:
    """The Trainer a book loop runs on: ``num_epochs`` epochs of ``batch_size``, the
    seed drawn from torch's global RNG, and no installed plugin's hooks."""
    from minidl.plugins import Plugins

    return Trainer(
        max_epochs=num_epochs, batch_size=batch_size, device=device,
        seed=int(torch.randint(2**31 - 1, ()).item()),  # drawn from torch's RNG: torch.manual_seed rules
        metrics=dict(metrics or {}), callbacks=list(callbacks),
        plugins=Plugins(),  # no installed plugin's hooks: the book's loop prints only its line
    )


class _FunctionNet:
    """A plain function ``net(X)`` (the book's 3.6 and 3.9 models) as a minidl Model."""

    def __init__(self, net: Callable[[torch.Tensor], torch.Tensor], params: Sequence[torch.Tensor]) -> None:
        self.net, self.params = net, list(params)

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(X)

    def parameters(self) -> Iterator[torch.Tensor]:
        """The parameters given to train_ch3."""
        return iter(self.params)

    def to(self, device: torch.device | str) -> _FunctionNet:
        """The function's tensors stay where the book put them."""
        return self

    def state_dict(self) -> dict[str, Any]:
        """The parameters by position."""
        return {str(i): p.detach().clone() for i, p in enumerate(self.params)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Copy saved parameters back in."""
        with torch.no_grad():
            for i, p in enumerate(self.params):
                p.copy_(state_dict[str(i)])


class _BookLoss:
    """Wraps the book's ``loss`` so that the Trainer's step is the book's.

    In a training step (autograd on) it returns ``loss(y_hat, y).sum()`` as one value,
    so the Trainer's batch mean back-propagates exactly the book's ``l``, and it adds
    the batch to the epoch's running loss and accuracy. Under ``no_grad`` (evaluation)
    it returns the loss unchanged.
    """

    def __init__(self, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        self.loss = loss
        self.reset()

    def reset(self) -> None:
        """Start a new epoch's sums."""
        self.loss_sum, self.correct, self.n = 0.0, 0, 0

    def __call__(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        losses = self.loss(y_hat, y)
        if not torch.is_grad_enabled():
            return losses
        total = losses.sum()
        m = y.shape[0]
        # A reduced loss (nn.CrossEntropyLoss()) gives the batch mean: count it per example.
        mean_reduced = losses.dim() == 0 and getattr(self.loss, "reduction", "mean") == "mean"
        self.loss_sum += total.item() * (m if mean_reduced else 1)
        self.correct += count_correct(y_hat.detach(), y)
        self.n += m
        return total.reshape(1)


class _BookEpochLine:
    """Replaces the epoch's train loss and accuracy with the book's running ones; prints."""

    def __init__(self, loss: _BookLoss, echo: Callable[[str], Any]) -> None:
        self.loss, self.echo = loss, echo

    @hookimpl
    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Reset the running sums."""
        self.loss.reset()

    @hookimpl
    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Record ``loss`` and ``acc`` as the book computes them and print its line."""
        n = max(self.loss.n, 1)
        metrics["loss"], metrics["acc"] = self.loss.loss_sum / n, self.loss.correct / n
        test_acc = metrics.get("test_acc", float("nan"))
        self.echo(f"epoch {epoch}, loss {metrics['loss']:.4f}, train acc {metrics['acc']:.3f}, "
                  f"test acc {test_acc:.3f}")


class _TestOnly(DatasetWrapper):
    """A dataset whose training split is served in batches but evaluated only on ``test``.

    The book reports train loss and accuracy as sums over the epoch's batches, so a
    second pass over the training split would only cost time.
    """

    def __init__(self, data: Any) -> None:
        super().__init__(data)
        self.splits = tuple(split for split in data.splits if split == "test")


def _book_data(train_iter: Any, test_iter: Any) -> _TestOnly:
    def unwrap(loader: Any) -> Any:  # a plain TensorDataset loader: serve its tensors directly
        if (isinstance(loader, torch_data.DataLoader) and isinstance(loader.dataset, torch_data.TensorDataset)
                and loader.collate_fn is torch_data.default_collate):
            return loader.dataset
        return loader

    return _TestOnly(as_dataset(unwrap(train_iter), unwrap(test_iter)))


def train_ch3(net: Callable[[torch.Tensor], torch.Tensor], train_iter: Any, test_iter: Any,
              loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], num_epochs: int,
              batch_size: int, params: Sequence[torch.Tensor] | None = None,
              lr: float | None = None, optimizer: Any = None) -> History:
    """Train ``net`` as the book's ``train_ch3`` does, printing its epoch line
    ``epoch 1, loss 0.7870, train acc 0.749, test acc 0.794``.

    Each step back-propagates ``loss(net(X), y).sum()`` and applies
    ``sgd(params, lr, batch_size)`` (or ``optimizer.step()`` when given). The printed loss
    and train accuracy are means over the epoch's batches; test accuracy is
    :func:`~minidl.d2l.evaluate_accuracy` on ``test_iter``. Unlike the book, a mean-reduced
    loss (``nn.CrossEntropyLoss()``) is also reported per example. Returns the History.
    """
    if optimizer is None:
        if params is None or lr is None:
            raise MinidlError("train_ch3 needs params and lr (for sgd) when no optimizer is given")
        optimizer = SGD(params, lr, batch_size)  # the book's sgd(params, lr, batch_size)
    model = net if isinstance(net, nn.Module) else _FunctionNet(net, params or [])
    book_loss = _BookLoss(loss)
    trainer = book_trainer(num_epochs, getattr(train_iter, "batch_size", None) or batch_size,
                           metrics={"acc": Accuracy()}, callbacks=[_BookEpochLine(book_loss, print)])
    return trainer.fit(model, _book_data(train_iter, test_iter), book_loss, optimizer)
