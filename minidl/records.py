"""Run records: what ``minidl train --out DIR`` leaves in DIR, and resuming from it.

DIR holds ``config.toml`` (the resolved configuration: ``--config DIR/config.toml``
re-runs it), ``versions.json`` (Python, minidl, torch, numpy, pluggy, click and every
loaded plugin), ``run.json`` (the seed, each command line and when it started),
``metrics.csv`` and ``metrics.jsonl`` (one row per epoch) and ``checkpoint.pt`` (the
trainer's state after the last completed epoch, written atomically every epoch).
``run.json`` also holds the run's ``id`` (kept on resume) and ``status`` (running,
then what :meth:`RunRecorder.finish` recorded): what ``minidl runs reindex`` reads.
"""

from __future__ import annotations

import csv
import importlib.metadata
import io
import json
import os
import platform
import secrets
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minidl.checkpoint import atomic_open, load_checkpoint, save_checkpoint
from minidl.errors import CheckpointError, MinidlError
from minidl.hookspecs import hookimpl

if TYPE_CHECKING:
    from minidl.config import RunConfig
    from minidl.plugins import Plugins
    from minidl.run import Run
    from minidl.trainer import History, Trainer

CONFIG_FILE = "config.toml"
VERSIONS_FILE = "versions.json"
RUN_FILE = "run.json"
METRICS_CSV = "metrics.csv"
METRICS_JSONL = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
DATA_PLOT = "data.png"  # written by ``minidl train --plot``
LOSS_PLOT = "loss.png"
#: Every file a run writes; ``overwrite=True`` replaces these and leaves anything else alone.
RECORD_FILES = (CONFIG_FILE, VERSIONS_FILE, RUN_FILE, METRICS_CSV, METRICS_JSONL, CHECKPOINT_FILE,
                DATA_PLOT, LOSS_PLOT)
OPTIONAL_PACKAGES = ("matplotlib", "tensorboard")  # recorded when installed
REQUIRED_PACKAGES = ("numpy", "pluggy", "click")


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
        self._invocations = _read_invocations(self.out / RUN_FILE) if self.resume else []
        self.run_id = (_read_run_id(self.out / RUN_FILE) if self.resume else "") or secrets.token_hex(4)
        if self.overwrite:
            for name in RECORD_FILES:
                (self.out / name).unlink(missing_ok=True)
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
        _write_text(self.out / CONFIG_FILE, self._config_text)
        _write_json(self.out / VERSIONS_FILE, self._versions)
        self._invocations.append({
            "command": self._command,
            "started": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "start_epoch": trainer.epoch,
        })
        self._seed = trainer.seed
        self._write_run_file("running")
        if trainer.epoch > 0 and self.checkpoint_path.exists():  # resumed: its checkpoint is still good
            self.saved_epoch = trainer.epoch
        self._rows = [dict(record) for record in trainer.history]
        self._columns = _columns(self._rows)
        self._rewrite_metrics()

    @hookimpl(trylast=True)  # after every other plugin has added to or acted on the record
    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Append the epoch's row to the metrics files, then save the checkpoint."""
        row = dict(metrics)
        self._rows.append(row)
        with open(self.out / METRICS_JSONL, "a", encoding="utf-8") as file:
            file.write(json.dumps(row) + "\n")
        if set(row) <= set(self._columns):
            with open(self.out / METRICS_CSV, "a", encoding="utf-8", newline="") as file:
                csv.DictWriter(file, self._columns, lineterminator="\n").writerow(row)
        else:  # a new column: the header changes, so the whole file is written again
            self._columns = _columns(self._rows)
            _write_text(self.out / METRICS_CSV, _csv_text(self._columns, self._rows))
        # The trainer counts the epoch and appends its record only after this hook.
        state = trainer.state_dict()
        state["epoch"], state["history"] = epoch, [*trainer.history.records, row]
        save_checkpoint(self.checkpoint_path, state)
        self.saved_epoch = epoch

    @hookimpl
    def on_fit_end(self, trainer: Trainer, history: History) -> None:
        """Save the final state (also when no epoch ran, e.g. resuming a finished run)."""
        save_checkpoint(self.checkpoint_path, trainer.state_dict())

    def finish(self, status: str, error: str | None = None) -> bool:
        """Record in ``run.json`` how this invocation ended (finished, diverged, interrupted, failed).

        Returns False, writing nothing, when training never started (nothing was recorded).
        """
        if not self._invocations or "ended" in self._invocations[-1]:
            return False
        self._invocations[-1].update({"ended": datetime.now(UTC).isoformat(timespec="milliseconds"),
                                     "status": status})
        if error:
            self._invocations[-1]["error"] = error
        self._write_run_file(status)
        return True

    def _write_run_file(self, status: str) -> None:
        _write_json(self.out / RUN_FILE, {"id": self.run_id, "status": status, "seed": self._seed,
                                          "invocations": self._invocations})

    def _rewrite_metrics(self) -> None:
        _write_text(self.out / METRICS_CSV, _csv_text(self._columns, self._rows))
        _write_text(self.out / METRICS_JSONL, "".join(json.dumps(row) + "\n" for row in self._rows))


def check_out_dir(out: Path, *, overwrite: bool = False, resume: bool = False) -> None:
    """Raise :class:`MinidlError` when ``out`` cannot receive a new run's records."""
    if out.exists() and not out.is_dir():
        raise MinidlError(f"output directory {str(out)!r} is a file; give a directory")
    if overwrite or resume or not out.exists():
        return
    entries = sorted(entry.name for entry in out.iterdir())
    if entries:
        shown = ", ".join(entries[:5]) + (", ..." if len(entries) > 5 else "")
        raise MinidlError(
            f"output directory {str(out)!r} is not empty ({shown}); "
            "use --overwrite to replace its run, or another directory"
        )


def load_run(run_dir: str | Path) -> tuple[RunConfig, dict[str, Any]]:
    """Read a run directory back: its configuration and its last checkpoint.

    Continue with ``run = build(config)`` (changing ``config.train.epochs`` first for
    more epochs), :func:`~minidl.checkpoint.check_compatible` and
    ``run.fit(resume=state)``. Raises :class:`CheckpointError` naming ``run_dir`` when
    it is not a directory or holds no checkpoint or configuration.
    """
    from minidl.config import load_config

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"cannot resume from {str(run_dir)!r}: no such directory")
    for name in (CHECKPOINT_FILE, CONFIG_FILE):
        if not (run_dir / name).is_file():
            raise CheckpointError(
                f"cannot resume from {str(run_dir)!r}: it holds no {name}; "
                "resume a directory written by minidl train --out"
            )
    config = load_config(run_dir / CONFIG_FILE)
    state = load_checkpoint(run_dir / CHECKPOINT_FILE)
    missing = [key for key in ("epoch", "history", "model", "optimizer") if key not in state]
    if missing:
        raise CheckpointError(
            f"checkpoint {str(run_dir / CHECKPOINT_FILE)!r} is not a training checkpoint: "
            f"it lacks {', '.join(missing)}"
        )
    return config, state


def read_metrics(run: str | Path) -> list[dict[str, Any]]:
    """The per-epoch records of a run directory (or of a ``metrics.jsonl`` file)."""
    path = Path(run)
    if path.is_dir():
        path = path / METRICS_JSONL
    if not path.is_file():
        raise MinidlError(
            f"no run records at {str(run)!r}: expected a run directory written by "
            f"minidl train --out (with {METRICS_JSONL}) or a {METRICS_JSONL} file"
        )
    records = []
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            try:
                records.append(dict(json.loads(line)))
            except (ValueError, TypeError):
                raise MinidlError(f"{str(path)!r}, line {number}: not a JSON record: {line.strip()[:60]!r}") from None
    return records


def collect_versions(plugins: Plugins) -> dict[str, Any]:
    """Python, the packages a run depends on, and every loaded plugin with its version."""
    import torch

    from minidl import __version__

    packages = {"minidl": __version__, "torch": torch.__version__}
    for name in (*REQUIRED_PACKAGES, *OPTIONAL_PACKAGES):
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": packages,
        "plugins": [{"name": info.name, "distribution": info.distribution, "version": info.version}
                    for info in plugins.info()],
    }


def _read_invocations(path: Path) -> list[dict[str, Any]]:
    try:
        invocations = json.loads(path.read_text(encoding="utf-8")).get("invocations", [])
    except (OSError, ValueError, AttributeError):
        return []
    return list(invocations) if isinstance(invocations, list) else []


def _read_run_id(path: Path) -> str:
    try:
        run_id = json.loads(path.read_text(encoding="utf-8")).get("id", "")
    except (OSError, ValueError, AttributeError):
        return ""
    return run_id if isinstance(run_id, str) else ""


def _columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


def _csv_text(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    if not columns:
        return ""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _write_json(path: Path, data: Any) -> None:
    _write_text(path, json.dumps(data, indent=2) + "\n")


def _write_text(path: Path, text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8", newline="") as file:
        file.write(text)
