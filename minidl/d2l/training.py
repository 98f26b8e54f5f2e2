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

from minidl.adapters import DatasetWrapper, TensorData, as_dataset
from minidl.compat import IncompatibleComponentsError
from minidl.d2l.checks import integer
from minidl.d2l.classification import evaluate, mean_reduced
from minidl.d2l.diagnose import explain_misfit
from minidl.default_plugins.notebook_components import SGD
from minidl.errors import MinidlError
from minidl.functional import count_correct
from minidl.hookspecs import hookimpl
from minidl.trainer import Trainer

if TYPE_CHECKING:
    from minidl.trainer import History

__all__ = ["FunctionNet", "book_trainer", "check_optimizer", "fit_explained", "train_ch3"]


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


def check_optimizer(optimizer: Any, where: str) -> None:
    """Raise TypeError unless ``optimizer`` has ``step`` and ``zero_grad`` (a ``torch.optim`` optimizer)."""
    if not (callable(getattr(optimizer, "step", None)) and callable(getattr(optimizer, "zero_grad", None))):
        hint = "; give the class an instance, e.g. torch.optim.SGD(net.parameters(), lr=0.1)" \
            if isinstance(optimizer, type) else ""
        raise TypeError(f"{where}: optimizer must be a torch.optim optimizer such as "
                        f"torch.optim.SGD(net.parameters(), lr=0.1), got {optimizer!r}{hint}")


def fit_explained(where: str, trainer: Trainer, model: Any, data: _BookData, loss: Any, optimizer: Any) -> History:
    """``trainer.fit``; a network that cannot take the data's images is named layer by layer
    (:func:`~minidl.d2l.diagnose.explain_misfit`) instead of with torch's message alone."""
    try:
        return trainer.fit(model, data, loss, optimizer)
    except IncompatibleComponentsError as exc:
        X, _ = data.tensors("train")
        explained = explain_misfit(model, X)
        if explained is None:
            raise
        raise MinidlError(f"{where}: net cannot take train_iter's images: {explained}") from exc


class FunctionNet:
    """A plain function ``net(X)`` (the book's 3.6 and 3.9 models) as a minidl Model.

    Its parameters are the tensors the book hands its loop (``params``), saved and
    restored by position; a book model with more to it (a recurrent one's state)
    subclasses it.
    """

    def __init__(self, net: Callable[[torch.Tensor], torch.Tensor], params: Sequence[torch.Tensor]) -> None:
        self.net, self.params = net, list(params)
        self.__name__ = getattr(net, "__name__", type(net).__name__)  # as the Trainer's checks name it

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(X)

    def parameters(self) -> Iterator[torch.Tensor]:
        """The parameters given to train_ch3."""
        return iter(self.params)

    def to(self, device: torch.device | str) -> FunctionNet:
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

    In a training step (autograd on) it returns ``loss(y_hat, y).sum()`` as one value (a
    mean-reduced loss's batch mean as it is), so the Trainer's batch mean back-propagates
    exactly the book's ``l``, and it adds the batch to the epoch's running sums:
    ``loss_sum`` per example, ``batch_loss_sum`` of the batches' values, ``correct``
    predictions, ``n`` examples, ``epoch_batches``, and ``batch_count``, the batches
    counted since training started (``train_ch5``'s divisor: the book never resets it).
    Under ``no_grad`` (the Trainer's checks) it returns the loss unchanged.
    """

    def __init__(self, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        self.loss = loss
        self.__name__ = getattr(loss, "__name__", type(loss).__name__)  # as the Trainer's checks name it
        self.batch_count = 0
        self.reset()

    def reset(self) -> None:
        """Start a new epoch's sums."""
        self.loss_sum, self.batch_loss_sum, self.correct, self.n, self.epoch_batches = 0.0, 0.0, 0, 0, 0

    def __call__(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        try:
            losses = self.loss(y_hat, y)
        except RuntimeError:
            if isinstance(y, torch.Tensor) and (y.dtype.is_floating_point or y.dtype == torch.bool):
                raise TypeError(f"the labels must be integer class indices (torch.int64), got {y.dtype} "
                                f"labels; convert them with y.long()") from None
            raise
        if not torch.is_grad_enabled():
            return losses
        total = losses.sum()
        m, value = y.shape[0], total.item()
        self.loss_sum += value * (m if mean_reduced(self.loss, losses) else 1)
        self.batch_loss_sum += value
        self.correct += count_correct(y_hat.detach(), y)
        self.n += m
        self.epoch_batches += 1
        self.batch_count += 1
        return total.reshape(1)


class _BookEpochLine:
    """Records the epoch's train loss and accuracy as the book's running sums, the test
    loss and accuracy over ``test_iter`` as the book's ``evaluate_accuracy``; prints."""

    def __init__(self, loss: _BookLoss, net: Callable[..., torch.Tensor], test_iter: Any,
                 echo: Callable[[str], Any]) -> None:
        self.loss, self.net, self.test_iter, self.echo = loss, net, test_iter, echo

    @hookimpl
    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Reset the running sums."""
        self.loss.reset()

    @hookimpl
    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Record ``loss``, ``acc``, ``test_loss`` and ``test_acc`` and print the book's line."""
        n = max(self.loss.n, 1)
        metrics["loss"], metrics["acc"] = self.loss.loss_sum / n, self.loss.correct / n
        test = evaluate(self.test_iter, self.net, loss=self.loss.loss)
        metrics["test_loss"], metrics["test_acc"] = test.loss_sum / test.n, test.correct / test.n
        self.echo(f"epoch {epoch}, loss {metrics['loss']:.4f}, train acc {metrics['acc']:.3f}, "
                  f"test acc {metrics['test_acc']:.3f}")


class _BookData(DatasetWrapper):
    """The training data, served in batches; no split is evaluated as a whole.

    The book reports train loss and accuracy as sums over the epoch's batches and tests
    batch by batch over ``test_iter``, so ``splits`` is empty, and ``tensors`` (which the
    Trainer's checks read) gives a few examples, never a stacked copy of a loader's split.
    """

    splits: tuple[str, ...] = ()
    PEEK = 2  # examples shown to the Trainer's checks
    __name__ = "train_iter"  # as the Trainer's checks name it

    def tensors(self, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """A tensor dataset's split as it is (no copy); else the first ``PEEK`` examples."""
        if isinstance(self.data, TensorData):
            return self.data.tensors(split)
        batch: tuple[torch.Tensor, torch.Tensor] = next(iter(self.data.batches(self.PEEK, torch.Generator())))
        return batch


def _book_data(train_iter: Any) -> _BookData:
    if (isinstance(train_iter, torch_data.DataLoader) and isinstance(train_iter.dataset, torch_data.TensorDataset)
            and train_iter.collate_fn is torch_data.default_collate):
        return _BookData(as_dataset(train_iter.dataset))  # a plain tensor loader: its tensors, served directly
    return _BookData(as_dataset(train_iter))


def train_ch3(net: Callable[[torch.Tensor], torch.Tensor], train_iter: Any, test_iter: Any,
              loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], num_epochs: int,
              batch_size: int, params: Sequence[torch.Tensor] | None = None,
              lr: float | None = None, optimizer: Any = None) -> History:
    """Train ``net`` as the book's ``train_ch3`` does, printing its epoch line
    ``epoch 1, loss 0.7870, train acc 0.749, test acc 0.794``.

    Each step back-propagates ``loss(net(X), y).sum()`` and applies
    ``sgd(params, lr, batch_size)`` (or ``optimizer.step()`` when given). The printed loss
    and train accuracy are means over the epoch's batches; test accuracy is
    :func:`~minidl.d2l.evaluate_accuracy` on ``test_iter``, batch by batch (a net with an
    ``is_training`` parameter called with ``is_training=False``, an ``nn.Module`` in eval
    mode), and the net is left in train mode, as the book's. Unlike the book, a
    mean-reduced loss (``nn.CrossEntropyLoss()``) is also reported per example. Returns
    the History (``loss``, ``acc``, ``test_loss``, ``test_acc`` per epoch).
    """
    if optimizer is None:
        if params is None or lr is None:
            raise MinidlError("train_ch3 needs params and lr (for sgd) when no optimizer is given")
        batch_size = integer(batch_size, "batch_size", "train_ch3")  # sgd divides by it
        optimizer = SGD(params, lr, batch_size)  # the book's sgd(params, lr, batch_size)
    else:
        check_optimizer(optimizer, "train_ch3")
    model = net if isinstance(net, nn.Module) else FunctionNet(net, params or [])
    book_loss = _BookLoss(loss)
    trainer = book_trainer(num_epochs, getattr(train_iter, "batch_size", None) or batch_size,
                           callbacks=[_BookEpochLine(book_loss, net, test_iter, print)])
    history = fit_explained("train_ch3", trainer, model, _book_data(train_iter), book_loss, optimizer)
    if isinstance(net, nn.Module):
        net.train()  # the book's evaluate_accuracy ends with net.train()
    return history
