"""SIGTERM handled as Ctrl-C: what Slurm, Kubernetes and ``timeout`` send to stop a run.

``minidl train`` and ``minidl sweep`` both wrap their work in :func:`sigterm_interrupts`:
inside it SIGTERM raises :class:`Terminated`, a :class:`KeyboardInterrupt`, so the code
that saves and reports an interrupted run handles both; the process then exits with
:data:`SIGTERM_EXIT` (143), the shell's code for a process ended by SIGTERM.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SIGTERM_EXIT = 128 + signal.SIGTERM  # the shell's code for a run ended by SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived while training: handled as Ctrl-C is, with exit code :data:`SIGTERM_EXIT`."""

    exit_code = SIGTERM_EXIT


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    """While inside, SIGTERM raises :class:`Terminated` in the main thread; the old handler after.

    In another thread (signals reach the main thread only) it changes nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
