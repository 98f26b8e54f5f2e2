"""Fault injection on real processes and real file systems (issue 14: 4, 6 and the audit).

* kill -9 of a training process in the middle of its checkpoint write, and at a random
  moment: ``--resume`` then ends with the parameters and history of an uninterrupted
  run, and the killed write's temporary file is cleared;
* a full disk: training with ``--out`` on a 1 MB tmpfs that fills up while it runs ends
  in one line naming the file and the last epoch saved, the checkpoint intact and
  resumable; the same for a TensorBoard ``log_dir`` and a picture on a full disk.

The tmpfs is mounted for the test (``mount -t tmpfs -o size=1m``): that needs root with
CAP_SYS_ADMIN (the sandbox this was written in allows it). Where mounting is refused the
tests are skipped and say why: ENOSPC comes only from a real file system filling up,
and the alternatives do not give it (RLIMIT_FSIZE gives EFBIG; a loop device needs
the same privilege as the mount).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from minidl.cli import create_cli

pytestmark = pytest.mark.slow  # real processes and mounts: seconds each
MINIDL = str(Path(sys.executable).with_name("minidl"))
TEMPORARY = re.compile(r"^\.checkpoint\.pt\.[a-z0-9_]{8}\.tmp$")

# Runs minidl's CLI with torch.save stopping, after writing epoch KILL_AT's checkpoint
# into its temporary file and before the rename, to wait to be killed.
KILL_DURING_WRITE = r"""
import pathlib, sys, time
import torch
marker, kill_at = pathlib.Path(sys.argv[1]), int(sys.argv[2])
real_save = torch.save
def save(obj, file):
    real_save(obj, file)
    if isinstance(obj, dict) and obj.get("epoch") == kill_at:
        file.flush()
        marker.write_text(file.name)
        time.sleep(600)
torch.save = save
sys.argv = ["minidl", *sys.argv[3:]]
from minidl.cli import main
main()
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The built-in plugins only; the run index beside the test's files."""
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "")
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    monkeypatch.setenv("MINIDL_RUNS", str(tmp_path / "index"))
    return {**os.environ}


def invoke(*args: str) -> dict:
    """``minidl train ARGS --json --json-params`` in-process: its JSON."""
    result = CliRunner().invoke(create_cli(), ["train", *args, "--json", "--json-params"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def assert_resumes_to_a_straight_run(run_dir: Path, epochs: int, *straight_args: str) -> None:
    resumed = invoke("--resume", str(run_dir), "--epochs", str(epochs))
    straight = invoke("--epochs", str(epochs), *straight_args)
    assert resumed["parameters"] == straight["parameters"]
    assert resumed["history"] == straight["history"]
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == straight["history"]
    assert not [name for name in os.listdir(run_dir) if name.endswith(".tmp")]


def wait_for(condition, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# -- kill -9 -----------------------------------------------------------------------------------
def test_kill_9_during_the_checkpoint_write_then_resume_equals_a_straight_run(env, tmp_path: Path) -> None:
    import torch

    run_dir, marker = tmp_path / "run", tmp_path / "writing"
    process = subprocess.Popen(
        [sys.executable, "-c", KILL_DURING_WRITE, str(marker), "3",
         "train", "--epochs", "6", "--set", "dataset.num_test=50", "--out", str(run_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    wait_for(marker.exists, process)
    process.kill()  # SIGKILL, inside the write of epoch 3's checkpoint
    process.wait(timeout=60)
    temporary = Path(marker.read_text())
    assert temporary.parent == run_dir and TEMPORARY.match(temporary.name) and temporary.stat().st_size > 0
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] == 2  # the last complete one
    assert_resumes_to_a_straight_run(run_dir, 6, "--set", "dataset.num_test=50")
    assert not temporary.exists()  # the resume cleared the killed write's leftover


def test_kill_9_at_a_random_moment_then_resume_equals_a_straight_run(env, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    process = subprocess.Popen([MINIDL, "train", "--epochs", "5", "--set", "dataset.num_examples=8000",
                                "--out", str(run_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               env=env, cwd=tmp_path)
    wait_for((run_dir / "checkpoint.pt").exists, process)
    time.sleep(random.Random(os.getpid()).uniform(0.0, 0.5))  # within the next epochs, writes included
    process.kill()
    process.wait(timeout=60)
    assert_resumes_to_a_straight_run(run_dir, 5, "--set", "dataset.num_examples=8000")


# -- a full disk -------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs mounted for the test; skipped where mounting is not allowed."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    try:
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                                capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"cannot mount a 1 MB tmpfs to fill up (needs root with CAP_SYS_ADMIN): {exc}")
    if result.returncode != 0:
        pytest.skip("cannot mount a 1 MB tmpfs to fill up (needs root with CAP_SYS_ADMIN): "
                    f"{result.stderr.strip() or result.returncode}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, timeout=30)


def fill(disk: Path) -> Path:
    """Write a file on ``disk`` until it is full (the writes fail with ENOSPC); return it."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (65536, 4096, 512, 64, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    with pytest.raises(OSError) as info:
        (disk / "probe").write_bytes(b"\0" * 8192)
    assert info.value.errno == errno.ENOSPC
    (disk / "probe").unlink(missing_ok=True)
    return filler


def test_a_disk_that_fills_up_during_training(env, small_disk: Path, tmp_path: Path) -> None:
    import torch

    from minidl.records import read_metrics

    run_dir = small_disk / "run"
    process = subprocess.Popen([MINIDL, "train", "--epochs", "100000", "--out", str(run_dir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    wait_for(lambda: (run_dir / "metrics.jsonl").exists() and
             len((run_dir / "metrics.jsonl").read_text().splitlines()) >= 3, process)
    filler = fill(small_disk)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("Error: cannot write "), stderr
    assert "No space left on device" in stderr and str(run_dir) in stderr
    saved = re.search(rf"; epoch (\d+) is saved in {re.escape(str(run_dir / 'checkpoint.pt'))}; "
                      rf"continue with: minidl train --resume {re.escape(str(run_dir))}$", stderr.strip())
    assert saved, stderr
    epoch = int(saved[1])
    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] == epoch  # intact
    assert [r["epoch"] for r in read_metrics(run_dir)][:epoch] == list(range(1, epoch + 1))  # no half row
    assert not [name for name in os.listdir(run_dir) if name.endswith(".tmp")]
    filler.unlink()  # space again: the run goes on from its checkpoint
    assert_resumes_to_a_straight_run(run_dir, epoch + 2)


def test_a_resume_onto_a_full_disk_says_what_is_saved(env, small_disk: Path) -> None:
    run_dir = small_disk / "run"
    invoke("--epochs", "2", "--out", str(run_dir))
    filler = fill(small_disk)
    result = CliRunner().invoke(create_cli(), ["train", "--resume", str(run_dir), "--epochs", "4"])
    assert result.exit_code == 1
    assert re.fullmatch(r"Error: cannot write file '.*': No space left on device; "
                        r"epoch 2 is saved in .*checkpoint\.pt; continue with: minidl train --resume .*\n",
                        result.stderr), result.stderr
    filler.unlink()
    assert_resumes_to_a_straight_run(run_dir, 4)


def test_tensorboard_on_a_full_disk_is_one_line(env, small_disk: Path, capfd: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tensorboard")
    import minidl
    from minidl.checkpoint import WriteError
    from minidl.config import RunConfig
    from minidl.run import build

    plugins = minidl.load_plugins(extra=["minidl.default_plugins.tensorboard"], entry_points=False)
    config = RunConfig()
    config.callbacks = {"tensorboard": {"log_dir": str(small_disk / "tb")}}
    run = build(config, plugins)
    fill(small_disk)
    with pytest.raises(WriteError) as info:
        run.fit()
    message = str(info.value)
    assert re.fullmatch(r"cannot write TensorBoard (log_dir|events in) '.*tb': No space left on device", message)
    time.sleep(0.2)  # the writer thread has finished failing
    assert "Traceback" not in capfd.readouterr().err  # its own report is silenced


def test_a_picture_on_a_full_disk_is_one_line_and_leaves_nothing(env, small_disk: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    invoke("--epochs", "2", "--out", str(run_dir))
    fill(small_disk)
    result = CliRunner().invoke(create_cli(), ["plot", str(run_dir), "-o", str(small_disk / "loss.png")])
    assert result.exit_code == 1  # a write failure, not a usage error
    assert result.stderr == f"Error: cannot write picture '{small_disk / 'loss.png'}': No space left on device\n"
    assert sorted(os.listdir(small_disk)) == ["filler"]  # no half picture, no temporary file
