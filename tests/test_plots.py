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


# -- classification runs (issue 13) -----------------------------------------------------------
def class_data(shape: tuple[int, ...] = (1, 28, 28), n: int = 30, text_labels: tuple[str, ...] | None = None):
    import torch

    from minidl.adapters import TensorData

    generator = torch.Generator().manual_seed(0)
    data = TensorData(torch.rand(n, *shape, generator=generator), torch.arange(n) % 3)
    if text_labels is not None:
        data.text_labels = text_labels  # type: ignore[attr-defined]
    return data


def titles(figure) -> list[str]:
    return [axes.get_title() for axes in figure.axes if axes.get_title()]


def test_class_images_are_a_grid_of_samples_with_their_labels(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from minidl import plots

    drawn = {}
    real = plots.images_figure
    monkeypatch.setattr(plots, "images_figure", lambda *a, **k: drawn.setdefault("figure", real(*a, **k)))
    assert_format(plot_data(class_data(text_labels=("zero", "one", "two")), tmp_path / "d.png"))
    figure = drawn["figure"]
    assert titles(figure) == ["zero", "one", "two"] * 6  # the first 18, as the book's show_images(X, 2, 9)
    assert len(figure.axes[0].images) == 1 and not figure.axes[0].axison
    assert figure.axes[0].images[0].get_array().shape == (28, 28)


@pytest.mark.parametrize(("shape", "image"), [((1, 28, 28), (28, 28)), ((28, 28), (28, 28)), ((784,), (28, 28)),
                                              ((3, 8, 8), (8, 8, 3)), ((3,), None), ((2, 5, 5), None)])
def test_examples_as_images(shape: tuple[int, ...], image: tuple[int, ...] | None) -> None:
    from minidl.plots import as_images

    images = as_images(class_data(shape, n=2).tensors()[0])
    assert (None if images is None else tuple(images.shape[1:])) == image


def test_class_labels_without_names_show_their_numbers_and_few_images_fill_one_row() -> None:
    from minidl.plots import images_figure, label_names

    data = class_data(n=4)
    _, y = data.tensors()
    figure = images_figure(data.tensors()[0][:, 0], label_names(data, y))
    assert titles(figure) == ["0", "1", "2", "0"]


def test_declared_real_labels_or_tabular_classes_stay_a_scatter(tmp_path: Path) -> None:
    from minidl.plots import is_classification

    data = class_data((1, 28, 28))
    data.label_kind = "real"  # type: ignore[attr-defined]
    assert not is_classification(data, data.tensors()[1])
    assert is_classification(class_data((3,)), class_data((3,)).tensors()[1])  # integer labels: classes
    assert_format(plot_data(class_data((3,)), tmp_path / "tabular.png", feature=2))


def classifier_records() -> list[dict]:
    return [{"epoch": e, "loss": 1.4 / e, "accuracy": 0.5 + e / 10, "test_loss": 1.5 / e,
             "test_accuracy": 0.45 + e / 10} for e in (1, 2, 3, 4)]


def test_metrics_are_drawn_beside_the_loss(tmp_path: Path) -> None:
    from matplotlib.image import imread

    figure = history_figure(classifier_records())
    loss, accuracy = figure.axes
    assert loss.get_yscale() == "log" and accuracy.get_yscale() == "linear"
    assert (loss.get_ylabel(), accuracy.get_ylabel()) == ("loss", "accuracy")
    assert [t.get_text() for t in accuracy.get_legend().get_texts()] == ["train", "test"]
    train, test = accuracy.get_lines()
    assert list(train.get_ydata()) == [r["accuracy"] for r in classifier_records()]
    assert list(test.get_ydata()) == [r["test_accuracy"] for r in classifier_records()]
    height, width = imread(plot_history(classifier_records(), tmp_path / "h.png")).shape[:2]
    assert (width, height) == (1400, 500)  # two panels of the book's size


def test_a_loss_within_one_decade_has_plain_tick_labels() -> None:
    loss = history_figure(classifier_records()).axes[0]  # 0.35 .. 1.5
    formatter = loss.yaxis.get_major_formatter()
    assert [formatter(value, 0) for value in (0.4, 0.8, 1, 1.2)] == ["0.4", "0.8", "1", "1.2"]
    wide = history_figure([{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 1e-4}]).axes[0]
    assert "10^{-2}" in wide.yaxis.get_major_formatter()(1e-2, 0)  # several decades: powers of ten


def test_chosen_metrics_and_unknown_ones(tmp_path: Path) -> None:
    from minidl.plots import metric_names

    assert metric_names(classifier_records()) == ["accuracy"]
    figure = history_figure(classifier_records(), metrics=["accuracy"])
    assert [axes.get_ylabel() for axes in figure.axes] == ["accuracy"]
    with pytest.raises(MinidlError, match=r"no metric 'mse' in the records; it has: loss, accuracy"):
        plot_history(classifier_records(), tmp_path / "h.png", metrics=["mse"])
    records = classifier_records()
    records[2]["accuracy"] = "high"
    with pytest.raises(MinidlError, match=r"epoch 3 has accuracy 'high', not a number"):
        plot_history(records, tmp_path / "h.png")


def test_a_record_without_epoch_is_one_line_naming_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1, "loss": 0.5}\n{"loss": 0.4}\n')
    with pytest.raises(MinidlError) as info:
        plot_history(tmp_path, tmp_path / "h.png")
    message = str(info.value)
    assert "metrics.jsonl', line 2: the record has no 'epoch'" in message and "\n" not in message
    (tmp_path / "metrics.jsonl").write_text('{"epoch": "one", "loss": 0.5}\n[1, 2]\n')
    with pytest.raises(MinidlError, match=r"line 1: the record has 'epoch' 'one', not an integer"):
        plot_history(tmp_path, tmp_path / "h.png")


def test_a_picture_is_written_whole_or_not_at_all(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from matplotlib.figure import Figure

    from minidl.checkpoint import WriteError

    (tmp_path / "h.png").write_bytes(b"the old picture")

    def full(self: Figure, file: object, **kwargs: object) -> None:
        file.write(b"\x89PNG half")  # type: ignore[attr-defined]
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Figure, "savefig", full)
    with pytest.raises(WriteError, match=r"cannot write picture '.*h\.png': No space left on device"):
        plot_history(classifier_records(), tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes() == b"the old picture"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.png"]


def test_a_one_epoch_run_has_one_integer_epoch_tick_and_distinct_loss_labels() -> None:
    from minidl.plots import history_figure

    records = [{"epoch": 1, "loss": 2.3165503807, "test_loss": 2.3165624141, "accuracy": 0.1}]
    figure = history_figure(records)
    figure.canvas.draw()
    loss_axes, accuracy_axes = figure.axes
    for axes in (loss_axes, accuracy_axes):
        assert [tick.get_text() for tick in axes.get_xticklabels()] == ["1"]
    labels = [tick.get_text() for tick in loss_axes.get_yticklabels() if tick.get_text()]
    assert len(labels) >= 2 and len(set(labels)) == len(labels), labels  # a tiny spread still reads apart


def test_data_with_several_labels_per_example_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    """A character corpus (a label per time step): no scatter of mismatched sizes."""
    import torch

    X, y = torch.zeros(6, 35), torch.zeros(6, 35)  # real-valued, not images: the scatter's route
    with pytest.raises(MinidlError, match=r"^cannot draw these data: each example has 35 labels \(labels of shape "
                                          r"\(6, 35\)\)"):
        plot_data((X, y), tmp_path / "data.png", feature=0)
    assert not (tmp_path / "data.png").exists()
