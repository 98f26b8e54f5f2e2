"""``minidl train`` recording into the run index, and ``minidl runs list|show|diff|plot|reindex``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from minidl.cli import create_cli

MINIDL = str(Path(sys.executable).with_name("minidl"))
TINY = ("--epochs", "1", "--set", "dataset.num_examples=100", "--set", "dataset.num_test=20")
BOOM_PLUGIN = '''
from minidl import hookimpl

class Boom:
    @hookimpl
    def on_epoch_end(self, trainer, epoch, metrics):
        raise RuntimeError("boom in epoch %d" % epoch)

@hookimpl
def register_callbacks(register):
    register("boom", Boom)
'''


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


def run_id(directory: Path) -> str:
    return json.loads((directory / "run.json").read_text())["id"]


def listed(*args: str) -> list[dict]:
    return json.loads(ok("runs", "list", "--json", *args).stdout)


def test_train_out_records_the_run_and_resume_keeps_its_id(root: Path) -> None:
    ok("train", *TINY, "--out", str(root / "a"), "--lr", "0.1")
    (run,) = listed()
    assert run["id"] == run_id(root / "a") and run["status"] == "finished" and run["dir"] == str(root / "a")
    assert (run["lr"], run["batch_size"], run["epochs"], run["epochs_done"]) == (0.1, 10, 1, 1)
    assert run["final"]["test_loss"] == run["final_test_loss"] and run["final_loss"] > 0
    ok("train", "--resume", str(root / "a"), "--epochs", "3")
    (resumed,) = listed()
    assert resumed["id"] == run["id"] and resumed["epochs_done"] == 3 and resumed["final_loss"] < run["final_loss"]
    invocations = json.loads((root / "a" / "run.json").read_text())["invocations"]
    assert [entry["status"] for entry in invocations] == ["finished", "finished"]
    ok("train", *TINY, "--out", str(root / "a"), "--overwrite")  # a new run: a new id, the old row replaced
    (replaced,) = listed()
    assert replaced["id"] != run["id"] == run["id"]


def test_runs_root_option_and_no_out_no_record(root: Path, tmp_path: Path) -> None:
    other = tmp_path / "other-root"
    ok("train", *TINY, "--out", str(tmp_path / "x"), "--runs-root", str(other))
    ok("train", *TINY)  # no --out: no run directory, nothing indexed
    assert not root.exists()
    assert [run["dir"] for run in listed("--runs-root", str(other))] == [str(tmp_path / "x")]


def test_list_table_where_sort_and_limit(root: Path) -> None:
    for lr in ("0.01", "0.03", "0.1"):
        ok("train", *TINY, "--out", str(root / lr), "--lr", lr)
    table = ok("runs", "list").stdout.splitlines()
    assert table[0].split()[:4] == ["ID", "STATUS", "DATASET/MODEL/LOSS/OPTIMIZER", "LR"]
    assert "TEST LOSS" in table[0] and "TIME" in table[0] and len(table) == 4
    assert "synthetic-linear/linreg/squared/sgd" in table[1] and table[1].split()[1] == "finished"
    assert [run["lr"] for run in listed("--where", "optimizer.lr=0.03")] == [0.03]
    assert [run["lr"] for run in listed("--where", "lr>=0.03", "--where", "status=finished")] != []
    by_loss = listed("--sort", "test_loss")
    assert [run["final_test_loss"] for run in by_loss] == sorted(run["final_test_loss"] for run in by_loss)
    assert [run["lr"] for run in by_loss] == [0.1, 0.03, 0.01]
    assert [run["lr"] for run in listed("--sort", "test_loss", "--desc", "--limit", "1")] == [0.01]
    assert "no runs match" in invoke("runs", "list", "--where", "model=mlp").stderr
    one_line_error(invoke("runs", "list", "--where", "colour=red"), "colour", "optimizer.lr")
    one_line_error(invoke("runs", "list", "--where", "lr"), "KEY=VALUE")


def test_list_without_an_index(root: Path) -> None:
    result = ok("runs", "list")
    assert result.stdout == "" and "no runs recorded yet" in result.stderr
    one_line_error(invoke("runs", "show", "abc"), "no run index", str(root / "minidl.db"))


def test_show_by_id_prefix_and_directory_unknown_lists_the_closest(root: Path) -> None:
    ok("train", *TINY, "--out", str(root / "a"), "--seed", "3")
    ident = run_id(root / "a")
    for name in (ident, ident[:3], str(root / "a"), "a"):
        shown = ok("runs", "show", name).stdout
        assert shown.startswith(f"id       {ident}\nstatus   finished\n") and "train.seed = 3" in shown
        assert "final:\n  loss = " in shown and "versions: python" in shown
    assert json.loads(ok("runs", "show", ident, "--json").stdout)["config"]["train"]["seed"] == 3
    typo = ident[:-1] + ("0" if ident[-1] != "0" else "1")
    one_line_error(invoke("runs", "show", typo), f"unknown run {typo!r}", "closest", ident)


def test_diff_shows_only_what_differs_then_metrics(root: Path) -> None:
    ok("train", *TINY, "--out", str(root / "a"), "--lr", "0.1")
    ok("train", *TINY, "--out", str(root / "b"), "--lr", "0.01", "--batch-size", "20")
    lines = ok("runs", "diff", run_id(root / "a"), run_id(root / "b")).stdout.splitlines()
    assert lines[0].split() == [run_id(root / "a"), run_id(root / "b")]
    keys = [line.split()[0] for line in lines[1:]]
    assert keys[:2] == ["train.batch_size", "optimizer.lr"] and "dataset.num_examples" not in keys
    assert lines[1].split()[1:] == ["10", "20"] and lines[2].split()[1:] == ["0.1", "0.01"]
    assert any(line.startswith("final test_loss") for line in lines)
    assert any(line.startswith("best loss") for line in lines)
    one_line_error(invoke("runs", "diff", run_id(root / "a")), "two or more")
    one_line_error(invoke("runs", "diff", run_id(root / "a"), "nope"), "unknown run 'nope'")


def test_plot_several_runs(root: Path, tmp_path: Path) -> None:
    ok("train", *TINY, "--out", str(root / "a"), "--lr", "0.1", "--epochs", "3")
    ok("train", *TINY, "--out", str(root / "b"), "--lr", "0.01", "--epochs", "3")
    svg = tmp_path / "loss.svg"
    ok("runs", "plot", run_id(root / "a"), run_id(root / "b"), "-o", str(svg))
    text = svg.read_text()
    assert "lr=0.1" in text and "lr=0.01 (test)" in text  # labelled by what differs
    one_line_error(invoke("runs", "plot", run_id(root / "a"), "-o", str(tmp_path / "x.gif")), ".gif", ".png")


def test_a_deleted_directory_is_reported_then_dropped_by_reindex(root: Path, tmp_path: Path) -> None:
    ok("train", *TINY, "--out", str(root / "a"))
    ok("train", *TINY, "--out", str(root / "b"))
    gone = run_id(root / "b")
    shutil.rmtree(root / "b")
    result = ok("runs", "list")
    assert f"{gone}  missing" in result.stdout
    assert result.stderr.startswith("Warning: 1 run directories no longer exist") and gone in result.stderr
    assert "reindex" in result.stderr
    assert "no longer exists" in ok("runs", "show", gone).stderr
    diffed = ok("runs", "diff", run_id(root / "a"), gone)
    assert "no longer exists" in diffed.stderr and "missing" in diffed.stdout
    one_line_error(invoke("runs", "plot", gone, "-o", str(tmp_path / "x.png")), gone, "no longer exists")
    result = ok("runs", "reindex")
    assert f"dropped {gone}" in result.stdout and "indexed 1 run and" in result.stdout
    assert [run["id"] for run in listed()] == [run_id(root / "a")]


@pytest.mark.parametrize("kind", ["corrupt", "foreign"])
def test_a_corrupt_or_foreign_index_is_one_line_and_reindex_recovers(root: Path, kind: str) -> None:
    ok("train", *TINY, "--out", str(root / "a"))
    db = root / "minidl.db"
    db.unlink()
    if kind == "corrupt":
        db.write_bytes(b"\x00garbage" * 4096)
    else:
        sqlite3.connect(db).execute("CREATE TABLE notes (text TEXT)")
    for args in (("runs", "list"), ("runs", "show", "x"), ("train", *TINY, "--out", str(root / "b"))):
        one_line_error(invoke(*args), str(db), "minidl runs reindex")
    assert not (root / "b").exists()  # refused before anything was written
    result = ok("runs", "reindex")
    assert "moved aside" in result.stderr and "indexed 1 run and" in result.stdout
    assert [run["id"] for run in listed()] == [run_id(root / "a")]
    assert len(list(root.glob("minidl.db.broken-*"))) == 1


def test_diverged_and_failed_runs_are_recorded_so(root: Path, tmp_path: Path) -> None:
    result = invoke("train", *TINY, "--out", str(root / "d"), "--lr", "100")
    assert result.exit_code == 1 and "diverged" in result.stderr
    plugin = tmp_path / "boom.py"
    plugin.write_text(BOOM_PLUGIN)
    failed = invoke("-p", str(plugin), "train", *TINY, "--out", str(root / "f"), "--callback", "boom")
    assert failed.exit_code != 0 and "boom" in repr(failed.exception) + failed.stderr
    runs = {run["dir"]: run for run in listed()}
    assert runs[str(root / "d")]["status"] == "diverged" and runs[str(root / "f")]["status"] == "failed"
    shown = json.loads(ok("runs", "show", str(root / "f"), "--json").stdout)
    assert shown["error"] == "boom in epoch 1"
    assert json.loads((root / "d" / "run.json").read_text())["status"] == "diverged"


def _env(root: Path) -> dict[str, str]:
    return {**os.environ, "MINIDL_LOAD_PLUGINS": "", "MINIDL_RUNS": str(root)}


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_record_interrupted_then_resume_finishes(root: Path, signum: int, code: int) -> None:
    run_dir = root / "long"
    process = subprocess.Popen([MINIDL, "train", "--epochs", "1000", "--set", "dataset.num_examples=20000",
                                "--out", str(run_dir)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=_env(root))
    deadline = time.monotonic() + 60
    while not (run_dir / "checkpoint.pt").exists():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code and "Traceback" not in stderr, stderr
    assert json.loads((run_dir / "run.json").read_text())["status"] == "interrupted"
    (run,) = listed()
    assert run["status"] == "interrupted" and 1 <= run["epochs_done"] < 1000
    ok("train", "--resume", str(run_dir), "--epochs", str(run["epochs_done"] + 1))
    assert listed()[0]["status"] == "finished"


@pytest.mark.slow
def test_a_killed_run_is_shown_killed_not_running(root: Path) -> None:
    run_dir = root / "killed"
    process = subprocess.Popen([MINIDL, "train", "--epochs", "1000", "--set", "dataset.num_examples=20000",
                                "--out", str(run_dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=_env(root))
    deadline = time.monotonic() + 60
    while not (run_dir / "checkpoint.pt").exists():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    assert listed()[0]["status"] == "running"
    process.kill()  # SIGKILL: nothing can be recorded
    process.wait(timeout=60)
    assert json.loads((run_dir / "run.json").read_text())["status"] == "running"
    (run,) = listed()
    assert (run["status"], run["recorded_status"]) == ("killed", "running")
    assert "killed" in ok("runs", "list").stdout.splitlines()[1]
    done = len((run_dir / "metrics.jsonl").read_text().splitlines())
    ok("train", "--resume", str(run_dir), "--epochs", str(done + 1))
    assert listed()[0]["status"] == "finished"


@pytest.mark.slow
def test_two_trains_at_once_lose_nothing(root: Path) -> None:
    """Real processes writing one index together (WAL, busy timeout, one transaction per write)."""
    processes = [subprocess.Popen([MINIDL, "train", "--epochs", "30", "--set", "dataset.num_examples=200",
                                   "--out", str(root / name), "-q"], env=_env(root), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True) for name in ("a", "b", "c")]
    for process in processes:
        assert process.wait(timeout=300) == 0, process.stderr.read() if process.stderr else ""
    runs = listed()
    assert sorted(run["dir"] for run in runs) == [str(root / name) for name in ("a", "b", "c")]
    assert all(run["status"] == "finished" and run["epochs_done"] == 30 for run in runs)


def test_an_empty_id_and_a_sort_metric_no_run_has_are_refused(root: Path) -> None:
    ok("train", *TINY, "--out", str(root / "a"))
    for command in (["show", ""], ["diff", "", run_id(root / "a")], ["plot", " ", "-o", str(root / "x.png")]):
        one_line_error(invoke("runs", *command), "empty run id")
    one_line_error(invoke("runs", "list", "--sort", "test-loss"), "'test-loss'", "loss, test_loss", "optimizer.lr")
    assert [run["id"] for run in listed("--sort", "test_loss")] == [run_id(root / "a")]
    assert [run["id"] for run in listed("--sort", "best.loss")] == [run_id(root / "a")]  # a dotted key: as before
    assert [run["id"] for run in listed("--sort", "lr")] == [run_id(root / "a")]


def test_a_resumed_copy_of_a_run_directory_is_a_run_of_its_own_a_moved_one_keeps_its_id(root: Path) -> None:
    """cp -r runs/a runs/b, then resuming b, replaced a's row with b's: runs list lost a."""
    from minidl.experiments.rundir import derived_id

    ok("train", *TINY, "--out", str(root / "a"))
    original = run_id(root / "a")
    shutil.copytree(root / "a", root / "b")
    resumed = ok("train", "--resume", str(root / "b"), "--epochs", "2")
    copy = derived_id(root / "b")
    assert f"holds run {original} as {root / 'a'} does (a copy): recorded as run {copy}" in resumed.stderr
    assert run_id(root / "b") == copy and run_id(root / "a") == original
    listed = {run["id"]: run for run in json.loads(ok("runs", "list", "--json").stdout)}
    assert {identifier: (Path(run["dir"]).name, run["epochs_done"]) for identifier, run in listed.items()} == \
        {original: ("a", 1), copy: ("b", 2)}
    shutil.move(root / "a", root / "c")  # moved, not copied: the same run, now in c
    moved = ok("train", "--resume", str(root / "c"), "--epochs", "2")
    assert "a copy" not in moved.stderr and run_id(root / "c") == original
    listed = {run["id"]: Path(run["dir"]).name for run in json.loads(ok("runs", "list", "--json").stdout)}
    assert listed == {original: "c", copy: "b"}


def test_a_copy_made_again_where_one_stood_never_takes_the_id_of_the_first(root: Path) -> None:
    """The copy's id was the hash of its path alone: a second copy at that path replaced the first's row."""
    ok("train", *TINY, "--out", str(root / "a"))
    for epochs in ("2", "3"):  # copied, resumed, moved away; copied again to the same path, resumed
        shutil.copytree(root / "a", root / "f")
        ok("train", "--resume", str(root / "f"), "--epochs", epochs)
        shutil.move(root / "f", root / f"f-{epochs}")
    assert len({run_id(root / name) for name in ("a", "f-2", "f-3")}) == 3  # both copies made at f, resumed
    shutil.copytree(root / "a", root / "f")
    ok("runs", "reindex")  # and a copy that is only reindexed
    ids = {Path(run["dir"]).name: run["id"] for run in json.loads(ok("runs", "list", "--json").stdout)}
    assert sorted(ids) == ["a", "f", "f-2", "f-3"] and len(set(ids.values())) == 4
    assert all(run_id(root / name) == identifier for name, identifier in ids.items())  # each run.json agrees


def test_a_reindexed_copy_keeps_its_id_once_the_original_is_gone(root: Path) -> None:
    """The copy's id lived only in the index: deleting the original gave the copy the original's id back."""
    ok("train", *TINY, "--out", str(root / "a"))
    original = run_id(root / "a")
    shutil.copytree(root / "a", root / "b")
    renamed = ok("runs", "reindex")
    copy = run_id(root / "b")
    assert copy != original and f"indexed as {copy}, written into its run.json" in renamed.stderr
    shutil.rmtree(root / "a")
    result = ok("runs", "reindex")
    assert f"dropped {original}" in result.stdout and "Warning" not in result.stderr
    assert ok("runs", "show", copy).stdout.startswith(f"id       {copy}\n")
    shutil.move(root / "b", root / "moved")  # moved: the same run, not dropped
    result = ok("runs", "reindex")
    assert "dropped" not in result.stdout and run_id(root / "moved") == copy


def test_a_run_is_found_by_a_symbolic_link_to_its_directory(root: Path) -> None:
    ok("train", *TINY, "--out", str(root / "a"))
    (root / "alink").symlink_to("a")
    for name in (str(root / "alink"), "alink"):
        assert ok("runs", "show", name).stdout.startswith(f"id       {run_id(root / 'a')}\n")
