"""Recording a training run in the run index as it goes, and how it ended.

:class:`IndexTracker` sits beside the :class:`~minidl.records.RunRecorder`: it writes
the run's row when training starts (once ``run.json`` and ``config.toml`` are written),
at an epoch's end at most every :data:`PROGRESS_EVERY_S` seconds, and at the end.
Nothing runs per step. :meth:`IndexTracker.recording` wraps ``fit`` and records the
status: finished, diverged, interrupted (Ctrl-C or SIGTERM) or failed, in ``run.json``
first (the source of truth), then in the index. ``minidl train`` turns SIGTERM into
:class:`minidl.signals.Terminated` while it trains.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minidl.errors import DivergedError, MinidlError
from minidl.experiments.index import RunIndex, reindex_hint
from minidl.experiments.rundir import copy_of, fresh_id, metric_fields, now, run_row
from minidl.hookspecs import hookimpl
from minidl.run_layout import RUN_FILE
from minidl.signals import Terminated

if TYPE_CHECKING:
    from minidl.records import RunRecorder
    from minidl.run import Run
    from minidl.trainer import Trainer

PROGRESS_EVERY_S = 5.0  # the least time between two progress writes at epoch ends


class IndexTracker:
    """Keeps one run's row of the index up to date; a training callback."""

    def __init__(self, index: RunIndex, recorder: RunRecorder) -> None:
        self.index, self.recorder = index, recorder
        self.trainer: Trainer | None = None  # set when training starts
        self._last_write = 0.0  # time.monotonic() of the last write
        self._warned = False

    @classmethod
    def open(cls, recorder: RunRecorder | None, root: str | Path | None = None) -> IndexTracker | None:
        """The tracker of ``recorder``'s run in the index of ``root``; None without a recorder.

        Opens the index now, so a corrupt one is an error before anything trains.
        """
        return None if recorder is None else cls(RunIndex.open(root), recorder)

    def attach(self, run: Run) -> IndexTracker:
        """Follow ``run``'s training (after :meth:`RunRecorder.start`, so the records come first)."""
        self._tell_a_copy_apart()
        run.trainer.callbacks.append(self)
        return self

    def _tell_a_copy_apart(self) -> None:
        """A resumed copy of another run's directory (``cp -r runs/a runs/b``) holds that run's id in
        its ``run.json``: it gets an id of its own (as ``runs reindex`` gives it), or its row would
        replace the original's. A directory moved elsewhere keeps its id (its row moves with it)."""
        if not self.recorder.resume:
            return
        run_id, out = self.recorder.run_id, self.recorder.out.resolve()
        try:
            known = dict(self.index.ids_and_dirs())
        except MinidlError:
            return  # the index cannot be read now: the writes will say so
        original = copy_of(out, run_id, known.get(run_id), RUN_FILE)
        if original is not None:
            self.recorder.run_id = fresh_id(out, known)
            print(f"Note: {self.recorder.out} holds run {run_id} as {original} does (a copy): recorded as run "
                  f"{self.recorder.run_id}", file=sys.stderr)

    # -- training events -------------------------------------------------------------------
    @hookimpl
    def on_fit_start(self, trainer: Trainer) -> None:
        """The run's records are written: index them, status running."""
        self.trainer = trainer
        self._write(lambda: self.index.put_run(run_row(self.recorder.out)))

    @hookimpl(trylast=True)
    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Every few seconds: the epochs done and the metrics so far."""
        if time.monotonic() - self._last_write < PROGRESS_EVERY_S:
            return
        records = [*trainer.history.records, metrics]
        self._write(lambda: self.index.update_run(self.recorder.run_id, {**metric_fields(records),
                                                                          "updated": now()}))

    # -- the end -------------------------------------------------------------------------
    @contextmanager
    def recording(self) -> Iterator[None]:
        """Wrap ``fit``: the way it ends is recorded (SIGTERM counts when it raises :class:`Terminated`)."""
        status, error = "finished", None
        try:
            yield
        except DivergedError as exc:
            status, error = "diverged", str(exc)
            raise
        except KeyboardInterrupt as exc:
            status, error = "interrupted", "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
            raise
        except BaseException as exc:
            status, error = "failed", str(exc) or type(exc).__name__
            raise
        finally:
            self.finish(status, error)

    def finish(self, status: str, error: str | None = None) -> None:
        """Record ``status`` in ``run.json``, then in the index; close the index."""
        stop_reason = self.trainer.stop_reason if self.trainer is not None else None
        try:
            if self.recorder.finish(status, error=error, stop_reason=stop_reason):
                self._write(lambda: self.index.put_run(run_row(self.recorder.out)))
        finally:
            self.index.close()

    def _write(self, write: Callable[[], None]) -> None:
        """Write to the index; a failure is one warning: the run directory still holds everything."""
        try:
            write()
        except MinidlError as exc:
            if not self._warned:
                print(f"Warning: {exc}; the run is still recorded in {self.recorder.out} "
                      f"({reindex_hint(self.index.root)} indexes it)", file=sys.stderr)
            self._warned = True
        self._last_write = time.monotonic()
