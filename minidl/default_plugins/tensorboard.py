"""The ``tensorboard`` callback: every epoch's record as TensorBoard scalars.

Needs the ``tensorboard`` package (``pip install 'minidl[tensorboard]'``); torch and
TensorBoard are imported only when the callback is built.

Where the events go: ``log_dir`` when it is given; else the run's ``--out`` directory
(the run directory is the TensorBoard run: ``tensorboard --logdir runs`` shows ``runs/a``
as run ``a``); else a fresh ``runs/minidl/<date-time>`` per run, so runs never mix.
"""

from __future__ import annotations

import contextlib
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minidl.checkpoint import WriteError, reason_of
from minidl.errors import MinidlError
from minidl.hookspecs import Register, hookimpl

if TYPE_CHECKING:
    from minidl.trainer import History, Trainer

TENSORBOARD_EXTRA = "callback 'tensorboard' needs the tensorboard package: pip install 'minidl[tensorboard]'"
DEFAULT_ROOT = Path("runs", "minidl")  # fresh sub-directories here for runs without --out


class TensorBoardLogger:
    """Writes ``loss``, ``test_loss``, every metric and the learning rate, per epoch.

    Each entry of the epoch's record becomes a scalar tagged with its key, at step
    ``epoch``; ``lr`` is the learning rate the epoch trained with (the first parameter
    group's). After a resume, events of epochs past the checkpoint are purged, so an
    interrupted epoch is not shown twice. In a data-parallel run only rank 0 writes.
    A folder that cannot be written, or a full disk, is a one-line
    :class:`~minidl.checkpoint.WriteError` naming the folder.
    """

    def __init__(self, log_dir: str | None, writer_class: Any) -> None:
        self.log_dir = log_dir  # as configured; None: chosen per run (see the module)
        self._writer_class = writer_class
        self.writer: Any = None
        self.directory: Path | None = None  # where this run's events went
        self._lr: float | None = None

    @hookimpl
    def on_fit_start(self, trainer: Trainer) -> None:
        """Open the event file in this run's directory."""
        if not _is_rank_zero():
            return
        self.directory = self._choose_directory(trainer)
        purge_step = trainer.epoch + 1 if trainer.epoch else None
        _quiet_writer_thread_failures()
        try:
            self.writer = self._writer_class(log_dir=str(self.directory), purge_step=purge_step)
        except OSError as exc:
            raise WriteError(self.directory, reason_of(exc), "TensorBoard log_dir") from None

    def _choose_directory(self, trainer: Trainer) -> Path:
        if self.log_dir is not None:
            return Path(self.log_dir)
        from minidl.records import run_dir_of

        return run_dir_of(trainer) or _fresh_directory(DEFAULT_ROOT)

    @hookimpl
    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Note the learning rate this epoch trains with (a schedule may change it at its end)."""
        groups = getattr(trainer.optimizer, "param_groups", None)
        self._lr = groups[0].get("lr") if groups else None

    @hookimpl
    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Add the epoch's scalars and flush them, so TensorBoard shows them at once."""
        if self.writer is None:
            return
        try:
            for key, value in metrics.items():
                if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                    self.writer.add_scalar(key, value, global_step=epoch)
            if isinstance(self._lr, (int, float)):
                self.writer.add_scalar("lr", self._lr, global_step=epoch)
            self.writer.flush()
        except OSError as exc:
            self._abandon()
            raise WriteError(self.directory or "", reason_of(exc), "TensorBoard events in") from None

    @hookimpl
    def on_fit_end(self, trainer: Trainer, history: History) -> None:
        """Close the event file."""
        if self.writer is not None:
            writer, self.writer = self.writer, None
            try:
                writer.close()
            except OSError as exc:
                raise WriteError(self.directory or "", reason_of(exc), "TensorBoard events in") from None

    def _abandon(self) -> None:
        """Drop a writer that failed; closing it would only fail again."""
        writer, self.writer = self.writer, None
        with contextlib.suppress(OSError):
            writer.close()


def _is_rank_zero() -> bool:
    import torch.distributed as dist

    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _fresh_directory(root: Path) -> Path:
    """A new ``root/<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``... when taken), created here."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    for number in range(1, 1000):
        path = root / (stamp if number == 1 else f"{stamp}-{number}")
        try:
            root.mkdir(parents=True, exist_ok=True)
            os.mkdir(path)  # exclusive: two runs starting in the same second get two folders
        except FileExistsError:
            continue
        except OSError as exc:
            raise WriteError(path, reason_of(exc), "TensorBoard log_dir") from None
        return path
    raise MinidlError(f"cannot find a free TensorBoard log_dir under {str(root)!r}; give log_dir")


def _quiet_writer_thread_failures() -> None:
    """Keep TensorBoard's writer thread from printing a traceback when a write fails.

    The thread keeps the exception and the next call on the writer raises it here,
    where it becomes one line; the thread's own report would only repeat it.
    """
    if getattr(threading.excepthook, "_minidl_quiet", False):
        return
    previous = threading.excepthook

    def excepthook(args: Any) -> None:
        thread = args.thread
        if type(thread).__name__ == "_AsyncWriterThread" and getattr(thread, "exception", None) is args.exc_value:
            return
        previous(args)

    excepthook._minidl_quiet = True  # type: ignore[attr-defined]
    threading.excepthook = excepthook


def tensorboard(log_dir: str | None = None) -> TensorBoardLogger:
    """Log each epoch's losses and metrics for TensorBoard.

    Args:
        log_dir: directory for the event files (default: the run's --out DIR, else a new runs/minidl/DATE-TIME)
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise MinidlError(TENSORBOARD_EXTRA) from None
    return TensorBoardLogger(log_dir, SummaryWriter)


@hookimpl
def register_callbacks(register: Register) -> None:
    """Register ``tensorboard``."""
    register("tensorboard", tensorboard)
