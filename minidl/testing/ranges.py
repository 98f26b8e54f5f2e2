"""Checking that every numeric option of a plugin declares its range (issue 12.3).

An ``int`` or ``float`` option (also ``X | None`` and ``list[X]``) must declare a lower
bound in its factory's signature, ``lr: Annotated[float, Gt(0)] = 0.1``, so that the option
parser refuses a typo before anything is built; an option that really takes any finite
number goes in ``allow`` with the reason. Usage, in a plugin's tests::

    from minidl.testing import check_option_ranges

    def test_every_numeric_option_declares_a_range():
        checked = check_option_ranges("my_plugin", allow={("dataset 'mine'", "offset"): "any real number"})
        assert len(checked) >= 3
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from types import ModuleType

from minidl.options import Ge, Gt, Le, Lt, Option
from minidl.plugins import Plugins
from minidl.testing.component import as_plugins, registered_name
from minidl.testing.context import ConformanceError

#: The type names of numeric options: int, float | None, list[float], ...
NUMERIC = re.compile(r"(list\[)?(int|float)\]?( \| None)?")

#: The type names that are sizes when ``bounded_sizes`` is set: int, int | None, list[int].
SIZES = ("int", "list[int]")

PluginSpec = str | ModuleType


def numeric_options(plugin: PluginSpec | Sequence[PluginSpec],
                    plugins: Plugins | None = None) -> list[tuple[str, Option]]:
    """``(component label, option)`` for every int or float option ``plugin`` registers.

    ``plugin``: a registered plugin's name, a module, a module name or a ``.py`` path, or a
    sequence of those (a distribution with several entry points); looked up in ``plugins``
    (default: every installed plugin, loaded afresh).
    """
    specs = [plugin] if isinstance(plugin, (str, ModuleType)) else list(plugin)
    loaded = plugins if plugins is not None else as_plugins(specs)  # as check_plugin takes them
    names = set()
    for spec in specs:
        name = registered_name(loaded, spec)
        if name is None:
            raise ConformanceError(f"plugin {spec!r}", "loads", "it is not registered")
        names.add(name)
    return [(component.label, option) for component in loaded.registry if component.plugin in names
            for option in component.options if NUMERIC.fullmatch(option.type_name)]


def range_problem(label: str, option: Option, allowed: bool, bounded_sizes: bool = False) -> str | None:
    """Why ``option`` of the component ``label`` breaks the range rule, or None when it keeps it."""
    declared = [c for c in option.constraints if isinstance(c, (Gt, Ge, Lt, Le))]
    if allowed:
        return f"{label}.{option.name} declares {declared}: take it off the allowlist" if declared else None
    if not declared:
        example = "Annotated[int, Ge(1)]" if "int" in option.type_name else "Annotated[float, Gt(0)]"
        if option.type_name.startswith("list["):
            example = f"list[{example}]"
        optional = " | None" if option.type_name.endswith("| None") else ""
        return (f"{label}: option {option.name!r} declares no range; declare one "
                f"({option.name}: {example}{optional}) or allowlist it with the reason")
    if not any(not bound.upper for bound in declared):
        return f"{label}.{option.name}: no lower bound"
    if bounded_sizes and option.type_name.startswith(SIZES) and not any(bound.upper for bound in declared):
        return f"{label}.{option.name}: no declared upper bound"
    return None


def check_option_ranges(plugin: PluginSpec | Sequence[PluginSpec], plugins: Plugins | None = None, *,
                        allow: Mapping[tuple[str, str], str] | None = None,
                        bounded_sizes: bool = False) -> list[str]:
    """Check that every numeric option of ``plugin`` declares a lower bound.

    ``plugin`` and ``plugins`` as in :func:`numeric_options`. ``allow`` maps
    ``(component label, option name)``, e.g. ``("dataset 'mine'", "true_b")``, to the reason
    the option takes any finite number: such an option must declare no bound, and every
    key must name a real option. ``bounded_sizes``: int and ``list[int]`` options (sizes)
    must also declare an upper bound, below the parser's default cap. Returns the checked
    ``label.option`` names; raises one :class:`ConformanceError` listing every problem.
    """
    allow = dict(allow or {})
    options = numeric_options(plugin, plugins)
    problems = [problem for label, option in options
                if (problem := range_problem(label, option, (label, option.name) in allow, bounded_sizes))]
    unknown = set(allow) - {(label, option.name) for label, option in options}
    problems += [f"the allowlist names {label}.{name}, which is no numeric option" for label, name in sorted(unknown)]
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ConformanceError(f"plugin {plugin!r}", "option_ranges",
                               f"{len(problems)} option(s) without a proper range:\n{lines}")
    return [f"{label}.{option.name}" for label, option in options]
