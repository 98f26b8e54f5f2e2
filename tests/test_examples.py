"""The 3.2 examples run as users run them: the script in a process, the notebook's cells in order."""

from __future__ import annotations

import json
import os
import re
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


# -- chapter 6: the book's RNN (6.4) and GRU (6.7) code, on a few hundred characters ------------
LYRICS_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data from the repository
SMALL_RNN = ["--epochs", "2", "--chars", "1200", "--hiddens", "16", "--pred-period", "1", "--pred-len", "5"]


def _run_chapter6(script: str) -> list[str]:
    if not (LYRICS_DIR / "jaychou_lyrics.txt.zip").is_file():
        pytest.skip(f"shared data folder {LYRICS_DIR} has no jaychou_lyrics.txt.zip")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MINIDL_")}, "MINIDL_DATA": str(LYRICS_DIR)}
    result = subprocess.run([sys.executable, str(EXAMPLES / script), *SMALL_RNN], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def _book_lines(lines: list[str]) -> list[float]:
    """The perplexities of the book's ``epoch N, perplexity P, time T sec`` lines, each followed by
    a continuation of both prefixes."""
    found = []
    for i, line in enumerate(lines):
        if line.startswith("epoch ") and ", perplexity " in line and line.endswith(" sec"):
            assert lines[i + 1].startswith(" - 分开") and lines[i + 2].startswith(" - 不分开")
            found.append(float(line.split("perplexity ")[1].split(",")[0]))
    return found


@pytest.mark.slow
def test_rnn_6_4_example_runs_the_books_code() -> None:
    lines = _run_chapter6("rnn_6_4.py")
    assert "5 torch.Size([2, 1027])" in lines and "5 torch.Size([2, 1027]) torch.Size([2, 16])" in lines
    perplexities = _book_lines(lines)
    assert len(perplexities) == 4  # random, then consecutive sampling, two epochs each
    assert perplexities[1] < perplexities[0] and perplexities[3] < perplexities[2]
    assert lines[-1].startswith("epoch 2, loss ") and "train perplexity" in lines[-1]


@pytest.mark.slow
def test_gru_6_7_example_runs_the_books_code() -> None:
    perplexities = _book_lines(_run_chapter6("gru_6_7.py"))
    assert len(perplexities) == 4  # from scratch, then concise, two epochs each
    assert perplexities[1] < perplexities[0] and perplexities[3] < perplexities[2]


# -- chapter 5: the book's LeNet (5.5) and ResNet (5.11) code, on a few offline shapes images ------
CH5_LINE = re.compile(r"^epoch (\d+), loss \d+\.\d{4}, train acc \d\.\d{3}, test acc \d\.\d{3}, time \d+\.\d sec$")


def _run_chapter5(script: str, *args: str) -> list[str]:
    pytest.importorskip("minidl_vision")
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MINIDL_")}, "MINIDL_DATA": "shapes"}
    result = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_lenet_5_5_example_runs_the_books_code() -> None:
    lines = _run_chapter5("lenet_5_5.py", "--epochs", "1", "--examples", "128")
    assert "    (0): Linear(in_features=256, out_features=120, bias=True)" in lines  # print(net), as the book's
    assert lines.count("training on  cpu") == 1 and sum(bool(CH5_LINE.match(line)) for line in lines) == 1
    assert lines[-2] == "minidl's Trainer with lenet:" and lines[-1].startswith("epoch 1, loss ")
    assert ", train acc " in lines[-1] and ", test acc " in lines[-1]


@pytest.mark.slow
def test_resnet_5_11_example_runs_the_books_code() -> None:
    lines = _run_chapter5("resnet_5_11.py", "--epochs", "1", "--examples", "64", "--resize", "32")
    assert lines[2:4] == ["torch.Size([4, 3, 6, 6])", "torch.Size([4, 6, 3, 3])"]
    assert "resnet_block4  output shape:\t torch.Size([1, 512, 7, 7])" in lines  # the book's 224x224 walk
    assert lines[-2] == "training on  cpu" and CH5_LINE.match(lines[-1])
