"""``minidl runs reindex``: rebuild the run index from the run directories.

Indexed: every run directory under the runs root, every directory the old index named
(outside the root too) that still holds a run, and the directories given. A corrupt
index, or another program's database, is moved aside (renamed, never deleted) first.
A copied run or sweep directory (``cp -r``: another's id) keeps the id where the old
index knew it; the copy gets an id of its own, written into its ``run.json`` /
``sweep.json`` (nothing else there changes) so that it keeps it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from minidl.errors import MinidlError
from minidl.experiments.index import DB_NAME, RunIndex, RunIndexError, runs_root
from minidl.experiments.rundir import (
    SWEEP_FILE,
    SweepMemo,
    find_run_dirs,
    fresh_id,
    is_run_dir,
    read_json,
    run_row,
    write_id,
)
from minidl.run_layout import RUN_FILE

MOVABLE = ("unreadable", "foreign")  # reasons an index is moved aside; a newer one is left alone


@dataclass
class Reindexed:
    """What :func:`reindex` did."""

    runs: int = 0
    sweeps: int = 0
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (id, dir) whose directory is gone
    skipped: list[str] = field(default_factory=list)  # one line per unreadable run directory
    renamed: list[str] = field(default_factory=list)  # one line per run that shared another's id
    moved_aside: Path | None = None  # where a broken index went


def reindex(root: str | Path | None = None, extra: Sequence[str | Path] = ()) -> Reindexed:
    """Rebuild the index of ``root`` (default: ``$MINIDL_RUNS``, else ``runs``); see the module."""
    root = runs_root(root)
    result = Reindexed()
    known = _known_dirs(root, result)
    with RunIndex.open(root) as index:
        unreadable: dict[Path, str] = {}  # directory -> why
        rows = _rows(_candidates(root, known, extra), result, unreadable, set(known))
        kept = _kept_rows(index, unreadable, {row["id"] for row in rows})
        rows += kept
        kept_dirs = {Path(row["dir"]) for row in kept}
        result.skipped = [f"{directory}: {why}; " + ("kept as the index last recorded it" if directory in kept_dirs
                                                     else "left out of the index")
                          for directory, why in unreadable.items()]
        sweeps = _sweeps(root, rows, {(row["id"], row["dir"]) for row in index.sweeps()}, result)
        indexed = {row["dir"] for row in rows}
        ids = {row["id"] for row in rows}  # a run moved elsewhere is indexed there, not dropped
        result.dropped = [(run_id, directory) for run_id, directory in known
                          if directory not in indexed and run_id not in ids and not Path(directory).exists()]
        index.replace_all(rows, sweeps)
    result.runs, result.sweeps = len(rows), len(sweeps)
    return result


def _kept_rows(index: RunIndex, unreadable: Iterable[Path], taken: set[str]) -> list[dict[str, Any]]:
    """The old index's rows of the run directories that exist but cannot be read now (a damaged
    ``config.toml``, ``run.json``): a damaged file must not make a run vanish from the index."""
    wanted = {str(path) for path in unreadable}
    return [row for row in index.runs() if row["dir"] in wanted and row["id"] not in taken]


def _known_dirs(root: Path, result: Reindexed) -> list[tuple[str, str]]:
    """The (id, dir) pairs of the current index; a broken index is moved aside instead."""
    try:
        with RunIndex.open(root) as index:
            return index.ids_and_dirs()
    except RunIndexError as exc:
        if exc.reason not in MOVABLE:
            raise
        result.moved_aside = _move_aside(root / DB_NAME)
        return []


def _move_aside(path: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.broken-{stamp}")
    number = 1
    while any(Path(f"{target}{suffix}").exists() for suffix in ("", "-wal", "-shm")):
        number += 1  # one broken index already set aside this second: rename would replace it
        target = path.with_name(f"{path.name}.broken-{stamp}-{number}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            try:
                source.rename(f"{target}{suffix}")
            except OSError as exc:
                raise MinidlError(f"cannot move the broken run index {str(source)!r} aside: {exc.strerror}") from None
    return target


def _candidates(root: Path, known: Iterable[tuple[str, str]], extra: Sequence[str | Path]) -> list[Path]:
    found = dict.fromkeys(path.resolve() for path in find_run_dirs(root)) if root.is_dir() else {}
    for _, directory in known:
        if is_run_dir(Path(directory)):
            found.setdefault(Path(directory), None)
    for given in extra:
        path = Path(given)
        if not str(given).strip():  # Path("") is the current directory: never what was meant
            raise MinidlError("cannot index '': give a directory that holds run directories")
        if not path.is_dir():
            raise MinidlError(f"cannot index {str(given)!r}: " + ("not a directory" if path.exists()
                                                                 else "no such directory"))
        for run_dir in find_run_dirs(path):
            found.setdefault(run_dir.resolve(), None)
    return list(found)


def _rows(directories: Sequence[Path], result: Reindexed, unreadable: dict[Path, str],
          known: set[tuple[str, str]]) -> list[dict[str, Any]]:
    read: list[dict[str, Any]] = []
    sweeps: SweepMemo = {}
    for directory in directories:
        try:
            read.append(run_row(directory, sweeps))
        except (MinidlError, OSError) as exc:
            unreadable[directory] = str(exc)
    _own_ids_for_copies(read, known, RUN_FILE, "run", result)
    return read


def _own_ids_for_copies(rows: list[dict[str, Any]], known: set[tuple[str, str]], file_name: str, what: str,
                        result: Reindexed) -> dict[str, str]:
    """Give each row whose id another row has (a copied directory) an id of its own, written into
    its ``file_name`` so that it keeps it; the directory the index knew by the id keeps it. Returns
    the new ids by directory; each is reported in ``result``. ``rows`` ends in that order."""
    rows.sort(key=lambda row: (row["id"], row["dir"]) not in known)
    taken = {row["id"] for row in rows} | {identifier for identifier, _ in known}
    seen, renamed = set(), {}
    for row in rows:
        if row["id"] in seen:
            directory, shared = Path(row["dir"]), row["id"]
            row["id"] = renamed[row["dir"]] = fresh_id(directory, taken)
            taken.add(row["id"])
            kept = "written into its" if write_id(directory / file_name, row["id"]) else "its read-only"
            result.renamed.append(f"{directory} holds {what} id {shared} as another directory does (a copy); "
                                  f"indexed as {row['id']}, {kept} {file_name}")
        seen.add(row["id"])
    return renamed


def _sweeps(root: Path, rows: Sequence[dict[str, Any]], known: set[tuple[str, str]],
            result: Reindexed) -> list[dict[str, Any]]:
    """The sweeps' rows; a copied sweep directory (the id of another) is indexed by an id of
    its own, and so are its points' ``sweep`` (``sweep --resume`` of the copy writes it in)."""
    directories = {Path(row["dir"]).parent for row in rows if row.get("sweep")}
    if root.is_dir():
        directories.update(path.parent.resolve() for path in root.rglob(SWEEP_FILE))
    found = []
    for directory in sorted(directories):
        try:
            spec = read_json(directory / SWEEP_FILE)
        except MinidlError:
            continue
        if isinstance(spec, dict) and isinstance(spec.get("id"), str) and spec["id"]:
            found.append(sweep_row(directory, spec))
    renamed = _own_ids_for_copies(found, known, SWEEP_FILE, "sweep", result)
    for row in rows:  # the points of a renamed sweep (a run merely put into its folder has none)
        if row.get("sweep") is not None:
            row["sweep"] = renamed.get(str(Path(row["dir"]).parent), row["sweep"])
    return found


def sweep_row(directory: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """The index row of a sweep from its ``sweep.json``."""
    points = spec.get("points")
    text = {key: value if isinstance(value, str) else None for key, value in
            (("created", spec.get("created")), ("sampler", spec.get("sampler")))}
    return {"id": str(spec["id"]), "dir": str(directory.resolve()), **text,
            "points": len(points) if isinstance(points, list) else 0, "spec": json.dumps(spec, default=str)}
