"""Checkpoints: a trainer's state on disk, written atomically, read safely.

``save_checkpoint`` writes to a temporary file in the target's directory and renames it
over the target, so a crash leaves either the old checkpoint or the new one, never half
of one. ``load_checkpoint`` uses ``torch.load(weights_only=True)``: tensors, numbers,
strings, lists and dicts only, no arbitrary code.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from minidl.errors import CheckpointError


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Write ``state`` (e.g. ``trainer.state_dict()``) to ``path`` atomically; return the path.

    The parent directory must exist. On any failure, including Ctrl-C, the previous file
    at ``path`` is untouched and the temporary file is removed.
    """
    import torch

    path = Path(path)
    try:
        with atomic_open(path, "wb") as file:
            torch.save(dict(state), file)
    except OSError as exc:
        raise CheckpointError(f"cannot write checkpoint {str(path)!r}: {exc.strerror or exc}") from None
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


@functools.cache
def _umask() -> int:
    mask = os.umask(0o022)  # reading the umask means setting it; restored at once
    os.umask(mask)
    return mask


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
    file is missing, truncated, corrupted or holds anything but a dict of plain data.
    """
    import torch

    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} is not a file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(
            f"checkpoint {str(path)!r} is truncated or corrupted and cannot be read ({reason})"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(
            f"checkpoint {str(path)!r} holds a {type(state).__name__}, not a minidl checkpoint (a dict)"
        )
    return state


def check_compatible(model: Any, state: Mapping[str, Any], source: str = "checkpoint") -> None:
    """Raise :class:`CheckpointError` unless ``state``'s parameters fit ``model``.

    ``state`` is a trainer state (with a ``"model"`` entry) or a model ``state_dict``;
    the error names the first parameter whose shape differs, with both shapes, or the
    missing and unexpected parameter names. ``source`` names the file in messages.
    """
    saved = state["model"] if isinstance(state.get("model"), Mapping) else state
    current = model.state_dict()
    missing = [name for name in current if name not in saved]
    unexpected = [name for name in saved if name not in current]
    if missing or unexpected:
        raise CheckpointError(
            f"{source} does not fit the model: missing parameters {missing or 'none'}, "
            f"unexpected parameters {unexpected or 'none'}"
        )
    for name, tensor in current.items():
        saved_shape = tuple(getattr(saved[name], "shape", ()))
        if tuple(tensor.shape) != saved_shape:
            raise CheckpointError(
                f"{source} does not fit the model: parameter {name!r} has shape "
                f"{_shape(saved_shape)} in the checkpoint but {_shape(tuple(tensor.shape))} in the model"
            )


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"
