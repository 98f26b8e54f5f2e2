"""Smoke tests of the benchmark suite at tiny sizes: it runs, checks losses, writes, refuses.

No timing assertions: times depend on the machine.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
# benchmarks/ is not an installed package: import it from the repository root
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import loops, memory, run, timing

TINY = ["--quick", "--repeats", "1", "--no-lightning", "--skip", "notebook,wide-4096,lenet,gru,memory,startup",
        "--examples", "2048", "--features", "3", "--steps", "20"]


def test_run_agrees_on_the_loss_and_writes_its_table(tmp_path, capsys):
    output = tmp_path / "RESULTS.md"
    assert run.main([*TINY, "--output", str(output)]) == 0
    text = output.read_text()
    for label in (run.LABELS[name] for name in run.all_loops(lightning=False)):
        assert text.count(f"| {label} |") == 1, label
    assert "### Targets" in text and "minidl Trainer defaults / bare loop, wide batch 10" in text
    assert "- machine:" in text and "torch " in text and "not run on a GPU" in text
    assert text.strip() in capsys.readouterr().out


@pytest.mark.slow
def test_quick_mode_runs_every_timed_size(tmp_path):
    output = tmp_path / "RESULTS.md"
    argv = ["--quick", "--repeats", "1", "--no-lightning", "--skip", "memory,startup", "--examples", "2560"]
    assert run.main([*argv, "--output", str(output)]) == 0
    text = output.read_text()
    assert text.count(f"| {run.LABELS['minidl']} |") == 3
    assert "linreg grad=analytic / closed-form floor" in text


def test_every_loop_reaches_the_bare_loops_loss():
    workload = timing.Workload("tiny", 200, 2, 10, 2)
    data = timing.make_data(workload, seed=1)
    results = timing.measure(run.all_loops(lightning=False), workload, data, repeats=1, seed=1)
    timing.check_losses(results, "bare", rtol=1e-6)
    assert {name: len(m.losses) for name, m in results.items()} == dict.fromkeys(results, 1)


def test_a_loop_that_disagrees_stops_the_report(tmp_path, monkeypatch, capsys):
    real = loops.bare_loop
    monkeypatch.setattr(loops, "bare_loop", lambda *a, **k: real(*a, **k) * 2)
    output = tmp_path / "RESULTS.md"
    assert run.main([*TINY, "--loops", "minidl", "--output", str(output)]) == 1
    assert "disagree" in capsys.readouterr().err
    assert not output.exists()


def test_refuses_a_size_that_would_not_fit_with_the_estimate(tmp_path, capsys):
    output = tmp_path / "RESULTS.md"
    assert run.main(["--examples", str(10**12), "--output", str(output)]) == 2
    err = capsys.readouterr().err
    assert "1,000,000,000,000 x 100 needs about" in err and "GiB" in err and "available" in err
    assert not output.exists()


def test_check_fits_names_the_estimate():
    memory.check_fits({"small": (1000, 2)}, free=2**40)
    with pytest.raises(memory.TooBigError, match=r"10,000,000 x 2 needs about 1\.\d GiB"):
        memory.check_fits({"--memory-examples": (10_000_000, 2)}, free=2**20)


def test_bad_options_exit_2():
    with pytest.raises(SystemExit) as exc:
        run.main(["--loops", "nonesuch"])
    assert exc.value.code == 2


def test_workload_step_counts():
    whole = timing.Workload("w", 1000, 2, 10, 3)
    assert whole.runs() == ({"epochs": 1, "max_steps": None}, {"epochs": 3, "max_steps": None})
    assert whole.steps(3, None) == 300
    limited = timing.Workload("l", 1_000_000, 100, 10, 1, 3000)
    short, long = limited.runs()
    assert limited.steps(**short) == 600 and limited.steps(**long) == 3000


@pytest.mark.slow
def test_peak_memory_is_measured_in_a_fresh_process():
    peak = memory.measure_peak("minidl", 100_000, 2, 4096)
    assert peak.data == 100_000 * 3 * 4 and peak.permutation == 800_000
    assert 0 < peak.peak < 200 * 2**20


def test_a_repeat_with_no_measurable_cost_is_not_a_ratio():
    from benchmarks.report import Target, targets_table, timing_table

    def measured(name, per_step):
        return timing.Measurement(name, per_step=per_step, fixed=[0.0] * len(per_step), losses=[1.0] * len(per_step))

    # on a busy machine a long run can take no longer than the short one: a cost <= 0
    results = {"bare": measured("bare", [-1e-4, 2e-3]), "minidl": measured("minidl", [1e-3, 2.2e-3])}
    assert timing.paired_ratio(results, "minidl", "bare") == pytest.approx(1.1)  # the noisy repeat left out
    results["bare"].per_step[1] = 0.0
    ratio = timing.paired_ratio(results, "minidl", "bare")
    assert ratio != ratio  # nan: nothing to compare
    assert "| n/a |" in "\n".join(timing_table("t", results, {}))
    text = "\n".join(targets_table([Target("minidl / bare", ratio, 1.05)]))
    assert "| minidl / bare | n/a | 1.05 | not measured |" in text and "rerun with more --repeats" in text
