"""A sweep directory and running its points.

``DIR/sweep.json`` holds the sweep's id, its grid, sampler and seed, the ``-p`` plugins
and every point (name and ``--set`` assignments); ``DIR/sweep.toml`` the configuration
shared by all points. Each point is an ordinary run directory ``DIR/NAME`` written by
``minidl train --config DIR/sweep.toml --set ... --out DIR/NAME``, so resuming a sweep
is resuming its points: a finished (or diverged) point is skipped, a half-done one
continues from its checkpoint, one that never saved an epoch starts again.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from minidl.errors import MinidlError
from minidl.experiments.rundir import SWEEP_FILE, SweepMemo, now, read_json
from minidl.run_layout import CHECKPOINT_FILE, CONFIG_FILE, RUN_FILE
from minidl.signals import Terminated

if TYPE_CHECKING:
    from minidl.experiments.index import RunIndex

BASE_FILE = "sweep.toml"  # the configuration every point starts from
LOCK_FILE = ".sweep.lock"  # held while a process runs the sweep
DONE = ("finished", "diverged")  # a point in one of these states is not run again
POLL_S = 0.05  # how often the parallel scheduler looks at its processes
STOP_WAIT_S = 60.0  # how long an interrupted point may take to save before it is killed


@dataclass(frozen=True)
class Point:
    """One run of the sweep: its number, directory name and ``--set`` assignments."""

    number: int
    name: str
    assignments: tuple[str, ...]


@dataclass
class Job:
    """A point to run now, and the ``minidl train`` arguments that run it."""

    point: Point
    args: list[str]  # after `minidl train`
    resumed: bool


Report = Callable[[Job, int, str], None]  # (job, exit code, output) once a job has ended


def new_spec(*, grid: Sequence[str], sampler: str, trials: int | None, seed: int, plugins: Sequence[str],
             points: Sequence[Point]) -> dict[str, Any]:
    """The content of a new ``sweep.json``."""
    return {"id": secrets.token_hex(4), "created": now(), "sampler": sampler, "seed": seed, "trials": trials,
            "grid": list(grid), "base": BASE_FILE, "plugins": list(plugins),
            "points": [{"name": point.name, "set": list(point.assignments)} for point in points]}


def check_new_dir(directory: Path) -> None:
    """Refuse a sweep directory that is a file, holds a sweep already, or holds anything else."""
    if directory.exists() and not directory.is_dir():
        raise MinidlError(f"sweep directory {str(directory)!r} is a file; give a directory")
    if not directory.exists():
        return
    if (directory / SWEEP_FILE).exists():
        raise MinidlError(f"{str(directory)!r} already holds a sweep; continue it with minidl sweep --resume "
                          f"{directory}, or give another directory")
    entries = sorted(entry.name for entry in directory.iterdir())
    if entries:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise MinidlError(f"sweep directory {str(directory)!r} holds something else ({shown}); "
                          "give a new or empty directory")


def create(directory: Path, spec: dict[str, Any], base_toml: str) -> None:
    """Write a new sweep's ``sweep.toml`` and ``sweep.json`` (after :func:`check_new_dir`)."""
    from minidl.checkpoint import WriteError, write_text

    try:
        directory.mkdir(parents=True, exist_ok=True)
        write_text(directory / BASE_FILE, base_toml)
    except WriteError as exc:
        raise MinidlError(f"cannot write the sweep into {str(directory)!r}: {exc.reason}") from None
    except OSError as exc:
        raise MinidlError(f"cannot write the sweep into {str(directory)!r}: {exc.strerror or exc}") from None
    write_spec(directory, spec)


def write_spec(directory: Path, spec: dict[str, Any]) -> None:
    """(Re)write ``directory/sweep.json`` atomically."""
    from minidl.checkpoint import WriteError, write_json

    try:
        write_json(directory / SWEEP_FILE, spec)
    except WriteError as exc:
        raise MinidlError(f"cannot write the sweep into {str(directory)!r}: {exc.reason}") from None


def load(directory: Path) -> tuple[dict[str, Any], list[Point]]:
    """A sweep's spec and points; :class:`MinidlError` when ``directory`` holds no sweep."""
    if not (directory / SWEEP_FILE).is_file():
        raise MinidlError(f"no sweep in {str(directory)!r} (it holds no {SWEEP_FILE}); start one with "
                          f"minidl sweep --grid KIND.OPTION=V1,V2 --out {directory}")
    spec = read_json(directory / SWEEP_FILE)
    where = str(directory / SWEEP_FILE)
    entries = spec.get("points") if isinstance(spec, dict) else None
    if not isinstance(spec, dict) or not isinstance(spec.get("id"), str) or not spec["id"].strip() \
            or not isinstance(entries, list):
        raise MinidlError(f"{where!r} is not a sweep spec written by minidl sweep (an object with an id and "
                          "a list of points)")
    points = []
    for number, entry in enumerate(entries):
        assignments = entry.get("set") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not isinstance(assignments, list) \
                or not all(isinstance(item, str) for item in assignments):
            raise MinidlError(f"{where!r}: point {number} is not a name and a list of --set assignments, "
                              'e.g. {"name": "000-lr=0.1", "set": ["optimizer.lr=0.1"]}')
        points.append(Point(number, entry["name"], tuple(assignments)))
    names: dict[str, int] = {}
    for point in points:  # a hand-edited or foreign spec: a point's run stays inside the sweep's directory
        if point.name in ("", ".", "..") or "/" in point.name or os.sep in point.name or "\0" in point.name:
            raise MinidlError(f"{where!r} names point {point.number} {point.name!r}, which is "
                              "not a directory name inside the sweep; accepted: one name without '/' (such as "
                              "003-lr=0.1)")
        if point.name in names:  # both would train into one directory
            raise MinidlError(f"{where!r} names points {names[point.name]} and {point.number} alike "
                              f"({point.name!r}); each point needs its own directory name")
        names[point.name] = point.number
    return spec, points


def base_config(directory: Path) -> Any:
    """The configuration every point of the sweep in ``directory`` starts from (``sweep.toml``)."""
    from minidl.config import load_config

    path = directory / BASE_FILE
    if not path.is_file():
        raise MinidlError(f"{str(path)!r}, the configuration its points share, is missing")
    return load_config(path)


def point_state(directory: Path) -> str:
    """``new``, ``done`` (finished or diverged), ``resume`` (a checkpoint to go on from) or ``restart``."""
    if not directory.exists() or not any(directory.iterdir()):
        return "new"
    try:
        status = read_json(directory / RUN_FILE).get("status")
    except (MinidlError, AttributeError):
        status = None
    if status in DONE:
        return "done"
    return "resume" if (directory / CHECKPOINT_FILE).is_file() and (directory / CONFIG_FILE).is_file() \
        else "restart"


def jobs(directory: Path, points: Sequence[Point], root: Path) -> tuple[list[Job], int]:
    """The jobs still to run, and how many points are done already."""
    todo, done = [], 0
    for point in points:
        point_dir = directory / point.name
        state = point_state(point_dir)
        if state == "done":
            done += 1
            continue
        tail = ["--quiet", "--runs-root", str(root)]
        if state == "resume":
            todo.append(Job(point, ["--resume", str(point_dir), *tail], resumed=True))
            continue
        sets = [item for assignment in point.assignments for item in ("--set", assignment)]
        overwrite = ["--overwrite"] if state == "restart" else []
        todo.append(Job(point, ["--config", str(directory / BASE_FILE), *sets, "--out", str(point_dir),
                                *overwrite, *tail], resumed=False))
    return todo, done


def status_of(job: Job, directory: Path, code: int) -> str:
    """How a point's run ended, from its ``run.json`` and the exit code."""
    if code in (130, 128 + signal.SIGTERM, -signal.SIGINT, -signal.SIGTERM):
        return "interrupted"
    try:
        status = read_json(directory / job.point.name / RUN_FILE).get("status")
    except (MinidlError, AttributeError):
        status = None
    if code == 0:
        return str(status or "failed")
    return str(status) if status in ("diverged", "failed") else "failed"


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold the sweep's lock: a second process running the same sweep is refused."""
    import fcntl

    with open(directory / LOCK_FILE, "a+") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise MinidlError(f"the sweep in {str(directory)!r} is being run by another process; "
                              "wait for it, or stop it and resume") from None
        yield


def record_points(index: RunIndex, directory: Path, spec: dict[str, Any],
                  points: Sequence[Point]) -> tuple[dict[str, Any], tuple[Path, str] | None]:
    """Record a resumed sweep's points as they are now, before any trains (hold :func:`locked`).

    A sweep moved elsewhere has its rows follow it; a copy of another sweep's directory
    (``cp -r``) gets a sweep id of its own and its points ids of their own (written into
    ``sweep.json`` and each ``run.json``), so the original keeps its rows. Only points not
    indexed where they are are written, in one transaction; ``sweep.json`` is read once.
    Returns the spec (with its new id for a copy) and, for a copy, the original's directory
    and id.
    """
    from minidl.experiments.rundir import copy_of, fresh_id, is_run_dir, run_row, write_id

    recorded = {row["id"]: row["dir"] for row in index.sweeps()}
    original = copy_of(directory, spec["id"], recorded.get(spec["id"]), SWEEP_FILE)
    copied_from = None
    if original is not None:
        copied_from = (original, spec["id"])
        spec = {**spec, "id": fresh_id(directory, recorded)}
        write_spec(directory, spec)
    known = dict(index.ids_and_dirs())
    memo: SweepMemo = {}
    rows = []
    for point in points:
        point_dir = directory / point.name
        if not is_run_dir(point_dir):
            continue  # not started yet, or lost: trained from the beginning
        try:
            recorded_id = read_json(point_dir / RUN_FILE).get("id")
        except (MinidlError, AttributeError):
            continue  # a damaged point: its own run says what is wrong
        if original is None and isinstance(recorded_id, str) and known.get(recorded_id) == str(point_dir):
            continue  # indexed where it is: its own run keeps its row up to date
        try:
            row = run_row(point_dir, memo)
        except MinidlError:
            continue
        if copy_of(point_dir, row["id"], known.get(row["id"]), RUN_FILE) is not None:
            row["id"] = fresh_id(point_dir, known)
            write_id(point_dir / RUN_FILE, row["id"])
        known[row["id"]] = str(point_dir)
        rows.append(row)
    index.put_runs(rows)
    return spec, copied_from


def run_in_turn(todo: Sequence[Job], execute: Callable[[list[str]], tuple[int, str]], report: Report) -> None:
    """Run the jobs one after another through ``execute`` (in this process)."""
    for job in todo:
        try:
            code, output = execute(job.args)
        except KeyboardInterrupt as exc:
            report(job, getattr(exc, "exit_code", 130), "")
            raise
        report(job, code, output)


def command_prefix(plugins: Sequence[str]) -> list[str]:
    """``python -P -m minidl.cli [-p PLUGIN]...``: the working directory stays off ``sys.path``."""
    return [sys.executable, "-P", "-m", "minidl.cli", *(item for spec in plugins for item in ("-p", spec))]


def run_parallel(todo: Sequence[Job], processes: int, prefix: Sequence[str], report: Report) -> None:
    """Run the jobs in up to ``processes`` ``minidl train`` processes at once.

    Each process has its own session, so Ctrl-C reaches this one only; it passes the
    signal on once (SIGINT, or SIGTERM when it got SIGTERM) and waits for every point
    to record how it ended.
    """
    pending = list(todo)
    running: dict[subprocess.Popen[bytes], tuple[Job, IO[bytes]]] = {}  # process -> (job, its output file)
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")
           or str(max(1, (os.cpu_count() or 1) // processes))}
    try:
        while pending or running:
            while pending and len(running) < processes:
                job = pending.pop(0)
                output: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 (closed by _read)
                process = subprocess.Popen([*prefix, "train", *job.args], stdout=output, stderr=subprocess.STDOUT,
                                           stdin=subprocess.DEVNULL, env=env, start_new_session=True)
                running[process] = (job, output)
            for process in [p for p in running if p.poll() is not None]:
                job, output = running.pop(process)
                report(job, process.returncode, _read(output))
            time.sleep(POLL_S)
    except KeyboardInterrupt as exc:
        _stop(running, signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT, report)
        raise


def _stop(running: dict[subprocess.Popen[bytes], tuple[Job, IO[bytes]]], signum: int, report: Report) -> None:
    for process in running:
        if process.poll() is None:
            process.send_signal(signum)
    for process, (job, log) in running.items():
        try:
            process.wait(timeout=STOP_WAIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        report(job, process.returncode, _read(log))


def _read(log: IO[bytes]) -> str:
    log.seek(0)
    text = log.read().decode("utf-8", "replace")
    log.close()
    return text
