"""``minidl sweep``: grids, random draws, bad input, resuming, -j N in real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from minidl.cli import create_cli
from minidl.experiments import sweep as sweeps

MINIDL = str(Path(sys.executable).with_name("minidl"))
TINY = ("--epochs", "1", "--set", "dataset.num_examples=100", "--set", "dataset.num_test=20")


def invoke(*args: str):
    return CliRunner().invoke(create_cli(), list(args))


def ok(*args: str):
    result = invoke(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
    assert all(fragment in result.stderr for fragment in fragments), result.stderr


def table_ids(output: str) -> list[str]:
    """The ids of the table printed at the end (after the empty line)."""
    return [line.split()[0] for line in output.split("\n\n", 1)[1].splitlines()[1:]]


def test_a_grid_trains_every_point_as_a_run_directory_then_prints_them_best_first(root: Path) -> None:
    out = root / "lr-sweep"
    result = ok("sweep", "--grid", "optimizer.lr=0.01,0.1", "--grid", "train.batch_size=10,50", *TINY,
                "--out", str(out))
    names = sorted(path.name for path in out.iterdir() if path.is_dir())
    assert names == ["000-lr=0.01-batch_size=10", "001-lr=0.01-batch_size=50", "002-lr=0.1-batch_size=10",
                     "003-lr=0.1-batch_size=50"]
    assert result.stdout.count(": finished") == 4 and "[4/4]" in result.stdout
    spec = json.loads((out / "sweep.json").read_text())
    assert spec["grid"] == ["optimizer.lr=0.01,0.1", "train.batch_size=10,50"] and len(spec["points"]) == 4
    listed = json.loads(ok("runs", "list", "--json", "--where", f"sweep={spec['id']}").stdout)
    assert len(listed) == 4 and all(run["status"] == "finished" for run in listed)
    by_dir = {Path(run["dir"]).name: run for run in listed}
    assert (by_dir["003-lr=0.1-batch_size=50"]["lr"], by_dir["003-lr=0.1-batch_size=50"]["batch_size"]) == (0.1, 50)
    best_first = sorted(listed, key=lambda run: run["final_test_loss"])
    assert table_ids(result.stdout) == [run["id"] for run in best_first]
    command = json.loads((out / names[0] / "run.json").read_text())["invocations"][0]["command"]
    assert command[1:3] == ["train", "--config"] and "optimizer.lr=0.01" in command
    import sqlite3

    db = sqlite3.connect(root / "minidl.db")
    assert db.execute("SELECT points, sampler FROM sweeps WHERE id = ?", (spec["id"],)).fetchone() == (4, "grid")


def test_random_sampler_draws_reproducibly_from_ranges(root: Path) -> None:
    args = ("--sampler", "random", "--trials", "2", "--grid", "optimizer.lr=log:1e-3..0.3", *TINY)
    ok("sweep", *args, "--sweep-seed", "5", "--out", str(root / "a"))
    ok("sweep", *args, "--sweep-seed", "5", "--out", str(root / "b"))
    ok("sweep", *args, "--sweep-seed", "6", "--out", str(root / "c"))
    points = {name: json.loads((root / name / "sweep.json").read_text())["points"] for name in "abc"}
    assert points["a"] == points["b"] != points["c"]
    assert all(1e-3 <= float(point["set"][0].split("=")[1]) <= 0.3 for point in points["a"])


@pytest.mark.parametrize("args, fragments", [
    (("--grid", "optimizer.foo=1,2"), ("optimizer 'sgd' has no option 'foo'", "its options: lr")),
    (("--grid", "foo.bar=1,2"), ("unknown KIND 'foo'",)),
    (("--grid", "train.epochs=1,x"), ("train.epochs", "'x'")),
    ((), ("empty grid", "--grid")),
    (("--grid", "optimizer.lr="), ("no values",)),
    (("--grid", "optimizer.lr=log:1e-4..1"), ("--sampler random",)),
    (("--grid", "optimizer.lr=0.1", "--trials", "3"), ("--trials",)),
    (("--grid", "optimizer.lr=0.1", "--sampler", "random"), ("--trials N",)),
    (("--grid", "optimizer.lr=0.1", "--sampler", "cube"), ("'cube'", "grid", "random")),
    (("--grid", "optimizer.lr=0.1", "-j", "0"), ("-j", "0")),
    (("--grid", "optimizer.lr=0.1,0.2", "--grid", "train.batch_size=int:1..3", "--sampler", "random",
      "--trials", "7"), ("--trials 7 is more than the 6 distinct points",)),
    (("--grid", "optimizer.lr=0.1,1e-1", "--sampler", "random", "--trials", "2"), ("the same configuration",)),
])
def test_bad_sweeps_are_one_line_and_train_nothing(root: Path, args: tuple[str, ...],
                                                   fragments: tuple[str, ...]) -> None:
    one_line_error(invoke("sweep", *args, *TINY, "--out", str(root / "s")), *fragments)
    assert not (root / "s").exists()


def test_sweep_directories_that_hold_something_else(root: Path, tmp_path: Path) -> None:
    grid = ("--grid", "optimizer.lr=0.1", *TINY)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    one_line_error(invoke("sweep", *grid, "--out", str(busy)), "holds something else", "notes.txt")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    one_line_error(invoke("sweep", *grid, "--out", str(a_file)), "is a file")
    ok("sweep", *grid, "--out", str(root / "s"))
    one_line_error(invoke("sweep", *grid, "--out", str(root / "s")), "already holds a sweep", "--resume")
    one_line_error(invoke("sweep", "--resume", str(busy)), "no sweep in", "sweep.json")
    one_line_error(invoke("sweep", "--resume", str(root / "s"), "--grid", "optimizer.lr=1"), "leave out", "--grid")
    one_line_error(invoke("sweep", "--resume", str(root / "s"), "--epochs", "3"), "leave out", "--epochs")
    one_line_error(invoke("sweep", *grid), "--out DIR")
    assert (busy / "notes.txt").read_text() == "mine"


def test_resume_skips_finished_points_resumes_half_done_ones_and_reruns_lost_ones(root: Path) -> None:
    import shutil

    out = root / "s"
    ok("sweep", "--grid", "optimizer.lr=0.01,0.03,0.1", *TINY, "--out", str(out))
    first, second, third = sorted(path for path in out.iterdir() if path.is_dir())
    kept = (first / "run.json").read_text()
    info = json.loads((second / "run.json").read_text())
    info["status"] = "interrupted"  # as Ctrl-C leaves it: a checkpoint to go on from
    (second / "run.json").write_text(json.dumps(info))
    shutil.rmtree(third)
    result = ok("sweep", "--resume", str(out))
    assert "1 of 3 points already done" in result.stdout
    assert f"{second.name}: finished (resumed)" in result.stdout and f"{third.name}: finished" in result.stdout
    assert (first / "run.json").read_text() == kept
    assert json.loads((second / "run.json").read_text())["id"] == info["id"]
    assert len(table_ids(result.stdout)) == 3
    assert "3 of 3 points already done" in ok("sweep", "--resume", str(out)).stdout


def test_a_resumed_copy_of_a_sweep_is_a_sweep_of_its_own_and_the_original_keeps_its_rows(root: Path) -> None:
    """cp -r of a sweep, then --resume of the copy, took over the original's sweep row and listed its points."""
    import shutil
    import sqlite3

    from minidl.experiments.rundir import derived_id

    ok("sweep", "--grid", "optimizer.lr=0.01,0.1", *TINY, "--out", str(root / "s"))
    original = json.loads((root / "s" / "sweep.json").read_text())["id"]
    shutil.copytree(root / "s", root / "t")
    info = json.loads((root / "t" / "001-lr=0.1" / "run.json").read_text())
    (root / "t" / "001-lr=0.1" / "run.json").write_text(json.dumps({**info, "status": "interrupted"}))
    result = ok("sweep", "--resume", str(root / "t"))
    copy = derived_id(root / "t")
    assert f"holds sweep {original} as {root / 's'} does (a copy): recorded as sweep {copy}" in result.stderr
    assert json.loads((root / "t" / "sweep.json").read_text())["id"] == copy
    db = sqlite3.connect(root / "minidl.db")
    assert sorted(db.execute("SELECT id, dir FROM sweeps")) == sorted([(original, str(root / "s")),
                                                                      (copy, str(root / "t"))])
    for sweep_id, directory in ((original, "s"), (copy, "t")):
        listed = json.loads(ok("runs", "list", "--json", "--where", f"sweep={sweep_id}").stdout)
        assert sorted(Path(run["dir"]).relative_to(root).parts[0] for run in listed) == [directory, directory]
    assert len({run["id"] for run in json.loads(ok("runs", "list", "--json").stdout)}) == 4
    assert sorted(table_ids(result.stdout)) == sorted(run["id"] for run in json.loads(
        ok("runs", "list", "--json", "--where", f"sweep={copy}").stdout))


def test_a_moved_sweep_is_listed_where_it_is_now_and_a_failing_copied_point_is_still_listed(root: Path) -> None:
    """After mv, --resume showed the finished points as missing at the old path; in a copied
    sweep a point that failed on resume was never indexed; a run put into the folder counted as a point."""
    import shutil

    ok("sweep", "--grid", "optimizer.lr=0.01,0.1", *TINY, "--out", str(root / "s"))
    sweep_id = json.loads((root / "s" / "sweep.json").read_text())["id"]
    shutil.move(root / "s", root / "moved")
    half_done = root / "moved" / "001-lr=0.1" / "run.json"
    half_done.write_text(json.dumps({**json.loads(half_done.read_text()), "status": "interrupted"}))
    result = ok("sweep", "--resume", str(root / "moved"))
    listed = json.loads(ok("runs", "list", "--json", "--where", f"sweep={sweep_id}").stdout)
    assert sorted((Path(run["dir"]).parent.name, run["status"]) for run in listed) == [("moved", "finished")] * 2
    assert "missing" not in result.stdout
    shutil.copytree(root / "moved", root / "t")
    config = root / "t" / "000-lr=0.01" / "config.toml"
    config.write_text(config.read_text().replace("lr = 0.01", "lr = 0.5"))
    info = json.loads((config.parent / "run.json").read_text())
    (config.parent / "run.json").write_text(json.dumps({**info, "status": "interrupted"}))
    failed = invoke("sweep", "--resume", str(root / "t"))
    assert failed.exit_code == 1 and "000-lr=0.01: failed" in failed.stdout
    copy = json.loads((root / "t" / "sweep.json").read_text())["id"]
    listed = json.loads(ok("runs", "list", "--json", "--where", f"sweep={copy}").stdout)
    assert sorted(Path(run["dir"]).name for run in listed) == ["000-lr=0.01", "001-lr=0.1"]
    for run in listed:  # each copied point keeps the id it is listed by
        assert json.loads((Path(run["dir"]) / "run.json").read_text())["id"] == run["id"]
    assert len({run["id"] for run in json.loads(ok("runs", "list", "--json").stdout)}) == 4
    shutil.copytree(root / "moved" / "001-lr=0.1", root / "moved" / "extra")  # not one of its points
    ok("runs", "reindex")
    listed = json.loads(ok("runs", "list", "--json", "--where", f"sweep={sweep_id}").stdout)
    assert sorted(Path(run["dir"]).name for run in listed) == ["000-lr=0.01", "001-lr=0.1"]


def test_a_diverged_point_is_reported_and_the_sweep_goes_on(root: Path) -> None:
    result = ok("sweep", "--grid", "optimizer.lr=100,0.1", *TINY, "--out", str(root / "s"))
    assert "000-lr=100: diverged: training diverged" in result.stdout and "001-lr=0.1: finished" in result.stdout
    lines = result.stdout.split("\n\n", 1)[1].splitlines()
    assert "finished" in lines[1] and "diverged" in lines[2]  # no loss: last
    assert "2 of 2 points already done" in ok("sweep", "--resume", str(root / "s")).stdout  # diverged: done


def test_a_sweep_being_run_elsewhere_is_refused(root: Path) -> None:
    out = root / "s"
    ok("sweep", "--grid", "optimizer.lr=0.1", *TINY, "--out", str(out))
    with sweeps.locked(out):
        one_line_error(invoke("sweep", "--resume", str(out)), "being run by another process")


def test_point_processes_keep_the_working_directory_off_sys_path() -> None:
    assert sweeps.command_prefix(["my_plugin"]) == [sys.executable, "-P", "-m", "minidl.cli", "-p", "my_plugin"]


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "MINIDL_LOAD_PLUGINS": "", "MINIDL_RUNS": str(root)}


@pytest.mark.slow
def test_parallel_points_and_a_train_alongside_lose_nothing(root: Path, tmp_path: Path) -> None:
    """A sweep with -j 2 (subprocesses) and a `train --out` at once, all writing one index.

    The sweep runs in a folder holding a `click.py`: its point processes never import it.
    """
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "click.py").write_text("raise SystemExit('the working directory was on sys.path')\n")
    sweep = subprocess.Popen([MINIDL, "sweep", "--grid", "optimizer.lr=0.01,0.03,0.1", "-j", "2", *TINY,
                              "--out", str(root / "s")], env=_env(root), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=cwd)
    train = subprocess.run([MINIDL, "train", *TINY, "--out", str(tmp_path / "alone"), "-q"], env=_env(root),
                           capture_output=True, text=True, timeout=300)
    stdout, stderr = sweep.communicate(timeout=300)
    assert sweep.returncode == 0 and train.returncode == 0, (stderr, train.stderr)
    assert stdout.count(": finished") == 3 and len(table_ids(stdout)) == 3
    listed = json.loads(ok("runs", "list", "--json").stdout)
    assert len(listed) == 4 and all(run["status"] == "finished" for run in listed)
    assert sum(run["sweep"] is not None for run in listed) == 3


@pytest.mark.slow
def test_an_interrupted_parallel_sweep_resumes_to_the_end(root: Path, tmp_path: Path) -> None:
    out = root / "s"
    # each epoch takes at least 0.1 s, so that no point can end before the other has
    # started, however slowly a loaded machine starts processes (one did, in a CI-like run)
    slow = tmp_path / "slow_epochs.py"
    slow.write_text("import time\nfrom minidl import hookimpl\n\n\n@hookimpl\n"
                    "def on_epoch_end(trainer, epoch, metrics):\n    time.sleep(0.1)\n")
    env = {**_env(root), "MINIDL_PLUGINS": str(slow)}
    long = ("--epochs", "50", "--set", "dataset.num_examples=2000")
    process = subprocess.Popen([MINIDL, "sweep", "--grid", "optimizer.lr=0.01,0.03,0.1", "-j", "2", *long,
                                "--out", str(out)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(list(out.glob("*/checkpoint.pt"))) < 2:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "minidl sweep --resume" in stderr and "Traceback" not in stderr, stderr
    assert stdout.count(": interrupted") == 2
    statuses = [json.loads(path.read_text())["status"] for path in out.glob("*/run.json")]
    assert statuses == ["interrupted", "interrupted"]
    result = subprocess.run([MINIDL, "sweep", "--resume", str(out), "-j", "2"], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("finished (resumed)") == 2 and result.stdout.count(": finished") == 3


@pytest.mark.parametrize("name", ["../../escape", "/tmp/abs", "..", "", "a/b"])
def test_a_spec_whose_point_leaves_the_sweep_directory_is_refused(root: Path, tmp_path: Path, name: str) -> None:
    out = root / "s"
    ok("sweep", "--grid", "optimizer.lr=0.01,0.1", *TINY, "--out", str(out))
    spec = json.loads((out / "sweep.json").read_text())
    spec["points"][1]["name"] = name
    (out / "sweep.json").write_text(json.dumps(spec))
    before = sorted(path.name for path in tmp_path.iterdir())
    one_line_error(invoke("sweep", "--resume", str(out)), "sweep.json", "point 1", repr(name), "without '/'")
    assert sorted(path.name for path in tmp_path.iterdir()) == before  # nothing trained outside
    assert not Path("/tmp/abs").exists()


def test_resuming_a_moved_sweep_reads_its_spec_once_not_once_a_point(root: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Each point's row re-read sweep.json: a 3,000-point sweep took 8 s to resume (0.4 s now)."""
    import shutil

    from minidl.experiments import rundir

    ok("sweep", "--grid", "optimizer.lr=0.01,0.02,0.03,0.04,0.05", *TINY, "--out", str(root / "s"))
    shutil.move(root / "s", root / "moved")
    reads = []
    original = rundir._sweep_points
    monkeypatch.setattr(rundir, "_sweep_points", lambda path: reads.append(path) or original(path))
    ok("sweep", "--resume", str(root / "moved"))
    assert reads == [root / "moved" / "sweep.json"]
    listed = json.loads(ok("runs", "list", "--json").stdout)
    assert len(listed) == 5 and all(Path(run["dir"]).parent.name == "moved" for run in listed)
