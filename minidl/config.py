"""A run's configuration: which components, their options, and the training settings.

Read from TOML (a table per component, ``[train]``, ``[callback.NAME]``), overridden by
``KIND.OPTION=VALUE`` pairs, resolved against the registry (every option filled and
typed), and written back as TOML that reads back to the same configuration.
"""

from __future__ import annotations

import copy
import json
import math
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from minidl.errors import MinidlError, OptionError
from minidl.registry import Registry
from minidl.trainer import check_hyperparameters, check_learning_rate

COMPONENT_KINDS = ("dataset", "model", "loss", "optimizer")
DEFAULT_NAMES = {"dataset": "synthetic-linear", "model": "linreg", "loss": "squared", "optimizer": "sgd"}


@dataclass
class TrainSettings:
    """The ``[train]`` table."""

    epochs: int = 3  # total epochs, also after a resume
    batch_size: int = 10  # examples per minibatch (per process under ddp)
    seed: int = 0  # data, initial parameters and shuffling order
    device: str = "cpu"  # cpu, cuda, cuda:N or auto
    metrics: list[str] = field(default_factory=list)  # metric names, computed per split


@dataclass
class ComponentConfig:
    """One component: its registered name and its options."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunConfig:
    """Everything that defines a run; ``resolve`` fills in every default."""

    dataset: ComponentConfig = field(default_factory=lambda: ComponentConfig(DEFAULT_NAMES["dataset"]))
    model: ComponentConfig = field(default_factory=lambda: ComponentConfig(DEFAULT_NAMES["model"]))
    loss: ComponentConfig = field(default_factory=lambda: ComponentConfig(DEFAULT_NAMES["loss"]))
    optimizer: ComponentConfig = field(default_factory=lambda: ComponentConfig(DEFAULT_NAMES["optimizer"]))
    train: TrainSettings = field(default_factory=TrainSettings)
    callbacks: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> options, in order

    def component(self, kind: str) -> ComponentConfig:
        """The dataset, model, loss or optimizer entry."""
        return getattr(self, kind)

    def copy(self) -> RunConfig:
        """A deep copy."""
        return copy.deepcopy(self)

    # -- changes -------------------------------------------------------------------------
    def set_name(self, kind: str, name: str) -> None:
        """Choose another component; options given for the previous one are dropped."""
        if self.component(kind).name != name:
            setattr(self, kind, ComponentConfig(name))

    def set_train(self, key: str, value: Any) -> None:
        """Set a ``[train]`` setting, checking its type."""
        kinds = {f.name: f.type for f in fields(TrainSettings)}
        if key not in kinds:
            raise OptionError(f"train has no setting {key!r}; its settings: {', '.join(kinds)}")
        setattr(self.train, key, _coerce_train(key, value))

    def apply(self, assignment: str) -> None:
        """Apply one ``KIND.OPTION=VALUE`` (or ``callback.NAME.OPTION=VALUE``)."""
        key, sep, value = assignment.partition("=")
        parts = key.strip().split(".")
        if not sep or len(parts) < 2 or not all(parts):
            raise OptionError(
                f"cannot read --set {assignment!r}: expected KIND.OPTION=VALUE with KIND one of "
                f"{', '.join((*COMPONENT_KINDS, 'train'))} or callback.NAME.OPTION=VALUE"
            )
        kind, value = parts[0], value.strip()
        if kind == "callback" and len(parts) == 3:
            self.callbacks.setdefault(parts[1], {})[parts[2]] = value
        elif kind == "train" and len(parts) == 2:
            self.set_train(parts[1], _parse_train(parts[1], value))
        elif kind in COMPONENT_KINDS and len(parts) == 2:
            if parts[1] == "name":
                self.set_name(kind, value)
            else:
                self.component(kind).options[parts[1]] = value
        else:
            raise OptionError(
                f"cannot read --set {assignment!r}: unknown KIND {kind!r}; accepted: "
                f"{', '.join(COMPONENT_KINDS)}, train, callback.NAME"
            )

    # -- resolution ----------------------------------------------------------------------
    def resolve(self, registry: Registry) -> RunConfig:
        """Return a copy with names checked and every option typed and filled in."""
        check_hyperparameters(self.train.epochs, self.train.batch_size)
        resolved = self.copy()
        for kind in COMPONENT_KINDS:
            entry = resolved.component(kind)
            entry.options = registry.get(kind, entry.name).resolve(entry.options)
        if "lr" in resolved.optimizer.options:
            check_learning_rate(resolved.optimizer.options["lr"])
        for name in resolved.train.metrics:
            registry.get("metric", name)
        resolved.callbacks = {name: registry.get("callback", name).resolve(options)
                              for name, options in resolved.callbacks.items()}
        return resolved

    # -- TOML ----------------------------------------------------------------------------
    def to_toml(self) -> str:
        """The configuration as TOML that :func:`from_toml` reads back unchanged."""
        lines = ["[train]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in vars(self.train).items()]
        for kind in COMPONENT_KINDS:
            entry = self.component(kind)
            lines += ["", f"[{kind}]", f"name = {_toml_value(entry.name)}"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in entry.options.items() if v is not None]
        for name, options in self.callbacks.items():
            lines += ["", f"[callback.{_toml_key(name)}]"]
            lines += [f"{k} = {_toml_value(v)}" for k, v in options.items() if v is not None]
        return "\n".join(lines) + "\n"


def from_toml(text: str, source: str = "<config>") -> RunConfig:
    """Read a configuration; errors name ``source`` and, for bad TOML, the line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MinidlError(f"{source}: not valid TOML: {exc}") from None
    config = RunConfig()
    for table, value in data.items():
        if table == "train":
            for key, item in _table(value, source, "train").items():
                config.set_train(key, item)
        elif table in COMPONENT_KINDS:
            options = dict(_table(value, source, table))
            name = options.pop("name", DEFAULT_NAMES[table])
            setattr(config, table, ComponentConfig(str(name), options))
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
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MinidlError(f"config file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MinidlError(f"config file {str(path)!r} cannot be read: {exc}") from None
    return from_toml(text, str(path))


def _table(value: Any, source: str, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MinidlError(f"{source}: [{name}] must be a table, got {value!r}")
    return value


def _parse_train(key: str, text: str) -> Any:
    if key == "metrics":
        return [item.strip() for item in text.strip("[]").split(",") if item.strip()]
    if key in ("epochs", "batch_size", "seed"):
        try:
            return int(text)
        except ValueError:
            raise OptionError(f"train.{key}: cannot read {text!r} as int") from None
    return text


def _coerce_train(key: str, value: Any) -> Any:
    expected: dict[str, type[Any]] = {"epochs": int, "batch_size": int, "seed": int, "device": str,
                                 "metrics": list}
    kind = expected.get(key, object)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise OptionError(f"train.{key}: {value!r} is not a valid {kind.__name__}")
    if key == "seed" and not 0 <= value < 2**63:
        raise OptionError(f"train.seed: {value!r} is out of range; accepted: 0 to 2**63 - 1")
    return list(map(str, value)) if key == "metrics" else value


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
