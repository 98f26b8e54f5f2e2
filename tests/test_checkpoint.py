"""Checkpoints: atomic writes, safe loads, clear errors, shape checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

import minidl
from minidl.checkpoint import atomic_open, check_compatible, load_checkpoint, save_checkpoint
from minidl.config import RunConfig
from minidl.errors import CheckpointError
from minidl.run import build


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    """The built-in plugins only: installed ones cannot change these results."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    return minidl.load_plugins(entry_points=False)


def trained_state(plugins: minidl.Plugins, epochs: int = 2) -> dict:
    config = RunConfig()
    config.train.epochs = epochs
    config.train.metrics = ["mse"]
    config.dataset.options["num_test"] = 20
    config.callbacks = {"early-stopping": {"patience": 5}, "lr-schedule": {"step": 1, "gamma": 0.5}}
    run = build(config, plugins)
    run.fit()
    return run.trainer.state_dict()


def assert_same(a: object, b: object) -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
    else:
        assert a == b


def test_trainer_state_round_trips_with_weights_only(plugins: minidl.Plugins, tmp_path: Path) -> None:
    state = trained_state(plugins)
    path = save_checkpoint(tmp_path / "checkpoint.pt", state)
    loaded = load_checkpoint(path)
    assert_same(state, loaded)
    assert loaded["generator"].dtype == torch.uint8
    assert loaded["history"][-1]["epoch"] == 2


def test_written_file_has_the_usual_permissions(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c.pt", {"x": 1})
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nope.pt"
    with pytest.raises(CheckpointError, match=r"nope\.pt.*does not exist"):
        load_checkpoint(path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_file_gives_one_line_error_naming_it(plugins: minidl.Plugins, tmp_path: Path,
                                                     damage: str) -> None:
    path = save_checkpoint(tmp_path / "checkpoint.pt", trained_state(plugins, 1))
    data = path.read_bytes()
    damaged = {"truncate": data[: len(data) // 2], "garbage": os.urandom(len(data)), "empty": b""}[damage]
    path.write_bytes(damaged)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    assert path.read_bytes() == damaged  # nothing overwritten


class Arbitrary:
    """Not plain data: weights_only loading must refuse it."""


def test_arbitrary_objects_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"model": Arbitrary()}, path)
    with pytest.raises(CheckpointError, match=r"evil\.pt"):
        load_checkpoint(path)


def test_a_non_dict_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([1, 2], path)
    with pytest.raises(CheckpointError, match="holds a list"):
        load_checkpoint(path)


def test_crash_inside_torch_save_keeps_the_last_good_checkpoint(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_checkpoint(tmp_path / "checkpoint.pt", {"epoch": 1, "w": torch.ones(3)})

    def crash(obj: object, file: object) -> None:
        file.write(b"PK\x03\x04 half a checkpoint")  # type: ignore[attr-defined]
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"epoch": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.pt"]


def test_crash_at_rename_keeps_the_last_good_checkpoint(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_checkpoint(tmp_path / "checkpoint.pt", {"epoch": 1})

    def crash(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(CheckpointError, match="No space left"):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.pt"]


def test_atomic_open_replaces_only_on_success(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("old")
    with pytest.raises(ValueError), atomic_open(path, "w") as file:
        file.write("new")
        raise ValueError("boom")
    assert path.read_text() == "old"
    with atomic_open(path, "w") as file:
        file.write("new")
    assert path.read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]


def test_missing_directory_is_a_checkpoint_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="cannot write checkpoint"):
        save_checkpoint(tmp_path / "no" / "c.pt", {})


def test_shape_mismatch_names_parameter_and_both_shapes(plugins: minidl.Plugins) -> None:
    state = trained_state(plugins, 1)
    config = RunConfig()
    config.dataset.options.update(num_inputs=3, true_w=[1.0, 2.0, 3.0])
    model = build(config, plugins).model
    with pytest.raises(CheckpointError, match=r"'w' has shape \(2, 1\) in the checkpoint but \(3, 1\)"):
        check_compatible(model, state)
    check_compatible(build(RunConfig(), plugins).model, state)  # same shape: no error


def test_missing_and_unexpected_parameters_are_named(plugins: minidl.Plugins) -> None:
    model = build(RunConfig(), plugins).model
    saved = {"w": torch.zeros(2, 1), "bias": torch.zeros(1)}
    with pytest.raises(CheckpointError, match=r"missing parameters \['b'\].*unexpected parameters \['bias'\]"):
        check_compatible(model, {"model": saved})
