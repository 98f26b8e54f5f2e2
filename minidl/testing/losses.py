"""Loss checks: one value per example, non-negative, differentiable, ``grad_output`` like autograd.
"""

from __future__ import annotations

import torch

from minidl.testing.common import check_stateful
from minidl.testing.context import Context, predict, require


def _loss_inputs(ctx: Context) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions of the partner model (a leaf that wants a gradient) and labels."""
    y_hat = predict(ctx.partners.model, ctx.partners.X).detach().requires_grad_()
    return y_hat, ctx.partners.y


def check_per_example(ctx: Context) -> None:
    """One loss per example, each independent of the rest of the batch (not a mean)."""
    y_hat, y = _loss_inputs(ctx)
    losses = ctx.built(y_hat, y)
    n = len(y_hat)
    require(torch.is_tensor(losses), f"returned {type(losses).__name__}, not a tensor")
    require(losses.dim() >= 1 and losses.shape[0] == n and losses.numel() == n,
            f"returned shape {tuple(losses.shape)} for a batch of {n}; a Loss returns one value per "
            "example (the Trainer takes the mean), not their mean or sum")
    k = max(1, n // 2)
    part = ctx.built(y_hat[:k], y[:k])
    require(torch.allclose(part.reshape(-1), losses.reshape(-1)[:k], rtol=1e-5, atol=1e-7),
            "an example's loss changes with the rest of the batch; compute each example on its own")


def check_nonnegative(ctx: Context) -> None:
    """Losses are finite and >= 0 (skipped when the loss sets ``nonnegative = False``)."""
    y_hat, y = _loss_inputs(ctx)
    losses = ctx.built(y_hat, y).detach()
    require(torch.isfinite(losses).all(), "returned nan or inf for sane input")
    if getattr(ctx.built, "nonnegative", True):
        require((losses >= 0).all(), f"returned a negative loss ({losses.min().item():g}); set "
                                     "`nonnegative = False` on the loss if that is intended")


def check_differentiable(ctx: Context) -> None:
    """The mean loss back-propagates a finite gradient to the predictions."""
    y_hat, y = _loss_inputs(ctx)
    losses = ctx.built(y_hat, y)
    require(losses.requires_grad, "the losses do not require grad: is the graph cut (detach, .item())?")
    losses.mean().backward()
    require(y_hat.grad is not None and torch.isfinite(y_hat.grad).all(),
            "the mean loss gives the predictions no finite gradient")


def check_grad_output(ctx: Context) -> None:
    """A loss's ``grad_output`` (d loss_i / d y_hat_i, if it has one) matches autograd."""
    grad_output = getattr(ctx.built, "grad_output", None)
    if not callable(grad_output):
        return
    y_hat, y = _loss_inputs(ctx)
    ctx.built(y_hat, y).sum().backward()
    with torch.no_grad():
        closed_form = grad_output(y_hat, y)
    require(y_hat.grad is not None
            and torch.allclose(closed_form.reshape(y_hat.shape), y_hat.grad, rtol=1e-4, atol=1e-6),
            "grad_output differs from autograd's gradient of the summed losses")


LOSS_CHECKS = (check_per_example, check_nonnegative, check_differentiable, check_grad_output,
               check_stateful)
