"""The benchmark's LeNet row (issue 10.6) at tiny sizes: same loss for every loop, a table, a target.

No timing assertions: times depend on the machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("minidl_vision")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not an installed package

from benchmarks import cnn, run, timing


def test_every_lenet_loop_reaches_the_bare_loops_loss():
    data = cnn.make_data(timing.Workload("tiny", 96, 784, 32, 2), seed=1)
    losses = {name: loop(*data, batch_size=32, epochs=2, lr=0.03, seed=1) for name, loop in cnn.LOOPS.items()}
    assert losses["book"] == pytest.approx(losses["bare"], rel=1e-5)
    assert losses["minidl"] == pytest.approx(losses["bare"], rel=1e-5)
    assert 0 < losses["bare"] < 3  # a cross-entropy over ten classes, trained a little


@pytest.mark.slow
def test_the_lenet_section_writes_its_rows_and_target(tmp_path):
    output = tmp_path / "RESULTS.md"
    argv = ["--quick", "--repeats", "3", "--no-lightning", "--lenet-batches", "2",
            "--skip", "notebook,wide-10,wide-4096,gru,memory,startup", "--output", str(output)]
    assert run.main(argv) == 0
    text = output.read_text()
    for label in cnn.LABELS.values():
        assert text.count(f"| {label} |") == 1, label
    assert "| vs bare | vs book loop |" in text
    assert "minidl Trainer / bare loop, LeNet 28x28 batch 256" in text


def test_lenet_batches_must_be_positive():
    with pytest.raises(SystemExit) as exc:
        run.main(["--lenet-batches", "0"])
    assert exc.value.code == 2
