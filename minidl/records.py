"""Run records: what ``minidl train --out DIR`` leaves in DIR, and resuming from it.

DIR holds ``config.toml`` (the resolved configuration: ``--config DIR/config.toml``
re-runs it), ``versions.json`` (Python, minidl, torch, numpy, pluggy, click and every
loaded plugin), ``run.json`` (the seed, each command line and when it started),
``metrics.csv`` and ``metrics.jsonl`` (one row per epoch) and ``checkpoint.pt`` (the
trainer's state after the last completed epoch, written atomically every epoch).
``run.json`` also holds the run's ``id`` (kept on resume) and ``status`` (running,
then what :meth:`RunRecorder.finish` recorded): what ``minidl runs reindex`` reads.

A write that fails (a full disk, a read-only folder) is a :class:`~minidl.checkpoint.WriteError`
naming the file; whatever it was writing is left as it was (a metrics row half
appended is taken back), so ``checkpoint.pt`` always holds the last completed epoch.

This module writes the records (:class:`RunRecorder`); reading a run back is
:mod:`minidl.saved_run`'s (:func:`load_run` gives it back as built components,
:func:`read_run` as its configuration and checkpoint, :func:`read_metrics` its rows),
the file names are :mod:`minidl.run_layout`'s and ``versions.json`` is
:mod:`minidl.versions`'; all are importable from here too.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import platform
import secrets
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minidl.checkpoint import (
    WriteError,
    reason_of,
    remove_stale_temporaries,
    save_checkpoint,
    write_json,
    write_text,
)
from minidl.errors import MinidlError
from minidl.hookspecs import hookimpl
from minidl.run_layout import (
    CHECKPOINT_FILE,
    CONFIG_FILE,
    DATA_PLOT,
    EVENT_FILES,
    LOSS_PLOT,
    METRICS_CSV,
    METRICS_JSONL,
    RECORD_FILES,
    RUN_FILE,
    VERSIONS_FILE,
)
from minidl.saved_run import SavedRun, load_run, read_metrics, read_run
from minidl.versions import OPTIONAL_PACKAGES, REQUIRED_PACKAGES, collect_versions

if TYPE_CHECKING:
    from minidl.run import Run
    from minidl.trainer import History, Trainer

__all__ = [
    "CHECKPOINT_FILE", "CONFIG_FILE", "DATA_PLOT", "EVENT_FILES", "LOSS_PLOT", "METRICS_CSV", "METRICS_JSONL",
    "OPTIONAL_PACKAGES", "RECORD_FILES", "REQUIRED_PACKAGES", "RUN_FILE", "VERSIONS_FILE",
    "RunRecorder", "SavedRun", "check_out_dir", "collect_versions", "load_run", "read_metrics", "read_run",
    "run_dir_of",
]


class RunRecorder:
    """Writes a run's records into ``out`` while it trains; a callback object.

    ``RunRecorder(out)`` only checks the directory, writing nothing: ``out`` must not be
    a file, and an existing non-empty directory is refused unless ``overwrite`` (the
    files of the old run are then replaced) or ``resume`` (the run continues there).
    :meth:`start` writes the configuration and versions and attaches the recorder to
    the run's trainer; during ``fit`` it appends a metrics row and saves the checkpoint
    after every epoch.
    """

    def __init__(self, out: str | Path, *, overwrite: bool = False, resume: bool = False) -> None:
        self.out = Path(out)
        self.overwrite, self.resume = overwrite, resume
        check_out_dir(self.out, overwrite=overwrite, resume=resume)
        self._columns: list[str] = []
        self._rows: list[dict[str, Any]] = []
        self._invocations: list[dict[str, Any]] = []
        self._command: list[str] = []
        self._config_text: str = ""
        self._versions: dict[str, Any] = {}
        self.saved_epoch: int | None = None  # the epoch checkpoint.pt holds, once written by this run
        self.run_id = ""  # 8 hex digits, set by start: new, or the resumed run's own
        self._seed: int | None = None

    @property
    def checkpoint_path(self) -> Path:
        """Where the checkpoint of the last completed epoch is."""
        return self.out / CHECKPOINT_FILE

    def saved_note(self) -> str:
        """What is safe on disk, for a message after a failure: the epoch and how to go on."""
        if self.saved_epoch is None:
            return f"no epoch was completed, nothing saved (minidl train --resume {self.out} starts it again)"
        return (f"epoch {self.saved_epoch} is saved in {self.checkpoint_path}; "
                f"continue with: minidl train --resume {self.out}")

    def start(self, run: Run, *, argv: Sequence[str] | None = None) -> RunRecorder:
        """Create ``out``, write ``config.toml`` and ``versions.json``, attach to ``run``.

        ``argv`` is the command line recorded in ``run.json`` (default ``sys.argv``).
        Call before ``run.fit()``; returns the recorder.
        """
        try:
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MinidlError(f"cannot create output directory {str(self.out)!r}: {exc.strerror}") from None
        if not os.access(self.out, os.W_OK | os.X_OK):
            raise MinidlError(f"output directory {str(self.out)!r} is not writable")
        remove_stale_temporaries(self.out, RECORD_FILES)  # left by a process killed mid-write
        previous = _read_run_record(self.out / RUN_FILE) if self.resume else {}
        invocations, run_id = previous.get("invocations"), previous.get("id")
        self._invocations = list(invocations) if isinstance(invocations, list) else []
        self.run_id = (run_id if isinstance(run_id, str) else "") or secrets.token_hex(4)
        if self.overwrite:
            for path in [*(self.out / name for name in RECORD_FILES), *self.out.glob(EVENT_FILES)]:
                path.unlink(missing_ok=True)
        self._command = list(sys.argv if argv is None else argv)
        # written at fit start, once a resumed state has loaded: a failed resume changes nothing
        self._config_text = run.config.to_toml()
        self._versions = collect_versions(run.trainer.plugins)
        run.trainer.callbacks.append(self)
        return self

    # -- training events -------------------------------------------------------------------
    @hookimpl
    def on_fit_start(self, trainer: Trainer) -> None:
        """Record this invocation; rewrite the metrics files from the trainer's history.

        After a resume the history holds exactly the checkpoint's epochs, so rows of an
        epoch that was interrupted before its checkpoint are dropped, never duplicated.
        """
        if trainer.epoch > 0 and self.checkpoint_path.exists():  # resumed: its checkpoint is still good
            self.saved_epoch = trainer.epoch  # first: a write below may fail, and the message names it
        write_text(self.out / CONFIG_FILE, self._config_text)
        write_json(self.out / VERSIONS_FILE, self._versions)
        self._invocations.append({
            "command": self._command,
            "started": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "start_epoch": trainer.epoch,
            "host": platform.node(), "pid": os.getpid(),  # so `runs list` tells a killed run from a running one
        })
        self._seed = trainer.seed
        self._write_run_file("running")
        self._rows = [dict(record) for record in trainer.history]
        self._columns = _columns(self._rows)
        self._rewrite_metrics()

    @hookimpl(trylast=True)  # after every other plugin has added to or acted on the record
    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Append the epoch's row to the metrics files, then save the checkpoint."""
        row = dict(metrics)
        self._rows.append(row)
        _append(self.out / METRICS_JSONL, json.dumps(row) + "\n")
        if set(row) <= set(self._columns):
            _append(self.out / METRICS_CSV, _csv_text(self._columns, [row], header=False))
        else:  # a new column: the header changes, so the whole file is written again
            self._columns = _columns(self._rows)
            write_text(self.out / METRICS_CSV, _csv_text(self._columns, self._rows))
        # The trainer counts the epoch and appends its record only after this hook.
        state = trainer.state_dict()
        state["epoch"], state["history"] = epoch, [*trainer.history.records, row]
        self._save(state)
        self.saved_epoch = epoch

    @hookimpl
    def on_fit_end(self, trainer: Trainer, history: History) -> None:
        """Save the final state (also when no epoch ran, e.g. resuming a finished run)."""
        self._save(trainer.state_dict())

    def _save(self, state: dict[str, Any]) -> None:
        """The checkpoint, with the configuration ``config.toml`` must still hold when the run is read back."""
        save_checkpoint(self.checkpoint_path, {**state, "config": self._config_text} if self._config_text else state)

    def finish(self, status: str, **details: str | None) -> bool:
        """Record in ``run.json`` how this invocation ended (finished, diverged, interrupted, failed).

        ``details`` (e.g. ``error``, ``stop_reason``) go into the invocation's entry when not
        None. Returns False, writing nothing, when training never started (nothing was recorded).
        """
        if not self._invocations or "ended" in self._invocations[-1]:
            return False
        self._invocations[-1].update({"ended": datetime.now(UTC).isoformat(timespec="milliseconds"),
                                     "status": status})
        self._invocations[-1].update({key: value for key, value in details.items() if value is not None})
        try:
            self._write_run_file(status)
        except WriteError:
            if status == "finished":
                raise
            return False  # the run already failed (a full disk?): its own error is the one to report
        return True

    def _write_run_file(self, status: str) -> None:
        write_json(self.out / RUN_FILE, {"id": self.run_id, "status": status, "seed": self._seed,
                                          "invocations": self._invocations})

    def _rewrite_metrics(self) -> None:
        write_text(self.out / METRICS_CSV, _csv_text(self._columns, self._rows))
        write_text(self.out / METRICS_JSONL, "".join(json.dumps(row) + "\n" for row in self._rows))


def check_out_dir(out: Path, *, overwrite: bool = False, resume: bool = False) -> None:
    """Raise :class:`MinidlError` when ``out`` cannot receive a new run's records."""
    if out.exists() and not out.is_dir():
        raise MinidlError(f"output directory {str(out)!r} is a file; give a directory")
    if overwrite or resume or not out.exists():
        return
    entries = sorted(entry.name for entry in out.iterdir())
    if entries:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        unfinished = CONFIG_FILE in entries and CHECKPOINT_FILE not in entries
        also = f", or --resume {out} to train it from the beginning" if unfinished else ""
        raise MinidlError(
            f"output directory {str(out)!r} is not empty ({shown}); "
            f"use --overwrite to replace its run{also}, or another directory"
        )


def run_dir_of(trainer: Any) -> Path | None:
    """The directory a :class:`RunRecorder` keeps ``trainer``'s run in, or None."""
    for callback in getattr(trainer, "callbacks", ()):
        if isinstance(callback, RunRecorder):
            return callback.out
    return None


def _read_run_record(path: Path) -> dict[str, Any]:
    """The ``run.json`` of the run being resumed; {} when there is none.

    One that cannot be read (its permissions) or is not a JSON object is a
    :class:`MinidlError` naming it: resuming would replace it, and with it the run's id
    and every earlier invocation.
    """
    fix = "; restore it, or remove it to resume with a new run record"
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise MinidlError(f"cannot read {str(path)!r}: {reason_of(exc)}{fix}") from None
    try:
        record = json.loads(text.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise MinidlError(f"{str(path)!r} is damaged: not JSON text{fix}") from None
    if not isinstance(record, dict):
        raise MinidlError(f"{str(path)!r} is damaged: a JSON {type(record).__name__}, not an object{fix}")
    return record


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


def _csv_text(columns: Sequence[str], rows: Sequence[Mapping[str, Any]], *, header: bool = True) -> str:
    if not columns:
        return ""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _append(path: Path, text: str) -> None:
    """Append ``text`` to ``path`` whole or not at all: a failed write is truncated away.

    A full disk may take part of a row; a half row would make the file unreadable, so
    the file is cut back to its old length (which frees the space that needs).
    """
    data = text.encode("utf-8")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    except OSError as exc:
        raise WriteError(path, reason_of(exc)) from None
    try:
        with _cut_back_on_failure(fd):
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
    except OSError as exc:
        raise WriteError(path, reason_of(exc)) from None
    finally:
        os.close(fd)


@contextlib.contextmanager
def _cut_back_on_failure(fd: int) -> Iterator[None]:
    size = os.fstat(fd).st_size
    try:
        yield
    except BaseException:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise
