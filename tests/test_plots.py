"""Plots: files in the format their suffix names, with the book's axes and curves."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

import minidl
from minidl.config import RunConfig
from minidl.errors import MinidlError
from minidl.plots import data_figure, history_figure, plot_data, plot_history, plot_run
from minidl.records import RunRecorder
from minidl.run import Run, build

SIGNATURES = {".png": b"\x89PNG\r\n\x1a\n", ".pdf": b"%PDF"}


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    """The built-in plugins only."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    return minidl.load_plugins(entry_points=False)


@pytest.fixture
def run(plugins: minidl.Plugins, tmp_path: Path) -> Run:
    """A 3-epoch run with a test split, recorded in ``tmp_path / 'run'``."""
    config = RunConfig()
    config.dataset.options["num_test"] = 100
    run = build(config, plugins)
    RunRecorder(tmp_path / "run").start(run)
    run.fit()
    return run


def assert_format(path: Path) -> None:
    data = path.read_bytes()
    assert len(data) > 1000
    if path.suffix == ".svg":
        assert data.lstrip().startswith(b"<?xml") and b"<svg" in data
    else:
        assert data.startswith(SIGNATURES[path.suffix])


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_plot_data_writes_the_format_of_the_suffix(run: Run, tmp_path: Path, suffix: str) -> None:
    path = plot_data(run.dataset, tmp_path / f"data{suffix}")
    assert_format(path)


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_plot_history_writes_the_format_of_the_suffix(run: Run, tmp_path: Path, suffix: str) -> None:
    path = plot_history(tmp_path / "run", tmp_path / f"loss{suffix}")
    assert_format(path)


def test_png_is_the_books_size(run: Run, tmp_path: Path) -> None:
    from matplotlib.image import imread

    height, width = imread(plot_history(run.trainer.history, tmp_path / "h.png")).shape[:2]
    assert (width, height) == (700, 500)  # 3.5x2.5 inches at 200 dpi


def test_bad_suffix_lists_the_accepted_ones_and_writes_nothing(run: Run, tmp_path: Path) -> None:
    for name in ("loss.jpg", "loss"):
        with pytest.raises(MinidlError, match=r"accepted: \.png, \.svg, \.pdf"):
            plot_history(tmp_path / "run", tmp_path / name)
        assert not (tmp_path / name).exists()


def test_data_figure_is_the_notebooks_scatter(run: Run) -> None:
    X, y = run.dataset.tensors("train")
    axes = data_figure(X[:, 1].numpy(), y.reshape(-1).numpy(), 1).axes[0]
    offsets = axes.collections[0].get_offsets()
    assert offsets.shape == (len(X), 2)
    assert (offsets[:, 0] == X[:, 1].numpy()).all() and (offsets[:, 1] == y.reshape(-1).numpy()).all()
    assert axes.collections[0].get_sizes()[0] == 1
    assert axes.get_xlabel() == "features[:, 1]" and axes.get_ylabel() == "labels"


def test_history_figure_has_both_curves_on_a_log_scale(run: Run) -> None:
    records = run.trainer.history.records
    axes = history_figure(records).axes[0]
    assert axes.get_yscale() == "log"
    assert axes.get_xlabel() == "epoch" and axes.get_ylabel() == "loss"
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["train", "test"]
    train, test = axes.get_lines()
    assert list(train.get_xdata()) == [1, 2, 3]
    assert list(train.get_ydata()) == [r["loss"] for r in records]
    assert list(test.get_ydata()) == [r["test_loss"] for r in records]


def test_history_without_a_test_split_has_one_curve(plugins: minidl.Plugins) -> None:
    run = build(RunConfig(), plugins)
    run.fit()
    axes = history_figure(run.trainer.history).axes[0]
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["train"]


def test_feature_out_of_range(run: Run, tmp_path: Path) -> None:
    with pytest.raises(MinidlError, match=r"feature 2 does not exist.*numbered 0 to 1"):
        plot_data(run.dataset, tmp_path / "d.png", feature=2)


def test_plot_data_accepts_a_pair(run: Run, tmp_path: Path) -> None:
    assert_format(plot_data(run.dataset.tensors("test"), tmp_path / "test.png", feature=0))


def test_history_errors(tmp_path: Path) -> None:
    with pytest.raises(MinidlError, match="no run records"):
        plot_history(tmp_path, tmp_path / "h.png")
    with pytest.raises(MinidlError, match="no loss to plot"):
        plot_history([], tmp_path / "h.png")
    with pytest.raises(MinidlError, match="cannot write picture"):
        plot_history([{"epoch": 1, "loss": 1.0}], tmp_path / "missing" / "h.png")


def test_plot_run_writes_both_into_the_run_directory(run: Run, tmp_path: Path) -> None:
    paths = plot_run(tmp_path / "run", run.dataset)
    assert [p.name for p in paths] == ["data.png", "loss.png"]
    for path in paths:
        assert path.parent == tmp_path / "run"
        assert_format(path)


def test_no_pyplot_figures_are_left_open(run: Run, tmp_path: Path) -> None:
    from matplotlib import pyplot as plt

    before = plt.get_fignums()
    plot_data(run.dataset, tmp_path / "d.png")
    plot_history(run.trainer.history, tmp_path / "h.png")
    assert plt.get_fignums() == before
