"""Optimizer checks on a quadratic: ``param_groups``, a falling loss, ``zero_grad``, ``lr`` read from
the groups, ``state_dict`` continuing identically.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch

from minidl.interfaces import Optimizer
from minidl.testing.context import Context, quadratic_params, require


def _quadratic(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """0.5 * ||p - 1||^2 summed over the parameters: its minimum is every entry at 1."""
    return sum((((p - 1.0) ** 2).sum() for p in params), torch.zeros(())) / 2


def _steps(optimizer: Optimizer, params: Sequence[torch.Tensor], count: int) -> float:
    """``count`` steps on the quadratic; the loss after them."""
    for _ in range(count):
        optimizer.zero_grad()
        _quadratic(params).backward()
        optimizer.step()
    with torch.no_grad():
        return float(_quadratic(params))


def check_param_groups(ctx: Context) -> None:
    """``param_groups`` is a list of dicts with ``params`` (all of them) and a positive ``lr``."""
    groups: Any = getattr(ctx.built, "param_groups", None)
    require(isinstance(groups, list) and groups and all(isinstance(g, dict) for g in groups),
            f"param_groups is {type(groups).__name__}; it must be a non-empty list of dicts")
    for group in groups:
        lr = group.get("lr")
        require("params" in group and isinstance(lr, (int, float)) and lr > 0,
                f"a param group has keys {sorted(group)}; each needs 'params' and a positive 'lr'")
    count = sum(len(list(g["params"])) for g in groups)
    require(count == 2, f"param_groups hold {count} parameters; the factory was given 2")


def check_decreases_quadratic(ctx: Context) -> None:
    """Fifty steps on ``0.5 * ||p - 1||^2`` lower it."""
    params = quadratic_params()
    optimizer = ctx.make(params=params)
    with torch.no_grad():
        before = float(_quadratic(params))
    after = _steps(optimizer, params, 50)
    require(after < before, f"50 steps on a quadratic took the loss from {before:g} to {after:g}")


def check_zero_grad(ctx: Context) -> None:
    """``zero_grad`` leaves every gradient None or zero."""
    params = quadratic_params()
    optimizer = ctx.make(params=params)
    _quadratic(params).backward()
    optimizer.zero_grad()
    require(all(p.grad is None or not p.grad.any() for p in params), "zero_grad() left gradients")


def check_lr_in_param_groups(ctx: Context) -> None:
    """Setting every group's ``lr`` to 0 stops updates (schedules change ``lr`` there)."""
    params = quadratic_params()
    optimizer = ctx.make(params=params)
    for group in optimizer.param_groups:
        group["lr"] = 0.0
    before = [p.detach().clone() for p in params]
    _steps(optimizer, params, 3)
    require(all(torch.equal(a, p) for a, p in zip(before, params)),
            "with lr 0 in every param group the parameters still moved; read lr from param_groups "
            "at each step, so that schedules work")


def check_optimizer_state_dict(ctx: Context) -> None:
    """Saved after 5 steps and loaded into a fresh optimizer, it continues identically."""
    params = quadratic_params()
    optimizer = ctx.make(params=params)
    _steps(optimizer, params, 5)
    copies = [p.detach().clone().requires_grad_() for p in params]
    fresh = ctx.make(params=copies)
    fresh.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    _steps(optimizer, params, 5)
    _steps(fresh, copies, 5)
    require(all(torch.allclose(a, b, rtol=0, atol=1e-7) for a, b in zip(params, copies)),
            "after load_state_dict the fresh optimizer's steps differ from the original's")


OPTIMIZER_CHECKS = (check_param_groups, check_decreases_quadratic, check_zero_grad,
                    check_lr_in_param_groups, check_optimizer_state_dict)
