"""The Trainer's settings, checked where they enter: the device's one spelling, the epoch
count, the batch size and the learning rate. Each check raises :class:`MinidlError`
(one line, exit 2 from the CLI) naming the bad value and what is accepted.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from minidl.errors import MinidlError, shown

if TYPE_CHECKING:
    import torch

__all__ = ["DEVICE_PATTERN", "check_device", "check_hyperparameters", "check_learning_rate", "env_switch",
           "resolve_device"]

DEVICE_PATTERN = re.compile(r"(cpu|auto|cuda(:\d+)?)")  # the one spelling of a device, everywhere


_ON, _OFF = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def env_switch(name: str) -> tuple[bool, str | None]:
    """An on/off environment variable such as ``MINIDL_DEBUG``: ``(on, complaint)``.

    ``1``, ``true``, ``yes``, ``on`` (any case) are on; unset, empty, ``0``, ``false``, ``no``,
    ``off`` are off (``MINIDL_DEBUG=false`` used to switch it on). Anything else is taken
    as on, with a one-line ``complaint`` to show the user; None when the value is one of these.
    """
    text = os.environ.get(name)
    if text is None:
        return False, None
    word = text.strip().lower()
    if word in _ON or word in _OFF:
        return word in _ON, None
    return True, (f"{name}={shown(text)} is not one of {', '.join(_ON)} (on) or 0, false, no, off (off); "
                  f"taken as on")


def check_device(device: Any) -> str:
    """Return ``device`` if it is ``cpu``, ``cuda``, ``cuda:N`` or ``auto``; else raise :class:`MinidlError`."""
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        raise MinidlError(f"unknown device {shown(device)}; accepted: cpu, cuda, cuda:N, auto")
    return device


def resolve_device(device: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (cuda when available) as a torch device.

    Raises :class:`MinidlError` for cuda on a machine without it, and for ``cuda:N`` past its last GPU.
    """
    import torch

    check_device(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device != "cpu" and not torch.cuda.is_available():
        raise MinidlError(f"device {device!r} is not available on this machine; use cpu or auto")
    if device.startswith("cuda:"):  # an index past the last GPU failed deep in torch, at the first tensor moved
        count = torch.cuda.device_count()
        if int(device.partition(":")[2]) >= count:
            numbered = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
            raise MinidlError(f"device {device!r} is not available: this machine has {count} CUDA "
                              f"device{'s' if count != 1 else ''} ({numbered}); use one of them, cuda, cpu or auto")
    return torch.device(device)


def check_hyperparameters(max_epochs: Any, batch_size: Any) -> None:
    """Raise :class:`MinidlError` for a negative epoch count or a batch size below 1."""
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 0:
        raise MinidlError(f"epochs must be an integer >= 0, got {max_epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise MinidlError(f"batch size must be an integer >= 1, got {batch_size!r}")


def check_learning_rate(lr: Any) -> None:
    """Raise :class:`MinidlError` unless ``lr`` is a finite positive number."""
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise MinidlError(f"learning rate must be a finite positive number, got {lr!r}")


def debug_flag_given(args: Sequence[str]) -> bool:
    """Whether ``--debug`` is among ``minidl``'s own options in ``args`` (before the command's name)."""
    tokens = iter(args)
    for arg in tokens:
        if arg == "--debug":
            return True
        if arg in ("-p", "--plugin"):
            next(tokens, None)  # its value
        elif not arg.startswith("-"):
            return False
    return False
