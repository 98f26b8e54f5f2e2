"""Run records: the --out directory, resuming bit for bit, the config.toml round trip."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

import pytest
import torch

import minidl
from minidl import records
from minidl.checkpoint import check_compatible, load_checkpoint
from minidl.config import RunConfig, load_config
from minidl.errors import CheckpointError, MinidlError
from minidl.records import RunRecorder, read_metrics, read_run
from minidl.run import Run, build


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    """The built-in plugins only: installed ones cannot change these results."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    return minidl.load_plugins(entry_points=False)


def plain_config(epochs: int) -> RunConfig:
    config = RunConfig()
    config.train.epochs = epochs
    return config


def callbacks_config(epochs: int) -> RunConfig:
    """Test split, metrics, early stopping (stops at epoch 8) and a decaying learning rate."""
    config = RunConfig()
    config.train.epochs = epochs
    config.train.metrics = ["mse", "mae"]
    config.dataset.options["num_test"] = 50
    config.optimizer.options["lr"] = 0.01
    config.callbacks = {
        "early-stopping": {"monitor": "test_loss", "patience": 2, "min_delta": 3e-3},
        "lr-schedule": {"step": 2, "gamma": 0.7},
    }
    return config


def record(config: RunConfig, plugins: minidl.Plugins, out: Path, **options: Any) -> Run:
    run = build(config, plugins)
    RunRecorder(out, **options).start(run, argv=["minidl", "train", "--out", str(out)])
    run.fit()
    return run


def resume(out: Path, epochs: int, plugins: minidl.Plugins) -> Run:
    config, state = read_run(out)
    config.train.epochs = epochs
    run = build(config, plugins)
    check_compatible(run.model, state)
    RunRecorder(out, resume=True).start(run, argv=["minidl", "train", "--resume", str(out)])
    run.fit(resume=state)
    return run


def assert_same_parameters(a: Run, b: Run) -> None:
    left, right = a.model.state_dict(), b.model.state_dict()
    assert left.keys() == right.keys()
    for name in left:
        assert torch.equal(left[name], right[name]), name


# -- the directory ----------------------------------------------------------------------------
def test_writes_every_record(plugins: minidl.Plugins, tmp_path: Path) -> None:
    out = tmp_path / "A"
    run = record(callbacks_config(3), plugins, out)
    names = {"config.toml", "versions.json", "run.json", "metrics.csv", "metrics.jsonl", "checkpoint.pt"}
    assert set(os.listdir(out)) == names  # no stray temporary files
    assert load_config(out / "config.toml").resolve(plugins.registry) == run.config
    run_json = json.loads((out / "run.json").read_text())
    assert run_json["seed"] == 0 and run_json["invocations"][0]["command"][-1] == str(out)
    versions = json.loads((out / "versions.json").read_text())
    assert {"minidl", "torch", "numpy", "pluggy", "click"} <= versions["packages"].keys()
    assert versions["python"]
    assert [p["name"] for p in versions["plugins"]] == [info.name for info in plugins.info()]
    assert all(p["distribution"] == "minidl" for p in versions["plugins"])
    assert load_checkpoint(out / "checkpoint.pt")["epoch"] == 3


def test_metrics_files_hold_the_history(plugins: minidl.Plugins, tmp_path: Path) -> None:
    run = record(callbacks_config(3), plugins, tmp_path)
    history = run.trainer.history.records
    assert read_metrics(tmp_path) == history
    with open(tmp_path / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert list(rows[0]) == ["epoch", "loss", "mse", "mae", "test_loss", "test_mse", "test_mae"]
    assert [{k: float(v) for k, v in row.items()} for row in rows] == history  # full precision


class AddsAMetric:
    """A callback that adds an entry to the record of every epoch from ``start``."""

    def __init__(self, start: int = 1) -> None:
        self.start = start

    @minidl.hookimpl
    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
        if epoch >= self.start:
            metrics["double_loss"] = 2 * metrics["loss"]


def test_records_what_every_other_callback_added(plugins: minidl.Plugins, tmp_path: Path) -> None:
    run = build(plain_config(2), plugins)
    RunRecorder(tmp_path).start(run)
    run.trainer.callbacks.append(AddsAMetric())  # registered after the recorder
    run.fit()
    assert all("double_loss" in row for row in read_metrics(tmp_path))
    assert "double_loss" in (tmp_path / "metrics.csv").read_text().splitlines()[0]
    assert "double_loss" in load_checkpoint(tmp_path / "checkpoint.pt")["history"][-1]


def test_a_column_appearing_later_rewrites_the_csv_header(plugins: minidl.Plugins, tmp_path: Path) -> None:
    run = build(plain_config(3), plugins)
    run.trainer.callbacks.append(AddsAMetric(start=2))
    RunRecorder(tmp_path).start(run)
    run.fit()
    with open(tmp_path / "metrics.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert rows[0]["double_loss"] == ""
    assert [float(row["double_loss"]) for row in rows[1:]] == [r["double_loss"] for r in run.trainer.history[1:]]


def test_refuses_a_non_empty_directory_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(MinidlError, match=r"not empty \(notes.txt\).*--overwrite"):
        RunRecorder(tmp_path)
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_refuses_a_file(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    for options in ({}, {"overwrite": True}, {"resume": True}):
        with pytest.raises(MinidlError, match="is a file"):
            RunRecorder(path, **options)


def test_accepts_a_missing_or_empty_directory(plugins: minidl.Plugins, tmp_path: Path) -> None:
    record(plain_config(1), plugins, tmp_path / "new" / "deeper")
    (tmp_path / "empty").mkdir()
    record(plain_config(1), plugins, tmp_path / "empty")
    assert (tmp_path / "empty" / "checkpoint.pt").is_file()


def test_overwrite_replaces_the_old_run(plugins: minidl.Plugins, tmp_path: Path) -> None:
    record(plain_config(5), plugins, tmp_path)
    (tmp_path / "loss.png").write_bytes(b"old picture")
    (tmp_path / "notes.txt").write_text("mine")
    run = record(plain_config(2), plugins, tmp_path, overwrite=True)
    assert read_metrics(tmp_path) == run.trainer.history.records
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 1 + 2
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2
    assert len(json.loads((tmp_path / "run.json").read_text())["invocations"]) == 1
    assert not (tmp_path / "loss.png").exists()  # a picture of the old run
    assert (tmp_path / "notes.txt").read_text() == "mine"  # not minidl's: left alone


# -- resume ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("make_config", "first", "total"), [
    (plain_config, 3, 6),
    (callbacks_config, 3, 10),
    (callbacks_config, 7, 10),  # early stopping is already waiting at epoch 7
])
def test_resume_equals_a_straight_run_bit_for_bit(plugins: minidl.Plugins, tmp_path: Path,
                                                  make_config: Any, first: int, total: int) -> None:
    record(make_config(first), plugins, tmp_path)
    resumed = resume(tmp_path, total, plugins)
    straight = build(make_config(total), plugins)
    straight.fit()
    assert_same_parameters(resumed, straight)
    assert resumed.trainer.history.records == straight.trainer.history.records
    assert resumed.trainer.stop_reason == straight.trainer.stop_reason
    assert read_metrics(tmp_path) == straight.trainer.history.records
    invocations = json.loads((tmp_path / "run.json").read_text())["invocations"]
    assert [i["start_epoch"] for i in invocations] == [0, first]
    assert load_config(tmp_path / "config.toml").train.epochs == total


def test_early_stopping_really_stops(plugins: minidl.Plugins) -> None:
    run = build(callbacks_config(10), plugins)
    run.fit()
    assert run.trainer.epoch == 8 and "early stopping at epoch 8" in str(run.trainer.stop_reason)


def test_interrupted_epoch_is_not_duplicated(plugins: minidl.Plugins, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C after epoch 5's row was written but before its checkpoint: resume from 4.

    Epoch 4's checkpoint is the one saved at the epoch's end, after lr-schedule decayed
    the learning rate: it must hold the decayed rate.
    """
    real_save = records.save_checkpoint

    def interrupted(path: Path, state: dict) -> Path:
        if state["epoch"] == 5:
            raise KeyboardInterrupt
        return real_save(path, state)

    monkeypatch.setattr(records, "save_checkpoint", interrupted)
    with pytest.raises(KeyboardInterrupt):
        record(callbacks_config(6), plugins, tmp_path)
    monkeypatch.undo()
    assert [r["epoch"] for r in read_metrics(tmp_path)] == [1, 2, 3, 4, 5]
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 4  # saved at epoch 4's end
    resumed = resume(tmp_path, 6, plugins)
    straight = build(callbacks_config(6), plugins)
    straight.fit()
    assert_same_parameters(resumed, straight)
    assert read_metrics(tmp_path) == straight.trainer.history.records
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["epoch", "1", "2", "3", "4", "5", "6"]


def test_resume_into_another_directory_copies_earlier_epochs(plugins: minidl.Plugins, tmp_path: Path) -> None:
    record(plain_config(2), plugins, tmp_path / "A")
    config, state = read_run(tmp_path / "A")
    config.train.epochs = 4
    run = build(config, plugins)
    RunRecorder(tmp_path / "B").start(run)
    run.fit(resume=state)
    assert [r["epoch"] for r in read_metrics(tmp_path / "B")] == [1, 2, 3, 4]


def test_resume_of_a_finished_run_trains_nothing(plugins: minidl.Plugins, tmp_path: Path) -> None:
    first = record(plain_config(3), plugins, tmp_path)
    again = resume(tmp_path, 3, plugins)
    assert_same_parameters(first, again)
    assert [r["epoch"] for r in read_metrics(tmp_path)] == [1, 2, 3]


def test_load_run_errors_name_the_directory(plugins: minidl.Plugins, tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no such directory"):
        read_run(tmp_path / "missing")
    with pytest.raises(CheckpointError, match=rf"{tmp_path.name}'.*no config.toml and no checkpoint.pt"):
        read_run(tmp_path)
    (tmp_path / "config.toml").write_text(RunConfig().to_toml())
    (tmp_path / "metrics.jsonl").write_text("".join(f'{{"epoch": {i}, "loss": 1.0}}\n' for i in (1, 2, 3)))
    with pytest.raises(CheckpointError, match=rf"{tmp_path.name}'.*no checkpoint.pt although metrics.jsonl "
                                              "records 3 epochs"):
        read_run(tmp_path)


def test_a_run_without_a_finished_epoch_reads_as_no_state(plugins: minidl.Plugins, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(plain_config(4).to_toml())
    config, state = read_run(tmp_path)
    assert state is None and config.train.epochs == 4
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1, "loss": 1.0}\n')  # epoch 1's row, not its checkpoint
    assert read_run(tmp_path)[1] is None


def test_resume_into_a_different_model_shape_is_refused(plugins: minidl.Plugins, tmp_path: Path) -> None:
    record(plain_config(1), plugins, tmp_path)
    config, state = read_run(tmp_path)
    config.dataset.options.update(num_inputs=3, true_w=[1.0, 2.0, 3.0])
    run = build(config, plugins)
    with pytest.raises(CheckpointError, match=r"'w' has shape \(2, 1\).*\(3, 1\)"):
        check_compatible(run.model, state)


# -- reproducing ----------------------------------------------------------------------------
def test_config_toml_reruns_to_the_same_parameters(plugins: minidl.Plugins, tmp_path: Path) -> None:
    original = record(callbacks_config(4), plugins, tmp_path)
    rerun = build(load_config(tmp_path / "config.toml"), plugins)
    rerun.fit()
    assert_same_parameters(original, rerun)


def test_read_metrics_errors(tmp_path: Path) -> None:
    with pytest.raises(MinidlError, match="no run records"):
        read_metrics(tmp_path)
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1, "loss": 0.5}\nnot json\n')
    with pytest.raises(MinidlError, match="line 2"):
        read_metrics(tmp_path)
    (tmp_path / "metrics.jsonl").write_bytes(b'{"epoch": 1, "loss": 0.5}\n\xff\xfe\n')  # a damaged byte
    with pytest.raises(MinidlError, match=r"metrics\.jsonl', line 2: not UTF-8 text \(invalid start byte at byte 0\)"):
        read_metrics(tmp_path)


# -- load_run: a saved run as built components (issue 13) -------------------------------------
def test_load_run_gives_the_components_with_the_checkpoint_loaded(plugins: minidl.Plugins, tmp_path: Path) -> None:
    from minidl.records import SavedRun, load_run

    original = record(callbacks_config(3), plugins, tmp_path)
    run = minidl.load_run(tmp_path, plugins)
    assert isinstance(run, SavedRun) and run.directory == tmp_path and load_run is minidl.load_run
    assert_same_parameters(run, original)
    assert run.trainer.epoch == 3 and run.trainer.history.records == original.trainer.history.records
    assert {"epoch": 3, **run.evaluate()} == original.trainer.history[-1]  # the same numbers, recomputed
    X, _ = run.dataset.tensors("test")
    assert torch.equal(run.predict(X), original.model(X).detach())
    assert torch.equal(run.trainer.predict(None, run.dataset), original.model(X).detach())  # test split by default


def test_load_run_then_fit_more_equals_a_straight_run(plugins: minidl.Plugins, tmp_path: Path) -> None:
    record(callbacks_config(3), plugins, tmp_path)
    run = minidl.load_run(tmp_path, plugins)
    run.trainer.max_epochs = 6
    run.fit()
    straight = build(callbacks_config(6), plugins)
    straight.fit()
    assert_same_parameters(run, straight)
    assert run.trainer.history.records == straight.trainer.history.records
    assert run.state is not None and run.state["epoch"] == 6  # a further fit() goes on from here


def test_load_run_of_a_run_without_a_finished_epoch_is_untrained(plugins: minidl.Plugins, tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(plain_config(2).to_toml())
    run = minidl.load_run(tmp_path, plugins)
    assert run.state is None and run.trainer.epoch == 0
    run.fit()
    assert run.trainer.epoch == 2


def test_load_run_names_a_damaged_checkpoint(plugins: minidl.Plugins, tmp_path: Path) -> None:
    record(plain_config(2), plugins, tmp_path)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    state["history"] = "gone"
    torch.save(state, tmp_path / "checkpoint.pt")
    with pytest.raises(CheckpointError, match=r"checkpoint '.*checkpoint\.pt': field 'history' is the str 'gone'"):
        minidl.load_run(tmp_path, plugins)


# -- predict, and the model's mode ------------------------------------------------------------
class Dropoutish(torch.nn.Module):
    """Linear regression that adds noise in training mode only (like dropout)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(2, 1)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        out = self.linear(X)
        return out + torch.randn_like(out) if self.training else out


def torch_parts(plugins: minidl.Plugins):
    from minidl.trainer import Trainer

    data = build(plain_config(1), plugins).dataset
    model = Dropoutish()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    return Trainer(max_epochs=1, seed=0, plugins=plugins), model, data, optimizer


@pytest.mark.parametrize("training", [True, False])
def test_fit_leaves_the_model_in_the_mode_it_came_in(plugins: minidl.Plugins, training: bool) -> None:
    trainer, model, data, optimizer = torch_parts(plugins)
    model.train(training)
    trainer.fit(model, data, torch.nn.MSELoss(reduction="none"), optimizer)
    assert model.training is training


def test_predict_is_batched_in_eval_mode_without_grad_and_restores_the_mode(plugins: minidl.Plugins) -> None:
    from minidl.errors import MinidlError as Error

    trainer, model, data, _ = torch_parts(plugins)
    X, _ = data.tensors("train")
    with torch.no_grad():
        expected = model.linear(X)
    for batch_size in (7, 1000, 5000):
        out = trainer.predict(model, X, batch_size=batch_size)
        torch.testing.assert_close(out, expected)  # eval mode: no noise (batched matmuls may differ in the last bit)
        assert not out.requires_grad
    assert model.training  # restored
    torch.testing.assert_close(trainer.predict(model, data, split="train"), expected)
    with pytest.raises(Error, match="no split 'test'; it has train"):
        trainer.predict(model, data, split="test")
    with pytest.raises(Error, match="predict needs a model"):
        trainer.predict(None, X)
    with pytest.raises(Error, match="takes a tensor of examples or a dataset, got list"):
        trainer.predict(model, [1, 2])
    with pytest.raises(Error, match="batch size must be an integer >= 1, got 0"):
        trainer.predict(model, X, batch_size=0)


# -- failed writes and leftovers (issue 14.4, 14.6) --------------------------------------------
def test_a_row_that_does_not_fit_on_the_disk_is_taken_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from minidl.checkpoint import WriteError

    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1, "loss": 0.5}\n')
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        if len(data) > 4:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(WriteError, match=r"^cannot write file '.*metrics\.jsonl': No space left on device$"):
        records._append(path, '{"epoch": 2, "loss": 0.25}\n')
    monkeypatch.undo()
    assert path.read_text() == '{"epoch": 1, "loss": 0.5}\n'  # no half row
    records._append(path, '{"epoch": 2, "loss": 0.25}\n')
    assert [r["epoch"] for r in read_metrics(path)] == [1, 2]


def test_starting_or_resuming_removes_temporaries_left_by_a_killed_write(plugins: minidl.Plugins,
                                                                        tmp_path: Path) -> None:
    record(plain_config(2), plugins, tmp_path)
    left = [".checkpoint.pt.k1ll9d_x.tmp", ".metrics.csv.a0b1c2d3.tmp", ".config.toml.zz_zz_zz.tmp"]
    kept = [".notes.txt.a0b1c2d3.tmp", ".checkpoint.pt.tmp", "checkpoint.pt.a0b1c2d3.tmp"]
    for name in [*left, *kept]:
        (tmp_path / name).write_bytes(b"half")
    resume(tmp_path, 3, plugins)
    assert not any((tmp_path / name).exists() for name in left)
    assert all((tmp_path / name).read_bytes() == b"half" for name in kept)


@pytest.mark.parametrize("failing", ["config.toml", "metrics.jsonl", "metrics.csv", "checkpoint.pt"])
def test_a_failed_write_names_the_file_and_keeps_the_last_checkpoint(
        plugins: minidl.Plugins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    import errno

    from minidl.checkpoint import WriteError

    record(plain_config(2), plugins, tmp_path)
    real = {"_append": records._append, "write_text": records.write_text}

    def fail_for(name: str):
        def write(path: Path, text: str) -> None:
            if path.name == failing:
                raise WriteError(path, os.strerror(errno.ENOSPC))
            real[name](path, text)
        return write

    monkeypatch.setattr(records, "_append", fail_for("_append"))
    monkeypatch.setattr(records, "write_text", fail_for("write_text"))
    if failing == "checkpoint.pt":
        monkeypatch.setattr(records, "save_checkpoint", lambda path, state: fail_for("write_text")(path, ""))
    config, state = read_run(tmp_path)
    config.train.epochs = 4
    run = build(config, plugins)
    recorder = RunRecorder(tmp_path, resume=True).start(run)
    with pytest.raises(WriteError, match=rf"cannot write file '.*{failing}': No space left on device"):
        run.fit(resume=state)
    assert recorder.saved_epoch == 2
    assert recorder.saved_note() == (f"epoch 2 is saved in {tmp_path / 'checkpoint.pt'}; "
                                     f"continue with: minidl train --resume {tmp_path}")
    monkeypatch.undo()
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2
    resumed = resume(tmp_path, 4, plugins)
    straight = build(plain_config(4), plugins)
    straight.fit()
    assert_same_parameters(resumed, straight)
    assert read_metrics(tmp_path) == straight.trainer.history.records
