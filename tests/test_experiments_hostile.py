"""What a new or hostile user types at `minidl runs` and `minidl sweep`: every bad input is one
`Error:` line with the right exit code (2 bad input, 1 a runtime failure), never a traceback,
and nothing a user saved is lost."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from minidl.cli import create_cli
from minidl.experiments import index as index_module

TINY = ("--epochs", "1", "--set", "dataset.num_examples=50", "--set", "dataset.num_test=10")


@pytest.fixture
def root(root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tests/conftest.py's runs root, run from tmp_path (relative paths land there)."""
    monkeypatch.chdir(tmp_path)
    return root


def invoke(*args: str):
    return CliRunner().invoke(create_cli(), list(args))


def ok(*args: str):
    result = invoke(*args)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    return result


def one_line_error(result, *fragments: str, code: int = 2) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr, result.exception)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert all(fragment in result.stderr for fragment in fragments), result.stderr


def run_id(directory: Path) -> str:
    return json.loads((directory / "run.json").read_text())["id"]


@pytest.fixture
def two_runs(root: Path) -> tuple[str, str]:
    ok("train", *TINY, "--out", str(root / "a"))
    ok("train", *TINY, "--out", str(root / "b"), "--lr", "0.1")
    return run_id(root / "a"), run_id(root / "b")


# -- runs list --where / --sort ------------------------------------------------------------
@pytest.mark.parametrize("where, fragments", [
    ("lr<99999999999999999999999", None),  # was an OverflowError traceback
    ("lr=abc", ("'lr=abc'", "lr is a number", "'abc'")),  # matched nothing, silently
    ("lr<abc", ("lr is a number",)),  # matched every run: text sorts after numbers
    ("optimizer.lr=abc", ("optimizer.lr holds numbers", "'abc'")),
    ("optimizer.lrr=0.1", ("'optimizer.lrr'", "did you mean optimizer.lr")),
    ("dataset.colour=red", ("'dataset.colour'", "no run")),
    ("final.test_los<1", ("'final.test_los'", "final.test_loss")),
    ("optimizer.lr=", ("gives no value",)),
    ("lr==0.1", ("begins with '='", "<=")),
    ("lr=<0.1", ("begins with '<'",)),
    ("status=bogus", ("'bogus'", "finished, diverged")),
    ("status=killed", ("status=running",)),
])
def test_where_that_cannot_match_is_refused(two_runs: tuple[str, str], where: str,
                                            fragments: tuple[str, ...] | None) -> None:
    result = invoke("runs", "list", "--where", where)
    if fragments is None:
        assert result.exit_code == 0 and "Traceback" not in result.stderr, (result.stderr, result.exception)
        return
    one_line_error(result, *fragments)


def test_where_and_sort_that_can_match_still_work(two_runs: tuple[str, str]) -> None:
    a, b = two_runs
    listed = json.loads(ok("runs", "list", "--json", "--where", "optimizer.lr=0.1").stdout)
    assert [run["id"] for run in listed] == [b]
    listed = json.loads(ok("runs", "list", "--json", "--where", "best.loss<1e300", "--sort", "best.loss",
                           "--desc").stdout)
    assert [run["id"] for run in listed] == [a, b]
    huge = json.loads(ok("runs", "list", "--json", "--where", "seed<99999999999999999999999",
                         "--limit", "99999999999999999999999").stdout)
    assert len(huge) == 2  # the --limit was "index unreadable (datatype mismatch)"


@pytest.mark.parametrize("sort, fragments", [
    ("", ("--sort ''",)),  # was ignored
    ("best.nope", ("'best.nope'", "best.loss")),  # was ignored: an order by nothing
    ("optimizer.lrr", ("'optimizer.lrr'", "optimizer.lr")),
    ("test-loss", ("'test-loss'", "loss, test_loss", "optimizer.lr")),
])
def test_sort_by_what_no_run_has_is_refused(two_runs: tuple[str, str], sort: str, fragments: tuple[str, ...]) -> None:
    one_line_error(invoke("runs", "list", "--sort", sort), *fragments)


def test_keys_are_not_checked_against_an_empty_index(root: Path) -> None:
    from minidl.experiments.index import RunIndex

    RunIndex.open().close()
    assert ok("runs", "list", "--json", "--where", "optimizer.lrr=1", "--sort", "best.x").stdout.strip() == "[]"


# -- the runs root and its index -----------------------------------------------------------
@pytest.mark.parametrize("command", [("runs", "list"), ("runs", "list", "--json"), ("runs", "show", "x"),
                                     ("runs", "reindex"), ("train", *TINY, "--out", "elsewhere")])
def test_a_runs_root_that_is_a_file_is_one_line(root: Path, command: tuple[str, ...]) -> None:
    root.write_text("my notes")
    one_line_error(invoke(*command), str(root), "not a directory")  # list said "no runs recorded yet", exit 0
    assert root.read_text() == "my notes"


def test_an_index_that_is_a_directory_is_one_line(root: Path) -> None:
    (root / "minidl.db").mkdir(parents=True)
    one_line_error(invoke("runs", "list"), "minidl.db", "not a file")  # said "no runs recorded yet", exit 0


def test_an_index_that_cannot_be_written_is_read_as_it_is_and_never_moved_aside(two_runs: tuple[str, str],
                                                                                 root: Path) -> None:
    """A read-only runs root (its -shm file cannot be made: here a directory stands in its place).

    The listing said "unreadable: rebuild it" and reindex moved the good index aside.
    """
    db = root / "minidl.db"
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    Path(f"{db}-shm").mkdir()
    listed = json.loads(ok("runs", "list", "--json").stdout)
    assert sorted(run["id"] for run in listed) == sorted(two_runs)
    ok("runs", "show", two_runs[0])
    one_line_error(invoke("runs", "reindex"), str(db), "read-only", code=1)
    trained = ok("train", *TINY, "--out", str(root / "c"))  # trains; the index is named in one warning
    assert "Warning: " in trained.stderr and "minidl runs reindex" in trained.stderr
    assert db.is_file() and not list(root.glob("minidl.db.broken-*"))


def test_a_locked_index_is_a_runtime_failure(two_runs: tuple[str, str], root: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "BUSY_TIMEOUT_S", 0.2)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys, time\n"
         f"db = sqlite3.connect({str(root / 'minidl.db')!r}, isolation_level=None)\n"
         "db.execute('PRAGMA locking_mode = EXCLUSIVE'); db.execute('BEGIN EXCLUSIVE')\n"
         "db.execute('SELECT count(*) FROM runs').fetchone(); print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        one_line_error(invoke("runs", "list"), "locked by another process", code=1)  # was exit 2
        one_line_error(invoke("runs", "show", two_runs[0]), "locked", code=1)
        assert time.monotonic() - started < 20
    finally:
        holder.kill()
        holder.wait()
    assert len(json.loads(ok("runs", "list", "--json").stdout)) == 2


# -- damaged run directories and runs reindex ----------------------------------------------
def test_reindex_stores_hand_edited_values_of_the_wrong_type(root: Path) -> None:
    """One such directory made the whole reindex fail: "index unreadable (Error binding parameter)"."""
    for name in ("a", "b", "c"):
        ok("train", *TINY, "--out", str(root / name))
    (root / "a" / "run.json").write_text(json.dumps({"id": "aaaa0000", "status": "finished", "invocations": [
        {"started": 5, "ended": [], "command": "not a list", "pid": "x", "error": {"why": 1}}]}))
    (root / "b" / "config.toml").write_text('optimizer = 3\n[train]\nepochs = "three"\nbatch_size = [1]\n')
    (root / "c" / "metrics.jsonl").write_text('{"epoch": "two", "loss": "x"}\n')
    result = ok("runs", "reindex")
    assert "indexed 3 runs" in result.stdout and not result.stderr
    runs = {Path(run["dir"]).name: run for run in json.loads(ok("runs", "list", "--json").stdout)}
    assert runs["a"]["id"] == "aaaa0000" and runs["a"]["started"] is None
    assert runs["b"]["epochs"] is None and runs["b"]["batch_size"] is None and runs["b"]["optimizer"] is None
    assert runs["c"]["epochs_done"] == 1 and runs["c"]["final_loss"] is None
    for name in "abc":
        assert "Traceback" not in ok("runs", "show", str(root / name)).stderr
    ok("runs", "diff", str(root / "a"), str(root / "b"), str(root / "c"))


def test_a_metrics_line_cut_short_is_left_out_not_the_run(root: Path) -> None:
    ok("train", *TINY, "--epochs", "2", "--out", str(root / "a"))
    metrics = root / "a" / "metrics.jsonl"
    metrics.write_bytes(metrics.read_bytes()[:-20])  # killed while writing epoch 2's line
    result = ok("runs", "reindex")
    assert "indexed 1 run and" in result.stdout and not result.stderr  # the run was skipped
    (run,) = json.loads(ok("runs", "list", "--json").stdout)
    assert run["epochs_done"] == 1
    metrics.write_bytes(metrics.read_bytes() + b"\xff\xfe\x00")  # non-UTF-8 bytes, no newline after
    assert "indexed 1 run and" in ok("runs", "reindex").stdout


def test_reindex_keeps_a_run_whose_files_are_damaged_and_never_says_it_is_gone(root: Path) -> None:
    ok("train", *TINY, "--out", str(root / "a"))
    ok("train", *TINY, "--out", str(root / "b"))
    ident = run_id(root / "a")
    (root / "a" / "config.toml").write_text("garbage = = [")
    result = ok("runs", "reindex")
    assert "no longer exists" not in result.stdout + result.stderr  # was "dropped ID: ... no longer exists"
    assert str(root / "a") in result.stderr and "kept as the index last recorded it" in result.stderr
    assert ident in [run["id"] for run in json.loads(ok("runs", "list", "--json").stdout)]
    assert (root / "a" / "config.toml").read_text() == "garbage = = ["


@pytest.mark.parametrize("given, fragment", [("", "cannot index ''"), ("notes.txt", "not a directory"),
                                             ("nowhere", "no such directory")])
def test_reindex_of_what_is_no_directory(root: Path, given: str, fragment: str) -> None:
    Path("notes.txt").write_text("mine")
    one_line_error(invoke("runs", "reindex", given), fragment)  # '' indexed the whole current directory


# -- runs show / diff / plot ---------------------------------------------------------------
@pytest.mark.parametrize("command", ["diff", "plot"])
def test_a_run_named_twice_is_refused(two_runs: tuple[str, str], root: Path, command: str) -> None:
    a, b = two_runs
    output = ("-o", "x.png") if command == "plot" else ()
    one_line_error(invoke("runs", command, a, b, a, *output), f"run {a} is named twice")  # compared with itself
    one_line_error(invoke("runs", command, str(root / "a"), a, *output), "twice", repr(str(root / "a")))
    assert not Path("x.png").exists()


@pytest.mark.parametrize("output", ["", "   ", "pictures/"])
def test_plot_to_no_file_name_is_refused(two_runs: tuple[str, str], output: str) -> None:
    # '' was "cannot tell the picture format of '.'"; 'pictures.png/' wrote a file pictures.png
    one_line_error(invoke("runs", "plot", two_runs[0], "-o", output), repr(output), "names no file")
    one_line_error(invoke("runs", "plot", two_runs[0], "-o", "pictures.png/"), "names no file")
    assert not Path("pictures.png").exists()


def test_plot_replaces_the_file_it_is_told_to_write_and_reports_a_directory(two_runs: tuple[str, str]) -> None:
    Path("loss.png").write_bytes(b"old")
    ok("runs", "plot", *two_runs, "-o", "loss.png")
    assert Path("loss.png").read_bytes().startswith(b"\x89PNG")
    Path("taken.png").mkdir()
    one_line_error(invoke("runs", "plot", *two_runs, "-o", "taken.png"), "taken.png", code=1)
    one_line_error(invoke("runs", "plot", *two_runs, "-o", "no/such/dir/x.png"), "no/such/dir/x.png", code=1)


def test_plot_of_many_runs_prints_no_matplotlib_warning(tmp_path: Path) -> None:
    import warnings

    from minidl.experiments.plot import plot_runs

    rows = []
    for number in range(30):
        directory = tmp_path / str(number)
        directory.mkdir()
        (directory / "metrics.jsonl").write_text("".join(
            json.dumps({"epoch": epoch, "loss": 1 / (epoch + number), "test_loss": 1.1 / (epoch + number)}) + "\n"
            for epoch in (1, 2, 3)))
        rows.append({"id": f"{number:08x}", "dir": str(directory),
                     "config": json.dumps({"optimizer": {"lr": 0.01 * (number + 1)}})})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # was "UserWarning: Tight layout not applied" and its source line
        plot_runs(rows, tmp_path / "many.png")


def test_an_empty_runs_root_option_is_refused(root: Path) -> None:
    one_line_error(invoke("runs", "list", "--runs-root", ""), "--runs-root", "''")  # meant $MINIDL_RUNS


# -- minidl sweep ----------------------------------------------------------------------------
@pytest.mark.parametrize("args, fragments", [
    (("--grid", "optimizer.lr=1.0,1"), ("optimizer.lr=1.0 and optimizer.lr=1", "same configuration")),
    (("--sampler", "random", "--trials", "2", "--grid", "train.batch_size=int:0.5..3"), ("whole-number ends",)),
    (("--sampler", "random", "--grid", "optimizer.lr=0.1..1"), ("--trials N", "1 to")),  # said "got None"
    (("--grid", "optimizer.lr=0.1", "--sort", "a b"), ("'a b'",)),  # refused only after training
    (("--grid", "optimizer.lr=0.1", "--sort", ""), ("--sort ''",)),
])
def test_bad_sweeps_are_refused_before_anything_trains(root: Path, args: tuple[str, ...],
                                                       fragments: tuple[str, ...]) -> None:
    one_line_error(invoke("sweep", *args, *TINY, "--out", "s"), *fragments)
    assert not Path("s").exists()


@pytest.mark.parametrize("option", ["--out", "--resume"])
def test_an_empty_sweep_directory_is_refused(root: Path, option: str) -> None:
    Path("notes.txt").write_text("mine")
    one_line_error(invoke("sweep", "--grid", "optimizer.lr=0.1", *TINY, option, "") if option == "--out"
                   else invoke("sweep", option, ""), option, "''")  # '' was the current directory
    assert sorted(path.name for path in Path().iterdir()) == ["notes.txt"]


def test_a_sort_by_a_metric_the_points_lack_still_prints_the_table(root: Path) -> None:
    result = ok("sweep", "--grid", "optimizer.lr=0.1,0.2", *TINY, "--out", "s", "--sort", "test_acc")
    assert "Warning: --sort 'test_acc'" in result.stderr and "sorted by the default" in result.stderr
    assert result.stdout.count("s/00") == 2


def _damage(spec: dict, name: str) -> None:
    if name == "list":
        spec.clear()
    elif name == "id":
        spec["id"] = ["x"]
    elif name == "points":
        spec["points"] = "x"
    elif name == "set":
        spec["points"][0]["set"] = "optimizer.lr=0.5"  # was run as --set o --set p ...: "cannot read --set 'o'"
    elif name == "names":
        spec["points"][0]["name"] = spec["points"][1]["name"]  # two points, one directory
    elif name == "value":
        spec["points"][0]["set"] = ["optimizer.lr=-5"]


@pytest.mark.parametrize("damage, fragments", [
    ("list", ("is not a sweep spec",)), ("id", ("is not a sweep spec",)), ("points", ("is not a sweep spec",)),
    ("set", ("point 0", "list of --set assignments")), ("names", ("points 0 and 1 alike",)),
    ("value", ("cannot resume", "optimizer.lr=-5", "must be > 0")),
    ("toml", ("cannot resume", "sweep.toml", "not valid TOML")),
    ("no toml", ("cannot resume", "sweep.toml", "missing")),
])
def test_resume_of_a_damaged_sweep_is_one_line_before_any_point_trains(root: Path, damage: str,
                                                                       fragments: tuple[str, ...]) -> None:
    """Before, most of these trained the sound points, then reported the others as failed, exit 1."""
    import shutil

    ok("sweep", "--grid", "optimizer.lr=0.1,0.2", *TINY, "--out", "s")
    for point in sorted(Path("s").glob("00*")):
        shutil.rmtree(point)  # none done yet
    spec_file = Path("s/sweep.json")
    spec = json.loads(spec_file.read_text())
    if damage == "toml":
        Path("s/sweep.toml").write_text("garbage [[")
    elif damage == "no toml":
        Path("s/sweep.toml").unlink()
    else:
        _damage(spec, damage)
        spec_file.write_text(json.dumps(spec if damage != "list" else []))
    one_line_error(invoke("sweep", "--resume", "s"), *fragments)
    assert not list(Path("s").glob("00*"))  # nothing trained


@pytest.mark.parametrize("args", [("--where", "lr"), ("--where", "lr=abc"), ("--sort", "a b"), ("--sort", "")])
def test_a_bad_where_or_sort_is_refused_even_before_any_run_is_recorded(root: Path, args: tuple[str, ...]) -> None:
    one_line_error(invoke("runs", "list", "--json", *args))  # was "[]" and exit 0
