"""Section 3.6's helpers: softmax, cross-entropy, accuracy, ``FlattenLayer``, ``evaluate_accuracy``.

Under the names and signatures of the book's ``d2lzh_pytorch``. ``softmax``,
``cross_entropy`` and ``Accuracy`` are the core's (:mod:`minidl.functional`,
:mod:`minidl.metrics`), the very objects the classify plugin's components use.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from minidl.errors import MinidlError
from minidl.functional import count_correct, cross_entropy, softmax
from minidl.metrics import Accuracy

__all__ = [
    "Accuracy",
    "FlattenLayer",
    "cross_entropy",
    "evaluate_accuracy",
    "softmax",
]


class FlattenLayer(nn.Module):
    """Flattens each example: (batch, *, *, ...) -> (batch, features)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x.view(batch, -1)``."""
        return x.view(x.shape[0], -1)


def evaluate_accuracy(data_iter: Iterable[tuple[torch.Tensor, torch.Tensor]],
                      net: Callable[..., torch.Tensor]) -> float:
    """Accuracy of ``net`` over every ``(X, y)`` batch of ``data_iter``.

    As the book's (section 5.5 version): an ``nn.Module`` is put in eval mode for the
    pass and back into train mode after it; a function with an ``is_training``
    parameter is called with ``is_training=False``.
    """
    module = net if isinstance(net, nn.Module) else None
    was_training = module is not None and module.training
    kwargs = {"is_training": False} if module is None and _takes_is_training(net) else {}
    correct, n = 0, 0
    if module is not None:
        module.eval()
    try:
        with torch.no_grad():
            for X, y in data_iter:
                device = _device_of(net, X)
                correct += count_correct(net(X.to(device), **kwargs), y.to(device))
                n += y.shape[0]
    finally:
        if module is not None and was_training:
            module.train()
    if n == 0:
        raise MinidlError("evaluate_accuracy: data_iter yielded no examples")
    return correct / n


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
