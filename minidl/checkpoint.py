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
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, TypeGuard

from minidl.errors import CheckpointError, MinidlError

#: The trainer-state layout :meth:`Trainer.state_dict` writes, as its ``"format"`` entry.
#: A checkpoint without the entry is format 0 (minidl before the schema): same fields.
FORMAT_VERSION = 1


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


# -- the schema of a trainer state --------------------------------------------------------
def check_state(state: Any, source: str = "the resume state") -> None:
    """Raise :class:`CheckpointError` unless ``state`` has the layout of a trainer state.

    Checks every field :meth:`Trainer.load_state_dict` reads (types, the epoch against the
    history, the RNG states' size) and the ``"format"`` entry: a state written by a newer
    minidl (format above :data:`FORMAT_VERSION`) is refused; one without the entry (format
    0, minidl before the schema) is read as before. The message is one line naming
    ``source`` and the field. Whether the state fits the built model and optimizer is
    :func:`check_compatible`'s question.
    """
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{source} is a {type(state).__name__}, not a minidl checkpoint (a dict)")
    version = state.get("format", 0)
    _field(source, "format", version, _is_count, "an integer >= 0")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{source} was written by a newer minidl (checkpoint format {version}; this "
            f"minidl reads formats up to {FORMAT_VERSION}): upgrade minidl to read it"
        )
    missing = [key for key in _REQUIRED if key not in state]
    if missing:
        raise CheckpointError(f"{source} is not a training checkpoint: it lacks {', '.join(missing)}")
    for key, (check, expected) in _FIELDS.items():
        if key in state:
            _field(source, key, state[key], check, expected)
    _check_history(source, state["history"], state["epoch"])
    for key in ("generator", "torch_rng"):
        if state.get(key) is not None:
            _check_rng(source, key, state[key])
    for index, cuda_state in enumerate(state.get("cuda_rng") or []):
        _check_rng(source, f"cuda_rng[{index}]", cuda_state)
    _check_optimizer_layout(source, state["optimizer"])


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_str_dict(value: Any) -> bool:
    return isinstance(value, Mapping) and all(isinstance(key, str) for key in value)


def _is_list_of_dicts(value: Any) -> TypeGuard[list[Mapping[str, Any]]]:
    return isinstance(value, list) and all(isinstance(item, Mapping) for item in value)


def _is_tensor(value: Any) -> bool:
    import torch

    return isinstance(value, torch.Tensor)


_Check = Callable[[Any], bool]
_REQUIRED = ("epoch", "history", "model", "optimizer", "dataset", "seed", "torch_rng")
_FIELDS: dict[str, tuple[_Check, str]] = {
    "epoch": (_is_count, "an integer >= 0"),
    "history": (_is_list_of_dicts, "a list of per-epoch records (dicts)"),
    "seed": (_is_int, "an integer"),
    "stop_reason": (lambda v: v is None or isinstance(v, str), "a string or None"),
    "generator": (lambda v: v is None or _is_tensor(v), "a tensor (an RNG state) or None"),
    "torch_rng": (_is_tensor, "a tensor (an RNG state)"),
    "cuda_rng": (lambda v: v is None or isinstance(v, list), "a list of RNG states or None"),
    "model": (_is_str_dict, "a dict of parameters by name (a state_dict)"),
    "optimizer": (_is_str_dict, "a dict (an optimizer state_dict)"),
    "dataset": (_is_str_dict, "a dict (a dataset state_dict)"),
    "loss": (_is_str_dict, "a dict (a loss state_dict)"),
    "callbacks": (_is_list_of_dicts, "a list of dicts (one state per callback)"),
    "epoch_seconds": (lambda v: isinstance(v, list) and all(_is_number(s) for s in v),
                      "a list of seconds per epoch (numbers)"),
}


def _field(source: str, name: str, value: Any, check: _Check, expected: str) -> None:
    if not check(value):
        raise CheckpointError(f"{source}: field {name!r} is {_describe(value)}, expected {expected}")


def _describe(value: Any) -> str:
    if _is_tensor(value):
        return f"a {str(value.dtype).removeprefix('torch.')} tensor of shape {_shape(tuple(value.shape))}"
    text = repr(value)
    return f"the {type(value).__name__} {text[:40] + '...' if len(text) > 40 else text}"


def _check_history(source: str, history: list[Mapping[str, Any]], epoch: int) -> None:
    for index, record in enumerate(history):
        if record.get("epoch") != index + 1 or not _is_int(record.get("epoch")):
            raise CheckpointError(f"{source}: field 'history[{index}].epoch' is "
                                  f"{_describe(record.get('epoch'))}, expected {index + 1}")
    if len(history) != epoch:
        raise CheckpointError(f"{source}: field 'history' holds {len(history)} epochs "
                              f"but field 'epoch' says {epoch}")


@functools.cache
def _rng_state_size() -> int:
    import torch

    return int(torch.Generator().get_state().numel())


def _check_rng(source: str, name: str, value: Any) -> None:
    import torch

    if not _is_tensor(value) or value.dtype != torch.uint8 or value.dim() != 1:
        raise CheckpointError(f"{source}: field {name!r} is {_describe(value)}, "
                              "expected an RNG state (a 1-D uint8 tensor)")
    if not name.startswith("cuda") and value.numel() != _rng_state_size():
        raise CheckpointError(f"{source}: field {name!r} is {_describe(value)}, "
                              f"expected an RNG state of {_rng_state_size()} bytes")


def _check_optimizer_layout(source: str, optimizer: Mapping[str, Any]) -> None:
    """torch's layout, when the saved optimizer uses it: ``param_groups`` and ``state``."""
    if "param_groups" not in optimizer and "state" not in optimizer:
        return  # an optimizer with a state of its own making
    groups, per_param = optimizer.get("param_groups"), optimizer.get("state", {})
    if not _is_list_of_dicts(groups):
        raise CheckpointError(f"{source}: field 'optimizer.param_groups' is "
                              f"{_describe(groups)}, expected a list of parameter groups (dicts)")
    for index, group in enumerate(groups):
        params = group.get("params")
        if not isinstance(params, list) or not all(_is_int(p) for p in params):
            raise CheckpointError(f"{source}: field 'optimizer.param_groups[{index}].params' "
                                  f"is {_describe(params)}, expected a list of parameter indices")
    if not isinstance(per_param, Mapping) or not all(isinstance(v, Mapping) for v in per_param.values()):
        raise CheckpointError(f"{source}: field 'optimizer.state' is {_describe(per_param)}, "
                              "expected a dict of per-parameter states (dicts)")


# -- does a state fit the built components? -----------------------------------------------
def check_compatible(model: Any, state: Mapping[str, Any], source: str = "checkpoint",
                     optimizer: Any = None) -> None:
    """Raise :class:`CheckpointError` unless ``state``'s parameters fit ``model``.

    ``state`` is a trainer state (with a ``"model"`` entry) or a model ``state_dict``;
    the error names the first parameter whose shape differs, with both shapes, or the
    missing and unexpected parameter names. ``source`` names the file in messages.
    With ``optimizer`` (and a trainer state), its saved parameter groups and
    per-parameter tensors must fit that optimizer's parameters too.
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
    if optimizer is not None and isinstance(state.get("optimizer"), Mapping):
        _check_optimizer_fits(optimizer, state["optimizer"], source)


def _check_optimizer_fits(optimizer: Any, saved: Mapping[str, Any], source: str) -> None:
    """The saved groups hold as many parameters as the optimizer's; saved per-parameter
    tensors (momentum, running averages) have their parameter's shape."""
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or "param_groups" not in saved:
        return
    sizes = [len(group["params"]) for group in groups]
    saved_sizes = [len(group["params"]) for group in saved["param_groups"]]
    if sizes != saved_sizes:
        raise CheckpointError(f"{source} does not fit the optimizer: field 'optimizer.param_groups' has "
                              f"groups of {saved_sizes} parameters, the optimizer {sizes}")
    params = [param for group in groups for param in group["params"]]
    for index, entry in dict(saved.get("state", {})).items():
        if not _is_int(index) or not 0 <= index < len(params):
            raise CheckpointError(f"{source} does not fit the optimizer: field 'optimizer.state' has an "
                                  f"entry for parameter {index!r}, the optimizer has {len(params)} parameters")
        for name, value in entry.items():
            shape = tuple(params[index].shape)
            if _is_tensor(value) and value.dim() > 0 and tuple(value.shape) != shape:
                raise CheckpointError(
                    f"{source} does not fit the optimizer: field 'optimizer.state[{index}].{name}' has shape "
                    f"{_shape(tuple(value.shape))}, its parameter {_shape(shape)}")


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ")"
