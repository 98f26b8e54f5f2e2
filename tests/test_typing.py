"""The package type-checks: ``mypy minidl`` (config in setup.cfg's [mypy]) reports no errors."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("mypy") is None, reason="mypy is not installed")
def test_mypy_reports_no_errors():
    result = subprocess.run([sys.executable, "-m", "mypy", "minidl"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
