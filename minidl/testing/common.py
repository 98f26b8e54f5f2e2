"""Checks for every kind of component: documented, typed options, a factory that builds;
and the ``state_dict`` round trip that stateful losses and callbacks share.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Callable, Mapping

import torch

from minidl.registry import INJECTED
from minidl.testing.context import Context, require


def check_summary(ctx: Context) -> None:
    """The factory's docstring starts with a summary line (shown by ``minidl list``)."""
    require(ctx.component.summary, "the factory has no docstring; its first line is the summary "
                                   "that `minidl list` shows")


def check_documented(ctx: Context) -> None:
    """Every option has a help line in the factory's ``Args:`` docstring section."""
    missing = [o.name for o in ctx.component.options if not o.help]
    require(not missing, f"option(s) {', '.join(map(repr, missing))} have no help line; add one "
                         "line each under 'Args:' in the factory's docstring")


def check_typed(ctx: Context) -> None:
    """Every option has a type hint (it decides how the command line parses it)."""
    skip = set(INJECTED.get(ctx.component.kind, ()))
    parameters = inspect.signature(ctx.component.factory).parameters.values()
    untyped = [p.name for p in parameters
               if p.name not in skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               and p.annotation is inspect.Parameter.empty]
    require(not untyped, f"option(s) {', '.join(map(repr, untyped))} have no type hint; "
                         "annotate them (int, float, bool, str, list[float], Literal[...])")


def check_builds(ctx: Context) -> None:
    """The factory builds with its default options (or the ones given)."""
    require(ctx.built is not None, "the factory returned None")


def check_partners(ctx: Context) -> None:
    """A dataset, model and loss run with the component (forward pass and loss)."""
    require(ctx.partners is not None, "no partners")


COMMON_CHECKS: tuple[Callable[[Context], None], ...] = (
    check_summary, check_documented, check_typed,
)


def check_stateful(ctx: Context) -> None:
    """A component with ``state_dict`` restores it into a fresh build unchanged."""
    if not callable(getattr(ctx.built, "state_dict", None)):
        return
    state = ctx.built.state_dict()
    require(isinstance(state, dict), f"state_dict() returned {type(state).__name__}, not a dict")
    fresh = ctx.make()
    require(callable(getattr(fresh, "load_state_dict", None)), "has state_dict but no load_state_dict")
    fresh.load_state_dict(copy.deepcopy(state))
    require(same_state(fresh.state_dict(), state), "state_dict() after load_state_dict(state) differs from state")


def same_state(a: object, b: object) -> bool:
    if torch.is_tensor(a) or torch.is_tensor(b):
        return torch.is_tensor(a) and torch.is_tensor(b) and torch.equal(a, b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(same_state(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same_state(x, y) for x, y in zip(a, b))
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
