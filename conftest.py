"""Repository-wide pytest setup: minidl's fixtures; slow tests run only with ``--runslow`` (as CI does)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

os.environ.setdefault("MPLBACKEND", "Agg")  # tests never open a window

# no per-example time limit: on a loaded CI machine the first example (imports, a first
# torch call) can take longer than hypothesis's 200 ms, which would fail a correct test
settings.register_profile("minidl", deadline=None)
settings.register_profile("thorough", deadline=None, max_examples=2000)  # --hypothesis-profile thorough
settings.load_profile("minidl")

# the `plugins`, `registry` fixtures for tests/ and every plugins/*/tests (pytest takes
# pytest_plugins only from this top-level conftest)
pytest_plugins = ["minidl.testing.fixtures"]


@pytest.fixture(autouse=True)
def _own_runs_root(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test records its runs in its own index, never in the checkout's ``runs/minidl.db``."""
    monkeypatch.setenv("MINIDL_RUNS", str(tmp_path_factory.mktemp("runs-root")))


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


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--runslow``."""
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip slow tests unless ``--runslow`` is given."""
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
