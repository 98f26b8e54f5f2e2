"""minidl.d2l.optimization: train_ch7, train_pytorch_ch7, train_2d, show_trace_2d as the book's."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import pytest
import torch
from minidl_optim.recorder import LossRecorder

from minidl.d2l.optimization import (
    get_data_ch7,
    show_trace_2d,
    train_2d,
    train_ch7,
    train_pytorch_ch7,
)

matplotlib.use("Agg")
BOOK_LINE = re.compile(r"^loss: (\d+\.\d{6}), (\d+\.\d{6}) sec per epoch$")


@pytest.fixture
def airfoil(airfoil_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    return get_data_ch7(airfoil_path)


@pytest.fixture(autouse=True)
def _close_figures() -> None:
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def book_sgd(params, states, hyperparams):
    for p in params:
        p.data -= hyperparams["lr"] * p.grad.data


def test_train_ch7_prints_the_books_line_and_records_every_100_examples(
    airfoil: tuple, capsys: pytest.CaptureFixture
) -> None:
    torch.manual_seed(0)
    ls = train_ch7(book_sgd, None, {"lr": 0.05}, *airfoil)
    line = capsys.readouterr().out.strip()
    match = BOOK_LINE.match(line)
    assert match, line
    assert float(match.group(1)) == pytest.approx(ls[-1], abs=1e-6)
    assert len(ls) == 1 + 2 * 1500 // 100  # the initial loss, then every 100 examples
    assert ls[-1] < 0.26 < ls[0]  # the book reaches 0.2428


def test_train_ch7_is_repeatable_under_torch_manual_seed(airfoil: tuple) -> None:
    torch.manual_seed(3)
    first = train_ch7(book_sgd, None, {"lr": 0.05}, *airfoil, num_epochs=1)
    torch.manual_seed(3)
    assert train_ch7(book_sgd, None, {"lr": 0.05}, *airfoil, num_epochs=1) == first


def test_train_ch7_full_batch_gradient_descent_is_the_books_loop(airfoil: tuple) -> None:
    """Batch size 1500: plain gradient descent, which the book's loop gives without randomness
    beyond the initial weights; here recomputed by hand from the same initial weights."""
    features, labels = airfoil
    torch.manual_seed(0)
    w0 = torch.normal(0.0, 0.01, (5, 1))
    torch.manual_seed(0)
    ls = train_ch7(book_sgd, None, {"lr": 1.0}, features, labels, batch_size=1500, num_epochs=6)
    w, b = w0.clone().requires_grad_(), torch.zeros(1, requires_grad=True)
    expected = []
    for _ in range(7):
        loss = ((features @ w + b - labels.view(-1, 1)) ** 2 / 2).mean()
        expected.append(loss.item())
        w.grad = b.grad = None
        loss.backward()
        with torch.no_grad():
            w -= w.grad
            b -= b.grad
    assert ls == pytest.approx(expected, rel=1e-5)


def test_train_pytorch_ch7_with_torch_sgd(airfoil: tuple, capsys: pytest.CaptureFixture) -> None:
    torch.manual_seed(0)
    ls = train_pytorch_ch7(torch.optim.SGD, {"lr": 0.05}, *airfoil)
    assert BOOK_LINE.match(capsys.readouterr().out.strip())
    assert ls[-1] < 0.26 < ls[0]  # the book reaches 0.2455


def test_train_ch7_plots_loss_against_epochs(airfoil: tuple) -> None:
    import matplotlib.pyplot as plt

    plt.figure()
    ls = train_ch7(book_sgd, None, {"lr": 0.05}, *airfoil, num_epochs=1)
    ax = plt.gca()
    (line,) = ax.get_lines()
    assert list(line.get_ydata()) == ls
    assert line.get_xdata()[0] == 0 and line.get_xdata()[-1] == 1
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "loss")


def test_train_2d_and_show_trace_2d_reproduce_the_books_output(capsys: pytest.CaptureFixture) -> None:
    import matplotlib.pyplot as plt

    eta = 0.4

    def f_2d(x1, x2):
        return 0.1 * x1**2 + 2 * x2**2

    def gd_2d(x1, x2, s1, s2):
        return (x1 - eta * 0.2 * x1, x2 - eta * 4 * x2, 0, 0)

    results = train_2d(gd_2d)
    assert capsys.readouterr().out.strip() == "epoch 20, x1 -0.943467, x2 -0.000073"  # book 7.4
    assert len(results) == 21 and results[0] == (-5, -2)
    plt.figure()
    show_trace_2d(f_2d, results)
    ax = plt.gca()
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x1", "x2")
    assert len(ax.get_lines()[0].get_xdata()) == 21


def test_loss_recorder_records_when_a_step_reaches_a_multiple() -> None:
    from types import SimpleNamespace

    recorder = LossRecorder(every=100)
    data = SimpleNamespace(tensors=lambda split: (torch.zeros(250, 1), torch.zeros(250, 1)))
    trainer = SimpleNamespace(batch_size=30, data=data, model=lambda X: X, loss=lambda a, b: (a - b) ** 2)
    for step in range(1, 10):  # 30, 60, ..., 250 (the last batch is short)
        recorder.on_batch_end(trainer, epoch=1, step=step, loss=0.0)
    assert recorder.epochs == pytest.approx([120 / 250, 210 / 250])


@pytest.mark.slow  # fresh interpreters import torch
@pytest.mark.parametrize("first", ["minidl.adapters", "minidl.default_plugins.notebook_components", "minidl.d2l"])
def test_no_import_cycle_whichever_module_comes_first(first: str) -> None:
    import subprocess
    import sys

    code = f"import {first}; from minidl.d2l.optimization import train_ch7; import minidl.d2l"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
