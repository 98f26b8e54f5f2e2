"""Chapter 7's optimizers written from scratch, as the book writes them (7.4-7.8).

Each is a :class:`minidl.optim.ManualOptimizer`: per-parameter state in ``self.state``,
hyperparameters in ``param_groups`` (so schedules and checkpoints work). Gradients are
those of the batch *mean* loss, as in the book's ``train_ch7``. The hyperparameters' ranges
are declared by the factories (:mod:`minidl_optim.plugin`) and checked when they are parsed.

How each compares with ``torch.optim`` (same data and order, to float rounding):

- ``Momentum`` = ``SGD(momentum=m, dampening=0)`` at a constant ``lr`` (the book keeps
  ``lr * velocity``, torch keeps the velocity and multiplies by ``lr``).
- ``Adagrad`` and ``RMSProp`` add ``eps`` inside the square root, torch outside; they
  match ``Adagrad`` / ``RMSprop(alpha=gamma)`` exactly only with ``eps=0`` on both sides.
- ``AdaDelta`` = ``Adadelta(lr, rho, eps)``: same formula, eps inside both roots.
- ``Adam`` = ``Adam(lr, betas, eps)``: same formula, eps outside the root (the book's
  code uses eps = 1e-6, torch's default is 1e-8).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from minidl.errors import OptionError
from minidl.optim import ManualOptimizer


class _ScratchOptimizer(ManualOptimizer):
    """Shared: ``step`` runs ``update(param, grad, state, group)`` under ``no_grad``."""

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        with torch.no_grad():
            for index, param, group in self.indexed_params():
                state = self.state.setdefault(index, {})
                self.update(param, param.grad, state, group)

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any],
               group: dict[str, Any]) -> None:
        """Update one parameter in place."""
        raise NotImplementedError


def _zeros(state: dict[str, Any], key: str, like: torch.Tensor) -> torch.Tensor:
    if key not in state:
        state[key] = torch.zeros_like(like)
    return state[key]


class Momentum(_ScratchOptimizer):
    """Book 7.4 ``sgd_momentum``: ``v = momentum * v + lr * g``; ``p -= v``."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 0.02, momentum: float = 0.5) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum})

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any],
               group: dict[str, Any]) -> None:
        """One momentum step."""
        v = _zeros(state, "v", param)
        v.mul_(group["momentum"]).add_(grad, alpha=group["lr"])
        param.sub_(v)


class Adagrad(_ScratchOptimizer):
    """Book 7.5 ``adagrad``: ``s += g * g``; ``p -= lr * g / sqrt(s + eps)``."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 0.1, eps: float = 1e-6) -> None:
        super().__init__(params, {"lr": lr, "eps": eps})

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any],
               group: dict[str, Any]) -> None:
        """One AdaGrad step."""
        s = _zeros(state, "s", param)
        s.addcmul_(grad, grad)
        param.sub_(group["lr"] * grad / torch.sqrt(s + group["eps"]))


class RMSProp(_ScratchOptimizer):
    """Book 7.6 ``rmsprop``: ``s = gamma * s + (1 - gamma) * g * g``; ``p -= lr * g / sqrt(s + eps)``."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 0.01, gamma: float = 0.9,
                 eps: float = 1e-6) -> None:
        super().__init__(params, {"lr": lr, "gamma": gamma, "eps": eps})

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any],
               group: dict[str, Any]) -> None:
        """One RMSProp step."""
        gamma = group["gamma"]
        s = _zeros(state, "s", param)
        s.mul_(gamma).addcmul_(grad, grad, value=1 - gamma)
        param.sub_(group["lr"] * grad / torch.sqrt(s + group["eps"]))


class AdaDelta(_ScratchOptimizer):
    """Book 7.7 ``adadelta``: ``s = rho*s + (1-rho)*g*g``; ``g' = g * sqrt((delta + eps) / (s + eps))``;
    ``p -= lr * g'``; ``delta = rho*delta + (1-rho)*g'*g'``.

    The book has no learning rate; ``lr`` (default 1.0, as torch's) scales the update only.
    """

    def __init__(self, params: Iterable[torch.Tensor], rho: float = 0.9, eps: float = 1e-5,
                 lr: float = 1.0) -> None:
        super().__init__(params, {"lr": lr, "rho": rho, "eps": eps})

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any],
               group: dict[str, Any]) -> None:
        """One AdaDelta step."""
        rho, eps = group["rho"], group["eps"]
        s, delta = _zeros(state, "s", param), _zeros(state, "delta", param)
        s.mul_(rho).addcmul_(grad, grad, value=1 - rho)
        g = grad * torch.sqrt((delta + eps) / (s + eps))
        param.sub_(g, alpha=group["lr"])
        delta.mul_(rho).addcmul_(g, g, value=1 - rho)


class Adam(_ScratchOptimizer):
    """Book 7.8 ``adam``: moving averages ``v`` of g and ``s`` of g*g, bias-corrected by step t;
    ``p -= lr * v_hat / (sqrt(s_hat) + eps)``."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 0.01,
                 betas: tuple[float, float] | list[float] = (0.9, 0.999), eps: float = 1e-6) -> None:
        if len(betas) != 2:
            raise OptionError(f"optimizer 'adam': betas must be two numbers [beta1, beta2], got {list(betas)!r}")
        super().__init__(params, {"lr": lr, "betas": (float(betas[0]), float(betas[1])), "eps": eps})

    def update(self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any],
               group: dict[str, Any]) -> None:
        """One Adam step; the step count t lives in the parameter's state, as torch's."""
        beta1, beta2 = group["betas"]
        v, s = _zeros(state, "v", param), _zeros(state, "s", param)
        state["t"] = t = state.get("t", 0) + 1
        v.mul_(beta1).add_(grad, alpha=1 - beta1)
        s.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        v_bias_corr = v / (1 - beta1**t)
        s_bias_corr = s / (1 - beta2**t)
        param.sub_(group["lr"] * v_bias_corr / (torch.sqrt(s_bias_corr) + group["eps"]))
