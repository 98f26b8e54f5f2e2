"""The schema of a trainer state: what a checkpoint must hold, field by field.

:func:`check_state` holds a state read from disk to the layout :meth:`Trainer.state_dict`
writes (format :data:`FORMAT_VERSION`), so a damaged file that still unpickles is one
line naming the field; :func:`check_compatible` asks whether it fits the built model
and optimizer. :mod:`minidl.checkpoint` re-exports both.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeGuard

from minidl.errors import CheckpointError

#: The trainer-state layout :meth:`Trainer.state_dict` writes, as its ``"format"`` entry.
#: A checkpoint without the entry is format 0 (minidl before the schema): same fields.
FORMAT_VERSION = 1


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
    "config": (lambda v: isinstance(v, str), "the run's configuration (TOML text)"),
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
