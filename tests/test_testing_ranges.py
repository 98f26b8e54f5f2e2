"""minidl.testing.check_option_ranges: every numeric option declares a range, or is allowlisted."""

from __future__ import annotations

from pathlib import Path

import pytest

import minidl
from minidl.testing import ConformanceError, check_option_ranges, numeric_options

RANGES = '''
from typing import Annotated

import minidl
from minidl.options import Ge, Gt, Le


def ranged(lr: Annotated[float, Gt(0)] = 0.1, size: Annotated[int, Ge(1), Le(100)] = 4,
           sizes: list[Annotated[int, Ge(1), Le(100)]] = [2], offset: float = 0.0, name: str = "x"):
    """A dataset whose options say their ranges."""


def unranged(size: int = 4, scale: Annotated[float, Le(1)] = 0.5, width: Annotated[int, Ge(1)] = 2,
             counts: list[int] = [3]):
    """A dataset that forgets: no range, no lower bound, no upper bound on a size."""


@minidl.hookimpl
def register_datasets(register):
    register("ranged", ranged)
    register("unranged", unranged)
'''


@pytest.fixture
def plugin(tmp_path: Path) -> tuple[str, minidl.Plugins]:
    """A ``.py`` plugin registering the two datasets above, and the plugins it is loaded in."""
    path = tmp_path / "ranges_plugin.py"
    path.write_text(RANGES, encoding="utf-8")
    return str(path), minidl.load_plugins(extra=[str(path)], entry_points=False)


def test_numeric_options_lists_the_int_and_float_options_only(plugin: tuple[str, minidl.Plugins]) -> None:
    found = [(label, option.name) for label, option in numeric_options(*plugin)]
    assert found == [("dataset 'ranged'", "lr"), ("dataset 'ranged'", "size"), ("dataset 'ranged'", "sizes"),
                     ("dataset 'ranged'", "offset"), ("dataset 'unranged'", "size"),
                     ("dataset 'unranged'", "scale"), ("dataset 'unranged'", "width"),
                     ("dataset 'unranged'", "counts")]


def test_every_problem_is_named_in_one_error(plugin: tuple[str, minidl.Plugins]) -> None:
    with pytest.raises(ConformanceError, match="option_ranges") as caught:
        check_option_ranges(*plugin, bounded_sizes=True)
    message = str(caught.value)
    assert "5 option(s) without a proper range" in message
    assert "option 'counts' declares no range; declare one (counts: list[Annotated[int, Ge(1)]])" in message
    assert "dataset 'ranged': option 'offset' declares no range; declare one (offset: Annotated[float, Gt(0)])" \
        in message
    assert "dataset 'unranged': option 'size' declares no range; declare one (size: Annotated[int, Ge(1)])" in message
    assert "dataset 'unranged'.scale: no lower bound" in message
    assert "dataset 'unranged'.width: no declared upper bound" in message
    assert "'lr'" not in message and "'ranged'.size" not in message


def test_an_allowlisted_option_passes_and_upper_bounds_are_optional_by_default(
        plugin: tuple[str, minidl.Plugins]) -> None:
    allow = {("dataset 'ranged'", "offset"): "any real number"}
    with pytest.raises(ConformanceError) as caught:
        check_option_ranges(*plugin, allow=allow)
    assert "offset" not in str(caught.value) and "width" not in str(caught.value)
    assert "option 'size' declares no range" in str(caught.value)


def test_the_allowlist_must_name_real_options_without_a_range(plugin: tuple[str, minidl.Plugins]) -> None:
    allow = {("dataset 'ranged'", "lr"): "declares Gt(0) after all", ("dataset 'ranged'", "nme"): "a typo"}
    with pytest.raises(ConformanceError) as caught:
        check_option_ranges(*plugin, allow=allow)
    assert "dataset 'ranged'.lr declares [Gt(bound=0)]: take it off the allowlist" in str(caught.value)
    assert "the allowlist names dataset 'ranged'.nme, which is no numeric option" in str(caught.value)


def test_a_plugin_whose_options_keep_the_rule_passes() -> None:
    checked = check_option_ranges("minidl.default_plugins.notebook", minidl.load_plugins(entry_points=False),
                                  allow={("dataset 'synthetic-linear'", "true_w"): "any real numbers",
                                         ("dataset 'synthetic-linear'", "true_b"): "any real number"})
    assert "model 'linreg'.init_std" in checked


def test_an_unknown_plugin_is_named() -> None:
    with pytest.raises(ConformanceError, match="plugin 'no_such_plugin' fails check 'loads'"):
        check_option_ranges("no_such_plugin", minidl.load_plugins(entry_points=False))


@pytest.mark.parametrize("spec", ["path", "relative", "module"])
def test_a_plugin_is_named_as_check_plugin_takes_it(plugin: tuple[str, minidl.Plugins], spec: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Only an installed entry point's name worked: a path or module name 'is not registered'."""
    path = Path(plugin[0])
    monkeypatch.chdir(path.parent)
    monkeypatch.syspath_prepend(str(path.parent))
    given = {"path": str(path), "relative": f"./{path.name}", "module": path.stem}[spec]
    with pytest.raises(ConformanceError, match="5 option\\(s\\) without a proper range"):
        check_option_ranges(given, bounded_sizes=True)
