"""Fixtures for minidl-optim's tests: only the concise and optim entry points load."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]  # plugins/optim/tests -> the repository root


@pytest.fixture
def minidl_entry_points() -> list[str]:
    """The installed plugins that the ``plugins`` fixture (minidl.testing.fixtures) loads.

    Only this project's ``concise`` and ``optim``, so that another installed plugin cannot
    change these tests; ``test_optim_plugin`` checks loading everything installed.
    """
    return ["concise", "optim"]


SHARED = REPO.parent / "shared"
AIRFOIL = SHARED / "data" / "airfoil_self_noise.dat"


@pytest.fixture
def airfoil_path() -> Path:
    """The shared airfoil data file (read in place, never copied)."""
    if not AIRFOIL.is_file():
        pytest.skip(f"shared data file {AIRFOIL} is missing")
    return AIRFOIL
