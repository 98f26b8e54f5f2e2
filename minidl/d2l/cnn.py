"""Chapter 5's helpers: ``corr2d``, ``train_ch5`` and the networks' building blocks.

Under the names and signatures of the book's ``d2lzh_pytorch``. ``train_ch5`` runs on
minidl's :class:`~minidl.trainer.Trainer` with the setup every book loop shares
(:func:`~minidl.d2l.training.book_trainer`). ``GlobalAvgPool2d``, ``Residual``,
``resnet_block`` and ``resnet18`` are the vision plugin's
(:mod:`minidl_vision.layers`, the layers of its models), imported on first use: ``import
minidl.d2l`` works without the plugin, and these names then raise an ImportError naming it.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from minidl.d2l.checks import as_device
from minidl.d2l.classification import evaluate
from minidl.d2l.lazy import first_party
from minidl.d2l.training import _book_data, _BookEpochLine, _BookLoss, book_trainer, check_optimizer, fit_explained
from minidl.errors import MinidlError
from minidl.hookspecs import hookimpl

if TYPE_CHECKING:
    from minidl.trainer import History, Trainer

__all__ = ["corr2d", "train_ch5"]  # and, imported on first use, the FROM_VISION names

#: Names served by the vision plugin's layers module, imported when first asked for.
FROM_VISION = ("GlobalAvgPool2d", "Residual", "resnet_block", "resnet18")


def corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Two-dimensional cross-correlation of ``X`` (h, w) with the kernel ``K`` (kh, kw):
    ``Y[i, j] = (X[i:i + kh, j:j + kw] * K).sum()``, of shape (h - kh + 1, w - kw + 1).

    The book's loop computes one output at a time; here every window is taken at once
    (``unfold``) and multiplied with ``K``, which also keeps the gradient to ``K``.
    ``X`` and ``K`` must be 2-D tensors, ``K`` no larger than ``X`` and not empty.
    """
    for name, value in (("X", X), ("K", K)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"corr2d: {name} must be a 2-D tensor, got {type(value).__name__}; "
                            f"use torch.tensor({name})")
        if value.dim() != 2:
            raise MinidlError(f"corr2d: {name} must be 2-D (height, width), got shape {tuple(value.shape)}"
                              + ("; for one channel of a batch, pass X[i, c]" if value.dim() > 2 else ""))
    h, w = K.shape
    if h < 1 or w < 1 or h > X.shape[0] or w > X.shape[1]:
        raise MinidlError(f"corr2d: the kernel K of shape {tuple(K.shape)} must be non-empty and no larger "
                          f"than X of shape {tuple(X.shape)}")
    windows = X.unfold(0, h, 1).unfold(1, w, 1)  # (h - kh + 1, w - kw + 1, kh, kw)
    return (windows * K).sum(dim=(-2, -1)).to(torch.get_default_dtype())  # floats, as the book's zeros


class _Ch5EpochLine(_BookEpochLine):
    """Records the epoch's loss and accuracies, prints the book's line with its time."""

    @hookimpl
    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Record ``loss`` (the epoch's mean batch loss), ``acc`` and ``test_acc``; print."""
        start = time.perf_counter()
        test = evaluate(self.test_iter, self.net)
        seconds = trainer.epoch_seconds[-1] + time.perf_counter() - start  # the book times its test pass too
        book_loss = self.loss.batch_loss_sum / max(self.loss.batch_count, 1)  # the book's divisor: every batch so far
        metrics["loss"] = self.loss.batch_loss_sum / max(self.loss.epoch_batches, 1)
        metrics["acc"], metrics["test_acc"] = self.loss.correct / max(self.loss.n, 1), test.correct / test.n
        self.echo(f"epoch {epoch}, loss {book_loss:.4f}, train acc {metrics['acc']:.3f}, "
                  f"test acc {metrics['test_acc']:.3f}, time {seconds:.1f} sec")


def train_ch5(net: nn.Module, train_iter: Any, test_iter: Any, batch_size: int, optimizer: Any,
              device: torch.device | str, num_epochs: int) -> History:
    """Train ``net`` with ``nn.CrossEntropyLoss()`` and ``optimizer`` as the book's
    ``train_ch5`` does, printing ``training on cpu`` and its epoch line
    ``epoch 1, loss 0.0072, train acc 0.369, test acc 0.575, time 1.3 sec``.

    ``net`` is moved to ``device`` and each batch with it; each step back-propagates the
    batch's mean loss. The printed loss is the book's: the epoch's summed batch losses
    over the batches counted since training began (``d2lzh_pytorch`` sets
    ``batch_count = 0`` once, before the first epoch); train accuracy is over the
    epoch's batches, test accuracy is :func:`~minidl.d2l.evaluate_accuracy` on
    ``test_iter``, and the time includes it. The batches are ``train_iter``'s, in the
    order the Trainer draws from its seed (itself drawn from torch's RNG). Returns the
    History: per epoch ``loss`` (the mean of that epoch's batch losses), ``acc``, ``test_acc``.
    """
    if not isinstance(net, nn.Module):
        raise TypeError(f"train_ch5: net must be an nn.Module (such as nn.Sequential), got {type(net).__name__}")
    device_name = str(as_device(device, "train_ch5"))
    check_optimizer(optimizer, "train_ch5")
    net = net.to(device)
    print("training on ", device)
    book_loss = _BookLoss(nn.CrossEntropyLoss())  # its batch mean is the book's l
    trainer = book_trainer(num_epochs, getattr(train_iter, "batch_size", None) or batch_size,
                           callbacks=[_Ch5EpochLine(book_loss, net, test_iter, print)], device=device_name)
    history = fit_explained("train_ch5", trainer, net, _book_data(train_iter), book_loss, optimizer)
    net.train()  # the book's evaluate_accuracy ends with net.train()
    return history


def __getattr__(name: str) -> Any:
    if name in FROM_VISION:
        return getattr(first_party("minidl_vision.layers", f"{name} (the book's chapter-5 layers)"), name)
    raise AttributeError(f"module 'minidl.d2l.cnn' has no attribute {name!r}")
