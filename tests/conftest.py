"""Shared fixtures: freshly loaded plugins for each test, paths to shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

import minidl

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    """Defaults plus installed plugins, with no MINIDL_* environment leaking in."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    monkeypatch.delenv("MINIDL_LOAD_PLUGINS", raising=False)
    return minidl.load_plugins()


@pytest.fixture
def registry(plugins: minidl.Plugins) -> minidl.Registry:
    """The registry of the ``plugins`` fixture."""
    return plugins.registry
