"""The benchmark's char-level GRU row (issue 10.6) at tiny sizes: same loss for both loops, a
table, a target. No timing assertions: times depend on the machine."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("minidl_sequence")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ is not an installed package

from benchmarks import rnn, run

if not (rnn.SHARED_DATA / "jaychou_lyrics.txt.zip").is_file():
    pytest.skip(f"shared data folder {rnn.SHARED_DATA} has no jaychou_lyrics.txt.zip", allow_module_level=True)
ONE_BATCH = rnn.BATCH * (rnn.NUM_STEPS + 1)  # the fewest characters that give one batch per epoch


def test_both_gru_loops_reach_the_same_loss(monkeypatch):
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    data = rnn.make_data(rnn.workload(ONE_BATCH), seed=1)
    losses = {name: loop(*data, batch_size=rnn.BATCH, epochs=2, lr=0.03, seed=1) for name, loop in rnn.LOOPS.items()}
    assert losses["minidl"] == pytest.approx(losses["bare"], rel=1e-6)
    assert 0 < losses["bare"] < 7.5  # below log(vocab): it learned a little


def test_workload_counts_consecutive_batches():
    work = rnn.workload(10_000)
    assert work.steps(1, None) == 8 and "8 batches per epoch" in work.name  # (10000 // 32 - 1) // 35
    with pytest.raises(ValueError, match="give no batch"):
        rnn.workload(ONE_BATCH - 1)


@pytest.mark.slow
def test_the_gru_section_writes_its_rows_and_target(tmp_path, monkeypatch):
    monkeypatch.delenv("MINIDL_DATA", raising=False)
    output = tmp_path / "RESULTS.md"
    # 3 repeats: one on a busy machine can leave no positive per-step time to take a ratio of
    argv = ["--quick", "--repeats", "3", "--no-lightning", "--gru-chars", str(ONE_BATCH),
            "--skip", "notebook,wide-10,wide-4096,lenet,memory,startup", "--output", str(output)]
    assert run.main(argv) == 0
    text = output.read_text()
    for label in rnn.LABELS.values():
        assert text.count(f"| {label} |") == 1, label
    assert "minidl Trainer / bare loop, GRU 6.7 char-level" in text


def test_the_gru_section_says_when_the_corpus_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path))

    class Args:
        gru_chars, clock, repeats, seed, rtol = ONE_BATCH, "wall", 1, 0, 1e-3

    table, targets = rnn.section(Args())
    assert targets == [] and any(line.startswith("Not measured: the lyrics corpus") for line in table)


def test_gru_chars_below_one_batch_exit_2():
    with pytest.raises(SystemExit) as exc:
        run.main(["--gru-chars", str(ONE_BATCH - 1)])
    assert exc.value.code == 2
