"""Fixtures for minidl-sequence: the shared lyrics corpus, read in place (never copied).

``plugins`` and ``registry`` come from minidl.testing.fixtures; here they load only this
project's ``sequence`` entry point, so another installed plugin cannot change these tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from minidl import Plugins
from minidl.cli import create_cli

REPO = Path(__file__).resolve().parents[3]  # plugins/sequence/tests -> the repository root
DATA = REPO.parent / "shared" / "data"  # ../shared/data from the repository root
LYRICS = DATA / "jaychou_lyrics.txt.zip"


@pytest.fixture
def minidl_entry_points() -> list[str]:
    """Only the ``sequence`` plugin, besides minidl's defaults."""
    return ["sequence"]


@pytest.fixture
def lyrics() -> Path:
    """The shared corpus file."""
    if not LYRICS.is_file():
        pytest.skip(f"shared data file {LYRICS} is missing")
    return LYRICS


@pytest.fixture
def data_env(lyrics: Path, monkeypatch: pytest.MonkeyPatch, plugins: object) -> Path:
    """``$MINIDL_DATA`` pointing at the shared data folder (after ``plugins`` cleared it)."""
    monkeypatch.setenv("MINIDL_DATA", str(lyrics.parent))
    return lyrics.parent


@pytest.fixture
def train_into(plugins: Plugins, data_env: Path, tmp_path: Path) -> Callable[[str, Sequence[str]], Path]:
    """``train_into(NAME, ARGS)`` runs ``minidl ARGS --out tmp_path/NAME`` (it must succeed); the run directory."""

    def train(name: str, args: Sequence[str]) -> Path:
        out = tmp_path / name
        result = CliRunner().invoke(create_cli(plugins), [*args, "--out", str(out)])
        assert result.exit_code == 0, result.output
        return out

    return train
