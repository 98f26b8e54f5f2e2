"""Fixtures shared by the tests of the run index, sweeps and the command line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A runs root of this test's own (``$MINIDL_RUNS``), with minidl's defaults only (no installed plugin)."""
    monkeypatch.setenv("MINIDL_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "")
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    return tmp_path / "runs"


@pytest.fixture
def plugin_file(tmp_path: Path) -> Callable[[str, str], str]:
    """``plugin_file(NAME, SOURCE)`` writes a plugin to ``tmp_path/NAME``; its path, as ``-p`` takes it."""

    def write(name: str, source: str) -> str:
        path = tmp_path / name
        path.write_text(source)
        return str(path)

    return write
