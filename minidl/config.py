"""A run's configuration: which components, their options, and the training settings.

Read from TOML (a table per component, ``[train]``, ``[callback.NAME]``), layered with
flags (:meth:`RunConfig.with_flags`) and ``KIND.OPTION=VALUE`` pairs, resolved against
the registry (every option filled, typed and range-checked, once), and written back as
TOML that reads back to the same configuration, or as plain data (:meth:`RunConfig.to_dict`).
Values stay as given (strings from the command line, numbers from TOML) until
:meth:`RunConfig.resolve`; the ``[train]`` settings are options like a component's,
declared by :class:`TrainSettings`'s annotations.
"""

from __future__ import annotations

import copy
import difflib
import json
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from minidl.errors import MinidlError, OptionError, counted
from minidl.options import Ge, Lt, Option, options_of, resolve_options, shown
from minidl.registry import Registry
from minidl.trainer import check_device

COMPONENT_KINDS = ("dataset", "model", "loss", "optimizer")
DEFAULT_NAMES = {"dataset": "synthetic-linear", "model": "linreg", "loss": "squared", "optimizer": "sgd"}
RESUMABLE = ("train.epochs", "train.device")  # the settings a resumed run may change


@dataclass
class TrainSettings:
    """The ``[train]`` table: values as given until :meth:`RunConfig.resolve` checks them.

    Args:
        epochs: total epochs, also after a resume
        batch_size: examples per minibatch (per process under ddp)
        seed: seeds the data, initial parameters and shuffling order
        device: cpu, cuda, cuda:N or auto
        metrics: metric names, computed on every split each epoch
    """

    epochs: Annotated[int, Ge(0)] = 3
    batch_size: Annotated[int, Ge(1)] = 10
    seed: Annotated[int, Ge(0), Lt(2**63)] = 0
    device: str = "cpu"
    metrics: list[str] = field(default_factory=list)


#: The ``[train]`` settings as options: parsed and checked like any component's.
TRAIN_OPTIONS: list[Option] = options_of(TrainSettings)


@dataclass
class ComponentConfig:
    """One component: its registered name and its options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunConfig:
    """Everything that defines a run; ``resolve`` fills in and checks every value."""

    dataset: ComponentConfig = field(default_factory=lambda: ComponentConfig(DEFAULT_NAMES["dataset"]))
    model: ComponentConfig = field(default_factory=lambda: ComponentConfig(DEFAULT_NAMES["model"]))
    loss: ComponentConfig = field(default_factory=lambda: ComponentConfig(DEFAULT_NAMES["loss"]))
    optimizer: ComponentConfig = field(default_factory=lambda: ComponentConfig(DEFAULT_NAMES["optimizer"]))
    train: TrainSettings = field(default_factory=TrainSettings)
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> options, in order
    # True on what resolve() returns: build() trusts it; the changing methods below clear it
    resolved: bool = field(default=False, compare=False, repr=False)

    def component(self, kind: str) -> ComponentConfig:
        """The dataset, model, loss or optimizer entry."""
        return getattr(self, kind)  # type: ignore[no-any-return]

    def copy(self) -> RunConfig:
        """A deep copy."""
        return copy.deepcopy(self)

    # -- changes -------------------------------------------------------------------------
    def set_name(self, kind: str, name: str) -> None:
        """Choose another component; options given for the previous one are dropped."""
        if self.component(kind).name != name:
            setattr(self, kind, ComponentConfig(name))
            self.resolved = False

    def set_train(self, key: str, value: Any) -> None:
        """Set a ``[train]`` setting; its value is checked when the configuration is resolved."""
        names = [option.name for option in TRAIN_OPTIONS]
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptionError(f"train has no setting {shown(key)}; its settings: {', '.join(names)}{hint}")
        setattr(self.train, key, value)
        self.resolved = False

    def apply(self, assignment: str) -> None:
        """Apply one ``KIND.OPTION=VALUE`` (or ``callback.NAME.OPTION=VALUE``)."""
        key, sep, value = assignment.partition("=")
        parts = key.strip().split(".")
        forms = f"{', '.join(f'{kind}.OPTION' for kind in (*COMPONENT_KINDS, 'train'))} or callback.NAME.OPTION"
        if not sep or len(parts) < 2 or not all(parts):
            raise OptionError(f"cannot read --set {shown(assignment)}: expected KIND.OPTION=VALUE, "
                              f"with KIND.OPTION one of {forms}")
        kind, value = parts[0], value.strip()
        if kind not in (*COMPONENT_KINDS, "train", "callback"):
            close = difflib.get_close_matches(kind.lower(), [*COMPONENT_KINDS, "train", "callback"], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise OptionError(f"cannot read --set {shown(assignment)}: unknown KIND {shown(kind)}; accepted: "
                              f"{', '.join(COMPONENT_KINDS)}, train, callback.NAME{hint}")
        if len(parts) != (3 if kind == "callback" else 2):  # a known kind, the wrong number of dots
            form = "callback.NAME.OPTION=VALUE" if kind == "callback" else f"{kind}.OPTION=VALUE"
            raise OptionError(f"cannot read --set {shown(assignment)}: expected {form}, "
                              f"got {len(parts) - 1} dot{'s' if len(parts) != 2 else ''} in {shown(key.strip())}")
        self.resolved = False
        if kind == "callback":
            self.callbacks.setdefault(parts[1], {})[parts[2]] = value
        elif kind == "train":
            self.set_train(parts[1], value)
        elif parts[1] == "name":
            self.set_name(kind, value)
        else:
            self.component(kind).options[parts[1]] = value

    def with_flags(self, *, assignments: Iterable[str] = (), metrics: Iterable[str] = (),
                   callbacks: Iterable[str] = (), lr: Any = None, **flags: Any) -> RunConfig:
        """A copy with the command line's layers applied, lowest first: component names
        (``dataset=``, ``model=``, ``loss=``, ``optimizer=``), callbacks and metrics, the
        ``KIND.OPTION=VALUE`` assignments, then ``lr`` and the ``[train]`` settings
        (``epochs``, ``batch_size``, ``seed``, ``device``). None means "not given"; values
        may be strings, as typed: they are checked once, by :meth:`resolve`.
        """
        config = self.copy()
        for kind in COMPONENT_KINDS:
            if flags.get(kind):
                config.set_name(kind, flags.pop(kind))
            flags.pop(kind, None)
        for name in callbacks:
            config.callbacks.setdefault(name, {})
        for metric in metrics:
            if isinstance(config.train.metrics, list) and metric not in config.train.metrics:
                config.train.metrics.append(metric)  # a bad [train] metrics value is reported by resolve
        for assignment in assignments:
            config.apply(assignment)
        if lr is not None:
            config.optimizer.options["lr"] = lr
        for key, value in flags.items():
            if value is not None:
                config.set_train(key, value)
        config.resolved = False
        return config

    # -- resolution ----------------------------------------------------------------------
    def resolve(self, registry: Registry) -> RunConfig:
        """Return a copy with names checked and every option typed, range-checked and filled in.

        Each value is checked here, once; a configuration that is already resolved is
        returned (as a copy) as it is.
        """
        resolved = self.copy()
        if self.resolved:
            return resolved
        resolved.train = TrainSettings(**resolve_options("train", TRAIN_OPTIONS, vars(self.train)))
        check_device(resolved.train.device)
        for kind in COMPONENT_KINDS:
            entry = resolved.component(kind)
            entry.options = registry.get(kind, entry.name).resolve(entry.options)
        for name in resolved.train.metrics:
            registry.get("metric", name)
        resolved.callbacks = {name: registry.get("callback", name).resolve(options)
                              for name, options in resolved.callbacks.items()}
        resolved.resolved = True
        return resolved

    # -- plain data and TOML -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The configuration as plain data, table by table as in TOML: ``{"train": {...},
        "dataset": {"name": ..., OPTION: VALUE}, ..., "callback": {NAME: {...}}}``; options
        set to None are left out (TOML has no null), ``callback`` only when there are some."""
        data: dict[str, Any] = {"train": _plain(vars(self.train))}
        for kind in COMPONENT_KINDS:
            entry = self.component(kind)
            data[kind] = {"name": entry.name, **_plain(entry.options)}
        if self.callbacks:
            data["callback"] = {name: _plain(options) for name, options in self.callbacks.items()}
        return data

    def to_toml(self) -> str:
        """The configuration as TOML that :func:`from_toml` reads back unchanged."""
        data = self.to_dict()
        lines = ["[train]"] + [f"{k} = {_toml_value(v)}" for k, v in data["train"].items()]
        for kind in COMPONENT_KINDS:
            lines += ["", f"[{kind}]"] + [f"{k} = {_toml_value(v)}" for k, v in data[kind].items()]
        for name, options in data.get("callback", {}).items():
            lines += ["", f"[callback.{_toml_key(name)}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in options.items()]
        return "\n".join(lines) + "\n"


def configure(config: RunConfig, assignments: Iterable[str] = (), **flags: Any) -> RunConfig:
    """``config.with_flags(assignments=assignments, **flags)``: the command line's layering."""
    return config.with_flags(assignments=assignments, **flags)


def check_resume_compatible(saved: RunConfig, new: RunConfig, state: Mapping[str, Any], *,
                            where: str = "the run directory") -> None:
    """Refuse to resume ``saved`` (trained to ``state["epoch"]``) as ``new``: both resolved.

    Only ``train.epochs`` and ``train.device`` may differ, and the epochs not below the
    ones already done; raises :class:`~minidl.errors.MinidlError` naming what changed.
    """
    if not (saved.resolved and new.resolved):
        raise TypeError("check_resume_compatible compares resolved configurations: resolve both first")
    changed = changed_settings(saved, new)
    if changed:
        raise MinidlError(f"--resume continues the saved run: only --epochs and --device may change, "
                          f"not {', '.join(changed)}")
    done = int(state["epoch"])
    if new.train.epochs < done:
        raise MinidlError(f"the run in {where!r} has already trained {counted(done, 'epoch')}; "
                          f"--epochs is the new total: give {done} or more")


def comparable(config: RunConfig) -> dict[str, Any]:
    """``config`` as one level of settings to compare two runs by: :func:`flatten` of its
    :meth:`~RunConfig.to_dict`, and ``callbacks``, the callbacks in order (one without
    options has no setting of its own)."""
    return {**flatten(config.to_dict()), "callbacks": list(config.callbacks)}


def changed_settings(before: RunConfig, after: RunConfig) -> list[str]:
    """The settings of :func:`comparable` that differ, except those a resume may change; each
    component's ``name`` first, then the rest in order."""
    old, new = comparable(before), comparable(after)
    changed = [key for key in old.keys() | new.keys() if key not in RESUMABLE and old.get(key) != new.get(key)]
    return sorted(changed, key=lambda key: (key not in SWAPS, key))


#: The settings of :func:`comparable` that choose components, rather than set an option of one.
SWAPS = (*(f"{kind}.name" for kind in COMPONENT_KINDS), "callbacks")


def flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables as one level: ``{"train": {"epochs": 3}}`` -> ``{"train.epochs": 3}``."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _plain(options: Mapping[str, Any]) -> dict[str, Any]:
    return {key: list(value) if isinstance(value, tuple) else copy.deepcopy(value)
            for key, value in options.items() if value is not None}


def from_toml(text: str, source: str = "<config>") -> RunConfig:
    """Read a configuration; errors name ``source`` and, for bad TOML, the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MinidlError(f"{source}: not valid TOML: {exc}") from None
    except ValueError as exc:  # what tomllib does not wrap: an integer of more than 4300 digits
        raise MinidlError(f"{source}: not valid TOML: {str(exc).split(';')[0]}") from None
    config = RunConfig()
    for table, value in data.items():
        if table == "train":
            for key, item in _table(value, source, "train").items():
                try:
                    config.set_train(key, item)
                except OptionError as exc:  # the file's, not a flag's: name it
                    raise OptionError(f"{source}: {exc}") from None
        elif table in COMPONENT_KINDS:
            options = dict(_table(value, source, table))
            name = options.pop("name", DEFAULT_NAMES[table])
            if not isinstance(name, str):
                raise MinidlError(f"{source}: [{table}] name must be a {table} name in quotes "
                                  f"(see `minidl list {table}`), got {shown(name)}")
            setattr(config, table, ComponentConfig(name, options))
        elif table == "callback":
            config.callbacks = {name: dict(_table(opts, source, f"callback.{name}"))
                                for name, opts in _table(value, source, "callback").items()}
        else:
            raise MinidlError(
                f"{source}: unknown table [{table}]; accepted: "
                f"{', '.join(('train', *COMPONENT_KINDS, 'callback.NAME'))}"
            )
    return config


def load_config(path: str | Path) -> RunConfig:
    """Read a TOML configuration file."""
    return from_toml(read_config_text(path), str(Path(path)))


def read_config_text(path: str | Path) -> str:
    """The text of a configuration file; :class:`MinidlError` naming it when it cannot be read."""
    if not str(path).strip():
        raise MinidlError("config file '' is an empty name; give the path of a TOML file")
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MinidlError(f"config file {shown(str(path))} does not exist") from None
    except OSError as exc:  # its permissions, a directory: the system's words, once
        raise MinidlError(f"config file {shown(str(path))} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise MinidlError(f"config file {shown(str(path))} cannot be read: not UTF-8 text ({exc.reason} at byte "
                          f"{exc.start})") from None
    return text


def _table(value: Any, source: str, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MinidlError(f"{source}: [{name}] must be a table, got {shown(value)}")
    return value


def _toml_key(key: str) -> str:
    return key if key.replace("-", "").replace("_", "").isalnum() else json.dumps(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise MinidlError(f"cannot write {value!r} ({type(value).__name__}) to TOML")


def _toml_string(text: str) -> str:
    """A TOML basic string: control characters escaped, everything else (emoji too) literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(f"\\u{ord(c):04x}" if ord(c) < 0x20 or ord(c) == 0x7F else c for c in escaped) + '"'
