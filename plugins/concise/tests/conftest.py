"""Fixtures for minidl-concise's tests: only the concise and optim entry points load."""

from __future__ import annotations

import pytest


@pytest.fixture
def minidl_entry_points() -> list[str]:
    """The installed plugins that the ``plugins`` fixture (minidl.testing.fixtures) loads.

    Only this project's ``concise`` and ``optim``, so that another installed plugin cannot
    change these tests; ``test_concise_plugin`` checks loading everything installed.
    """
    return ["concise", "optim"]
