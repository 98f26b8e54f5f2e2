"""The registry: component names, the plugin that registered each, and building them.

Filled through the ``register_*`` hooks (see :mod:`minidl.hookspecs`); reading it
(names, options, docs) never imports torch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from minidl.errors import OptionError, PluginError, UnknownComponentError
from minidl.memory import check_estimate
from minidl.options import Option, options_of, resolve_options, shown, summary_of, understood

#: The kinds of component and the hook through which plugins register each.
REGISTER_HOOKS: dict[str, str] = {
    "dataset": "register_datasets",
    "model": "register_models",
    "loss": "register_losses",
    "optimizer": "register_optimizers",
    "metric": "register_metrics",
    "callback": "register_callbacks",
}
KINDS: tuple[str, ...] = tuple(REGISTER_HOOKS)

#: Factory parameters filled by minidl rather than by the user.
INJECTED: dict[str, tuple[str, ...]] = {"optimizer": ("params",)}


@dataclass(frozen=True)
class Component:
    """A registered factory: its kind, name, the plugin that registered it, options."""

    kind: str
    name: str
    factory: Callable[..., Any]
    plugin: str
    options: list[Option] = field(default_factory=list)

    @property
    def summary(self) -> str:
        """The first line of the factory's docstring."""
        return summary_of(self.factory)

    @property
    def label(self) -> str:
        """``kind 'name'``, for messages."""
        return f"{self.kind} {self.name!r}"

    def resolve(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Check ``given`` options and return all of them with defaults filled in."""
        return resolve_options(self.label, self.options, given)


class NameTakenError(PluginError):
    """A component name another plugin (``holder``) registered first under the same kind."""

    def __init__(self, message: str, holder: str) -> None:
        super().__init__(message)
        self.holder = holder


_NAME_BREAKERS = re.compile(r"[\s=,]")


def _register_arguments(name: Any, factory: Any) -> tuple[Any, Any]:
    return name, factory


def check_name(kind: str, name: Any) -> None:
    """Raise :class:`ValueError` unless ``name`` can be typed as ``--KIND NAME`` and in ``--set``."""
    if not isinstance(name, str):
        raise ValueError(f"a {kind} name must be a string, got {type(name).__name__} {shown(name)}")
    if not name or _NAME_BREAKERS.search(name) or (kind == "callback" and "." in name):
        breakers = "spaces, '=', ',' or '.'" if kind == "callback" else "spaces, '=' or ','"
        raise ValueError(f"{kind} name {shown(name)} cannot be typed on the command line: "
                         f"give a non-empty name without {breakers}")


class Registry:
    """Components by kind and name."""

    def __init__(self) -> None:
        self._components: dict[str, dict[str, Component]] = {kind: {} for kind in KINDS}

    def add(self, kind: str, name: str, factory: Callable[..., Any], plugin: str) -> None:
        """Record ``factory`` under ``kind``/``name``; a name taken twice is an error.

        A name that is not a usable word on the command line (not a string, empty, with
        spaces, ``=`` or ``,``; a callback's with ``.``, which ``--set callback.NAME.OPTION``
        splits on) raises :class:`ValueError`, and a factory that cannot be called
        :class:`TypeError`, an option whose default its own type or range refuses
        :class:`ValueError`: the plugin's own mistake, named with it by :mod:`minidl.plugins`.
        """
        if kind not in self._components:
            raise PluginError(f"unknown component kind {kind!r}; kinds: {', '.join(KINDS)}")
        check_name(kind, name)
        if not callable(factory):
            raise TypeError(f"{kind} {name!r}: the factory must be a function or class that builds the {kind}, "
                            f"got {type(factory).__name__} {shown(factory)}")
        taken = self._components[kind].get(name)
        if taken is not None:
            raise NameTakenError(f"{kind} {name!r} is registered twice: by plugin {taken.plugin!r} "
                                 f"and by plugin {plugin!r}", holder=taken.plugin)
        options = options_of(factory, injected=INJECTED.get(kind, ()))
        for option in options:  # a default its own declaration refuses would fail only when written back
            if not option.required and option.default is not None and understood(option.type):
                try:
                    option.coerce(option.default)
                except OptionError as exc:
                    raise ValueError(f"{kind} {name!r}: its default does not fit the option's own declaration: "
                                     f"{exc}") from None
        self._components[kind][name] = Component(kind, name, factory, plugin, options)

    def remove_plugin(self, plugin: str) -> None:
        """Forget every component ``plugin`` registered (a plugin left out after failing part-way)."""
        for components in self._components.values():
            for name in [name for name, component in components.items() if component.plugin == plugin]:
                del components[name]

    def registrar(self, kind: str, plugin: str) -> Callable[..., None]:
        """Return the ``register(name, factory)`` callback handed to one plugin's hook."""

        def register(*args: Any, **kwargs: Any) -> None:
            try:
                name, factory = _register_arguments(*args, **kwargs)
            except TypeError:  # Python's own words would name this closure, not the call
                given = ", ".join([*map(shown, args), *(f"{key}={shown(value)}" for key, value in kwargs.items())])
                raise TypeError(f"register({given}): call it as register(name, factory), e.g. "
                                f"register('my-{kind}', my_{kind})") from None
            self.add(kind, name, factory, plugin)

        return register

    def get(self, kind: str, name: str) -> Component:
        """Return the component, or raise an error listing the available names."""
        try:
            return self._components[kind][name]
        except KeyError:
            if kind not in self._components:
                raise UnknownComponentError("component kind", kind, KINDS) from None
            raise UnknownComponentError(kind, name, self._components[kind]) from None

    def names(self, kind: str) -> list[str]:
        """The names registered under ``kind``, sorted."""
        return sorted(self._components[kind])

    def __iter__(self) -> Iterator[Component]:
        for kind in KINDS:
            yield from (self._components[kind][name] for name in self.names(kind))

    def build(self, kind: str, name: str, options: Mapping[str, Any] | None = None,
              **injected: Any) -> Any:
        """Build a component from its name and options.

        ``injected`` values (``params`` for optimizers, ``num_inputs`` for models) are
        passed when the factory takes them and the user left them unset. A factory with an
        ``estimate_bytes(options)`` attribute is refused, before it runs, when the estimate
        exceeds the memory available (:mod:`minidl.memory`).
        """
        component = self.get(kind, name)
        return self._create(component, component.resolve(options or {}), injected)

    def build_resolved(self, kind: str, name: str, values: Mapping[str, Any], **injected: Any) -> Any:
        """Build from options :meth:`Component.resolve` (or ``RunConfig.resolve``) already
        checked and filled in: as :meth:`build`, without checking them a second time."""
        return self._create(self.get(kind, name), dict(values), injected)

    def _create(self, component: Component, values: dict[str, Any], injected: Mapping[str, Any]) -> Any:
        for key, value in injected.items():
            if key in INJECTED.get(component.kind, ()) or values.get(key, 0) is None:
                values[key] = value
        estimate = getattr(component.factory, "estimate_bytes", None)
        if callable(estimate):
            check_estimate(component.label, estimate, values)
        return component.factory(**values)
