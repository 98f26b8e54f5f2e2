"""Component options, read from a factory's signature and docstring, and their parsing.

A factory such as ``def make(num_examples: int = 1000, true_w: list[float] = ...)``
declares its options: the type hint gives the type, the default the default, and the
docstring's ``Args:`` section one help line each. A hint may carry a range, checked when
the value is parsed: ``lr: Annotated[float, Gt(0)] = 0.03`` (the markers are
:mod:`minidl.bounds`', re-exported here). Every float option refuses
nan and inf unless it is marked ``AllowNonFinite()``; every int option without a declared
upper bound is capped at :data:`INT_CAP` (and below at ``-INT_CAP``). Nothing here imports torch.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import inspect
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from minidl.bounds import INT_CAP, AllowNonFinite, Bound, Ge, Gt, Le, Lt
from minidl.errors import SHOWN_CHARS, OptionError, shown

__all__ = [
    "INT_CAP",
    "SHOWN_CHARS",
    "AllowNonFinite",
    "Ge",
    "Gt",
    "Le",
    "Lt",
    "Option",
    "options_of",
    "resolve_options",
    "shown",
    "summary_of",
]

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_MISSING = inspect.Parameter.empty


@dataclass(frozen=True)
class Option:
    """One option of a component: its name, type, default, help line and range markers."""

    name: str
    type: Any  # a type hint without Annotated: int, float, bool, str, list[float], Literal[...], X | None
    default: Any = _MISSING
    help: str = ""
    constraints: tuple[Any, ...] = field(default=(), compare=False)  # Gt/Ge/Lt/Le/AllowNonFinite markers
    formerly: tuple[str, ...] = field(default=(), compare=False)  # old names (a factory's renamed_options)

    @property
    def bounds(self) -> tuple[Bound, ...]:
        """The range checked for an int or float value (or each item of a list): the declared
        bounds, plus ``<= INT_CAP`` / ``>= -INT_CAP`` for an int without one on that side."""
        declared = tuple(c for c in self.constraints if isinstance(c, Bound))
        if _number_kind(self.type) is not int:
            return declared
        lower = () if any(not b.upper for b in declared) else (Ge(-INT_CAP),)
        upper = () if any(b.upper for b in declared) else (Le(INT_CAP),)
        return lower + declared + upper

    @property
    def allows_non_finite(self) -> bool:
        """True when the option is marked :class:`AllowNonFinite`."""
        return any(c is AllowNonFinite or isinstance(c, AllowNonFinite) for c in self.constraints)

    @property
    def range_text(self) -> str:
        """The accepted range as users read it: ``> 0``, ``>= 1, <= 100000000``; "" for none."""
        parts = [str(bound) for bound in self.bounds]
        if _number_kind(self.type) is float:
            parts.append("nan/inf allowed" if self.allows_non_finite else "finite")
        return ", ".join(parts)

    @property
    def required(self) -> bool:
        """True when the option has no default."""
        return self.default is _MISSING

    @property
    def type_name(self) -> str:
        """The type as users read it: ``int``, ``list[float]``, ``'a' | 'b'``."""
        return _type_name(self.type)

    @property
    def accepted(self) -> str:
        """What a value must look like, for messages: ``an integer >= 1, <= 1000000000``,
        ``finite numbers separated by commas (1,2 or [1, 2]), each > 0``, ``one of 'a', 'b'``."""
        inner, optional = _strip_optional(self.type)
        listed = _is_list(inner)
        item = (typing.get_args(inner) or (float,))[0] if listed else inner
        finite = "finite " if item is float and not self.allows_non_finite else ""
        if typing.get_origin(item) is typing.Literal:
            what = "one of " + ", ".join(map(repr, typing.get_args(item)))
        elif listed:
            plural = {int: "integers", float: "numbers", bool: "true/false values", str: "strings"}
            what = f"{finite}{plural.get(item, _type_name(item))} separated by commas (1,2 or [1, 2])"
        else:
            what = {int: "an integer", float: f"a {finite}number", bool: "true or false",
                    str: "a string"}.get(item, _type_name(item))
        bounds = ", ".join(str(bound) for bound in self.bounds)
        if bounds:
            what += f", each {bounds}" if listed else f" {bounds}"
        return what + (", or none" if optional else "")

    def parse(self, text: str) -> Any:
        """Parse a command-line string into this option's type and check its range."""
        try:
            value = _parse(self.type, text.strip())
        except (ValueError, TypeError):
            raise OptionError(f"option {self.name!r}: cannot read {shown(text)} as {self.type_name} "
                              f"(expected {self.accepted})") from None
        return self.check(value)

    def coerce(self, value: Any) -> Any:
        """Check a value from a config file or Python call against the type and range.

        A string is read as the command line's text is (:meth:`parse`); for an option that
        may be None, ``none``, ``null`` and the empty string mean None here too.
        """
        if isinstance(value, str) and (not _accepts_str(self.type) or _is_none_text(self.type, value)):
            return self.parse(value)
        try:
            typed = _coerce(self.type, value)
        except (ValueError, TypeError):
            raise OptionError(f"option {self.name!r}: {shown(value)} is not a valid {self.type_name} "
                              f"(expected {self.accepted})") from None
        return self.check(typed)

    def check(self, value: Any) -> Any:
        """Return a typed ``value`` (each item of a list) if it is inside the range, else raise."""
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                continue
            if isinstance(item, float) and not math.isfinite(item) and not self.allows_non_finite:
                raise OptionError(f"option {self.name!r} must be a finite number, got {shown(item)}")
            for bound in self.bounds:
                if not bound.admits(item):
                    raise OptionError(f"option {self.name!r} must be {bound}, got {shown(item)}")
        return value


def options_of(factory: Callable[..., Any], injected: Iterable[str] = ()) -> list[Option]:
    """Return the options a factory declares, skipping the ``injected`` parameters."""
    skip = set(injected)
    helps = _docstring_args(inspect.getdoc(factory) or "")
    hints = _hints(factory)
    defaults = _dataclass_defaults(factory)
    renamed: Mapping[str, str] = getattr(factory, "renamed_options", {})  # old name -> new name
    options = []
    for param in inspect.signature(factory).parameters.values():
        if param.name in skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = defaults.get(param.name, param.default)
        hint = hints.get(param.name, type(default) if default is not _MISSING else str)
        kind, constraints = _split_annotated(hint)
        formerly = tuple(old for old, new in renamed.items() if new == param.name)
        options.append(Option(param.name, kind, default, helps.get(param.name, ""), constraints, formerly))
    return options


def _dataclass_defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    """A dataclass's defaults, ``default_factory`` ones called (its signature shows a sentinel)."""
    if not (isinstance(factory, type) and dataclasses.is_dataclass(factory)):
        return {}
    return {f.name: f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            for f in dataclasses.fields(factory)
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING}


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
        renamed = next((o.name for o in options if unknown[0] in o.formerly), None)
        if renamed is not None:  # an old name: the new one is all the user needs
            raise OptionError(f"{component} has no option {shown(unknown[0])}; did you mean {renamed!r}?")
        accepted = ", ".join(by_name) or "(none)"
        close = difflib.get_close_matches(str(unknown[0]), list(by_name), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise OptionError(f"{component} has no option {shown(unknown[0])}; its options: {accepted}{hint}")
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
            values[option.name] = copy.copy(option.default)  # a list default is never shared
    return values


def _split_annotated(hint: Any) -> tuple[Any, tuple[Any, ...]]:
    """``Annotated[T, *marks]`` (also inside ``| None``) as ``(T, marks)``; the marks of a
    list's items, ``list[Annotated[T, *marks]]``, as ``(list[T], marks)``: a list's range
    is checked on each item, whichever of the two spellings declares it."""
    if typing.get_origin(hint) is Annotated:
        return hint.__origin__, tuple(hint.__metadata__)
    inner, optional = _strip_optional(hint)
    if optional and typing.get_origin(inner) is Annotated:
        return inner.__origin__ | None, tuple(inner.__metadata__)
    item = (typing.get_args(inner) or (None,))[0]
    if typing.get_origin(inner) is list and typing.get_origin(item) is Annotated:
        kind: Any = types.GenericAlias(list, (item.__origin__,))
        return kind | None if optional else kind, tuple(item.__metadata__)
    return hint, ()


def _number_kind(hint: Any) -> Any:
    """``int`` or ``float`` for an int/float option (also optional or a list of them), else None."""
    inner, _ = _strip_optional(hint)
    if typing.get_origin(inner) in (list, tuple):
        inner = (typing.get_args(inner) or (None,))[0]
    return inner if inner in (int, float) else None


def _hints(factory: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(factory, include_extras=True)
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


def understood(hint: Any) -> bool:
    """Whether the option parser reads values of ``hint`` itself: int, float, bool, str, a
    ``Literal``, a list of those, each also ``| None``. Other types (``int | str``, ``Path``,
    ``tuple[int, str]``) are passed on as given."""
    inner, _ = _strip_optional(hint)
    if typing.get_origin(inner) is list:
        inner = (typing.get_args(inner) or (float,))[0]
    return inner in (int, float, bool, str) or typing.get_origin(inner) is typing.Literal


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


def _is_list(hint: Any) -> bool:
    return typing.get_origin(hint) in (list, tuple) or hint in (list, tuple)


def _is_none_text(hint: Any, text: str) -> bool:
    """True for ``none``, ``null`` or blank text given to an option that may be None."""
    return _strip_optional(hint)[1] and text.strip().lower() in ("none", "null", "")


def _accepts_str(hint: Any) -> bool:
    inner, _ = _strip_optional(hint)
    if typing.get_origin(inner) is typing.Literal:
        return all(isinstance(arg, str) for arg in typing.get_args(inner))
    return inner is str or inner is Any


def _parse(hint: Any, text: str) -> Any:
    inner, optional = _strip_optional(hint)
    if optional and _is_none_text(hint, text):
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
