"""Section 3.6's helpers: softmax, cross-entropy, accuracy, ``FlattenLayer``, ``evaluate_accuracy``.

Under the names and signatures of the book's ``d2lzh_pytorch``. ``softmax``,
``cross_entropy``, ``Accuracy`` and ``FlattenLayer`` are the core's (:mod:`minidl.functional`,
:mod:`minidl.metrics`, :mod:`minidl.layers`), the very objects the components use.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from minidl.d2l.diagnose import explain_misfit
from minidl.errors import MinidlError
from minidl.functional import count_correct, cross_entropy, softmax
from minidl.layers import FlattenLayer
from minidl.metrics import Accuracy

__all__ = [
    "Accuracy",
    "Evaluation",
    "FlattenLayer",
    "cross_entropy",
    "evaluate",
    "evaluate_accuracy",
    "mean_reduced",
    "softmax",
]


def evaluate_accuracy(data_iter: Iterable[tuple[torch.Tensor, torch.Tensor]],
                      net: Callable[..., torch.Tensor], device: torch.device | str | None = None) -> float:
    """Accuracy of ``net`` over every ``(X, y)`` batch of ``data_iter``.

    As the book's (section 5.5 version): an ``nn.Module`` is put in eval mode for the
    pass and back into train mode after it (the mode it came in, here); a function with
    an ``is_training`` parameter is called with ``is_training=False``. Each batch is
    moved to ``device``, by default the device of the net's parameters (else the batch's).
    """
    result = evaluate(data_iter, net, device)
    return result.correct / result.n


@dataclass
class Evaluation:
    """Sums over a pass: correct predictions, examples and (when a loss was given) loss."""

    correct: int = 0
    n: int = 0
    loss_sum: float = 0.0


def evaluate(data_iter: Iterable[tuple[torch.Tensor, torch.Tensor]], net: Callable[..., torch.Tensor],
             device: torch.device | str | None = None,
             loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> Evaluation:
    """One pass of :func:`evaluate_accuracy`, batch by batch, also summing ``loss`` per example."""
    if not callable(net):
        swapped = " (the arguments are evaluate_accuracy(data_iter, net): swapped?)" if callable(data_iter) else ""
        raise TypeError(f"evaluate_accuracy: net must be a model or a function, got {type(net).__name__}{swapped}")
    if not isinstance(data_iter, Iterable):
        raise TypeError(f"evaluate_accuracy: data_iter must yield (X, y) batches (a DataLoader, for one), "
                        f"got {type(data_iter).__name__}")
    module = net if isinstance(net, nn.Module) else None
    was_training = module is not None and module.training
    kwargs = {"is_training": False} if module is None and _takes_is_training(net) else {}
    result = Evaluation()
    if module is not None:
        module.eval()
    try:
        with torch.no_grad():
            for batch in data_iter:
                X, y = _pair(batch)
                target = _device_of(net, X) if device is None else torch.device(device)
                X, y = X.to(target), y.to(target)
                try:
                    y_hat = net(X, **kwargs)
                except RuntimeError as exc:
                    explained = explain_misfit(net, X)
                    if explained is None:
                        raise
                    raise MinidlError(f"evaluate_accuracy: net cannot take data_iter's images: {explained}") from exc
                _check_classes(y_hat, y)
                result.correct += count_correct(y_hat, y)
                result.n += y.shape[0]
                if loss is not None:
                    losses = loss(y_hat, y)
                    result.loss_sum += losses.sum().item() * (y.shape[0] if mean_reduced(loss, losses) else 1)
    finally:
        if module is not None and was_training:
            module.train()
    if result.n == 0:
        raise MinidlError("evaluate_accuracy: data_iter yielded no examples")
    return result


def _pair(batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch as ``(X, y)`` tensors; anything else is a TypeError naming what came."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and all(isinstance(t, torch.Tensor) for t in batch):
        return batch[0], batch[1]
    shown = type(batch).__name__ + (f" of {len(batch)}" if isinstance(batch, (tuple, list)) else "")
    raise TypeError(f"evaluate_accuracy: data_iter must yield (X, y) pairs of tensors, got a {shown}")


def _check_classes(y_hat: torch.Tensor, y: torch.Tensor) -> None:
    """Labels beyond the net's scores can never be predicted: a net built for other classes."""
    if y_hat.dim() == 2 and y_hat.shape[1] > 1 and y.numel() and not y.dtype.is_floating_point:
        top = int(y.max())
        if top >= y_hat.shape[1]:
            raise MinidlError(f"evaluate_accuracy: the labels go up to {top}, but net gives {y_hat.shape[1]} "
                              f"scores per example; build it with {top + 1} outputs")


def mean_reduced(loss: Callable[..., Any], losses: torch.Tensor) -> bool:
    """Whether ``losses`` is a batch mean (one value from a ``reduction="mean"`` loss such
    as ``nn.CrossEntropyLoss()``), to be counted once per example."""
    return losses.dim() == 0 and getattr(loss, "reduction", "mean") == "mean"


def _takes_is_training(net: Callable[..., Any]) -> bool:
    try:
        return "is_training" in inspect.signature(net).parameters
    except (TypeError, ValueError):
        return False


def _device_of(net: Any, X: torch.Tensor) -> torch.device:
    if isinstance(net, nn.Module):
        param = next(net.parameters(), None)
        if param is not None:
            return param.device
    return X.device
