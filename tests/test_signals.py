"""minidl.signals: SIGTERM as Ctrl-C, one helper for train and sweep."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from minidl.signals import SIGTERM_EXIT, Terminated, sigterm_interrupts


def test_sigterm_inside_raises_terminated_then_the_old_handler_is_back() -> None:
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated) as info, sigterm_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
    assert isinstance(info.value, KeyboardInterrupt) and info.value.exit_code == SIGTERM_EXIT == 143
    assert signal.getsignal(signal.SIGTERM) is previous


def test_outside_the_main_thread_it_changes_nothing() -> None:
    seen: list[object] = []

    def body() -> None:
        with sigterm_interrupts():
            seen.append(signal.getsignal(signal.SIGTERM))

    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=body)
    thread.start()
    thread.join()
    assert seen == [before]


def test_train_and_sweep_use_the_one_helper() -> None:
    import minidl.cli.sweep
    import minidl.cli.train
    import minidl.experiments.sweep
    import minidl.experiments.tracking

    assert minidl.cli.train.sigterm_interrupts is minidl.cli.sweep.sigterm_interrupts is sigterm_interrupts
    assert not hasattr(minidl.cli.train, "_sigterm_interrupts")
    assert not hasattr(minidl.experiments.sweep, "sigterm_interrupts")
    assert minidl.experiments.tracking.Terminated is minidl.experiments.sweep.Terminated is Terminated
