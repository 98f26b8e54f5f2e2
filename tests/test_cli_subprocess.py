"""The installed ``minidl`` entry point, run as a user runs it: in a real process."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

MINIDL = str(Path(sys.executable).with_name("minidl"))


def run(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "MINIDL_LOAD_PLUGINS": "", **(env or {})}
    full_env.pop("MINIDL_PLUGINS", None)
    return subprocess.run([MINIDL, *args], capture_output=True, text=True, env=full_env, timeout=120, **kwargs)


def test_entry_point_trains_the_notebook() -> None:
    result = run("train")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("epoch 1, loss ")
    assert "true: [2.0, -3.4]" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize("args", [["--help"], ["list"], ["show", "model", "linreg"], ["plugins"], ["--version"],
                                  ["train", "--help"]])
def test_inspection_does_not_import_torch(tmp_path: Path, args: list[str]) -> None:
    poisoned = tmp_path / "torch"
    poisoned.mkdir()
    (poisoned / "__init__.py").write_text("raise ImportError('torch must not be imported here')\n")
    result = run(*args, env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_usage_error_exit_code_and_single_line() -> None:
    result = run("train", "--model", "nope")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert result.stdout == ""


def test_progress_bar_only_when_stderr_is_a_terminal() -> None:
    primary, secondary = pty.openpty()
    process = subprocess.Popen([MINIDL, "train", "--epochs", "1"], stdout=subprocess.PIPE, stderr=secondary,
                               env={**os.environ, "MINIDL_LOAD_PLUGINS": ""})
    os.close(secondary)
    stdout, _ = process.communicate(timeout=120)
    chunks = []
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(primary)
    terminal = b"".join(chunks).decode()
    assert process.returncode == 0
    assert "training" in terminal and "100%" in terminal
    assert stdout.decode().startswith("epoch 1, loss")
    assert run("train", "--epochs", "1").stderr == ""  # a pipe: no bar


def test_python_dash_m_works() -> None:
    result = subprocess.run([sys.executable, "-m", "minidl.cli", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and "minidl, version" in result.stdout


def fake_installed_plugin(site: Path, name: str, module_source: str) -> None:
    """An installed distribution with a ``minidl`` entry point: a module and its dist-info."""
    (site / f"{name}.py").write_text(module_source)
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[minidl]\n{name} = {name}\n")


def test_a_broken_installed_plugin_is_one_warning_line_and_everything_else_works(tmp_path: Path) -> None:
    fake_installed_plugin(tmp_path, "brokenplug", "raise ImportError('needs a missing package')\n")
    env = {"PYTHONPATH": str(tmp_path), "MINIDL_LOAD_PLUGINS": "brokenplug"}
    for args in (["list", "model"], ["train", "--epochs", "1"], ["--help"]):
        result = run(*args, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stderr == ("Warning: plugin 'brokenplug' (from brokenplug) failed to load: "
                                 "ImportError: needs a missing package\n")
    assert "linreg" in run("list", "model", env=env).stdout


@pytest.mark.parametrize(("args", "toml", "expected"), [
    (["--set", "dataset.num_examples=99999999999999999999999"], None,
     "Error: dataset 'synthetic-linear': option 'num_examples' must be <= 100000000, got 99999999999999999999999"),
    ([], "[dataset]\nnum_examples = 1000000000000\n",
     "Error: dataset 'synthetic-linear': option 'num_examples' must be <= 100000000, got 1000000000000"),
    ([], "[dataset]\nnum_test = 1000000000000\n",
     "Error: dataset 'synthetic-linear': option 'num_test' must be <= 100000000, got 1000000000000"),
    ([], "[optimizer]\nlr = nan\n", "Error: optimizer 'sgd': option 'lr' must be a finite number, got nan"),
    (["--lr", "nan"], None, "Error: optimizer 'sgd': option 'lr' must be a finite number, got nan"),
    (["--dataset", "torch-synthetic-linear", "--set", "dataset.noise_std=nan"], None,
     "Error: dataset 'torch-synthetic-linear': option 'noise_std' must be a finite number, got nan"),
])
def test_huge_and_non_finite_values_are_one_line_exit_2(tmp_path: Path, args: list[str], toml: str | None,
                                                         expected: str) -> None:
    if toml is not None:
        (tmp_path / "run.toml").write_text(toml)
        args = [*args, "--config", str(tmp_path / "run.toml")]
    env = {"MINIDL_LOAD_PLUGINS": "concise"} if "torch-synthetic-linear" in args else None
    result = run("train", *args, env=env)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", expected + "\n")


RAISING_PLUGIN = '''
from minidl import hookimpl


class Raise:
    @hookimpl
    def on_epoch_end(self, trainer, epoch, metrics):
        raise RuntimeError("callback broke")


@hookimpl
def register_callbacks(register):
    register("raise", lambda: Raise())
'''


@pytest.mark.parametrize("debug", [False, True])
def test_a_callback_raising_in_a_real_process(tmp_path: Path, debug: bool) -> None:
    plugin = tmp_path / "raising.py"
    plugin.write_text(RAISING_PLUGIN)
    result = run("-p", str(plugin), "train", "--callback", "raise", env={"MINIDL_DEBUG": "1" if debug else "0"})
    line = f"Error: callback 'raise' from plugin {str(plugin)!r} raised RuntimeError: callback broke"
    assert result.returncode == 1 and result.stdout == ""
    if debug:
        assert result.stderr.startswith("Traceback") and result.stderr.endswith(line + "\n")
    else:
        assert result.stderr == line + "\n"


def test_a_reader_that_stops_reading_ends_the_run_quietly(tmp_path: Path) -> None:
    # `minidl train | head -1`: the reader is gone; as any Unix tool, no word about it
    process = subprocess.Popen([MINIDL, "train", "--epochs", "100000", "--out", str(tmp_path / "run")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 1
    assert first.startswith(b"epoch 1, loss ")
    assert err == "", err  # was "Error: training raised BrokenPipeError: [Errno 32] Broken pipe"
