"""Component options, read from a factory's signature and docstring, and their parsing.

A factory such as ``def make(num_examples: int = 1000, true_w: list[float] = ...)``
declares its options: the type hint gives the type, the default the default, and the
docstring's ``Args:`` section one help line each. Nothing here imports torch.
"""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from minidl.errors import OptionError

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_MISSING = inspect.Parameter.empty


@dataclass(frozen=True)
class Option:
    """One option of a component: its name, type, default and help line."""

    name: str
    type: Any  # a type hint: int, float, bool, str, list[float], Literal[...], X | None
    default: Any = _MISSING
    help: str = ""

    @property
    def required(self) -> bool:
        """True when the option has no default."""
        return self.default is _MISSING

    @property
    def type_name(self) -> str:
        """The type as users read it: ``int``, ``list[float]``, ``'a' | 'b'``."""
        return _type_name(self.type)

    def parse(self, text: str) -> Any:
        """Parse a command-line string into this option's type."""
        try:
            return _parse(self.type, text.strip())
        except (ValueError, TypeError) as exc:
            detail = f" ({exc})" if str(exc).startswith("expected") else ""
            raise OptionError(f"option {self.name!r}: cannot read {text!r} as {self.type_name}{detail}") from None

    def coerce(self, value: Any) -> Any:
        """Check a value from a config file or Python call against the type."""
        if isinstance(value, str) and not _accepts_str(self.type):
            return self.parse(value)
        try:
            return _coerce(self.type, value)
        except (ValueError, TypeError) as exc:
            raise OptionError(f"option {self.name!r}: {value!r} is not a valid {self.type_name} ({exc})") from None


def options_of(factory: Callable[..., Any], injected: Iterable[str] = ()) -> list[Option]:
    """Return the options a factory declares, skipping the ``injected`` parameters."""
    skip = set(injected)
    helps = _docstring_args(inspect.getdoc(factory) or "")
    hints = _hints(factory)
    options = []
    for param in inspect.signature(factory).parameters.values():
        if param.name in skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        kind = hints.get(param.name, type(param.default) if param.default is not _MISSING else str)
        options.append(Option(param.name, kind, param.default, helps.get(param.name, "")))
    return options


def summary_of(factory: Callable[..., Any]) -> str:
    """Return the first line of the factory's docstring."""
    doc = inspect.getdoc(factory) or ""
    return doc.splitlines()[0].strip() if doc else ""


def resolve_options(
    component: str, options: list[Option], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Check ``given`` against ``options``; return every option's value, defaults filled."""
    by_name = {option.name: option for option in options}
    unknown = [name for name in given if name not in by_name]
    if unknown:
        accepted = ", ".join(by_name) or "(none)"
        raise OptionError(f"{component} has no option {unknown[0]!r}; its options: {accepted}")
    values = {}
    for option in options:
        if option.name in given:
            try:
                values[option.name] = option.coerce(given[option.name])
            except OptionError as exc:
                raise OptionError(f"{component}: {exc}") from None
        elif option.required:
            raise OptionError(f"{component} needs option {option.name!r} ({option.type_name})")
        else:
            values[option.name] = option.default
    return values


def _hints(factory: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(factory)
    except Exception:  # an unresolvable hint (a torch type under TYPE_CHECKING)
        hints = {}
        namespace = getattr(factory, "__globals__", {})
        for name, hint in getattr(factory, "__annotations__", {}).items():
            try:
                hints[name] = eval(hint, namespace) if isinstance(hint, str) else hint
            except Exception:
                continue
        return hints


def _docstring_args(doc: str) -> dict[str, str]:
    helps: dict[str, str] = {}
    in_args = False
    for line in doc.splitlines():
        if re.match(r"^(Args|Arguments|Options|Parameters):\s*$", line.strip()):
            in_args = True
            continue
        if in_args:
            match = re.match(r"^\s+(\w+)(?:\s*\(.*?\))?:\s*(.*)$", line)
            if match:
                helps[match.group(1)] = match.group(2).strip()
            elif line.strip() and not line.startswith(" "):
                in_args = False
    return helps


def _strip_optional(hint: Any) -> tuple[Any, bool]:
    if _is_union(hint):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) < len(typing.get_args(hint)) and len(args) == 1:
            return args[0], True
    return hint, False


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


def _type_name(hint: Any) -> str:
    inner, optional = _strip_optional(hint)
    if typing.get_origin(inner) is typing.Literal:
        name = " | ".join(repr(arg) for arg in typing.get_args(inner))
    elif typing.get_origin(inner) in (list, tuple):
        args = typing.get_args(inner)
        name = f"list[{_type_name(args[0])}]" if args else "list"
    else:
        name = getattr(inner, "__name__", str(inner))
    return f"{name} | None" if optional else name


def _accepts_str(hint: Any) -> bool:
    inner, _ = _strip_optional(hint)
    if typing.get_origin(inner) is typing.Literal:
        return all(isinstance(arg, str) for arg in typing.get_args(inner))
    return inner is str or inner is Any


def _parse(hint: Any, text: str) -> Any:
    inner, optional = _strip_optional(hint)
    if optional and text.lower() in ("none", "null", ""):
        return None
    origin = typing.get_origin(inner)
    if origin is typing.Literal:
        for choice in typing.get_args(inner):
            if str(choice) == text:
                return choice
        return _coerce(inner, text)
    if origin in (list, tuple) or inner in (list, tuple):
        body = text[1:-1] if text.startswith("[") and text.endswith("]") else text
        items = [part.strip() for part in body.split(",") if part.strip()]
        (item_hint,) = typing.get_args(inner)[:1] or (float,)
        return [_parse(item_hint, item) for item in items]
    if inner is bool:
        lowered = text.lower()
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise ValueError("expected true or false")
    if inner is int:
        return int(text)
    if inner is float:
        return float(text)
    if inner is str or inner is Any:
        return text
    return _coerce(inner, json.loads(text))


def _coerce(hint: Any, value: Any) -> Any:
    inner, optional = _strip_optional(hint)
    if value is None and optional:
        return None
    origin = typing.get_origin(inner)
    if origin is typing.Literal:
        choices = typing.get_args(inner)
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(map(repr, choices))}")
        return value
    if origin in (list, tuple) or inner in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise TypeError("expected a list")
        (item_hint,) = typing.get_args(inner)[:1] or (float,)
        return [_coerce(item_hint, item) for item in value]
    if inner is bool:
        if not isinstance(value, bool):
            raise TypeError("expected a bool")
        return value
    if inner is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError("expected an int")
        return value
    if inner is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError("expected a number")
        return float(value)
    if inner is str:
        if not isinstance(value, str):
            raise TypeError("expected a string")
        return value
    return value
