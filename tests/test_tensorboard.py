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
    assert entry.resolve({}) == {"log_dir": "runs/minidl"}


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
