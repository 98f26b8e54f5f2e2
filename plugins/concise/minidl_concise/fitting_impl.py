"""The data and the weight-decay callback of book chapters 3.11 and 3.12."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from minidl.adapters import TensorData
from minidl.errors import OptionError
from minidl.hookspecs import hookimpl


def _split(X: torch.Tensor, y: torch.Tensor, num_examples: int) -> tuple[Any, Any, Any]:
    test = (X[num_examples:], y[num_examples:]) if len(X) > num_examples else None
    return X[:num_examples], y[:num_examples], test


class PolynomialData(TensorData):
    """x from N(0, 1); labels ``sum_k true_w[k-1] x^k + true_b`` plus N(0, noise_std) noise.

    Features are ``[x, x^2, ..., x^degree]`` (n, degree); labels (n, 1).
    """

    label_kind = "real"  # compatibility declaration (minidl.compat)

    def __init__(self, num_examples: int, num_test: int, true_w: Sequence[float], true_b: float,
                 degree: int, noise_std: float) -> None:
        if not true_w:  # the sizes, degree and noise_std: ranges the factory declares
            raise OptionError(f"dataset 'polynomial': true_w must hold one or more coefficients, got {list(true_w)}")
        self.true_w, self.true_b = [float(v) for v in true_w], float(true_b)
        x = torch.randn((num_examples + num_test, 1))  # (n, 1)
        powers = torch.cat([x ** k for k in range(1, max(degree, len(true_w)) + 1)], dim=1)
        y = powers[:, : len(true_w)] @ torch.tensor(self.true_w) + self.true_b  # (n,)
        y += torch.normal(0.0, noise_std, y.shape)
        X_train, y_train, test = _split(powers[:, :degree], y.reshape(-1, 1), num_examples)
        super().__init__(X_train, y_train, test=test)
        self.num_outputs = 1


class HighDimLinearData(TensorData):
    """Features (n, num_inputs) from N(0, 1); labels ``X @ w + true_b`` + noise, w all true_w."""

    label_kind = "real"  # compatibility declaration (minidl.compat)

    def __init__(self, num_examples: int, num_test: int, num_inputs: int, true_w: float, true_b: float,
                 noise_std: float) -> None:
        self.true_w, self.true_b = [float(true_w)] * num_inputs, float(true_b)
        X = torch.randn((num_examples + num_test, num_inputs))  # (n, d)
        y = X @ torch.full((num_inputs, 1), float(true_w)) + self.true_b  # (n, 1)
        y += torch.normal(0.0, noise_std, y.shape)
        X_train, y_train, test = _split(X, y, num_examples)
        super().__init__(X_train, y_train, test=test)
        self.num_outputs = 1


class L2Penalty:
    """Adds ``lambd * w`` to the gradient of each weight (ndim >= 2) before every step.

    The Trainer back-propagates the batch mean loss, so the step then follows the
    gradient of ``mean loss + lambd / 2 * ||w||^2``: the book's 3.12 objective. The
    reported loss stays the plain loss, as the book's ``train_ls``.
    """

    def __init__(self, lambd: float) -> None:
        self.lambd = lambd  # >= 0 and finite: the range the factory declares

    @hookimpl
    def on_before_optimizer_step(self, trainer: Any, epoch: int, step: int) -> None:
        """Add ``lambd * w`` to every weight's gradient."""
        if self.lambd == 0:
            return
        with torch.no_grad():
            for param in trainer.model.parameters():
                if param.ndim >= 2 and param.grad is not None:
                    param.grad.add_(param, alpha=self.lambd)
