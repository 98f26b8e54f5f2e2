"""How much memory the machine has free, and the check of a component's estimate against it.

A dataset factory may carry ``estimate_bytes``: a function of its resolved options
returning the bytes it will allocate. :meth:`Registry.build` calls
:func:`check_estimate` before the factory, so a size the machine cannot hold is one
line (what it needs, what the machine has) instead of an allocation failure.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from minidl.errors import MinidlError

MEMINFO = Path("/proc/meminfo")


def available_memory() -> int | None:
    """Bytes of memory available now: Linux's ``MemAvailable``, else free pages; None where unknown."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024  # the line is in kB
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def format_bytes(count: float) -> str:
    """``1.5 GB``, ``12.0 TB``: decimal units, one decimal."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(count) < 1000 or unit == "PB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def check_estimate(label: str, estimate: Callable[[Mapping[str, Any]], int], options: Mapping[str, Any],
                   available: int | None = None) -> None:
    """Raise :class:`MinidlError` when ``estimate(options)`` bytes exceed the available memory."""
    needed = int(estimate(options))
    free = available_memory() if available is None else available
    if free is not None and needed > free:
        shown = ", ".join(f"{key}={value}" for key, value in options.items() if isinstance(value, int))
        raise MinidlError(f"{label} needs about {format_bytes(needed)} of memory ({shown}) but this machine "
                          f"has {format_bytes(free)} available; choose smaller sizes")


_TRIED = re.compile(r"allocate (\d+) bytes")


def allocation_failure(exc: BaseException, available: int | None = None) -> str | None:
    """What an exception says about memory, when it is an allocation failure; else None.

    ``MemoryError``, and torch's ``RuntimeError`` (``DefaultCPUAllocator: can't allocate
    memory: you tried to allocate N bytes``, ``CUDA out of memory``): ``it tried to
    allocate 4.0 TB but this machine has 22.1 GB available``.
    """
    text = str(exc)
    if not (isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and (
            "can't allocate memory" in text or "out of memory" in text.lower()))):
        return None
    tried = _TRIED.search(text)
    what = f"it tried to allocate {format_bytes(int(tried[1]))}" if tried else "it ran out of memory"
    free = available_memory() if available is None else available
    return what + (f" but this machine has {format_bytes(free)} available" if free is not None else "")
