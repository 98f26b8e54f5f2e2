"""The run index as a library: schema, writes, queries, bad files, rebuilding from directories; sweep points."""

from __future__ import annotations

import json
import os
import random
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minidl.cli import create_cli
from minidl.errors import MinidlError
from minidl.experiments import grid
from minidl.experiments.index import APPLICATION_ID, DB_NAME, SCHEMA, RunIndex, RunIndexError, runs_root
from minidl.experiments.reindex import reindex
from minidl.experiments.rundir import derived_id, metric_fields, run_row


def train(*args: str) -> None:
    result = CliRunner().invoke(create_cli(), ["train", "--epochs", "1", "--set", "dataset.num_examples=100", *args])
    assert result.exit_code == 0, result.output


def row(run_id: str, directory: str, **fields: object) -> dict[str, object]:
    return {"id": run_id, "dir": directory, "status": "finished", "started": "2026-01-01T00:00:00", **fields}


def test_a_new_index_is_wal_marked_as_minidl_and_documented(root: Path) -> None:
    with RunIndex.open() as index:
        assert index.path == root / DB_NAME
    db = sqlite3.connect(root / DB_NAME)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"runs", "sweeps"}
    columns = [info[1] for info in db.execute("PRAGMA table_info(runs)")]
    assert all(f"    {column} " in SCHEMA or f" {column} " in SCHEMA for column in columns)  # every column explained
    assert runs_root("elsewhere") == Path("elsewhere") and runs_root() == root


def test_put_update_query_and_one_run_per_directory(root: Path) -> None:
    with RunIndex.open() as index:
        index.put_run(row("aaaa1111", "/x/a", lr=0.1, final=json.dumps({"loss": 3.0, "test_acc": 0.5}),
                          config=json.dumps({"optimizer": {"name": "sgd", "lr": 0.1}})))
        index.put_run(row("bbbb2222", "/x/b", lr=0.03, started="2026-01-02", final=json.dumps({"loss": 1.0}),
                          config=json.dumps({"optimizer": {"name": "sgd", "lr": 0.03}})))
        assert [r["id"] for r in index.runs()] == ["bbbb2222", "aaaa1111"]  # newest first
        assert [r["id"] for r in index.runs(where=["optimizer.lr=0.1"])] == ["aaaa1111"]
        assert [r["id"] for r in index.runs(where=["lr<0.05"])] == ["bbbb2222"]
        assert [r["id"] for r in index.runs(sort="loss")] == ["bbbb2222", "aaaa1111"]
        assert [r["id"] for r in index.runs(sort="loss", descending=True)] == ["aaaa1111", "bbbb2222"]
        assert [r["id"] for r in index.runs(sort="test_acc")] == ["aaaa1111", "bbbb2222"]  # missing: last
        index.update_run("aaaa1111", {"status": "failed"})
        assert index.runs(columns=["status"], where=["id=aaaa1111"]) == [{"status": "failed"}]
        index.put_run(row("cccc3333", "/x/a"))  # a new run in a's directory (--overwrite) replaces it
        assert sorted(r["id"] for r in index.runs(columns=["id"])) == ["bbbb2222", "cccc3333"]
        with pytest.raises(MinidlError, match="cannot use 'colour' in --where"):
            index.runs(where=["colour=red"])
        with pytest.raises(MinidlError, match="expected KEY=VALUE"):
            index.runs(where=["lr"])
        for bad in ("optimizer.lr') --", "loss; DROP TABLE runs", "best.x'"):  # never into the SQL
            with pytest.raises(MinidlError, match="cannot"):
                index.runs(sort=bad)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run_id=st.one_of(st.text("0123456789abcdef", min_size=8, max_size=8),
                        st.sampled_from(["12345678", "00000012", "1e345678", "0e000000", "12e45678"])))
def test_an_id_of_hex_digits_is_text_to_where_even_when_it_reads_as_a_number(root: Path, run_id: str) -> None:
    """Ids are 8 random hex digits: 2% of them are all digits, some read as 1e345678 (a sweep's test met one)."""
    with RunIndex.open() as index:
        index.replace_all([], [])  # the examples share one runs root
        index.put_run(row(run_id, f"/x/{run_id}", sweep=run_id, model="007",
                          config=json.dumps({"model": {"name": "007", "width": 7}})))
        index.put_run(row("ffffffff", "/x/other", config=json.dumps({"model": {"name": "7", "width": 8}})))
        for where in (f"id={run_id}", f"sweep={run_id}", "model=007", "model.name=007", "model.width=7"):
            assert [r["id"] for r in index.runs(where=[where])] == [run_id], where
        assert [r["id"] for r in index.runs(where=["model.name=7"])] == ["ffffffff"]  # text "7" as given
        assert [r["id"] for r in index.runs(where=["model.name!=007"])] == ["ffffffff"]
        assert [r["id"] for r in index.runs(where=[f"id!={run_id}"])] == ["ffffffff"]


@pytest.mark.parametrize("content, reason", [(b"not a database at all" * 100, "unreadable"),
                                             (None, "foreign"), (b"", None)])
def test_corrupt_or_foreign_files_are_one_line_errors_naming_the_file(root: Path, content: bytes | None,
                                                                      reason: str | None) -> None:
    root.mkdir()
    path = root / DB_NAME
    if content is None:
        sqlite3.connect(path).execute("CREATE TABLE photos (id INTEGER)")
    else:
        path.write_bytes(content)
    if reason is None:  # an empty file is an empty database: it becomes an index
        RunIndex.open().close()
        return
    with pytest.raises(RunIndexError) as caught:
        RunIndex.open()
    assert caught.value.reason == reason and str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert "minidl runs reindex" in str(caught.value)


def test_a_newer_schema_is_refused_not_rebuilt(root: Path) -> None:
    RunIndex.open().close()
    sqlite3.connect(root / DB_NAME).execute("PRAGMA user_version = 99")
    with pytest.raises(RunIndexError, match="newer minidl") as caught:
        RunIndex.open()
    with pytest.raises(RunIndexError):
        reindex()
    assert caught.value.reason == "newer" and (root / DB_NAME).exists()


def test_an_index_of_schema_1_gains_the_later_columns(root: Path) -> None:
    root.mkdir()
    db = sqlite3.connect(root / DB_NAME)
    db.execute("PRAGMA journal_mode = WAL")
    old = "\n".join(line for line in SCHEMA.splitlines() if not line.startswith("    host TEXT, pid INTEGER"))
    assert "pid" not in old.split("CREATE INDEX")[0]
    db.executescript(old + f"PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = 1;")
    db.close()
    with RunIndex.open() as index:
        index.put_run(row("aaaa1111", "/x/a", host="here", pid=1))
        assert index.runs(columns=["host", "pid"]) == [{"host": "here", "pid": 1}]
    assert sqlite3.connect(root / DB_NAME).execute("PRAGMA user_version").fetchone()[0] == 2


def test_missing_index_for_reading(root: Path) -> None:
    with pytest.raises(RunIndexError, match="no run index") as caught:
        RunIndex.open(create=False)
    assert caught.value.reason == "missing" and not root.exists()


def test_the_row_train_writes_is_the_row_reindex_rebuilds(root: Path, tmp_path: Path) -> None:
    train("--out", str(root / "a"), "--lr", "0.1")
    train("--out", str(tmp_path / "outside"))  # outside the runs root: indexed there too, by absolute path
    with RunIndex.open() as index:
        before = {r["id"]: r for r in index.runs()}
    assert {r["dir"] for r in before.values()} == {str((root / "a").resolve()), str((tmp_path / "outside").resolve())}
    result = reindex()
    assert (result.runs, result.dropped, result.skipped) == (2, [], [])
    with RunIndex.open() as index:
        after = {r["id"]: r for r in index.runs()}
    for run_id, written in before.items():
        assert {**written, "updated": None} == {**after[run_id], "updated": None}
    written = before[json.loads((root / "a" / "run.json").read_text())["id"]]
    assert written["status"] == "finished" and written["lr"] == 0.1 and written["epochs_done"] == 1
    assert isinstance(json.loads(written["command"]), list)  # sys.argv: pytest's here
    assert json.loads(written["config"])["optimizer"]["lr"] == 0.1
    assert "torch" in json.loads(written["versions"])["packages"]


def test_reindex_drops_deleted_runs_moves_a_corrupt_index_aside_and_renames_copies(root: Path) -> None:
    import shutil

    train("--out", str(root / "a"))
    train("--out", str(root / "b"))
    shutil.rmtree(root / "b")
    shutil.copytree(root / "a", root / "c")  # a copy: the same id in two directories
    result = reindex()
    assert [directory for _, directory in result.dropped] == [str((root / "b").resolve())]
    assert result.runs == 2 and len(result.renamed) == 1 and str(root / "c") in result.renamed[0]
    (root / DB_NAME).write_bytes(b"garbage" * 1000)
    result = reindex()
    assert result.moved_aside is not None and result.moved_aside.read_bytes().startswith(b"garbage")
    with RunIndex.open() as index:
        assert {r["id"] for r in index.runs()} == {json.loads((root / "a" / "run.json").read_text())["id"],
                                                   derived_id(root / "c")}


def test_reindex_of_an_old_run_without_id_or_status(root: Path) -> None:
    train("--out", str(root / "old"))
    info = json.loads((root / "old" / "run.json").read_text())
    (root / "old" / "run.json").write_text(json.dumps({"seed": 0, "invocations": info["invocations"]}))
    reindex()
    (rebuilt,) = RunIndex.open().runs()
    assert rebuilt["id"] == derived_id(root / "old") and rebuilt["status"] == "finished"


def test_metric_fields_best_is_lowest_except_accuracy() -> None:
    fields = metric_fields([{"epoch": 1, "loss": 2.0, "test_accuracy": 0.7}, {"epoch": 2, "loss": 3.0,
                                                                            "test_accuracy": 0.6}])
    assert json.loads(fields["best"]) == {"loss": 2.0, "test_accuracy": 0.7}
    assert fields["final_loss"] == 3.0 and fields["epochs_done"] == 2
    assert json.loads(metric_fields([{"epoch": 1, "loss": float("nan")}])["final"]) == {"epoch": 1, "loss": None}


def test_non_finite_options_stay_valid_json_for_sqlite(root: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "inf"
    train("--out", str(run_dir))
    config = (run_dir / "config.toml").read_text().replace("[loss]", "[loss]\nextra = inf")
    (run_dir / "config.toml").write_text(config)
    with RunIndex.open() as index:
        index.put_run(run_row(run_dir))
        assert [r["dir"] for r in index.runs(where=["loss.extra=inf"])] == [str(run_dir)]


def test_run_row_names_a_broken_file(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text("{not json")
    (tmp_path / "config.toml").write_text("")
    with pytest.raises(MinidlError, match=r"run\.json"):
        run_row(tmp_path)


# -- sweep points ---------------------------------------------------------------------------

def test_grid_axes_values_ranges_and_product() -> None:
    axes = grid.parse_axes(["optimizer.lr=0.01, 0.1", "dataset.true_w=[1,2],[3,4]"])
    assert axes[1].values == ("[1,2]", "[3,4]")
    assert grid.points(axes) == [("optimizer.lr=0.01", "dataset.true_w=[1,2]"), ("optimizer.lr=0.01",
                                 "dataset.true_w=[3,4]"), ("optimizer.lr=0.1", "dataset.true_w=[1,2]"),
                                 ("optimizer.lr=0.1", "dataset.true_w=[3,4]")]
    log = grid.parse_axis("optimizer.lr=log:1e-4..1")
    assert (log.scale, log.low, log.high) == ("log", 1e-4, 1.0)
    assert grid.parse_axis("train.batch_size=8..64").scale == "int"
    assert grid.parse_axis("optimizer.lr=0.1..0.5").scale == "uniform"
    assert grid.point_name(3, ("optimizer.lr=0.1", "dataset.true_w=[1,2]")) == "003-lr=0.1-true_w=_1_2_"


def test_random_points_are_reproducible_and_in_range() -> None:
    axes = grid.parse_axes(["optimizer.lr=log:1e-4..1", "train.batch_size=int:8..64", "model.name=linreg,linear"])
    first = grid.points(axes, "random", 20, seed=7)
    assert first == grid.points(axes, "random", 20, seed=7) != grid.points(axes, "random", 20, seed=8)
    for point in first:
        values = dict(assignment.split("=") for assignment in point)
        assert 1e-4 <= float(values["optimizer.lr"]) <= 1 and 8 <= int(values["train.batch_size"]) <= 64
        assert values["model.name"] in ("linreg", "linear")
    lrs = [float(grid.parse_axis("optimizer.lr=log:1e-4..1").draw(random.Random(i))) for i in range(200)]
    assert sum(lr < 1e-2 for lr in lrs) > 60  # log-uniform: half the draws below 1e-2, not 1%


def test_random_points_are_distinct_and_a_space_too_small_for_the_trials_is_refused() -> None:
    axes = grid.parse_axes(["optimizer.lr=0.1,0.2", "train.batch_size=int:1..3"])
    for seed in range(20):  # 6 draws from 6 points: with replacement, all distinct 1.5% of the time
        drawn = grid.points(axes, "random", 6, seed=seed)
        assert len(set(drawn)) == 6
    assert len(set(grid.points(grid.parse_axes(["optimizer.lr=log:1e-3..0.3"]), "random", 5000))) == 5000
    with pytest.raises(MinidlError, match="--trials 7 is more than the 6 distinct points"):
        grid.points(axes, "random", 7)
    with pytest.raises(MinidlError, match="only 2 distinct points in 5000 draws"):
        grid.points(grid.parse_axes(["optimizer.lr=1e-3..1.001e-3"]), "random", 50)


@pytest.mark.parametrize("texts, sampler, trials, message", [
    ([], "grid", None, "empty grid"),
    (["optimizer.lr="], "grid", None, "gives no values"),
    (["optimizer.lr=0.1,,0.2"], "grid", None, "empty value"),
    (["lr=0.1"], "grid", None, "expected KIND.OPTION"),
    (["optimizer.lr=0.1", "optimizer.lr=0.2"], "grid", None, "given twice"),
    (["optimizer.lr=0.1,0.1"], "grid", None, "repeats a value"),
    (["optimizer.lr=log:1e-4..1"], "grid", None, "--sampler random"),
    (["optimizer.lr=0.1"], "grid", 3, "--trials"),
    (["optimizer.lr=0.1"], "random", None, "--trials N"),
    (["optimizer.lr=log:0..1"], "random", 2, "above 0"),
    (["optimizer.lr=1..0.5"], "random", 2, "first below"),
])
def test_bad_grids(texts: list[str], sampler: str, trials: int | None, message: str) -> None:
    with pytest.raises(MinidlError, match=message):
        grid.points(grid.parse_axes(texts), sampler, trials)


def test_recording_adds_no_per_step_work_and_writes_a_few_times(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from minidl.experiments import tracking

    per_step = ("on_batch_end", "on_before_optimizer_step", "on_epoch_start")
    assert not any(hasattr(tracking.IndexTracker, name) for name in per_step)
    writes: list[str] = []
    for name in ("put_run", "update_run"):
        original = getattr(RunIndex, name)
        monkeypatch.setattr(RunIndex, name, lambda self, *a, _f=original, _n=name: (writes.append(_n), _f(self, *a)))
    train("--out", str(root / "quick"), "--epochs", "20")
    assert writes == ["put_run", "put_run"]  # at the start and at the end: 20 quick epochs, no progress write
    writes.clear()
    monkeypatch.setattr(tracking, "PROGRESS_EVERY_S", 0.0)
    train("--out", str(root / "watched"), "--epochs", "3")
    assert writes == ["put_run", "update_run", "update_run", "update_run", "put_run"]


WRITER = """
import sys
from minidl.experiments.index import RunIndex
name, count = sys.argv[1], int(sys.argv[2])
for number in range(count):
    with RunIndex.open() as index:  # a fresh connection each time, as each train process has
        index.put_run({"id": f"{name}{number:04d}", "dir": f"/{name}/{number}", "status": "running"})
        index.update_run(f"{name}{number:04d}", {"status": "finished", "epochs_done": number})
"""


@pytest.mark.slow
def test_processes_writing_at_once_lose_nothing(root: Path) -> None:
    """WAL, a busy timeout and one BEGIN IMMEDIATE transaction per write: no write is lost or refused."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "MINIDL_RUNS": str(root)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, name, "400"], env=env, stderr=subprocess.PIPE,
                                text=True) for name in ("a", "b", "c", "d")]
    for writer in writers:
        assert writer.wait(timeout=300) == 0, writer.stderr.read() if writer.stderr else ""
    with RunIndex.open() as index:
        rows = index.runs(columns=["id", "status", "epochs_done"])
    assert len(rows) == 1600 and all(row["status"] == "finished" for row in rows)


def test_a_second_broken_index_in_the_same_second_never_replaces_the_first_set_aside(
        root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import datetime

    from minidl.experiments import reindex as module

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return datetime(2026, 12, 3, 12, 0, 0, tzinfo=tz)

    monkeypatch.setattr(module, "datetime", Frozen)
    moved = []
    for content in (b"first" * 1000, b"second" * 1000, b"third" * 1000):
        root.mkdir(exist_ok=True)
        (root / DB_NAME).write_bytes(content)
        moved.append(reindex().moved_aside)
    assert len(set(moved)) == 3 and [path.read_bytes()[:5] for path in moved] == [b"first", b"secon", b"third"]


def test_reindex_keeps_an_id_where_the_index_knew_it_and_tells_copied_sweeps_apart(root: Path) -> None:
    """A copy sorted first (runs/a copied from runs/b) took the id; a copied sweep replaced the original's row."""
    import shutil

    from minidl.experiments.sweep import SWEEP_FILE

    train("--out", str(root / "b"))
    original = json.loads((root / "b" / "run.json").read_text())["id"]
    shutil.copytree(root / "b", root / "a")
    result = CliRunner().invoke(create_cli(), ["sweep", "--grid", "optimizer.lr=0.01,0.1", "--epochs", "1",
                                               "--set", "dataset.num_examples=100", "--out", str(root / "s")])
    assert result.exit_code == 0, result.output
    sweep_id = json.loads((root / "s" / SWEEP_FILE).read_text())["id"]
    shutil.copytree(root / "s", root / "r")  # sorted before s
    done = reindex()
    copy = derived_id(root / "r")
    assert any(f"{root / 'r'} holds sweep id {sweep_id}" in line and copy in line for line in done.renamed)
    assert done.sweeps == 2 and done.runs == 6
    with RunIndex.open() as index:
        assert {run["dir"]: run["id"] for run in index.runs()}[str(root / "b")] == original
        assert {run["dir"]: run["id"] for run in index.runs()}[str(root / "a")] == derived_id(root / "a")
        assert sorted((sweep["id"], sweep["dir"]) for sweep in index.sweeps()) == \
            sorted([(sweep_id, str(root / "s")), (copy, str(root / "r"))])
        for identifier, directory in ((sweep_id, "s"), (copy, "r")):
            points = index.runs(where=[f"sweep={identifier}"])
            assert sorted(Path(run["dir"]).parent.name for run in points) == [directory, directory]


def test_reindex_looks_into_each_directory_once_however_many_links_lead_to_it(root: Path) -> None:
    """Two links to '.' in the runs root made the walk grow exponentially: reindex never ended."""
    import subprocess
    import sys

    train("--out", str(root / "a"))
    for name, target in (("l1", "."), ("l2", "."), ("alink", "a")):
        (root / name).symlink_to(target)
    done = subprocess.run([sys.executable, "-m", "minidl.cli", "runs", "reindex"], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "MINIDL_RUNS": str(root)})
    assert done.returncode == 0 and "indexed 1 run and 0 sweeps" in done.stdout, done.stderr
