"""pytest fixtures for plugin tests: ``pytest_plugins = ["minidl.testing.fixtures"]``.

Put that line in the top-level ``conftest.py`` (pytest refuses ``pytest_plugins`` in a
nested one). Tests then get:

* ``plugins``: the defaults plus the installed plugins, loaded afresh for each test,
  with ``MINIDL_PLUGINS``, ``MINIDL_LOAD_PLUGINS`` and ``MINIDL_DATA`` from outside removed;
* ``registry``: the registry of ``plugins``;
* ``minidl_entry_points``: which installed plugins ``plugins`` loads (``None``: all).
  Override it in a ``conftest.py`` to pin a test folder to some, e.g.
  ``return ["concise", "optim"]``.

minidl itself is imported inside the fixtures, so that loading this module costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from minidl.plugins import Plugins
    from minidl.registry import Registry

#: Variables that change what loads or where data comes from: never taken from outside a test.
CLEARED_VARS = ("MINIDL_PLUGINS", "MINIDL_LOAD_PLUGINS", "MINIDL_DATA")


@pytest.fixture
def minidl_entry_points() -> list[str] | None:
    """The installed plugins (entry-point names) the ``plugins`` fixture loads; None: all."""
    return None


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch, minidl_entry_points: list[str] | None) -> Plugins:
    """Defaults plus installed plugins (limited by ``minidl_entry_points``), no MINIDL_* leaking in."""
    from minidl.plugins import load_plugins

    for name in CLEARED_VARS:
        monkeypatch.delenv(name, raising=False)
    if minidl_entry_points is not None:
        monkeypatch.setenv("MINIDL_LOAD_PLUGINS", ",".join(minidl_entry_points))
    return load_plugins()


@pytest.fixture
def registry(plugins: Plugins) -> Registry:
    """The registry of the ``plugins`` fixture."""
    return plugins.registry
