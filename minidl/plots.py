"""Pictures of a dataset and of a run, at the book's 3.5x2.5 inch size.

``plot_data`` is the notebook's scatter of one feature against the labels, or, for a
classification dataset of images, a grid of sample images titled with their labels
(the book's ``show_fashion_mnist``). ``plot_history`` draws the train and test loss
per epoch on a log scale (the book's ``semilogy``) and, beside it, one panel per
metric (accuracy, ...). The file format follows the path's suffix; a picture is
written atomically, so a full disk never leaves half of one. Figures are built with
``matplotlib.figure.Figure``, never pyplot, so no window opens, no GUI backend is
needed and nothing in pyplot's global state changes (a notebook's included).
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minidl.checkpoint import WriteError, atomic_open, reason_of
from minidl.errors import MinidlError

if TYPE_CHECKING:
    import torch
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PLOT_EXTRA = "plotting needs matplotlib: pip install 'minidl[plot]'"
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
FIGSIZE = (3.5, 2.5)  # inches, as the book's set_figsize; a history figure has one per panel
PNG_DPI = 200  # 700x500 pixels at FIGSIZE (tight_layout fits the labels inside)
RASTERIZE_ABOVE = 5_000  # scatter points drawn as an image in SVG/PDF beyond this many
GRID = (2, 9)  # rows, columns of sample images: the book's show_images(X[:18], 2, 9)
CELL = (0.8, 0.95)  # inches per sample image, its label above it
NOT_METRICS = frozenset({"epoch", "loss", "test_loss"})  # record keys that are no metric panel
STYLE: dict[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "legend.fontsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


# -- the data ---------------------------------------------------------------------------
def plot_data(dataset: Any, path: str | Path, feature: int = 1, *, title: str | None = None) -> Path:
    """Picture the training split: sample images for classification images, else a scatter.

    A dataset whose labels are classes (``label_kind == "class"``, ``text_labels``, or
    integer labels) and whose examples are images (``(C, H, W)``, ``(H, W)`` or a square
    number of features) is drawn as a grid of its first images, each titled with its
    label (``text_labels`` when it has them). Anything else is the notebook's scatter of
    feature ``feature`` (0-based column) against the labels. ``dataset`` is a
    :class:`~minidl.Dataset` or a ``(features, labels)`` pair. Raises
    :class:`MinidlError` for an unknown suffix or a feature out of range.
    """
    path, fmt = check_plot_path(path)
    X, y = dataset if isinstance(dataset, tuple) else dataset.tensors("train")
    X, y = X.detach().cpu(), y.detach().cpu()
    images = as_images(X) if is_classification(dataset, y) else None
    with plot_style():
        if images is not None:
            count = GRID[0] * GRID[1]
            labels = label_names(dataset, y[:count])
            return save_figure(images_figure(images[:count], labels, title), path, fmt)
        X = X.reshape(len(X), -1)
        _check_feature(feature, X.shape[1])
        if y.numel() != len(X):  # a label per time step (a character corpus), several outputs
            raise MinidlError(f"cannot draw these data: each example has {y.numel() // max(len(X), 1)} labels "
                              f"(labels of shape {tuple(y.shape)}); a picture of the data is a feature against "
                              "one label per example, or sample images of classes")
        figure = data_figure(X[:, feature].numpy(), y.reshape(-1).numpy(), feature, title)
        return save_figure(figure, path, fmt)


def _check_feature(feature: Any, count: int) -> None:
    if isinstance(feature, bool) or not isinstance(feature, int) or not 0 <= feature < count:
        raise MinidlError(
            f"feature {feature!r} does not exist: the data has {count} features, numbered 0 to {count - 1}"
        )


def is_classification(dataset: Any, y: torch.Tensor) -> bool:
    """Whether the labels are class indices: declared (``label_kind``, ``text_labels``) or integers."""
    kind = getattr(dataset, "label_kind", None)
    if kind is not None:
        return bool(kind == "class")
    return getattr(dataset, "text_labels", None) is not None or not (y.is_floating_point() or y.is_complex())


def as_images(X: torch.Tensor) -> torch.Tensor | None:
    """``X`` as images to show, ``(n, H, W)`` or ``(n, H, W, 3)``; None when they are no images.

    Takes ``(n, 1|3, H, W)``, ``(n, H, W)`` and flat ``(n, D)`` with ``D`` a square of 4 or more.
    """
    if X.dim() == 4 and X.shape[1] in (1, 3):
        return X[:, 0] if X.shape[1] == 1 else X.permute(0, 2, 3, 1)
    if X.dim() == 3:
        return X
    if X.dim() == 2:
        side = math.isqrt(X.shape[1])
        if side >= 4 and side * side == X.shape[1]:
            return X.reshape(len(X), side, side)
    return None


def label_names(dataset: Any, y: torch.Tensor) -> list[str]:
    """Each label as text: the dataset's ``text_labels`` (the book's ``get_fashion_mnist_labels``), or its number."""
    names = getattr(dataset, "text_labels", None)
    numbers = [int(label) for label in y.reshape(-1).tolist()]
    if names is not None and all(0 <= n < len(names) for n in numbers):
        return [str(names[n]) for n in numbers]
    return [str(n) for n in numbers]


def images_figure(images: Any, labels: Sequence[str], title: str | None = None) -> Figure:
    """Sample images in a grid (the book's ``show_images``), each titled with its label."""
    from matplotlib.figure import Figure

    count = len(images)
    columns = min(GRID[1], count)
    rows = max(1, math.ceil(count / max(columns, 1)))
    figure = Figure(figsize=(CELL[0] * max(columns, 1), CELL[1] * rows + (0.25 if title else 0)))
    for index in range(rows * max(columns, 1)):
        axes = figure.add_subplot(rows, max(columns, 1), index + 1)
        axes.set_axis_off()
        if index < count:
            axes.imshow(images[index].numpy(), cmap="gray")
            axes.set_title(labels[index], fontsize=7, pad=2)
    if title:
        figure.suptitle(title)
    figure.tight_layout(pad=0.2, h_pad=0.4, w_pad=0.2)
    return figure


def data_figure(x: Any, y: Any, feature: int, title: str | None = None) -> Figure:
    """The notebook's ``plt.scatter(features[:, 1], labels, 1)`` as a figure."""
    figure, (axes,) = _figure()
    axes.scatter(x, y, s=1, rasterized=len(x) > RASTERIZE_ABOVE)
    axes.set_xlabel(f"features[:, {feature}]")
    axes.set_ylabel("labels")
    if title:
        axes.set_title(title)
    figure.tight_layout(pad=0.3)
    return figure


# -- a run's history ---------------------------------------------------------------------
def plot_history(run: Any, path: str | Path, *, title: str | None = None,
                 metrics: Sequence[str] | None = None) -> Path:
    """Loss per epoch (log scale) and each metric beside it, from a run directory or records.

    ``run`` is a run directory (or its ``metrics.jsonl``), a :class:`~minidl.History`
    or a list of per-epoch records. ``metrics`` names the panels, in order (``loss``
    among them or not); by default the loss, then every metric the records hold. Raises
    :class:`MinidlError` for an unknown suffix, a directory without records, records
    without a loss, a metric the records do not hold, or a value that is not a number.
    """
    path, fmt = check_plot_path(path)
    records = _records(run)
    if not any(record.get("loss") is not None for record in records):
        raise MinidlError(f"no loss to plot in {_describe(run)}: it has no recorded epochs")
    panels = _panels(records, metrics, run)
    _check_numbers(records, panels, run)
    with plot_style():
        return save_figure(history_figure(records, title, metrics=panels), path, fmt)


def metric_names(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The metrics in ``records``, in order: every numeric entry but the epoch and losses, ``test_`` folded in."""
    names: dict[str, None] = {}
    for record in records:
        for key, value in record.items():
            name = key.removeprefix("test_")
            if key not in NOT_METRICS and _is_number(value):
                names.setdefault(name)
    return list(names)


def _panels(records: list[dict[str, Any]], metrics: Sequence[str] | None, run: Any) -> list[str]:
    available = ["loss", *metric_names(records)]
    if metrics is None:
        return available
    unknown = [name for name in metrics if name not in available]
    if unknown:
        raise MinidlError(f"no metric {unknown[0]!r} in {_describe(run)}; it has: {', '.join(available)}")
    return list(dict.fromkeys(metrics))


def _check_numbers(records: list[dict[str, Any]], panels: list[str], run: Any) -> None:
    for record in records:
        for key in (key for name in panels for key in (name, f"test_{name}")):
            value = record.get(key)
            if value is not None and not _is_number(value):
                shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
                raise MinidlError(f"{_describe(run)}: epoch {record.get('epoch')} has {key} {shown}, not a number")


def _is_number(value: Any) -> bool:
    """An int or float that is a float too (JSON's integers have no bound: 10**400 is none)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        float(value)
    except OverflowError:
        return False
    return True


def history_figure(records: Iterable[Mapping[str, Any]], title: str | None = None,
                   metrics: Sequence[str] | None = None) -> Figure:
    """One panel per name in ``metrics`` (default: the loss and every metric), side by side.

    The loss is on a log y axis (as ``d2l.semilogy``), metrics on a linear one; ``train``
    solid, ``test`` dotted, in every panel.
    """
    records = list(records)
    panels = ["loss", *metric_names(records)] if metrics is None else list(metrics)
    figure, axes_list = _figure(len(panels))
    for axes, name in zip(axes_list, panels):
        _curves(axes, records, name)
    if title and len(panels) > 1:
        figure.suptitle(title)
    elif title:
        axes_list[0].set_title(title)
    figure.tight_layout(pad=0.3)
    return figure


def _curves(axes: Axes, records: Sequence[Mapping[str, Any]], name: str) -> None:
    from matplotlib.ticker import MaxNLocator

    marker = "o" if len(records) <= 20 else None  # a 3-epoch run still shows its points
    # Hollow test markers keep both curves visible where they coincide.
    for key, label, style, face in ((name, "train", "-", None), (f"test_{name}", "test", ":", "none")):
        points = [(r["epoch"], r[key]) for r in records if r.get(key) is not None]
        if points:
            epochs, values = zip(*points)
            axes.plot(epochs, values, linestyle=style, marker=marker, markersize=3.5,
                      markerfacecolor=face, label=label)
    if name == "loss":
        _log_axis(axes, [r[k] for r in records for k in (name, f"test_{name}") if _is_number(r.get(k))])
    else:
        axes.yaxis.set_major_locator(MaxNLocator(nbins=5))
    ticks = sorted({r["epoch"] for r in records})
    if len(ticks) <= 10:  # a tick at each epoch: never fractional epochs such as 0.975
        axes.set_xticks(ticks)
    else:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel(name)
    axes.legend(frameon=False)


def _log_axis(axes: Axes, values: Sequence[float]) -> None:
    """A log y axis; within one decade its ticks are plain numbers (0.7, 0.8, 1, 1.2), not 7x10^-1.

    A linear one when a value is 0 or below (a log axis would drop it, with matplotlib's warning).
    """
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator

    positive = [value for value in values if value > 0]
    if len(positive) < len([value for value in values if not math.isnan(value)]):
        return  # a loss of 0 or below has no place on a log axis: a linear one shows every point
    axes.set_yscale("log")
    if positive and max(positive) < 10 * min(positive):
        axes.yaxis.set_major_locator(MaxNLocator(nbins=5))
        digits = _digits(min(positive), max(positive))
        axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.{digits}g}"))
        axes.yaxis.set_minor_locator(NullLocator())


def _digits(low: float, high: float) -> int:
    """Significant digits that tell ticks between ``low`` and ``high`` apart (at least 3)."""
    import math

    spread = (high - low) / high if high > 0 else 1.0
    return 3 if spread >= 0.1 else min(12, 3 + math.ceil(-math.log10(max(spread, 1e-12))))


def plot_run(run_dir: str | Path, dataset: Any, feature: int = 1) -> list[Path]:
    """Both pictures of a run into its directory: ``data.png`` and ``loss.png``."""
    from minidl.run_layout import DATA_PLOT, LOSS_PLOT

    run_dir = Path(run_dir)
    return [plot_data(dataset, run_dir / DATA_PLOT, feature), plot_history(run_dir, run_dir / LOSS_PLOT)]


# -- files and style ---------------------------------------------------------------------
def check_plot_path(path: str | Path) -> tuple[Path, str]:
    """The path and its format; :class:`MinidlError` listing the accepted suffixes otherwise."""
    given, path = str(path), Path(path)
    if not given.strip() or given.endswith(("/", os.sep)):  # Path('x.png/') would be the file x.png
        raise MinidlError(f"cannot tell the picture format of {given!r} from its suffix: it names no file; "
                          f"give the picture's file name, e.g. -o loss.png (accepted: {', '.join(FORMATS)})")
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise MinidlError(
            f"cannot tell the picture format of {given!r} from its suffix "
            f"{path.suffix or '(none)'!r}; accepted: {', '.join(FORMATS)}"
        )
    return path, fmt


def save_figure(figure: Figure, path: Path, fmt: str) -> Path:
    """Write ``figure`` as ``fmt``, atomically; a missing folder or full disk is a :class:`WriteError`."""
    try:
        with atomic_open(path, "wb") as file:
            figure.savefig(file, format=fmt, dpi=PNG_DPI)
    except OSError as exc:
        raise WriteError(path, reason_of(exc), "picture") from None
    return path


def _figure(panels: int = 1) -> tuple[Figure, list[Any]]:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MinidlError(PLOT_EXTRA) from exc
    figure = Figure(figsize=(FIGSIZE[0] * panels, FIGSIZE[1]))
    return figure, [figure.add_subplot(1, panels, index + 1) for index in range(panels)]


@contextlib.contextmanager
def plot_style() -> Iterator[None]:
    """The house style (small fonts for 3.5x2.5 inches) for figures made inside the block."""
    try:
        import matplotlib
    except ImportError as exc:
        raise MinidlError(PLOT_EXTRA) from exc
    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]  # the stubs want Literal keys
        yield


def _records(run: Any) -> list[dict[str, Any]]:
    if isinstance(run, (str, Path)):
        from minidl.saved_run import read_metrics

        return read_metrics(run)
    return [dict(record) for record in run]


def _describe(run: Any) -> str:
    return repr(str(run)) if isinstance(run, (str, Path)) else "the records"
