"""The 3.2 examples run as users run them: the script in a process, the notebook's cells in order."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_script_prints_the_book_lines_and_converges(tmp_path: Path) -> None:
    plot = tmp_path / "scatter.png"
    result = subprocess.run([sys.executable, str(EXAMPLES / "linear_regression_3_2.py"), "--plot", str(plot)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 6
    assert all(float(line.split("loss ")[1]) < 1e-3 for line in (epoch_lines[2], epoch_lines[5]))
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_notebook_cells_run_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    notebook = json.loads((EXAMPLES / "linear_regression_3_2.ipynb").read_text())
    namespace: dict = {}
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), "notebook", "exec"), namespace)
    learned = namespace["run"].parameters()
    assert abs(learned["w"][0] - 2) < 0.01 and abs(learned["w"][1] + 3.4) < 0.01
    assert len(namespace["history"]) == 3
