"""The ``live-plot`` callback: a redrawn picture in a kernel, nothing anywhere else."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
import torch

import minidl
from minidl.config import RunConfig
from minidl.default_plugins.live_plot import LivePlot, in_kernel
from minidl.run import Run, build

MODULE = "minidl.default_plugins.live_plot"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    """The built-in plugins plus the live-plot callback's module."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    return minidl.load_plugins(extra=[MODULE], entry_points=False)


class FakeDisplay:
    """Records what IPython.display would show: the first display and each update."""

    def __init__(self) -> None:
        self.shown: list[tuple[str, Any]] = []

    def display(self, obj: Any, display_id: bool = False) -> Any:
        assert display_id is True
        self.shown.append(("display", obj))
        return types.SimpleNamespace(update=lambda new: self.shown.append(("update", new)))


class FakeImage:
    def __init__(self, data: bytes, format: str) -> None:
        self.data, self.format = data, format


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> FakeDisplay:
    """Pretend to run in a Jupyter kernel, with a recording IPython.display."""
    fake = FakeDisplay()
    shell = types.SimpleNamespace(kernel=object())
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell  # type: ignore[attr-defined]
    ipython.version_info = (9, 0, 0)  # type: ignore[attr-defined]  # matplotlib reads it
    display = types.ModuleType("IPython.display")
    display.display, display.Image = fake.display, FakeImage  # type: ignore[attr-defined]
    ipython.display = display  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display)
    return fake


def fit(plugins: minidl.Plugins, callbacks: list[Any], epochs: int = 3) -> Run:
    config = RunConfig()
    config.train.epochs = epochs
    config.dataset.options["num_test"] = 20
    run = build(config, plugins)
    run.trainer.callbacks.extend(callbacks)
    run.fit()
    return run


def test_registered(plugins: minidl.Plugins) -> None:
    assert isinstance(plugins.registry.build("callback", "live-plot"), LivePlot)


def test_outside_a_kernel_nothing_happens(plugins: minidl.Plugins, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delitem(sys.modules, "IPython", raising=False)
    monkeypatch.delitem(sys.modules, "IPython.display", raising=False)
    assert not in_kernel()
    live = LivePlot(min_interval=0)
    with_plot, without = fit(plugins, [live]), fit(plugins, [])
    assert not live.active and live.handle is None and live.drawn_epochs == 0
    assert "IPython" not in sys.modules  # not even imported
    assert capsys.readouterr() == ("", "")
    for name, tensor in with_plot.model.state_dict().items():
        assert torch.equal(tensor, without.model.state_dict()[name])


def test_ipython_without_a_kernel_is_not_a_kernel(monkeypatch: pytest.MonkeyPatch) -> None:
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: None  # type: ignore[attr-defined]  # plain python, IPython installed
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    assert not in_kernel()
    ipython.get_ipython = lambda: types.SimpleNamespace()  # type: ignore[attr-defined]  # terminal IPython
    assert not in_kernel()


def test_in_a_kernel_one_picture_is_redrawn_every_epoch(plugins: minidl.Plugins, kernel: FakeDisplay) -> None:
    live = LivePlot(min_interval=0)
    fit(plugins, [live], epochs=3)
    assert [kind for kind, _ in kernel.shown] == ["display", "update", "update"]
    for _, image in kernel.shown:
        assert image.format == "png" and image.data.startswith(PNG)
    assert live.drawn_epochs == 3


def test_redraws_are_throttled_but_the_end_is_drawn(plugins: minidl.Plugins, kernel: FakeDisplay) -> None:
    live = LivePlot(min_interval=3600)
    fit(plugins, [live], epochs=4)
    assert [kind for kind, _ in kernel.shown] == ["display", "update"]  # epoch 1, then the final curve
    assert live.drawn_epochs == 4


def test_resumed_run_shows_its_earlier_epochs_at_once(plugins: minidl.Plugins, kernel: FakeDisplay) -> None:
    first = fit(plugins, [], epochs=2)
    state = first.trainer.state_dict()
    config = first.config.copy()
    config.train.epochs = 3
    run = build(config, plugins)
    live = LivePlot(min_interval=3600)
    run.trainer.callbacks.append(live)
    run.fit(resume=state)
    assert [kind for kind, _ in kernel.shown] == ["display", "update"]  # 2 epochs at start, 3 at the end
    assert live.drawn_epochs == 3
