"""Section 3.2's helpers: data, linear regression, squared loss, SGD, plotting setup.

The tensor functions are :mod:`minidl.functional`'s, the very objects the default
plugins call; this module adds the book's plotting setup.
"""

from __future__ import annotations

from collections.abc import Sequence

from minidl.d2l.plotting import pyplot as _pyplot
from minidl.functional import data_iter, linreg, sgd, squared_loss, synthetic_data

__all__ = [
    "data_iter",
    "linreg",
    "semilogy",
    "set_figsize",
    "sgd",
    "squared_loss",
    "synthetic_data",
    "use_svg_display",
]


def use_svg_display() -> None:
    """Show figures as SVG in a notebook (a no-op outside IPython)."""
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    set_matplotlib_formats("svg")


def set_figsize(figsize: tuple[float, float] = (3.5, 2.5)) -> None:
    """Set the default figure size (the book's 3.5 x 2.5 inches)."""
    use_svg_display()
    _pyplot().rcParams["figure.figsize"] = figsize


def semilogy(
    x_vals: Sequence[float],
    y_vals: Sequence[float],
    x_label: str,
    y_label: str,
    x2_vals: Sequence[float] | None = None,
    y2_vals: Sequence[float] | None = None,
    legend: Sequence[str] | None = None,
    figsize: tuple[float, float] = (3.5, 2.5),
) -> None:
    """Plot ``y_vals`` (and a dotted second curve) against x on a log y axis."""
    set_figsize(figsize)
    plt = _pyplot()
    plt.xlabel(x_label)
    plt.ylabel(y_label)
    plt.semilogy(x_vals, y_vals)
    if x2_vals is not None and y2_vals is not None:
        plt.semilogy(x2_vals, y2_vals, linestyle=":")
    if legend:
        plt.legend(legend)
