"""Fixtures for minidl-concise's tests: plugins loaded through the installed entry points."""

from __future__ import annotations

from pathlib import Path

import pytest

import minidl

REPO = Path(__file__).resolve().parents[3]  # plugins/concise/tests -> the repository root


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    """The defaults plus this project's first-party plugins, found through their entry points.

    Limited to ``concise`` and ``optim`` so that another installed plugin cannot change
    these tests; ``test_concise_plugin`` checks loading everything installed.
    """
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "concise,optim")
    return minidl.load_plugins()


@pytest.fixture
def registry(plugins: minidl.Plugins) -> minidl.Registry:
    """The registry of the ``plugins`` fixture."""
    return plugins.registry
