"""The ``tensorboard`` callback: every epoch's record as TensorBoard scalars.

Needs the ``tensorboard`` package (``pip install 'minidl[tensorboard]'``); torch and
TensorBoard are imported only when the callback is built.
"""

from __future__ import annotations

from typing import Any

from minidl.errors import MinidlError
from minidl.hookspecs import Register, hookimpl

TENSORBOARD_EXTRA = "callback 'tensorboard' needs the tensorboard package: pip install 'minidl[tensorboard]'"


class TensorBoardLogger:
    """Writes ``loss``, ``test_loss``, every metric and the learning rate, per epoch.

    Each entry of the epoch's record becomes a scalar tagged with its key, at step
    ``epoch``; ``lr`` is the learning rate the epoch trained with (the first parameter
    group's). After a resume, events of epochs past the checkpoint are purged, so an
    interrupted epoch is not shown twice.
    """

    def __init__(self, log_dir: str, writer_class: Any) -> None:
        self.log_dir = log_dir
        self._writer_class = writer_class
        self.writer: Any = None
        self._lr: float | None = None

    @hookimpl
    def on_fit_start(self, trainer: Any) -> None:
        """Open the event file in ``log_dir``."""
        purge_step = trainer.epoch + 1 if trainer.epoch else None
        self.writer = self._writer_class(log_dir=self.log_dir, purge_step=purge_step)

    @hookimpl
    def on_epoch_start(self, trainer: Any, epoch: int) -> None:
        """Note the learning rate this epoch trains with (a schedule may change it at its end)."""
        groups = getattr(trainer.optimizer, "param_groups", None)
        self._lr = groups[0].get("lr") if groups else None

    @hookimpl
    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
        """Add the epoch's scalars and flush them, so TensorBoard shows them at once."""
        for key, value in metrics.items():
            if key != "epoch" and isinstance(value, (int, float)) and not isinstance(value, bool):
                self.writer.add_scalar(key, value, global_step=epoch)
        if isinstance(self._lr, (int, float)):
            self.writer.add_scalar("lr", self._lr, global_step=epoch)
        self.writer.flush()

    @hookimpl
    def on_fit_end(self, trainer: Any, history: Any) -> None:
        """Close the event file."""
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def tensorboard(log_dir: str = "runs/minidl") -> TensorBoardLogger:
    """Log each epoch's losses and metrics for TensorBoard.

    Args:
        log_dir: directory for the event files (tensorboard --logdir reads it)
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
