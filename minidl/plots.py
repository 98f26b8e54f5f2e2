"""Pictures of a dataset and of a run, at the book's 3.5x2.5 inch size.

``plot_data`` is the notebook's scatter of one feature against the labels;
``plot_history`` the train and test loss per epoch on a log scale (the book's
``semilogy``). The file format follows the path's suffix. Figures are built with
``matplotlib.figure.Figure``, never pyplot, so no window opens, no GUI backend is
needed and nothing in pyplot's global state changes (a notebook's included).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minidl.errors import MinidlError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PLOT_EXTRA = "plotting needs matplotlib: pip install 'minidl[plot]'"
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
FIGSIZE = (3.5, 2.5)  # inches, as the book's set_figsize
PNG_DPI = 200  # 700x500 pixels at FIGSIZE (tight_layout fits the labels inside)
RASTERIZE_ABOVE = 5_000  # scatter points drawn as an image in SVG/PDF beyond this many
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


def plot_data(dataset: Any, path: str | Path, feature: int = 1, *, title: str | None = None) -> Path:
    """Scatter feature ``feature`` (0-based column) of the training split against the labels.

    ``dataset`` is a :class:`~minidl.Dataset` or a ``(features, labels)`` pair. Raises
    :class:`MinidlError` for an unknown suffix or a feature out of range.
    """
    path, fmt = check_plot_path(path)
    X, y = dataset if isinstance(dataset, tuple) else dataset.tensors("train")
    X = X.detach().cpu().reshape(len(X), -1)
    if isinstance(feature, bool) or not isinstance(feature, int) or not 0 <= feature < X.shape[1]:
        raise MinidlError(
            f"feature {feature!r} does not exist: the data has {X.shape[1]} features, "
            f"numbered 0 to {X.shape[1] - 1}"
        )
    with plot_style():
        figure = data_figure(X[:, feature].numpy(), y.detach().cpu().reshape(-1).numpy(), feature, title)
        return save_figure(figure, path, fmt)


def plot_history(run: Any, path: str | Path, *, title: str | None = None) -> Path:
    """Train and test loss per epoch, log scale, from a run directory or records.

    ``run`` is a run directory (or its ``metrics.jsonl``), a :class:`~minidl.History`
    or a list of per-epoch records. Raises :class:`MinidlError` for an unknown suffix,
    a directory without records or records without a loss.
    """
    path, fmt = check_plot_path(path)
    records = _records(run)
    if not any(record.get("loss") is not None for record in records):
        raise MinidlError(f"no loss to plot in {_describe(run)}: it has no recorded epochs")
    with plot_style():
        return save_figure(history_figure(records, title), path, fmt)


def plot_run(run_dir: str | Path, dataset: Any, feature: int = 1) -> list[Path]:
    """Both pictures of a run into its directory: ``data.png`` and ``loss.png``."""
    from minidl.records import DATA_PLOT, LOSS_PLOT

    run_dir = Path(run_dir)
    return [plot_data(dataset, run_dir / DATA_PLOT, feature), plot_history(run_dir, run_dir / LOSS_PLOT)]


def check_plot_path(path: str | Path) -> tuple[Path, str]:
    """The path and its format; :class:`MinidlError` listing the accepted suffixes otherwise."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise MinidlError(
            f"cannot tell the picture format of {str(path)!r} from its suffix "
            f"{path.suffix or '(none)'!r}; accepted: {', '.join(FORMATS)}"
        )
    return path, fmt


def data_figure(x: Any, y: Any, feature: int, title: str | None = None) -> Figure:
    """The notebook's ``plt.scatter(features[:, 1], labels, 1)`` as a figure."""
    figure, axes = _figure()
    axes.scatter(x, y, s=1, rasterized=len(x) > RASTERIZE_ABOVE)
    axes.set_xlabel(f"features[:, {feature}]")
    axes.set_ylabel("labels")
    if title:
        axes.set_title(title)
    figure.tight_layout(pad=0.3)
    return figure


def history_figure(records: Iterable[Mapping[str, Any]], title: str | None = None) -> Figure:
    """Loss per epoch on a log y axis: ``train`` solid, ``test`` dotted (as ``d2l.semilogy``)."""
    from matplotlib.ticker import MaxNLocator

    records = list(records)
    figure, axes = _figure()
    marker = "o" if len(records) <= 20 else None  # a 3-epoch run still shows its points
    # Hollow test markers keep both curves visible where they coincide.
    for key, label, style, face in (("loss", "train", "-", None), ("test_loss", "test", ":", "none")):
        points = [(r["epoch"], r[key]) for r in records if r.get(key) is not None]
        if points:
            epochs, losses = zip(*points)
            axes.semilogy(epochs, losses, linestyle=style, marker=marker, markersize=3.5,
                          markerfacecolor=face, label=label)
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss")
    axes.legend(frameon=False)
    if title:
        axes.set_title(title)
    figure.tight_layout(pad=0.3)
    return figure


def save_figure(figure: Figure, path: Path, fmt: str) -> Path:
    """Write ``figure`` as ``fmt``; a missing folder or unwritable file is a MinidlError."""
    try:
        figure.savefig(path, format=fmt, dpi=PNG_DPI)
    except OSError as exc:
        raise MinidlError(f"cannot write picture {str(path)!r}: {exc.strerror or exc}") from None
    return path


def _figure() -> tuple[Figure, Any]:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise MinidlError(PLOT_EXTRA) from exc
    figure = Figure(figsize=FIGSIZE)
    return figure, figure.add_subplot()


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
        from minidl.records import read_metrics

        return read_metrics(run)
    return [dict(record) for record in run]


def _describe(run: Any) -> str:
    return repr(str(run)) if isinstance(run, (str, Path)) else "the records"
