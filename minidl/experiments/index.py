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

from minidl.checkpoint import WriteError
from minidl.errors import MinidlError
from minidl.experiments.query import WHERE_COLUMNS, Where, key_expression, parse_where, sort_expression, where_clause
from minidl.experiments.schema import (
    ADDED_COLUMNS,
    APPLICATION_ID,
    RUN_COLUMNS,
    SCHEMA,
    SCHEMA_VERSION,
    SWEEP_COLUMNS,
)

RUNS_ENV = "MINIDL_RUNS"  # the runs root when --runs-root is not given
DEFAULT_ROOT = "runs"
DB_NAME = "minidl.db"
BUSY_TIMEOUT_S = 30.0  # how long a writer waits for another process's transaction
MAX_LIMIT = 2**63 - 1  # SQLite's largest LIMIT; a larger --limit means no limit
#: What SQLite says when the file or its folder cannot be opened or written (permissions, a
#: read-only disk, a full one): the index itself is fine, so it is never moved aside.
IO_TROUBLE = ("unable to open", "readonly", "read-only", "disk i/o", "full", "permission", "out of memory")

class RunIndexError(MinidlError):
    """The index file is missing, unreadable, corrupt or not a minidl run index.

    ``reason`` is one of missing, open, unreadable (corrupt or not SQLite), foreign
    (another program's database), newer (a newer schema) or locked.
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class RunIndexUnavailableError(RunIndexError, WriteError):
    """The index is fine but cannot be used now: locked by another process, a read-only or full disk.

    A runtime failure, not bad input: the command line exits with code 1 (as for a
    :class:`~minidl.checkpoint.WriteError`). ``reason`` is ``locked`` or ``open``.
    """

    def __init__(self, message: str, reason: str, path: Path) -> None:
        MinidlError.__init__(self, message)
        self.reason, self.path, self.what = reason, path, "run index"


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
        self.read_only = False  # opened read-only: the folder or disk cannot be written

    @classmethod
    def open(cls, root: str | os.PathLike[str] | None = None, *, create: bool = True) -> RunIndex:
        """Open (creating it and ``root`` when ``create``) the index of a runs root.

        Raises :class:`RunIndexError` naming the file when it cannot be opened, is no
        SQLite database, belongs to another program or to a newer minidl.
        """
        root = runs_root(root)
        path = root / DB_NAME
        if root.exists() and not root.is_dir():
            raise RunIndexError(f"runs root {str(root)!r} is not a directory; give a directory as --runs-root "
                                f"(or ${RUNS_ENV})", "open")
        if path.exists() and not path.is_file():
            raise RunIndexError(f"run index {str(path)!r} is not a file; give another --runs-root", "open")
        if not create and not path.is_file():
            raise RunIndexError(f"no run index at {str(path)!r} yet: record a run with minidl train --out DIR, "
                                f"or build it from run directories with {reindex_hint(root)}", "missing")
        try:
            return cls._connect(root, path, read_only=False)
        except RunIndexUnavailableError as exc:
            if create or exc.reason != "open":
                raise
            failure = exc
        # a read-only folder or disk (shared results): read the index as it is, without its -shm file
        try:
            return cls._connect(root, path, read_only=True)
        except RunIndexError:
            raise failure from None

    @classmethod
    def _connect(cls, root: Path, path: Path, *, read_only: bool) -> RunIndex:
        try:
            if read_only:
                connection = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True,
                                             isolation_level=None)
            else:
                root.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise RunIndexUnavailableError(f"cannot open run index {str(path)!r}: {reason}", "open", path) from None
        index = cls(root, connection)
        index.read_only = read_only
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
            if kind == "new" and self.read_only:
                raise RunIndexError(f"run index {str(self.path)!r} is empty and cannot be written", "open")
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
        except (sqlite3.ProgrammingError, sqlite3.InterfaceError, sqlite3.IntegrityError, sqlite3.DataError):
            raise  # minidl's own mistake (a value of the wrong type), not the file's: never "rebuild it"
        except sqlite3.DatabaseError as exc:
            text = str(exc).lower()
            if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
                raise RunIndexUnavailableError(f"run index {str(self.path)!r} stayed locked by another process "
                                               f"for {BUSY_TIMEOUT_S:.0f} s; try again", "locked",
                                               self.path) from None
            if isinstance(exc, sqlite3.OperationalError) and any(words in text for words in IO_TROUBLE):
                raise RunIndexUnavailableError(f"cannot use run index {str(self.path)!r}: {exc} (is its folder "
                                               "read-only, or the disk full?)", "open", self.path) from None
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

    def put_runs(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """:meth:`put_run` for each of ``rows``, in one transaction."""
        with self.transaction() as db:
            for row in rows:
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
        order = f"{sort_expression(sort)} {'DESC' if descending else 'ASC'} NULLS LAST, " \
            if sort is not None else ""
        sql += f" ORDER BY {order}started DESC, id"
        if limit is not None:
            sql += f" LIMIT {min(int(limit), MAX_LIMIT)}"
        with self._guard():
            cursor = self._db.execute(sql, [param for group in params for param in group])
            return [dict(zip(columns, values)) for values in cursor]

    def check_query(self, where: Sequence[str] = (), sort: str | None = None) -> None:
        """Refuse a ``--where`` or ``--sort`` key that no run in the index has (a typo: it would match
        nothing, or order nothing), or text compared with a setting that holds only numbers.

        Nothing is refused while the index holds no runs, nor metrics while no run has finished an epoch.
        """
        checks: list[tuple[Where | None, str]] = [(parse_where(text), "where") for text in where]
        if sort is not None:
            sort_expression(sort)  # its syntax
            checks.append((None, "sort"))
        for parsed, option in checks:
            key = parsed.key if parsed is not None else str(sort)
            if key in WHERE_COLUMNS and (key != "loss" or option == "where"):
                continue  # a column: always there
            metric = "." not in key
            expression = f"json_extract(final, '$.\"{key}\"')" if metric else key_expression(key, option)
            with self._guard():
                total, present, numbers, finished = self._db.execute(
                    f"SELECT count(*), count({expression}), sum(typeof({expression}) IN ('integer', 'real')), "
                    "count(nullif(final, '{}')) FROM runs").fetchone()
            kind = key.split(".", 1)[0]
            if not total or (not finished and (metric or kind in ("final", "best"))):
                continue
            given = f"--{option} {parsed.text if parsed is not None else key!r}"
            if not present:
                raise MinidlError(f"{given}: no run in {str(self.path)!r} has {key!r}; "
                                  f"{self._known_keys(key, metric)}")
            if parsed is not None and isinstance(parsed.value, str) and numbers == present:
                raise MinidlError(f"{given}: {key} holds numbers in every run that has it; got "
                                  f"{parsed.value!r}")

    def _known_keys(self, key: str, metric: bool) -> str:
        """What the runs have instead of ``key``: the closest names, else them all."""
        import difflib
        import json

        from minidl.config import flatten

        column = "final" if metric else key.split(".", 1)[0]
        column = column if column in ("final", "best") else "config"
        names: set[str] = set()
        with self._guard():
            for (text,) in self._db.execute(f"SELECT DISTINCT {column} FROM runs WHERE {column} IS NOT NULL"):
                try:
                    value = json.loads(text)
                except ValueError:
                    continue
                if isinstance(value, dict):
                    names.update(flatten(value) if column == "config" else
                                 (f"{column}.{name}" for name in value if name != "epoch"))
        if metric:  # --sort METRIC: they are few, name them all
            metrics = sorted(name.removeprefix("final.") for name in names)
            return (f"their metrics: {', '.join(metrics) or '(none)'}; or a column ({', '.join(WHERE_COLUMNS)}) "
                    "or a setting such as optimizer.lr")
        close = difflib.get_close_matches(key, sorted(names), n=3, cutoff=0.5)
        if close:
            return f"did you mean {', '.join(close)}?"
        shown = sorted(names)
        what = "their metrics" if column != "config" else "their settings"
        return f"{what}: {', '.join(shown[:12])}{', ...' if len(shown) > 12 else ''}" if shown else \
            f"they have no {what.removeprefix('their ')}"

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
