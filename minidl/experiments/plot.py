"""``minidl runs plot``: the loss curves of several runs on one figure, labelled by what differs."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from minidl.errors import MinidlError
from minidl.experiments.compare import labels

FIGSIZE = (5.0, 3.2)  # inches: wider than a single run's 3.5x2.5, the legend needs room
LEGEND_ROWS = 12  # more curves than this: the legend takes more columns, in smaller type


def plot_runs(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Train (solid) and test (dotted) loss per epoch of every run, one colour each, log scale.

    Raises :class:`MinidlError` for an unknown suffix, a run whose directory is gone or
    runs with no recorded epoch at all.
    """
    from minidl.plots import check_plot_path, plot_style, save_figure
    from minidl.saved_run import read_metrics

    path, fmt = check_plot_path(path)
    curves = [(label, read_metrics(row["dir"])) for label, row in zip(labels(rows), rows)]
    if not any(record.get("loss") is not None for _, records in curves for record in records):
        raise MinidlError("no loss to plot: none of these runs has a recorded epoch")
    with plot_style():
        return save_figure(_figure(curves), path, fmt)


def _figure(curves: Sequence[tuple[str, Sequence[Mapping[str, Any]]]]) -> Any:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=FIGSIZE)
    axes = figure.add_subplot()
    for number, (label, records) in enumerate(curves):
        colour = f"C{number % 10}"
        for key, style, suffix in (("loss", "-", ""), ("test_loss", ":", " (test)")):
            points = [(r["epoch"], r[key]) for r in records if r.get(key) is not None]
            if points:
                epochs, losses = zip(*points)
                axes.semilogy(epochs, losses, linestyle=style, color=colour, label=label + suffix,
                              marker="o" if len(points) <= 20 else None, markersize=3,
                              markerfacecolor="none" if suffix else colour)  # hollow: test
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss")
    entries = len(axes.get_legend_handles_labels()[1])
    axes.legend(frameon=False, fontsize=6 if entries <= LEGEND_ROWS else 4, ncols=1 + (entries - 1) // LEGEND_ROWS)
    with warnings.catch_warnings():  # many runs: a legend taller than the axes is drawn as it fits
        warnings.simplefilter("ignore", UserWarning)
        figure.tight_layout(pad=0.3)
    return figure
