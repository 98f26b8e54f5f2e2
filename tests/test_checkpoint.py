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


# -- the schema (issue 14.5): damaged checkpoints that still unpickle ---------------------------
def damaged(plugins: minidl.Plugins, tmp_path: Path, change) -> Path:
    state = trained_state(plugins)
    change(state)
    path = tmp_path / "checkpoint.pt"
    torch.save(state, path)
    return path


def set_key(key: str, value: object):
    return lambda state: state.__setitem__(key, value)


@pytest.mark.parametrize(("change", "field", "expected"), [
    (set_key("epoch", "2"), "'epoch' is the str '2'", "an integer >= 0"),
    (set_key("epoch", -1), "'epoch' is the int -1", "an integer >= 0"),
    (set_key("history", {"loss": [1.0]}), "'history' is the dict", "a list of per-epoch records"),
    (lambda s: s["history"][1].pop("epoch"), "'history[1].epoch' is the NoneType None", "expected 2"),
    (lambda s: s["history"].pop(), "'history' holds 1 epochs but field 'epoch' says 2", ""),
    (set_key("seed", 1.5), "'seed' is the float 1.5", "an integer"),
    (set_key("torch_rng", torch.zeros(5056)), "'torch_rng' is a float32 tensor of shape (5056)", "1-D uint8"),
    (set_key("torch_rng", torch.zeros(10, dtype=torch.uint8)), "'torch_rng' is a uint8 tensor of shape (10)",
     "5056 bytes"),
    (set_key("generator", [1, 2]), "'generator' is the list [1, 2]", "a tensor (an RNG state) or None"),
    (set_key("optimizer", [1]), "'optimizer' is the list [1]", "an optimizer state_dict"),
    (lambda s: s["optimizer"].__setitem__("param_groups", {"lr": 1}), "'optimizer.param_groups' is the dict",
     "a list of parameter groups"),
    (lambda s: s["optimizer"]["param_groups"][0].__setitem__("params", "w"),
     "'optimizer.param_groups[0].params' is the str 'w'", "parameter indices"),
    (lambda s: s["optimizer"].__setitem__("state", [0]), "'optimizer.state' is the list [0]", "per-parameter"),
    (set_key("model", [torch.zeros(2)]), "'model' is the list", "a dict of parameters by name"),
    (set_key("callbacks", "none"), "'callbacks' is the str 'none'", "one state per callback"),
    (set_key("stop_reason", 3), "'stop_reason' is the int 3", "a string or None"),
    (set_key("epoch_seconds", "x"), "'epoch_seconds' is the str 'x'", "a list of seconds per epoch"),
    (set_key("epoch_seconds", [1.0, "2"]), "'epoch_seconds' is the list [1.0, '2']", "(numbers)"),
])
def test_a_field_of_the_wrong_structure_is_one_line_naming_file_and_field(
        plugins: minidl.Plugins, tmp_path: Path, change, field: str, expected: str) -> None:
    from minidl.checkpoint import load_training_checkpoint

    path = damaged(plugins, tmp_path, change)
    with pytest.raises(CheckpointError) as info:
        load_training_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"checkpoint {str(path)!r}: field {field}"), message
    assert expected in message and "\n" not in message


def test_a_missing_field_is_named(plugins: minidl.Plugins, tmp_path: Path) -> None:
    from minidl.checkpoint import load_training_checkpoint

    path = damaged(plugins, tmp_path, lambda state: state.pop("torch_rng"))
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt' is not a training checkpoint: it lacks torch_rng"):
        load_training_checkpoint(path)


def test_a_newer_format_is_refused(plugins: minidl.Plugins, tmp_path: Path) -> None:
    from minidl.checkpoint import FORMAT_VERSION, load_training_checkpoint

    path = damaged(plugins, tmp_path, set_key("format", FORMAT_VERSION + 1))
    with pytest.raises(CheckpointError, match=rf"written by a newer minidl \(checkpoint format {FORMAT_VERSION + 1}; "
                                              rf"this minidl reads formats up to {FORMAT_VERSION}\): upgrade minidl"):
        load_training_checkpoint(path)
    path = damaged(plugins, tmp_path, set_key("format", "1"))
    with pytest.raises(CheckpointError, match="field 'format' is the str '1'"):
        load_training_checkpoint(path)


def test_a_checkpoint_without_a_format_version_still_resumes(plugins: minidl.Plugins, tmp_path: Path) -> None:
    """Checkpoints written before the schema (format 0) have the same fields and load as before."""
    from minidl.checkpoint import FORMAT_VERSION, load_training_checkpoint

    state = trained_state(plugins, 2)
    assert state.pop("format") == FORMAT_VERSION
    torch.save(state, tmp_path / "old.pt")
    config = RunConfig()
    config.train.epochs, config.train.metrics = 4, ["mse"]
    config.dataset.options["num_test"] = 20
    config.callbacks = {"early-stopping": {"patience": 5}, "lr-schedule": {"step": 1, "gamma": 0.5}}
    resumed = build(config, plugins)
    resumed.fit(resume=load_training_checkpoint(tmp_path / "old.pt"))
    straight = build(config, plugins)
    straight.fit()
    assert_same(resumed.model.state_dict(), straight.model.state_dict())
    assert resumed.trainer.history.records == straight.trainer.history.records


def test_the_trainer_checks_an_in_memory_state_too(plugins: minidl.Plugins) -> None:
    state = trained_state(plugins, 1)
    state["epoch"] = "1"
    run = build(RunConfig(), plugins)
    with pytest.raises(CheckpointError, match=r"^the resume state: field 'epoch' is the str '1'"):
        run.fit(resume=state)


def test_a_component_state_that_does_not_fit_names_the_field(plugins: minidl.Plugins) -> None:
    state = trained_state(plugins, 1)
    state["optimizer"]["param_groups"].append({"lr": 0.1, "params": [7]})
    run = build(RunConfig(), plugins)
    with pytest.raises(CheckpointError, match=r"does not fit the optimizer: field 'optimizer.param_groups' has "
                                              r"groups of \[2, 1\] parameters, the optimizer \[2\]"):
        check_compatible(run.model, state, "checkpoint 'c.pt'", optimizer=run.optimizer)
    with pytest.raises(CheckpointError, match=r"^the resume state: field 'optimizer' does not fit the optimizer: "
                                              r"ValueError: loaded state has a different number of parameter groups"):
        run.fit(resume=state)


def test_optimizer_state_tensors_must_have_their_parameters_shape(plugins: minidl.Plugins) -> None:
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    saved = {"model": model.state_dict(), "optimizer": {
        "state": {0: {"momentum_buffer": torch.zeros(2, 3)}}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]}}
    with pytest.raises(CheckpointError, match=r"field 'optimizer.state\[0\].momentum_buffer' has shape \(2, 3\), "
                                              r"its parameter \(1, 3\)"):
        check_compatible(model, saved, "c.pt", optimizer=optimizer)
    saved["optimizer"]["state"] = {5: {}}
    with pytest.raises(CheckpointError, match=r"an entry for parameter 5, the optimizer has 2 parameters"):
        check_compatible(model, saved, "c.pt", optimizer=optimizer)


# -- writes that fail (issue 14.4) and their leftovers (14.6) -----------------------------------
def test_a_full_disk_inside_torch_save_is_one_line_and_keeps_the_old_checkpoint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from minidl.checkpoint import CheckpointWriteError

    path = save_checkpoint(tmp_path / "checkpoint.pt", {"epoch": 1})

    def full(obj: object, file: object) -> None:  # what torch does: a RuntimeError raised from the OSError
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598") from None

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(CheckpointWriteError, match=r"^cannot write checkpoint '.*checkpoint\.pt': No space left"):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.setattr(torch, "save", lambda obj, file: (_ for _ in ()).throw(RuntimeError("a bug")))
    with pytest.raises(RuntimeError, match="a bug"):  # not a write failure: not disguised as one
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.pt"]


def test_stale_temporaries_of_minidls_own_naming_are_removed_and_nothing_else(tmp_path: Path) -> None:
    import tempfile

    from minidl.checkpoint import remove_stale_temporaries

    ours = []
    for name in ("checkpoint.pt", "checkpoint.pt", "metrics.csv"):  # named as atomic_open names them
        fd, temporary = tempfile.mkstemp(dir=tmp_path, prefix=f".{name}.", suffix=".tmp")
        os.close(fd)
        ours.append(temporary)
    others = [".checkpoint.pt.tmp", "checkpoint.pt.abcd1234.tmp", ".notes.txt.abcd1234.tmp",
              ".checkpoint.pt.ABCD1234.tmp", ".checkpoint.pt.abcd12345.tmp", ".checkpoint.pt.abcd1234.tmp.bak",
              "checkpoint.pt", "notes.txt"]
    for name in others:
        (tmp_path / name).write_text("keep")
    (tmp_path / ".metrics.jsonl.abcd1234.tmp").mkdir()  # a folder of that name: not a file we wrote
    removed = remove_stale_temporaries(tmp_path, ["checkpoint.pt", "metrics.csv", "metrics.jsonl"])
    assert sorted(map(str, removed)) == sorted(ours)
    assert sorted(os.listdir(tmp_path)) == sorted([*others, ".metrics.jsonl.abcd1234.tmp"])
    assert remove_stale_temporaries(tmp_path / "missing", ["checkpoint.pt"]) == []
