"""Checkpoints: a trainer's state on disk, written atomically, read safely.

``save_checkpoint`` writes to a temporary file in the target's directory and renames it
over the target, so a crash leaves either the old checkpoint or the new one, never half
of one (a process killed mid-write leaves its temporary file, which
:func:`remove_stale_temporaries` clears when the run starts again). ``load_checkpoint``
uses ``torch.load(weights_only=True)``: tensors, numbers, strings, lists and dicts only,
no arbitrary code. :func:`check_state` holds a trainer state to the checkpoint schema
(:data:`FORMAT_VERSION`), so a damaged file that still unpickles is one line too.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from minidl.checkpoint_schema import FORMAT_VERSION, check_compatible, check_state
from minidl.errors import CheckpointError, MinidlError

__all__ = [  # with the schema's names, re-exported
    "FORMAT_VERSION",
    "CheckpointState",
    "CheckpointWriteError",
    "WriteError",
    "atomic_open",
    "check_compatible",
    "check_state",
    "load_checkpoint",
    "load_training_checkpoint",
    "reason_of",
    "remove_stale_temporaries",
    "save_checkpoint",
    "write_failure",
    "write_json",
    "write_text",
]


class WriteError(MinidlError):
    """A file minidl could not write: a full disk, a read-only or missing folder.

    ``path`` is the file, ``reason`` the system's words (``No space left on device``).
    """

    def __init__(self, path: str | Path, reason: str, what: str = "file") -> None:
        super().__init__(f"cannot write {what} {str(path)!r}: {reason}")
        self.path, self.reason, self.what = Path(path), reason, what


class CheckpointWriteError(WriteError, CheckpointError):
    """A checkpoint that could not be written; the previous one is intact."""


def write_failure(exc: BaseException) -> OSError | None:
    """The :class:`OSError` behind a failed write, or None when ``exc`` is something else.

    torch reports a failed write inside ``torch.save`` as a ``RuntimeError`` raised
    while handling the ``OSError``; this finds the ``OSError`` in that chain.
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def reason_of(exc: OSError) -> str:
    """The system's words for a failed write: ``No space left on device``."""
    return exc.strerror or str(exc) or type(exc).__name__


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Write ``state`` (e.g. ``trainer.state_dict()``) to ``path`` atomically; return the path.

    The parent directory must exist. On any failure, including Ctrl-C and a full disk,
    the previous file at ``path`` is untouched and the temporary file is removed; a
    failed write raises :class:`CheckpointWriteError` naming the file and the reason.
    """
    import torch

    path = Path(path)
    try:
        with atomic_open(path, "wb") as file:
            torch.save(dict(state), file)
    except (OSError, RuntimeError) as exc:
        failure = write_failure(exc)
        if failure is None:
            raise
        raise CheckpointWriteError(path, reason_of(failure), "checkpoint") from None
    return path


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; once the block ends, replace ``path`` with it.

    The file is flushed and synced to disk before the rename. If the block raises
    (Ctrl-C included), the temporary file is removed and ``path`` is left as it was.
    ``kwargs`` go to :func:`open` (``encoding``, ``newline``).
    """
    path = Path(path)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below, before the rename
        mode, dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
        delete=False, **kwargs)
    try:
        with handle:
            os.chmod(handle.name, 0o666 & ~_umask())  # as open() would; mkstemp gives 0600
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise
    _fsync_directory(path.parent)


def write_text(path: str | Path, text: str, what: str = "file") -> None:
    """Replace ``path`` with ``text`` (UTF-8) atomically; a failed write is a :class:`WriteError`."""
    try:
        with atomic_open(path, "w", encoding="utf-8", newline="") as file:
            file.write(text)
    except OSError as exc:
        raise WriteError(path, reason_of(exc), what) from None


def write_json(path: str | Path, data: Any, what: str = "file") -> None:
    """:func:`write_text` of ``data`` as indented JSON, as minidl writes ``run.json`` and ``sweep.json``."""
    import json

    write_text(path, json.dumps(data, indent=2) + "\n", what)


@functools.cache
def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; restored at once
    os.umask(mask)
    return mask


#: atomic_open's temporary names: ``.NAME.`` + tempfile's 8 random characters + ``.tmp``.
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp$")


def remove_stale_temporaries(directory: str | Path, names: Iterable[str]) -> list[Path]:
    """Delete the temporary files :func:`atomic_open` left beside ``names`` in ``directory``.

    A process killed while writing ``checkpoint.pt`` leaves ``.checkpoint.pt.ab12cd_9.tmp``;
    only files of exactly that form, for one of ``names``, are removed (nothing else,
    even of a similar name). Returns the removed paths; a missing directory is none.
    """
    directory, wanted = Path(directory), set(names)
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return []
    removed = []
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match and match["name"] in wanted and entry.is_file(follow_symlinks=False):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable; not every platform lets a directory be opened.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises :class:`~minidl.errors.CheckpointError` (one line, naming the file) when the
    file is missing or cannot be opened (its permissions), is truncated or corrupted, or
    holds anything but a dict of plain data. torch's own warnings about the file (an
    unusual pickle protocol) are left out: the error says what is wrong with it.
    """
    import pickle
    import warnings
    import zipfile

    import torch

    path = Path(path)
    try:
        if not path.exists():
            raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
        if not path.is_file():
            raise CheckpointError(f"checkpoint {str(path)!r} is not a file")
        with open(path, "rb") as file:  # what cannot be opened is no damage: say so
            file.read(1)
    except OSError as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} cannot be read: {reason_of(exc)}") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if not zipfile.is_zipfile(path):
            problem = "is truncated or corrupted: it is not the zip archive torch.save writes"
        elif isinstance(exc, pickle.UnpicklingError) and "weights only" in str(exc).lower():
            problem = ("holds Python objects besides tensors and plain data, which minidl does not load "
                       "(they could run code): it is not a minidl checkpoint")
        else:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            problem = f"is truncated or corrupted and cannot be read ({reason})"
        raise CheckpointError(f"checkpoint {str(path)!r} {problem}") from None
    if not isinstance(state, dict):
        raise CheckpointError(
            f"checkpoint {str(path)!r} holds a {type(state).__name__}, not a minidl checkpoint (a dict)"
        )
    return state


class CheckpointState(dict[str, Any]):
    """A trainer state read from a file: a dict that knows its ``source`` (``checkpoint 'DIR/checkpoint.pt'``).

    :meth:`Trainer.load_state_dict` names it in its messages when not given another source.
    """

    source: str = "the resume state"


def load_training_checkpoint(path: str | Path) -> CheckpointState:
    """:func:`load_checkpoint`, then :func:`check_state`: a trainer state, or one line naming the field.

    The state remembers its file (:class:`CheckpointState`), so a field that does not fit
    the components it is loaded into later is named with the file too.
    """
    state = CheckpointState(load_checkpoint(path))
    state.source = f"checkpoint {str(path)!r}"
    check_state(state, state.source)
    return state
