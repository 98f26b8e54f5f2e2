"""The run index: one SQLite database per runs root (default ``runs/minidl.db``).

Every ``minidl train --out DIR`` writes its row at the start, at most every few seconds
at an epoch's end, and at the end; ``minidl runs reindex`` rebuilds every row from the
run directories, which stay the source of truth. Several processes may write at once:
the database is in WAL mode, a writer waits up to :data:`BUSY_TIMEOUT_S` for another,
and every change is one ``BEGIN IMMEDIATE`` transaction. A file that is no SQLite
database, or another program's, is a :class:`RunIndexError` naming it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from minidl.errors import MinidlError
from minidl.experiments.query import sort_expression, where_clause

RUNS_ENV = "MINIDL_RUNS"  # the runs root when --runs-root is not given
DEFAULT_ROOT = "runs"
DB_NAME = "minidl.db"
APPLICATION_ID = 0x6D646C69  # "mdli" in the file header: tells a minidl index from another database
SCHEMA_VERSION = 2  # PRAGMA user_version
#: Columns each schema version added to ``runs``: an older index gains them when opened.
ADDED_COLUMNS = {2: ("host TEXT", "pid INTEGER")}
BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another process's transaction

#: The schema, as documented in the README (``sqlite3 runs/minidl.db .schema``).
SCHEMA = """\
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,         -- 8 hex digits, also in DIR/run.json
    dir TEXT NOT NULL UNIQUE,    -- absolute path of the run directory
    sweep TEXT,                  -- id of the sweep it is a point of, or NULL
    status TEXT NOT NULL,        -- running, finished, diverged, interrupted, failed
    started TEXT,                -- ISO 8601 UTC, when training first started
    ended TEXT,                  -- ISO 8601 UTC, when it last ended (NULL while running)
    duration REAL,               -- seconds of training, over every invocation
    dataset TEXT, model TEXT, loss TEXT, optimizer TEXT,  -- component names
    lr REAL, batch_size INTEGER, epochs INTEGER, seed INTEGER,
    epochs_done INTEGER,         -- completed epochs
    final_loss REAL, final_test_loss REAL,  -- the last epoch's
    best_loss REAL, best_test_loss REAL,    -- the lowest of any epoch
    final TEXT,                  -- JSON: the last epoch's record (every metric)
    best TEXT,                   -- JSON: each metric's best (lowest; highest for *accuracy)
    config TEXT,                 -- JSON: the resolved configuration (DIR/config.toml)
    command TEXT,                -- JSON: the last command line, a list of strings
    versions TEXT,               -- JSON: DIR/versions.json
    stop_reason TEXT,            -- why training stopped early (e.g. early stopping)
    error TEXT,                  -- why it failed or diverged
    host TEXT, pid INTEGER,      -- where the last invocation ran: a dead pid on this host means killed
    updated TEXT                 -- ISO 8601 UTC, when this row was last written
);
CREATE INDEX IF NOT EXISTS runs_by_sweep ON runs (sweep);
CREATE INDEX IF NOT EXISTS runs_by_started ON runs (started);
CREATE TABLE IF NOT EXISTS sweeps (
    id TEXT PRIMARY KEY,         -- 8 hex digits, also in DIR/sweep.json
    dir TEXT NOT NULL UNIQUE,    -- absolute path of the sweep directory
    created TEXT,                -- ISO 8601 UTC
    sampler TEXT,                -- grid or random
    points INTEGER,              -- how many runs the sweep trains
    spec TEXT                    -- JSON: DIR/sweep.json (grid, sampler, seed, base config, points)
);
"""
RUN_COLUMNS = ("id", "dir", "sweep", "status", "started", "ended", "duration", "dataset", "model", "loss",
               "optimizer", "lr", "batch_size", "epochs", "seed", "epochs_done", "final_loss",
               "final_test_loss", "best_loss", "best_test_loss", "final", "best", "config", "command",
               "versions", "stop_reason", "error", "host", "pid", "updated")
SWEEP_COLUMNS = ("id", "dir", "created", "sampler", "points", "spec")


class RunIndexError(MinidlError):
    """The index file is missing, unreadable, corrupt or not a minidl run index.

    ``reason`` is one of missing, open, unreadable (corrupt or not SQLite), foreign
    (another program's database), newer (a newer schema) or locked.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def runs_root(given: str | os.PathLike[str] | None = None) -> Path:
    """The runs root: ``given`` (``--runs-root``), else ``$MINIDL_RUNS``, else ``runs``."""
    return Path(given or os.environ.get(RUNS_ENV) or DEFAULT_ROOT)


def reindex_hint(root: Path) -> str:
    """The command that rebuilds the index of ``root``."""
    default = os.environ.get(RUNS_ENV) or DEFAULT_ROOT
    suffix = "" if Path(default) == root else f" --runs-root {root}"
    return f"minidl runs reindex{suffix}"


class RunIndex:
    """An open run index; use as a context manager or call :meth:`close`."""

    def __init__(self, root: Path, connection: sqlite3.Connection) -> None:
        self.root, self.path, self._db = root, root / DB_NAME, connection

    @classmethod
    def open(cls, root: str | os.PathLike[str] | None = None, *, create: bool = True) -> RunIndex:
        """Open (creating it and ``root`` when ``create``) the index of a runs root.

        Raises :class:`RunIndexError` naming the file when it cannot be opened, is no
        SQLite database, belongs to another program or to a newer minidl.
        """
        root = runs_root(root)
        path = root / DB_NAME
        if not create and not path.is_file():
            raise RunIndexError(f"no run index at {str(path)!r} yet: record a run with minidl train --out DIR, "
                                f"or build it from run directories with {reindex_hint(root)}", "missing")
        if path.exists() and not path.is_file():
            raise RunIndexError(f"run index {str(path)!r} is not a file; give another --runs-root", "open")
        try:
            root.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise RunIndexError(f"cannot open run index {str(path)!r}: {exc}", "open") from None
        index = cls(root, connection)
        try:
            index._check_or_create()
        except BaseException:
            connection.close()
            raise
        return index

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> RunIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- opening -------------------------------------------------------------------------
    def _check_or_create(self) -> None:
        with self._guard():
            self._db.execute("PRAGMA synchronous = NORMAL")  # WAL: durable across crashes, no fsync per commit
            if self._kind() == "new":
                if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self._db.execute("PRAGMA journal_mode = WAL")
                with self.transaction():
                    if self._kind() == "new":  # another process may have created it meanwhile
                        for statement in SCHEMA.split(";\n"):
                            if statement.strip():
                                self._db.execute(statement)
                        self._db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                        self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            kind = self._kind()
            if kind == "minidl" and self._version() < SCHEMA_VERSION:
                self._upgrade()
        if kind == "foreign":
            raise RunIndexError(
                f"run index {str(self.path)!r} is another program's SQLite database, not a minidl run index; "
                f"give another --runs-root, or {reindex_hint(self.root)} moves it aside and rebuilds the index",
                "foreign")
        if kind == "newer":
            raise RunIndexError(f"run index {str(self.path)!r} was written by a newer minidl (schema "
                                f"{self._version()}, this one reads {SCHEMA_VERSION}); upgrade minidl", "newer")

    def _upgrade(self) -> None:
        """Add the columns of the later schema versions (once: the version is checked inside)."""
        with self.transaction():
            version = self._version()
            for added in range(version + 1, SCHEMA_VERSION + 1):
                for column in ADDED_COLUMNS.get(added, ()):
                    self._db.execute(f"ALTER TABLE runs ADD COLUMN {column}")
            self._db.execute(f"PRAGMA user_version = {max(version, SCHEMA_VERSION)}")

    def _kind(self) -> str:
        app = self._db.execute("PRAGMA application_id").fetchone()[0]
        tables = self._db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if app == 0 and tables == 0:
            return "new"
        if app != APPLICATION_ID:
            return "foreign"
        return "newer" if self._version() > SCHEMA_VERSION else "minidl"

    def _version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn SQLite's errors into one line naming the file."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise RunIndexError(f"run index {str(self.path)!r} stayed locked by another process for "
                                    f"{BUSY_TIMEOUT_S:.0f} s; try again", "locked") from None
            raise RunIndexError(f"run index {str(self.path)!r} is unreadable ({exc}); rebuild it from the "
                                f"run directories with {reindex_hint(self.root)}", "unreadable") from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken at once (``BEGIN IMMEDIATE``), so writers queue, never deadlock."""
        with self._guard():
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- writing -------------------------------------------------------------------------
    def put_run(self, row: Mapping[str, Any]) -> None:
        """Insert or update a run by id; another run recorded in the same directory is dropped."""
        with self.transaction() as db:
            _put_run(db, row)

    def update_run(self, run_id: str, fields: Mapping[str, Any]) -> None:
        """Change some columns of a run."""
        _check_columns(fields, RUN_COLUMNS)
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self.transaction() as db:
            db.execute(f"UPDATE runs SET {assignments} WHERE id = ?", (*fields.values(), run_id))

    def put_sweep(self, row: Mapping[str, Any]) -> None:
        """Insert or update a sweep by id."""
        with self.transaction() as db:
            _put_sweep(db, row)

    def replace_all(self, runs: Sequence[Mapping[str, Any]], sweeps: Sequence[Mapping[str, Any]]) -> None:
        """Replace every row, in one transaction (what ``runs reindex`` writes)."""
        with self.transaction() as db:
            db.execute("DELETE FROM runs")
            db.execute("DELETE FROM sweeps")
            for sweep in sweeps:
                _put_sweep(db, sweep)
            for run in runs:
                _put_run(db, run)

    # -- reading -------------------------------------------------------------------------
    def runs(self, *, columns: Sequence[str] = RUN_COLUMNS, where: Sequence[str] = (), sort: str | None = None,
             descending: bool = False, limit: int | None = None) -> list[dict[str, Any]]:
        """Runs as dicts of ``columns``; ``where`` holds ``KEY=VALUE`` filters (also ``!=, <, >, <=, >=``).

        ``sort`` is a metric of the last epoch (``test_loss``), ``best.METRIC``, a column
        or a configuration key; without it the newest run comes first.
        """
        _check_columns(dict.fromkeys(columns), RUN_COLUMNS)
        clauses, params = zip(*(where_clause(text) for text in where)) if where else ((), ())
        sql = f"SELECT {', '.join(columns)} FROM runs"
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        order = f"{sort_expression(sort)} {'DESC' if descending else 'ASC'} NULLS LAST, " if sort else ""
        sql += f" ORDER BY {order}started DESC, id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._guard():
            cursor = self._db.execute(sql, [param for group in params for param in group])
            return [dict(zip(columns, values)) for values in cursor]

    def ids_and_dirs(self) -> list[tuple[str, str]]:
        """Every run's id and directory."""
        with self._guard():
            return [(row[0], row[1]) for row in self._db.execute("SELECT id, dir FROM runs")]

    def sweeps(self) -> list[dict[str, Any]]:
        """Every sweep as a dict of :data:`SWEEP_COLUMNS`."""
        with self._guard():
            cursor = self._db.execute(f"SELECT {', '.join(SWEEP_COLUMNS)} FROM sweeps")
            return [dict(zip(SWEEP_COLUMNS, values)) for values in cursor]


def _check_columns(fields: Mapping[str, Any], accepted: Sequence[str]) -> None:
    unknown = [name for name in fields if name not in accepted]
    if unknown:  # a programming error: the names are interpolated into SQL
        raise ValueError(f"unknown index columns {unknown}; accepted: {', '.join(accepted)}")


def _put_run(db: sqlite3.Connection, row: Mapping[str, Any]) -> None:
    _check_columns(row, RUN_COLUMNS)
    db.execute("DELETE FROM runs WHERE dir = ? AND id != ?", (row["dir"], row["id"]))
    _upsert(db, "runs", row)


def _put_sweep(db: sqlite3.Connection, row: Mapping[str, Any]) -> None:
    _check_columns(row, SWEEP_COLUMNS)
    db.execute("DELETE FROM sweeps WHERE dir = ? AND id != ?", (row["dir"], row["id"]))
    _upsert(db, "sweeps", row)


def _upsert(db: sqlite3.Connection, table: str, row: Mapping[str, Any]) -> None:
    names = list(row)
    updates = ", ".join(f"{name} = excluded.{name}" for name in names if name != "id")
    db.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))}) "
               f"ON CONFLICT (id) DO UPDATE SET {updates}", list(row.values()))
