"""The notebook's components as classes, built on the functions in :mod:`minidl.functional`.

They call those functions through the module (``functional.linreg``), one attribute
lookup as before, so a test can watch the calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn

from minidl import functional
from minidl.adapters import TensorData
from minidl.errors import MinidlError, OptionError
from minidl.optim import ManualOptimizer


class SyntheticLinear(TensorData):
    """Features from N(0, 1), labels ``X @ true_w + true_b`` plus N(0, noise_std) noise.

    Served as :class:`~minidl.adapters.TensorData` serves tensors; ``component`` names
    the dataset in error messages (another dataset may serve these draws differently, as
    the concise plugin's ``torch-synthetic-linear``). Each option's range is declared by
    the factory (:func:`minidl.default_plugins.notebook.synthetic_linear`) and checked when
    it is parsed; only what two options decide together is checked here.
    """

    def __init__(self, num_examples: int, num_inputs: int, true_w: Sequence[float],
                 true_b: float, noise_std: float, num_test: int = 0, *,
                 component: str = "dataset 'synthetic-linear'") -> None:
        if len(true_w) != num_inputs:
            raise OptionError(
                f"{component}: true_w has {len(true_w)} values "
                f"but num_inputs is {num_inputs}; give one weight per input"
            )
        self.true_w, self.true_b = [float(v) for v in true_w], float(true_b)
        self.num_inputs, self.num_outputs = num_inputs, 1
        self.label_kind = "real"  # compatibility declaration (minidl.compat)
        X, y = functional.synthetic_data(self.true_w, self.true_b, num_examples + num_test,
                                         noise_std=noise_std)
        test = (X[num_examples:], y[num_examples:]) if num_test else None
        super().__init__(X[:num_examples], y[:num_examples], test=test)

    @property
    def true_params(self) -> dict[str, Any]:
        """The parameters the data was drawn from, by model parameter name."""
        return {"w": self.true_w, "b": self.true_b}


class LinReg(nn.Module):
    """``X @ w + b`` with ``w`` (num_inputs, 1) from N(0, init_std) and ``b`` = 0."""

    output_kind = "values"  # compatibility declaration (minidl.compat)

    def __init__(self, num_inputs: int, init_std: float = 0.01) -> None:
        super().__init__()
        self.num_inputs = num_inputs
        self.w = nn.Parameter(torch.normal(0.0, init_std, (num_inputs, 1)))
        self.b = nn.Parameter(torch.zeros(1))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """``(n, num_inputs) -> (n, 1)``."""
        params: dict[str, torch.Tensor] = self._parameters  # type: ignore[assignment]  # not Module.__getattr__
        return functional.linreg(X, params["w"], params["b"])


class AnalyticLinReg(LinReg):
    """LinReg whose gradient is computed in closed form, without autograd.

    With per-example loss l_i and r_i = dl_i/dy_hat_i (the loss's ``grad_output``), the
    gradients of the batch mean are dL/dw = X^T r / m and dL/db = mean(r).
    """

    def compute_gradients(self, X: torch.Tensor, y: torch.Tensor, loss: Any) -> torch.Tensor:
        """Set ``w.grad`` and ``b.grad`` for the batch; return its mean loss.

        A loss may offer ``mean_and_grad_output`` (both from one residual, fewer torch
        calls: at batch 10 each call is a sizeable part of a step); else ``grad_output``
        and a second pass for the mean are used.
        """
        params: dict[str, torch.Tensor] = self._parameters  # type: ignore[assignment]  # set in __init__
        w, b = params["w"], params["b"]
        # detached parameters instead of no_grad: no graph, and no context manager per step
        y_hat = functional.linreg(X, w.detach(), b.detach())  # (m, 1)
        mean_loss, r = _mean_and_grad_output(loss, y_hat, y)  # r: (m, 1)
        w.grad = torch.mm(X.t(), r).div_(X.shape[0])  # (d, 1)
        b.grad = r.mean(0)  # (1,), torch's mean: the sum divided by m
        return mean_loss


def _mean_and_grad_output(loss: Any, y_hat: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    fused = getattr(loss, "mean_and_grad_output", None)
    if fused is not None:
        return fused(y_hat, y)
    grad_output = getattr(loss, "grad_output", None)
    if grad_output is None:
        raise MinidlError(
            f"model 'linreg' with grad='analytic' needs a loss with a closed-form "
            f"derivative (grad_output); {type(loss).__name__} has none: use grad='autograd'"
        )
    return loss(y_hat, y).mean(), grad_output(y_hat, y)


class SquaredLoss:
    """Per-example ``(y_hat - y)**2 / 2``; stateless, with a closed-form derivative."""

    label_kind, input_kind = "real", "values"  # compatibility declarations (minidl.compat)

    def __call__(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-example losses, shaped like ``y_hat``."""
        return functional.squared_loss(y_hat, y)

    def grad_output(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """d loss_i / d y_hat_i = y_hat_i - y_i."""
        return y_hat - y.view_as(y_hat)

    def mean_and_grad_output(self, y_hat: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch mean loss and :meth:`grad_output`, from one residual ``r``: mean = r.r / 2m."""
        r = y_hat - y.view_as(y_hat)  # (m, 1)
        residuals = r.view(-1)  # (m,)
        return torch.dot(residuals, residuals).div_(2 * len(residuals)), r

    def state_dict(self) -> dict[str, Any]:
        """No state."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """No state to restore."""


class SGD(ManualOptimizer):
    """The notebook's minibatch SGD, ``param -= lr * grad / batch_size``.

    The notebook sums the batch's losses and divides the gradient by the configured
    batch size, which under-weights a short last batch. The Trainer back-propagates the
    batch *mean* instead, so the gradient here is already the sum divided by the size of
    the batch just seen, and ``functional.sgd`` is called with the default divisor of 1.
    The book's own loops (``train_ch3``), which back-propagate the sum, pass their
    ``batch_size``.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 0.03, batch_size: int = 1) -> None:
        super().__init__(params, {"lr": lr})
        self.batch_size = batch_size  # the divisor of the gradient

    def step(self) -> None:
        """``param -= lr * grad / batch_size`` for every parameter."""
        sgd, batch_size = functional.sgd, self.batch_size
        for group in self.param_groups:
            sgd(group["params"], group["lr"], batch_size)


class BookSGD(SGD):
    """:class:`SGD` rounded as the book's ``d2l.sgd`` is written: ``param.data -= lr *
    param.grad / batch_size``, a product, a quotient, then a subtraction.

    That rounds differently from the fused ``sub_(grad, alpha=lr / batch_size)`` of
    :class:`SGD` (the notebook's, and the faster); where the book's printed numbers are
    the oracle to the digit (chapter 6's ``train_and_predict_rnn``), this one is used. A
    subclass rather than an option, so that :class:`SGD`'s step tests nothing per step.
    """

    def step(self) -> None:
        """``param.data -= lr * param.grad / batch_size`` for every parameter, as the book."""
        batch_size = self.batch_size
        for group in self.param_groups:
            lr = group["lr"]
            for param in group["params"]:
                param.data -= lr * param.grad / batch_size
