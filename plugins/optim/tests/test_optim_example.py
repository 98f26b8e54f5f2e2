"""examples/optim_ch7.py runs end to end on the shared data, quickly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.slow  # a fresh interpreter imports torch
def test_the_chapter_7_example_runs(airfoil_path: Path, tmp_path: Path) -> None:
    env = {**os.environ, "MINIDL_DATA": str(airfoil_path.parent), "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, str(REPO / "examples" / "optim_ch7.py"), "--epochs", "1",
                             "--figures", str(tmp_path)], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("epoch 20, x1 -0.943467, x2 -0.000073")
    for section in ("7.3 sgd", "7.4 momentum", "7.5 adagrad", "7.6 rmsprop", "7.7 adadelta", "7.8 adam"):
        assert f"{section}: loss: 0.2" in out, out
    assert len(list(tmp_path.glob("ch7_*.png"))) == 10
