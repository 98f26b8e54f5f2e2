"""examples/softmax_3_6.py runs as a script and learns."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "softmax_3_6.py"
BOOK_LINE = re.compile(r"^epoch (\d+), loss \d+\.\d{4}, train acc \d\.\d{3}, test acc (\d\.\d{3})$")


@pytest.mark.slow
def test_softmax_3_6_example_runs_offline():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIDL_")}
    result = subprocess.run([sys.executable, str(EXAMPLE), "--epochs", "5"], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "3.6 on shapes: 6000 training and 1000 test images"
    book = [BOOK_LINE.match(line) for line in lines if BOOK_LINE.match(line)]
    assert [m.group(1) for m in book] == ["1", "2", "3", "4", "5"]
    assert float(book[-1].group(2)) > 0.8
    assert lines[-1].startswith("epoch 5, loss ") and "train acc" in lines[-1]
    assert float(lines[-1].rsplit("test acc ", 1)[1]) > 0.8


@pytest.mark.slow
def test_softmax_3_6_example_reads_fashion_mnist_from_minidl_data(tmp_path, fashion_maker):
    fashion_maker(tmp_path, 300, 100)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MINIDL_")}, "MINIDL_DATA": str(tmp_path)}
    result = subprocess.run([sys.executable, str(EXAMPLE), "--epochs", "1"], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "3.6 on fashion-mnist: 300 training and 100 test images"
