"""Checking a whole plugin: every component it registers, its lazy import, and that it
registers anything at all (an undecorated or misspelled hook registers nothing)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from minidl.plugins import Plugins, hook_problems, load_plugins
from minidl.testing.component import check_component, registered_name
from minidl.testing.context import ConformanceError, PartnerSpec, require

if TYPE_CHECKING:
    import pytest


def _load_plugin(plugin: str | ModuleType, plugins: Plugins | None) -> tuple[Plugins, str]:
    for candidate in (plugins, None if plugins is not None else load_plugins()):
        if candidate is not None and (name := registered_name(candidate, plugin)) is not None:
            return candidate, name
    loaded = load_plugins()
    if isinstance(plugin, ModuleType):
        return loaded, loaded.register(plugin, name=plugin.__name__)
    loaded.load_named([plugin])
    name = registered_name(loaded, plugin)
    if name is None:
        raise ConformanceError(f"plugin {plugin!r}", "loads", "it loaded but is not registered")
    return loaded, name


def plugin_components(plugin: str | ModuleType, plugins: Plugins | None = None) -> list[tuple[str, str]]:
    """``(kind, name)`` of every component ``plugin`` registers (loading it when needed)."""
    loaded, name = _load_plugin(plugin, plugins)
    return [(c.kind, c.name) for c in loaded.registry if c.plugin == name]


def check_lazy_import(module: ModuleType) -> None:
    """Importing the plugin's registration module alone does not import torch."""
    file = getattr(module, "__file__", None)
    if not file:
        return
    importable = not module.__name__.startswith("minidl_local_plugin_")
    code = (f"import importlib; importlib.import_module({module.__name__!r})" if importable else
            f"import importlib.util as u; s = u.spec_from_file_location('plugin', {file!r}); "
            "m = u.module_from_spec(s); s.loader.exec_module(m)")
    code += "; import sys; sys.exit(3 if 'torch' in sys.modules else 0)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            timeout=120, check=False)
    require(result.returncode != 3, "importing it imports torch; import torch (and the implementation "
                                    "module) inside the factories, so `minidl list` stays instant")
    require(result.returncode == 0, f"importing it alone fails: {result.stderr.strip()[-300:]}")


def check_registers_something(plugins: Plugins, name: str) -> None:
    """The plugin implements a hook (registers a component, a command or handles an event),
    and no function of it is a hook left undecorated or misspelled."""
    plugin = dict(plugins.manager.list_name_plugin()).get(name)
    problems = hook_problems(plugin)
    require(not problems, "; ".join(problems))
    require(plugins.manager.get_hookcallers(plugin),
            "it registers nothing: no function is decorated with @minidl.hookimpl and named after a "
            "hook (register_models, register_datasets, ...; see minidl.hookspecs)")


def check_plugin(plugin: str | ModuleType, plugins: Plugins | None = None, *,
                 options: Mapping[str, Mapping[str, Any]] | None = None, skip: Sequence[str] = (),
                 data: PartnerSpec = None, model: PartnerSpec = None,
                 loss: PartnerSpec = None) -> dict[str, list[str]]:
    """Check every component ``plugin`` registers, that it registers anything, and that its
    module imports torch lazily.

    ``plugin``: a loaded plugin's name (an entry point name), a module, a module name or
    a ``.py`` path. ``options`` maps a component name to the options to build it with;
    ``skip`` names components to leave out; ``data``, ``model``, ``loss`` as in
    :func:`check_component`. Returns the checks passed by component label; raises one
    :class:`ConformanceError` listing every component that failed (its first failure).
    A plugin that registers nothing (say its hooks lack ``@hookimpl``) fails.
    """
    loaded, name = _load_plugin(plugin, plugins)
    results: dict[str, list[str]] = {}
    failures: list[ConformanceError] = []
    module = dict(loaded.manager.list_name_plugin()).get(name)
    try:
        check_registers_something(loaded, name)
    except AssertionError as exc:
        failures.append(ConformanceError(f"plugin {name!r}", "registers_something", str(exc)))
    if isinstance(module, ModuleType):
        try:
            check_lazy_import(module)
        except AssertionError as exc:
            failures.append(ConformanceError(f"plugin {name!r}", "lazy_import", str(exc)))
    for kind, component in plugin_components(name, loaded):
        if component in skip:
            continue
        try:
            results[f"{kind} {component!r}"] = check_component(
                kind, component, loaded, (options or {}).get(component), data=data, model=model, loss=loss)
        except ConformanceError as exc:
            failures.append(exc)
    if failures:
        lines = "\n".join(f"  - {exc}" for exc in failures)
        raise ConformanceError(f"plugin {name!r}", failures[0].check,
                               f"plugin {name!r}: {len(failures)} failure(s):\n{lines}", failures)
    return results


def parametrize_components(plugin: str | ModuleType, plugins: Plugins | None = None) -> pytest.MarkDecorator:
    """A ``pytest.mark.parametrize`` over ``(kind, name)`` of the plugin's components."""
    import pytest

    components = plugin_components(plugin, plugins)
    return pytest.mark.parametrize(("kind", "name"), components, ids=[f"{k}-{n}" for k, n in components])
