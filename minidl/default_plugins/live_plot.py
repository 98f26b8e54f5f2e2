"""The ``live-plot`` callback: a loss curve in a Jupyter notebook, redrawn every epoch.

Like the d2l library's ``Animator``, but it replaces one displayed image through a
display handle instead of ``clear_output``, which would also wipe the epoch lines the
Trainer prints. Outside an IPython kernel (a terminal, a script, ``minidl train``) it
does nothing at all: it does not even import matplotlib.
"""

from __future__ import annotations

import io
import sys
import time
from typing import TYPE_CHECKING, Any

from minidl.hookspecs import Register, hookimpl

if TYPE_CHECKING:
    from minidl.trainer import History, Trainer

MIN_INTERVAL = 0.5  # seconds between redraws; the last epoch is always drawn


def in_kernel() -> bool:
    """True inside a Jupyter/IPython kernel (a notebook), False in a terminal or script."""
    ipython = sys.modules.get("IPython")  # a kernel has imported it already
    get_ipython = getattr(ipython, "get_ipython", None)
    shell = get_ipython() if callable(get_ipython) else None
    return getattr(shell, "kernel", None) is not None


class LivePlot:
    """Shows the train and test loss per epoch (``plot_history``'s picture) as training runs."""

    def __init__(self, min_interval: float = MIN_INTERVAL) -> None:
        self.min_interval = min_interval
        self.active = False  # set at fit start when running in a kernel
        self.handle: Any = None  # the IPython display handle of the picture
        self.drawn_epochs = 0  # how many epochs the picture shows
        self._drawn_at = -float("inf")

    @hookimpl
    def on_fit_start(self, trainer: Trainer) -> None:
        """Check for a kernel; draw the epochs already done (after a resume)."""
        self.active, self.handle, self.drawn_epochs = in_kernel(), None, 0
        if self.active and len(trainer.history):
            self._draw(trainer.history.records)

    @hookimpl
    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Redraw with this epoch (the trainer records it only after this hook)."""
        if self.active and time.monotonic() - self._drawn_at >= self.min_interval:
            self._draw([*trainer.history.records, metrics])

    @hookimpl
    def on_fit_end(self, trainer: Trainer, history: History) -> None:
        """Draw the final curve unless the last redraw already showed every epoch."""
        if self.active and len(history) != self.drawn_epochs:
            self._draw(history.records)

    def _draw(self, records: list[dict[str, Any]]) -> None:
        from IPython.display import Image, display

        from minidl.plots import history_figure, plot_style

        with plot_style():
            figure = history_figure(records)
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=100)
        image = Image(data=buffer.getvalue(), format="png")
        if self.handle is None:
            self.handle = display(image, display_id=True)
        else:
            self.handle.update(image)
        self.drawn_epochs, self._drawn_at = len(records), time.monotonic()


def live_plot() -> LivePlot:
    """In a Jupyter notebook, show the loss curve updating every epoch; elsewhere nothing."""
    return LivePlot()


@hookimpl
def register_callbacks(register: Register) -> None:
    """Register ``live-plot``."""
    register("live-plot", live_plot)
