"""The ``tensorboard`` callback, read back with TensorBoard's own reader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import minidl
from minidl.config import RunConfig
from minidl.errors import MinidlError
from minidl.run import Run, build

MODULE = "minidl.default_plugins.tensorboard"


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    """The built-in plugins plus the tensorboard callback's module."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    return minidl.load_plugins(extra=[MODULE], entry_points=False)


def logged_run(plugins: minidl.Plugins, log_dir: Path, epochs: int = 3) -> Run:
    config = RunConfig()
    config.train.epochs = epochs
    config.train.metrics = ["mse"]
    config.dataset.options["num_test"] = 50
    config.callbacks = {"lr-schedule": {"step": 1, "gamma": 0.5}, "tensorboard": {"log_dir": str(log_dir)}}
    run = build(config, plugins)
    run.fit()
    return run


def read_scalars(log_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(log_dir))
    accumulator.Reload()
    return {tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
            for tag in accumulator.Tags()["scalars"]}


def test_registered_with_its_option(plugins: minidl.Plugins) -> None:
    entry = plugins.registry.get("callback", "tensorboard")
    assert entry.resolve({}) == {"log_dir": None}


def test_every_metric_is_logged_per_epoch(plugins: minidl.Plugins, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    run = logged_run(plugins, tmp_path / "tb")
    scalars = read_scalars(tmp_path / "tb")
    assert set(scalars) == {"loss", "test_loss", "mse", "test_mse", "lr"}
    for key in ("loss", "test_loss", "mse", "test_mse"):
        expected = [(r["epoch"], pytest.approx(r[key], rel=1e-6)) for r in run.trainer.history]
        assert scalars[key] == expected  # stored as float32
    assert scalars["lr"] == [(1, pytest.approx(0.03)), (2, pytest.approx(0.015)), (3, pytest.approx(0.0075))]


def test_resume_purges_events_past_the_checkpoint(plugins: minidl.Plugins, tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    first = logged_run(plugins, tmp_path / "tb", epochs=3)
    state = first.trainer.state_dict()
    state["epoch"], state["history"] = 2, state["history"][:2]  # as if epoch 3 was interrupted
    config = first.config.copy()
    config.train.epochs = 4
    build(config, plugins).fit(resume=state)
    assert [step for step, _ in read_scalars(tmp_path / "tb")["loss"]] == [1, 2, 3, 4]


def test_missing_tensorboard_names_the_extra(plugins: minidl.Plugins,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import raises ImportError
    with pytest.raises(MinidlError, match=r"minidl\[tensorboard\]"):
        plugins.registry.build("callback", "tensorboard")


@pytest.mark.parametrize("module", [MODULE, "minidl.default_plugins.live_plot", "minidl.records",
                                    "minidl.checkpoint", "minidl.plots"])
def test_importing_does_not_import_torch_or_matplotlib(module: str) -> None:
    code = (f"import sys, {module}; heavy = {{'torch', 'matplotlib', 'tensorboard'}} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


# -- where the events go (issue 13) -----------------------------------------------------------
def config_with_tensorboard(epochs: int = 2, **options: str) -> RunConfig:
    config = RunConfig()
    config.train.epochs = epochs
    config.callbacks = {"tensorboard": dict(options)}
    return config


def event_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("events.out.tfevents.*"))


def test_with_a_run_directory_the_events_go_into_it(plugins: minidl.Plugins, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tensorboard")
    from minidl.records import RunRecorder

    monkeypatch.chdir(tmp_path)
    run = build(config_with_tensorboard(), plugins)
    RunRecorder(tmp_path / "runs" / "a").start(run)
    run.fit()
    assert len(event_files(tmp_path / "runs" / "a")) == 1
    assert [step for step, _ in read_scalars(tmp_path / "runs" / "a")["loss"]] == [1, 2]
    assert not (tmp_path / "runs" / "minidl").exists()  # nothing in the shared default


def test_without_a_run_directory_each_run_gets_a_fresh_one(plugins: minidl.Plugins, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tensorboard")
    monkeypatch.chdir(tmp_path)
    first, second = build(config_with_tensorboard(), plugins), build(config_with_tensorboard(3), plugins)
    first.fit()
    second.fit()
    folders = sorted((tmp_path / "runs" / "minidl").iterdir())
    assert len(folders) == 2 and all(len(event_files(folder)) == 1 for folder in folders)
    assert sorted(len(read_scalars(folder)["loss"]) for folder in folders) == [2, 3]  # never mixed


def test_a_log_dir_that_cannot_be_written_is_one_line(plugins: minidl.Plugins, tmp_path: Path) -> None:
    from minidl.checkpoint import WriteError

    (tmp_path / "file").write_text("not a folder")
    run = build(config_with_tensorboard(log_dir=str(tmp_path / "file" / "tb")), plugins)
    with pytest.raises(WriteError) as info:
        run.fit()
    message = str(info.value)
    assert message.startswith("cannot write TensorBoard log_dir ") and str(tmp_path / "file" / "tb") in message
    assert "\n" not in message and "Not a directory" in message


def test_cli_out_dir_holds_the_events_and_overwrite_replaces_them(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tensorboard")
    from click.testing import CliRunner

    from minidl.cli import create_cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "")
    monkeypatch.setenv("MINIDL_PLUGINS", MODULE)
    run_dir = tmp_path / "a"
    for epochs in ("3", "2"):
        result = CliRunner().invoke(create_cli(), ["train", "--callback", "tensorboard", "--epochs", epochs,
                                                   "--out", str(run_dir), "--overwrite", "-q"])
        assert result.exit_code == 0, result.stderr
        assert len(event_files(run_dir)) == 1  # the earlier run's events went with --overwrite
    assert [step for step, _ in read_scalars(run_dir)["loss"]] == [1, 2]
    assert not (tmp_path / "runs" / "minidl").exists()  # no TensorBoard folder beside the run index
