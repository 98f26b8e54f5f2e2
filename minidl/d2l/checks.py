"""Argument checks for the book's helpers, made where a call enters ``minidl.d2l``.

A learner's bad argument (a batch size of 0, ``"256"`` for 256, a negative clipping
threshold) is named here, with its value and what is accepted, instead of surfacing as a
ZeroDivisionError, a shape error from deep inside torch or a silently wrong result. A
wrong type raises :class:`TypeError`; a wrong value :class:`~minidl.errors.MinidlError`
(a :class:`ValueError`). Every check returns the value as the helper goes on to use it.
"""

from __future__ import annotations

import math
import operator
from typing import SupportsFloat, SupportsIndex, cast

import torch

from minidl.errors import MinidlError, shown

__all__ = ["as_device", "flag", "integer", "positive_number"]


def _shown(value: object) -> str:
    return f"{shown(value)} ({type(value).__name__})"


def integer(value: object, name: str, where: str, *, minimum: int = 1) -> int:
    """``value`` as an int of at least ``minimum``; a bool, a float or a string is a TypeError."""
    if isinstance(value, bool):
        raise TypeError(f"{where}: {name} must be an integer >= {minimum}, got {_shown(value)}")
    try:
        number = operator.index(cast(SupportsIndex, value))  # int, numpy integers, 0-d integer tensors
    except TypeError:
        raise TypeError(f"{where}: {name} must be an integer >= {minimum}, got {_shown(value)}") from None
    if number < minimum:
        raise MinidlError(f"{where}: {name} must be an integer >= {minimum}, got {number}")
    return number


def positive_number(value: object, name: str, where: str, *, allow_inf: bool = False) -> float:
    """``value`` as a number > 0 (and finite unless ``allow_inf``); a string or a bool is a TypeError."""
    accepted = "a positive number" + ("" if allow_inf else " (finite)")
    if isinstance(value, (bool, str, bytes)):
        raise TypeError(f"{where}: {name} must be {accepted}, got {_shown(value)}")
    try:
        number = float(cast(SupportsFloat, value))  # TypeError / ValueError when it is none
    except (TypeError, ValueError):
        raise TypeError(f"{where}: {name} must be {accepted}, got {_shown(value)}") from None
    if math.isnan(number) or number <= 0 or (math.isinf(number) and not allow_inf):
        raise MinidlError(f"{where}: {name} must be {accepted}, got {value!r}")
    return number


def flag(value: object, name: str, where: str) -> bool:
    """``value`` as a bool: True, False (or 1, 0); a string such as ``"False"`` is a TypeError."""
    if isinstance(value, bool):
        return value
    if type(value).__name__ == "bool_" or (isinstance(value, int) and value in (0, 1)):  # numpy's bool, 0 / 1
        return bool(value)
    raise TypeError(f"{where}: {name} must be True or False, got {_shown(value)}")


def as_device(device: object, where: str) -> torch.device:
    """``device`` (a torch.device or a string such as ``"cpu"``, ``"cuda"``, ``"cuda:0"``) as a torch.device."""
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"{where}: device must be a torch.device or a string such as 'cpu' or 'cuda', "
                        f"got {_shown(device)}")
    try:
        return torch.device(device)
    except RuntimeError:
        raise MinidlError(f"{where}: unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N' "
                          f"(or a torch.device)") from None
