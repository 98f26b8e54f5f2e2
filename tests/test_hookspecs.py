"""Every hook is documented and exercised by a test (datasette's ``test_docs`` idea)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import minidl
from minidl import hookspecs
from minidl.registry import REGISTER_HOOKS

TESTS = Path(__file__).resolve().parent
HOOKS = sorted(
    name for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if hasattr(function, "minidl_spec")
)
EVENTS = ["on_fit_start", "on_epoch_start", "on_before_optimizer_step", "on_batch_end",
          "on_epoch_end", "on_fit_end"]


def test_the_issue_s_hooks_are_all_there():
    assert {*REGISTER_HOOKS.values(), "register_commands", *EVENTS} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hookspec_has_a_docstring(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook))
    assert doc and len(doc.split()) >= 5, f"{hook} needs a docstring saying when it is called"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_implemented_in_a_test(hook):
    """A test file defines a ``@hookimpl`` function or method named after the hook."""
    sources = [path.read_text(encoding="utf-8") for path in TESTS.rglob("*.py") if path != Path(__file__)]
    pattern = re.compile(rf"@hookimpl\s*\n\s*def {hook}\(")
    assert any(pattern.search(source) for source in sources), f"no test implements {hook}"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_known_to_the_plugin_manager(hook):
    plugins = minidl.load_plugins(entry_points=False)
    assert hasattr(plugins.hook, hook)
    assert getattr(plugins.hook, hook).spec is not None


def test_the_typed_relay_mirrors_the_hookspecs():
    """``Plugins.hook`` is typed by ``hookspecs.Hooks``: one method per spec, same arguments."""
    methods = {name for name in vars(hookspecs.Hooks) if not name.startswith("_")}
    assert methods == set(HOOKS) == set(hookspecs.HOOK_NAMES)
    for hook in HOOKS:
        spec = list(inspect.signature(getattr(hookspecs, hook)).parameters)
        method = inspect.signature(getattr(hookspecs.Hooks, hook)).parameters
        assert list(method)[1:] == spec, hook
        assert all(p.kind is p.KEYWORD_ONLY for p in list(method.values())[1:]), hook  # as pluggy calls them


def test_register_is_exported_and_typed():
    assert minidl.Register is hookspecs.Register and "Register" in minidl.__all__
    params = list(inspect.signature(hookspecs.Register.__call__).parameters)
    assert params == ["self", "name", "factory"]
