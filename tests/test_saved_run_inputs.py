"""A saved run directory read from outside, damaged or odd: every reader (``minidl evaluate``,
``plot``, ``train --resume``, :func:`minidl.load_run`, :func:`read_metrics`) answers in one
line naming the file and the field, exits 2, and leaves every file as it was."""

from __future__ import annotations

import json
import os
import pickle
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import minidl
from minidl.checkpoint import load_checkpoint
from minidl.cli import create_cli
from minidl.errors import CheckpointError, MinidlError
from minidl.saved_run import load_run, read_metrics, read_run


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    """The built-in plugins only."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    return minidl.load_plugins(entry_points=False)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 2-epoch run with a test split, trained once; each test damages a copy."""
    out = tmp_path_factory.mktemp("saved") / "run"
    cli = create_cli(minidl.load_plugins(entry_points=False))
    result = CliRunner().invoke(cli, ["train", "-q", "--epochs", "2", "--out", str(out),
                                      "--set", "dataset.num_examples=100", "--set", "dataset.num_test=50"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def run_dir(saved: Path, tmp_path: Path) -> Path:
    """A fresh copy of the saved run."""
    copy = tmp_path / "run"
    copy.mkdir()
    for path in saved.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    return copy


def invoke(plugins: minidl.Plugins, *args: str | Path):
    return CliRunner().invoke(create_cli(plugins), [str(arg) for arg in args])


def contents(run_dir: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in run_dir.iterdir() if path.is_file()}


def assert_refused(result, *fragments: str, code: int = 2) -> None:
    """One ``Error:`` line holding every fragment, exit ``code``, no traceback."""
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    assert result.exit_code == code, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
    assert all(fragment in result.stderr for fragment in fragments), result.stderr


def every_reader_refuses(plugins: minidl.Plugins, run_dir: Path, *fragments: str) -> None:
    """evaluate, train --resume and load_run refuse in one line; nothing in the directory changes."""
    before = contents(run_dir)
    assert_refused(invoke(plugins, "evaluate", run_dir), *fragments)
    assert_refused(invoke(plugins, "train", "-q", "--resume", run_dir, "--epochs", "3"), *fragments)
    with pytest.raises(MinidlError) as caught:
        load_run(run_dir, plugins)
    assert all(fragment in str(caught.value) for fragment in fragments), caught.value
    assert contents(run_dir) == before


# -- the directory itself ------------------------------------------------------------------
def test_a_file_a_loop_and_an_empty_name_are_one_line(plugins, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(CheckpointError, match=r"'.*file': it is a file, not a directory"):
        read_run(tmp_path / "file")
    os.symlink(tmp_path / "loop", tmp_path / "loop")
    with pytest.raises(CheckpointError, match=r"'.*loop': Too many levels of symbolic links"):
        read_run(tmp_path / "loop")
    with pytest.raises(CheckpointError, match="the run directory is an empty name"):
        read_run("")
    with pytest.raises(MinidlError, match="no run records at ''"):
        read_metrics("")


def test_an_unreadable_directory_is_one_line_not_a_permission_traceback(
        plugins, run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As a directory of mode 000 behaves for anyone but root: listing it and looking inside fail."""
    stat, listdir = Path.stat, os.listdir

    def no_stat(self: Path, *args, **kwargs):
        if self.parent == run_dir:
            raise PermissionError(13, "Permission denied", str(self))
        return stat(self, *args, **kwargs)

    def no_listing(path=".") -> list[str]:
        if Path(path) == run_dir:
            raise PermissionError(13, "Permission denied", str(path))
        return listdir(path)

    monkeypatch.setattr(Path, "stat", no_stat)
    monkeypatch.setattr(os, "listdir", no_listing)
    fragment = f"cannot read the run in {str(run_dir)!r}: Permission denied"
    assert_refused(invoke(plugins, "evaluate", run_dir), fragment)
    assert_refused(invoke(plugins, "plot", run_dir, "-o", run_dir.parent / "x.png"), fragment)
    assert_refused(invoke(plugins, "train", "-q", "--resume", run_dir, "--epochs", "3"), fragment)
    with pytest.raises(CheckpointError, match="Permission denied"):
        load_run(run_dir, plugins)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads a directory of mode 000")
def test_a_directory_of_mode_000_is_one_line(plugins, run_dir: Path) -> None:
    os.chmod(run_dir, 0)
    try:
        assert_refused(invoke(plugins, "evaluate", run_dir), "Permission denied")
    finally:
        os.chmod(run_dir, 0o755)


# -- config.toml -----------------------------------------------------------------------------
def _cut(run_dir: Path, before: str) -> None:
    text = (run_dir / "config.toml").read_text()
    (run_dir / "config.toml").write_text(text[:text.index(before)])


@pytest.mark.parametrize("damage, lacks", [
    (lambda d: (d / "config.toml").write_text(""), "it lacks [train], [dataset], [model], [loss], [optimizer]"),
    (lambda d: _cut(d, "[model]"), "it lacks [model], [loss], [optimizer]"),
    (lambda d: _cut(d, "[optimizer]"), "it lacks [optimizer]"),
    (lambda d: (d / "config.toml").write_text((d / "config.toml").read_text().replace("seed = 0\n", "")),
     "it lacks train.seed"),
])
def test_an_incomplete_config_is_refused_not_read_as_the_defaults(plugins, run_dir: Path, damage: Callable,
                                                                  lacks: str) -> None:
    """An emptied or cut config.toml read as the defaults rebuilt another run (another lr, no test split)."""
    damage(run_dir)
    every_reader_refuses(plugins, run_dir, "config.toml' is incomplete", lacks)


@pytest.mark.parametrize("old, new, fragment", [
    ("epochs = 2", "epochs = -5", "train: option 'epochs' must be >= 0, got -5"),
    ("lr = 0.03", 'lr = "fast"', "optimizer 'sgd': option 'lr': cannot read 'fast' as float"),
    ('name = "linreg"', 'name = "transformer-xl"', "unknown model 'transformer-xl'"),
    ("metrics = []", "metrics = []\ncolour = 1", "train has no setting 'colour'"),
])
def test_a_saved_value_now_refused_names_the_config_file(plugins, run_dir: Path, old: str, new: str,
                                                         fragment: str) -> None:
    path = run_dir / "config.toml"
    path.write_text(path.read_text().replace(old, new))
    every_reader_refuses(plugins, run_dir, str(path), fragment)


def test_a_config_that_is_not_utf8_names_the_byte(plugins, run_dir: Path) -> None:
    (run_dir / "config.toml").write_bytes(b"\xff\xfe[train]\n")
    every_reader_refuses(plugins, run_dir, "config.toml' cannot be read: not UTF-8 text (invalid start byte at byte 0)")


@pytest.mark.parametrize("old, new, fragment", [
    ("lr = 0.03", "lr = 0.3", "optimizer.lr is 0.3 there, 0.03 in the checkpoint"),
    ("num_test = 50\n", "", "dataset.num_test is 0 (its default: the line is missing) there, 50 in the checkpoint"),
    ('grad = "autograd"', 'grad = "analytic"', "model.grad is 'analytic' there, 'autograd' in the checkpoint"),
])
def test_a_config_edited_since_its_checkpoint_is_refused_not_trained_on(plugins, run_dir: Path, old: str, new: str,
                                                                      fragment: str) -> None:
    """A changed or deleted line built another run than the checkpoint's and went on training it, silently."""
    path = run_dir / "config.toml"
    path.write_text(path.read_text().replace(old, new, 1))
    every_reader_refuses(plugins, run_dir, f"{str(path)!r} is not the configuration its checkpoint was trained with",
                         fragment, f"minidl train --config {path} --out NEW_DIR")


def test_a_callback_section_deleted_or_a_component_swapped_is_named_alone(plugins, tmp_path: Path) -> None:
    run_dir = tmp_path / "cb"
    assert invoke(plugins, "train", "-q", "--epochs", "1", "--set", "dataset.num_examples=50", "--callback",
                  "tensorboard", "--callback", "early-stopping", "--out", run_dir).exit_code == 0
    path = run_dir / "config.toml"
    text = path.read_text()
    path.write_text(text.replace("[callback.tensorboard]\n", ""))  # no options: only its table says it is there
    every_reader_refuses(plugins, run_dir, "callbacks is ['early-stopping'] there, ['tensorboard', "
                         "'early-stopping'] in the checkpoint; put it back")
    path.write_text(text.replace('name = "sgd"', 'name = "torch-sgd"'))
    installed = minidl.load_plugins()  # torch-sgd comes with minidl-concise
    every_reader_refuses(installed, run_dir, "optimizer.name is 'torch-sgd' there, 'sgd' in the checkpoint; put it")


def test_epochs_and_device_may_differ_and_an_older_checkpoint_is_not_compared(plugins, run_dir: Path) -> None:
    path = run_dir / "config.toml"
    path.write_text(path.read_text().replace("epochs = 2", "epochs = 4").replace('device = "cpu"', 'device = "auto"'))
    assert invoke(plugins, "train", "-q", "--resume", run_dir, "--epochs", "3").exit_code == 0
    assert load_run(run_dir, plugins).trainer.epoch == 3
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert "lr = 0.03" in state.pop("config")
    torch.save(state, run_dir / "checkpoint.pt")  # as minidl before the configuration was saved in it
    path.write_text(path.read_text().replace("lr = 0.03", "lr = 0.3"))
    assert load_run(run_dir, plugins).config.optimizer.options["lr"] == 0.3


# -- checkpoint.pt ---------------------------------------------------------------------------
def test_a_checkpoint_of_random_bytes_says_it_is_no_torch_archive(plugins, run_dir: Path) -> None:
    (run_dir / "checkpoint.pt").write_bytes(bytes(range(256)) * 4)
    every_reader_refuses(plugins, run_dir, "checkpoint.pt' is truncated or corrupted: it is not the zip archive "
                                           "torch.save writes")


def test_a_checkpoint_holding_objects_is_refused_without_torch_s_advice_or_warnings(plugins, run_dir: Path) -> None:
    """torch's message told the user to load it with weights_only=False; its warning printed two more lines."""
    import argparse

    torch.save({"epoch": 1, "obj": argparse.Namespace(a=1)}, run_dir / "checkpoint.pt")
    every_reader_refuses(plugins, run_dir, "holds Python objects besides tensors and plain data")
    with open(run_dir / "checkpoint.pt", "wb") as file:
        pickle.dump({"a": 1}, file, protocol=4)  # torch warns about the protocol before refusing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CheckpointError, match="is truncated or corrupted"):
            load_checkpoint(run_dir / "checkpoint.pt")
    result = invoke(plugins, "evaluate", run_dir)
    assert_refused(result, "checkpoint.pt'")


def test_an_unreadable_checkpoint_is_not_called_corrupted(plugins, run_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import minidl.checkpoint

    def refused(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(minidl.checkpoint, "open", refused, raising=False)
    with pytest.raises(CheckpointError, match=r"checkpoint '.*checkpoint.pt' cannot be read: Permission denied$"):
        load_checkpoint(run_dir / "checkpoint.pt")


def _edit_checkpoint(run_dir: Path, edit: Callable[[dict], None]) -> None:
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    edit(state)
    torch.save(state, run_dir / "checkpoint.pt")


def test_a_field_the_dataset_refuses_names_the_checkpoint(plugins, run_dir: Path) -> None:
    """The dataset's own MinidlError ('dataset sizes ... differ') came without the file or field."""
    _edit_checkpoint(run_dir, lambda state: state["dataset"].__setitem__("sizes", {"train": 7}))
    every_reader_refuses(plugins, run_dir, f"checkpoint {str(run_dir / 'checkpoint.pt')!r}: field 'dataset' does "
                                           "not fit the dataset: dataset sizes")


def test_resume_names_the_checkpoint_not_the_resume_state(plugins, run_dir: Path) -> None:
    _edit_checkpoint(run_dir, lambda state: state.__setitem__("optimizer", {"foo": torch.zeros(3)}))
    every_reader_refuses(plugins, run_dir, f"checkpoint {str(run_dir / 'checkpoint.pt')!r}: field 'optimizer'")
    result = invoke(plugins, "train", "-q", "--resume", run_dir, "--epochs", "3")
    assert "the resume state" not in result.stderr


def test_evaluating_non_finite_parameters_is_not_called_training(plugins, run_dir: Path) -> None:
    """minidl evaluate said 'training diverged ... evaluating epoch 3', exit 1."""
    _edit_checkpoint(run_dir, lambda state: state["model"].__setitem__("w", torch.full((2, 1), float("nan"))))
    assert_refused(invoke(plugins, "evaluate", run_dir), "cannot evaluate the run in",
                   "gives a loss of nan (its parameters w are not finite)")


# -- run.json --------------------------------------------------------------------------------
@pytest.mark.parametrize("text, fragment", [
    (b"", "run.json' is damaged: not JSON text"),
    (b"\xff\xfe", "run.json' is damaged: not JSON text"),
    (b"[1, 2]", "run.json' is damaged: a JSON list, not an object"),
])
def test_resume_keeps_a_damaged_run_json_rather_than_replacing_it(plugins, run_dir: Path, text: bytes,
                                                                   fragment: str) -> None:
    """A resume over a damaged run.json gave the run a new id and dropped its invocations, silently."""
    (run_dir / "run.json").write_bytes(text)
    before = contents(run_dir)
    assert_refused(invoke(plugins, "train", "-q", "--resume", run_dir, "--epochs", "3"), fragment,
                   "remove it to resume with a new run record")
    assert contents(run_dir) == before
    (run_dir / "run.json").unlink()  # the way out the message names
    assert invoke(plugins, "train", "-q", "--resume", run_dir, "--epochs", "3").exit_code == 0
    assert json.loads((run_dir / "run.json").read_text())["status"] == "finished"


def test_resume_refuses_an_unreadable_run_json(plugins, run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    read_bytes = Path.read_bytes

    def refused(self: Path) -> bytes:
        if self.name == "run.json":
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refused)
    assert_refused(invoke(plugins, "train", "-q", "--resume", run_dir, "--epochs", "3"),
                   "cannot read", "run.json': Permission denied")


def test_resuming_a_finished_run_says_there_is_nothing_to_train(plugins, run_dir: Path) -> None:
    result = invoke(plugins, "train", "-q", "--resume", run_dir)
    assert result.exit_code == 0
    assert "has already trained 2 epochs: nothing to train" in result.stderr
    assert "give more than 2" in result.stderr


# -- metrics.jsonl ---------------------------------------------------------------------------
@pytest.mark.parametrize("text, fragment", [
    ("[" * 100_000 + "\n", "line 1: not a JSON record"),  # was a RecursionError traceback
    ('{"epoch": 100000000000000000000000000, "loss": 1.0}\n', "line 1: the record has 'epoch' 1000"),
    ('{"epoch": -3, "loss": 1.0}\n', "'epoch' -3, not one from 1 to 1000000000"),
    ('{"epoch": 1, "loss": 1.0}\n{"epoch": 1, "loss": 2.0}\n', "line 2: epoch 1 follows epoch 1"),
    ('{"epoch": 1, "loss": ' + "9" * 400 + "}\n", "epoch 1 has loss 99999"),  # was an OverflowError traceback
])
def test_plot_refuses_damaged_records_in_one_line(plugins, run_dir: Path, text: str, fragment: str) -> None:
    (run_dir / "metrics.jsonl").write_text(text)
    result = invoke(plugins, "plot", run_dir, "-o", run_dir.parent / "loss.png")
    assert_refused(result, fragment)
    assert len(result.stderr) < 400
    assert not (run_dir.parent / "loss.png").exists()


def test_metrics_with_a_byte_order_mark_are_read(run_dir: Path) -> None:
    (run_dir / "metrics.jsonl").write_text('\ufeff{"epoch": 1, "loss": 1.0}\n', encoding="utf-8")
    assert read_metrics(run_dir) == [{"epoch": 1, "loss": 1.0}]


def test_unreadable_metrics_are_one_line(plugins, run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import minidl.saved_run

    def refused(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(minidl.saved_run, "open", refused, raising=False)
    assert_refused(invoke(plugins, "plot", run_dir, "-o", run_dir.parent / "x.png"),
                   "cannot read", "metrics.jsonl': Permission denied")


def test_a_loss_of_zero_or_below_is_drawn_without_matplotlib_s_warning(plugins, run_dir: Path) -> None:
    (run_dir / "metrics.jsonl").write_text('{"epoch": 1, "loss": -1.0}\n{"epoch": 2, "loss": 0}\n')
    with warnings.catch_warnings(record=True) as caught:  # on a terminal: two lines of a UserWarning
        warnings.simplefilter("always")
        result = invoke(plugins, "plot", run_dir, "-o", run_dir.parent / "loss.png")
    assert not [str(w.message) for w in caught]
    assert result.exit_code == 0 and result.stderr == "", result.stderr
    assert (run_dir.parent / "loss.png").stat().st_size > 0


def test_plot_names_an_empty_output_as_given(plugins, run_dir: Path) -> None:
    assert_refused(invoke(plugins, "plot", run_dir, "-o", ""), "picture format of '' from its suffix")


def test_plot_to_a_name_ending_in_a_slash_is_refused(plugins, run_dir: Path) -> None:
    # Path('loss.png/') is the file loss.png: `minidl plot` wrote it, as `runs plot` did
    target = run_dir.parent / "loss.png"
    assert_refused(invoke(plugins, "plot", run_dir, "-o", f"{target}/"), "names no file")
    assert not target.exists()


def test_a_run_of_a_local_plugin_read_without_it_says_which_to_give(plugin_file, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """`minidl evaluate runs/a` said only "unknown model 'small'", although versions.json names the plugin."""
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "")
    path = plugin_file("mine.py", "import minidl\n\ndef small(num_inputs: int | None = None):\n"
                                  "    '''A linear model.'''\n    import torch\n\n"
                                  "    return torch.nn.Linear(num_inputs or 2, 1)\n\n\n@minidl.hookimpl\n"
                                  "def register_models(register):\n    register('small', small)\n")
    run_dir = tmp_path / "run"
    with_plugin = minidl.load_plugins([path])
    assert invoke(with_plugin, "train", "-q", "--epochs", "1", "--model", "small", "--out", run_dir).exit_code == 0
    recorded = json.loads((run_dir / "versions.json").read_text())["plugins"]
    assert {"name": path, "distribution": None, "version": None, "file": path} in recorded  # absolute
    without = minidl.load_plugins()
    every_reader_refuses(without, run_dir, "unknown model 'small'",
                         f"; it was trained with {path!r}, not loaded now: give -p {path}")
    assert invoke(with_plugin, "evaluate", run_dir).exit_code == 0
