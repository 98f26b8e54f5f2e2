"""matplotlib, imported on first use so that ``minidl.d2l`` works without it."""

from __future__ import annotations

from typing import Any

from minidl.plots import PLOT_EXTRA

__all__ = ["PLOT_EXTRA", "pyplot"]


def pyplot() -> Any:
    """Return ``matplotlib.pyplot``, or raise an ImportError naming the ``plot`` extra."""
    try:
        from matplotlib import pyplot as plt
    except ImportError as exc:
        raise ImportError(PLOT_EXTRA) from exc
    return plt
