"""minidl's own exceptions: every message names the bad value and what is accepted."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from minidl.first_party import install_hint

#: The longest echo of a user's value in a message; a longer one is cut, its length said.
SHOWN_CHARS = 160


def counted(number: int, noun: str) -> str:
    """``1 epoch``, ``3 epochs``: a count with its noun (an ``s`` added past one)."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def shown(value: Any) -> str:
    """``repr(value)`` for a message, cut to about :data:`SHOWN_CHARS` characters: a
    5000-character value is named by its start, its end (a path's file name) and its
    length, not printed whole."""
    try:
        text = repr(value)
    except ValueError:  # an int beyond Python's 4300-digit repr limit
        return f"an integer of about {value.bit_length() * 0.30103:.0f} digits"
    if len(text) <= SHOWN_CHARS:
        return text
    size = (f"{len(value)} characters" if isinstance(value, str) else f"{len(text.lstrip('-'))} digits"
            if isinstance(value, int) else f"{len(text)} characters written out")
    return f"{text[:SHOWN_CHARS - 60]}...{text[-30:]} ({size})"


class MinidlError(ValueError):
    """Base of minidl's errors about input: a bad name, option, value or file."""


class MinidlWarning(UserWarning):
    """Base of minidl's warnings; the command line shows each as one ``Warning:`` line."""


class UnknownComponentError(MinidlError):
    """A component name that no loaded plugin registered."""

    def __init__(self, kind: str, name: str, available: Iterable[str]) -> None:
        names = sorted(available)
        message = f"unknown {kind} {shown(name)}; available: {', '.join(names) or '(none)'}"
        close = difflib.get_close_matches(name, names, n=1)
        hint = install_hint(kind, name)
        if hint is not None:
            message += f"; {hint}"
        elif close:
            message += f" (did you mean {close[0]!r}?)"
        super().__init__(message)
        self.kind, self.name, self.available = kind, name, names


class OptionError(MinidlError):
    """An unknown option, or a value that does not fit the option's type."""


class PluginError(MinidlError):
    """A plugin that failed to load or to register, or a name registered twice."""


class CheckpointError(MinidlError):
    """A checkpoint that is missing, truncated, corrupted or does not fit the model."""


class ComponentFailedError(RuntimeError):
    """A component or callback raised during training: names it, its plugin and the error.

    The original exception is ``__cause__`` (shown by ``minidl --debug``).
    """


class BadBatchError(TypeError):
    """A dataset's ``batches`` yielded something other than an ``(X, y)`` pair of tensors.

    ``culprit`` is the dataset, so that a run names it with its plugin.
    """

    def __init__(self, culprit: Any, found: str) -> None:
        super().__init__(f"the dataset's batches yielded {found}; Dataset.batches must yield (X, y) pairs of "
                         "torch tensors")
        self.culprit = culprit


class DivergedError(RuntimeError):
    """Training produced a nan or infinite loss."""

    def __init__(self, epoch: int, step: int | None, loss: float) -> None:
        where = f"at epoch {epoch}, step {step}" if step is not None else f"evaluating epoch {epoch}"
        super().__init__(f"training diverged: loss became {loss} {where}; try a smaller learning rate")
        self.epoch, self.step, self.loss = epoch, step, loss
