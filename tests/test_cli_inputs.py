"""Hostile command-line input, found by sweeping every option, flag, config file and
environment variable: each ends in one ``Error:`` line (exit 2 for a usage error, 1 for a
failure at run time) naming the bad value and what is accepted, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from minidl.cli import create_cli


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch):
    """Run ``minidl ARGS`` in-process with the built-in plugins only; click's Result."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    monkeypatch.delenv("MINIDL_DEBUG", raising=False)
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "")

    def run(*args: str, env: dict[str, str] | None = None):
        return CliRunner().invoke(create_cli(), list(args), env=env)

    return run


def one_error_line(result, code: int = 2) -> str:
    """The one stderr line of a failed run (exit ``code``, nothing else printed, no traceback)."""
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    return lines[0]


# -- --set: a known KIND with the wrong number of dots is not an "unknown KIND" ---------------
@pytest.mark.parametrize("assignment, expected", [
    ("callback.early-stopping=1", "expected callback.NAME.OPTION=VALUE, got 1 dot in 'callback.early-stopping'"),
    ("dataset.a.b=1", "expected dataset.OPTION=VALUE, got 2 dots in 'dataset.a.b'"),
    ("train.epochs.x=1", "expected train.OPTION=VALUE, got 2 dots"),
    ("Dataset.num_examples=1",
     "unknown KIND 'Dataset'; accepted: dataset, model, loss, optimizer, train, callback.NAME "
     "(did you mean 'dataset'?)"),
])
def test_a_misshapen_set_says_which_form_its_kind_takes(invoke, assignment: str, expected: str) -> None:
    """'callback.early-stopping=1' was refused as "unknown KIND 'callback'"."""
    assert expected in one_error_line(invoke("train", "--set", assignment, "--print-config"))


def test_a_long_set_is_cut_in_the_message(invoke) -> None:
    line = one_error_line(invoke("train", "--set", "dataset.num_examples=" + "9" * 5000, "--print-config"))
    assert "cannot read '9999" in line and "9999' (5000 characters)" in line and len(line) < 400


# -- config files ----------------------------------------------------------------------------------
def test_a_config_with_an_integer_too_long_for_python_is_one_line(invoke, tmp_path: Path) -> None:
    """tomllib raises a plain ValueError (not TOMLDecodeError) past 4300 digits: it was a traceback."""
    path = tmp_path / "big.toml"
    path.write_text("[train]\nepochs = " + "9" * 5000 + "\n")
    line = one_error_line(invoke("train", "--config", str(path), "--print-config"))
    assert "big.toml: not valid TOML: Exceeds the limit (4300 digits)" in line and len(line) < 300


def test_a_component_name_that_is_not_a_string_is_named_as_such(invoke, tmp_path: Path) -> None:
    """name = ["a"] was looked up as the dataset "['a']"."""
    path = tmp_path / "run.toml"
    path.write_text('[dataset]\nname = ["a"]\n')
    assert "[dataset] name must be a dataset name in quotes" in one_error_line(
        invoke("train", "--config", str(path), "--print-config"))


@pytest.mark.parametrize("args, expected", [
    (["--config", ""], "config file '' is an empty name"),
    (["--out", ""], "Invalid value for '--out': '' names no directory"),
    (["--out", "  "], "Invalid value for '--out': '  ' names no directory"),
])
def test_an_empty_path_is_refused_not_ignored(invoke, args: list[str], expected: str) -> None:
    """--config '' trained the defaults and --out '' trained saving nothing, both silently."""
    assert expected in one_error_line(invoke("train", "--epochs", "1", *args))


# -- plugins' components and MINIDL_DEBUG ----------------------------------------------------------
BROKEN_METRIC = '''
from minidl import hookimpl


def make_broken():
    """A metric whose factory raises."""
    raise OSError("metric exploded")


@hookimpl
def register_metrics(register):
    register("broken", make_broken)
'''


@pytest.fixture
def broken_metric(plugin_file) -> str:
    return plugin_file("broken_metric.py", BROKEN_METRIC)


def test_a_metric_whose_factory_raises_is_named_with_its_plugin(invoke, broken_metric: str) -> None:
    """The Trainer built metrics itself, outside the naming of the other components: a traceback."""
    line = one_error_line(invoke("-p", broken_metric, "train", "--metric", "broken", "--epochs", "1"), code=1)
    assert line == f"Error: building metric 'broken' from plugin {broken_metric!r} raised OSError: metric exploded"


@pytest.mark.parametrize("value, shows_traceback, warning", [
    ("1", True, None), ("yes", True, None), ("TRUE", True, None),
    ("0", False, None), ("false", False, None), ("no", False, None), ("off", False, None), ("", False, None),
    ("weird", True, "Warning: MINIDL_DEBUG='weird' is not one of 1, true, yes, on (on) or 0, false, no, off (off); "
                    "taken as on"),
])
def test_minidl_debug_reads_the_usual_switch_words(invoke, broken_metric: str, value: str, shows_traceback: bool,
                                                   warning: str | None) -> None:
    """MINIDL_DEBUG=false and =no switched tracebacks on: anything but '' and '0' did."""
    result = invoke("-p", broken_metric, "train", "--metric", "broken", "--epochs", "1", env={"MINIDL_DEBUG": value})
    assert result.exit_code == 1
    assert ("Traceback (most recent call last)" in result.stderr) is shows_traceback
    assert (result.stderr.splitlines()[0] == warning) if warning else "Warning" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith("Error: building metric 'broken'")


# -- devices and processes ---------------------------------------------------------------------------
@pytest.fixture
def one_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch sees one CUDA device (nothing is moved to it in these tests: each is refused first)."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


@pytest.mark.parametrize("device", ["cuda:1", "cuda:7", "cuda:99999999999999999999"])
def test_a_gpu_number_past_the_last_is_refused_in_one_line(invoke, one_gpu, device: str) -> None:
    """cuda:7 on a one-GPU machine failed in torch ("invalid device ordinal") at the first tensor moved."""
    line = one_error_line(invoke("train", "--epochs", "1", "--device", device))
    assert line == (f"Error: device {device!r} is not available: this machine has 1 CUDA device (cuda:0); "
                    "use one of them, cuda, cpu or auto")


@pytest.mark.parametrize("device", ["cuda", "auto"])
def test_more_processes_than_gpus_is_refused_before_any_starts(invoke, one_gpu, monkeypatch, device: str) -> None:
    import minidl.distributed

    monkeypatch.setattr(minidl.distributed, "launch", lambda *a, **k: pytest.fail("a process was started"))
    line = one_error_line(invoke("train", "--epochs", "1", "--nproc", "2", "--device", device))
    assert line == (f"Error: --nproc 2 with --device {device} needs 2 GPUs (one per process), but this machine "
                    "has 1; give --nproc 1 or less, or --device cpu")


def test_a_bad_ddp_timeout_is_refused_before_any_process_starts(invoke, monkeypatch) -> None:
    """It was each rank's error, after the job had started: 'rank 1 failed (exit code 2): ...'."""
    import minidl.distributed

    monkeypatch.setattr(minidl.distributed, "launch", lambda *a, **k: pytest.fail("a process was started"))
    line = one_error_line(invoke("train", "--epochs", "1", "--nproc", "2", env={"MINIDL_DDP_TIMEOUT": "abc"}))
    assert line == "Error: MINIDL_DDP_TIMEOUT='abc' is not a valid timeout; give a positive number of seconds"


# -- long values and paths the system refuses ------------------------------------------------------
LONG = "x" * 5000


@pytest.mark.parametrize("args", [
    ["train", "--model", LONG], ["train", "--metric", LONG], ["train", "--callback", LONG], ["show", "model", LONG],
    ["train", "--device", LONG, "--epochs", "1"], ["train", "--config", LONG], ["-p", LONG, "list"],
    ["-p", LONG + ".py", "list"],
])
def test_a_5000_character_name_is_cut_in_the_message(invoke, args: list[str]) -> None:
    """Each was echoed whole: one line of 5000 to 10000 characters."""
    line = one_error_line(invoke(*args))
    assert "x' (5000 characters)" in line or ".py' (5003 characters)" in line
    assert len(line) < 700, line


@pytest.mark.parametrize("args, env", [
    (["train", "--epochs", "1", "--out", "/tmp/" + LONG], {}),
    (["train", "--epochs", "1", "--out", "OUT"], {"MINIDL_RUNS": "/tmp/" + LONG}),
])
def test_a_path_too_long_for_the_system_is_one_line_not_a_traceback(invoke, tmp_path: Path, args, env) -> None:
    """Path.exists() raises ENAMETOOLONG (only 'no such file' is False): an OSError traceback out of
    the run directory's and the run index's checks. The command line names any such path in one line."""
    args = [str(tmp_path / "run") if arg == "OUT" else arg for arg in args]
    line = one_error_line(invoke(*args, env=env))
    assert line == "Error: File name too long: '/tmp/" + "x" * 94 + "..." + "x" * 29 + "' (5005 characters)"
