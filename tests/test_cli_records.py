"""``minidl train --out/--resume/--plot``, ``minidl plot``, Ctrl-C and ``--nproc`` from the command line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from minidl.cli import create_cli

MINIDL = str(Path(sys.executable).with_name("minidl"))


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch):
    """Run ``minidl ARGS`` in-process with the built-in plugins only."""
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "")
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    return lambda *args: CliRunner().invoke(create_cli(), list(args))


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert all(fragment in result.stderr for fragment in fragments), result.stderr


def test_resume_equals_a_straight_run_bit_for_bit(invoke, tmp_path: Path) -> None:
    run_dir = tmp_path / "A"
    assert invoke("train", "--epochs", "3", "--out", str(run_dir), "--set", "dataset.num_test=50").exit_code == 0
    resumed = json.loads(invoke("train", "--resume", str(run_dir), "--epochs", "6", "--json", "--json-params").stdout)
    straight = json.loads(invoke("train", "--epochs", "6", "--json", "--json-params",
                                 "--set", "dataset.num_test=50").stdout)
    assert resumed["parameters"] == straight["parameters"]
    assert resumed["history"] == straight["history"]
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3, 4, 5, 6]
    assert (run_dir / "metrics.csv").read_text().splitlines()[0].startswith("epoch,loss,test_loss")


def test_run_records_and_config_re_run(invoke, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    first = json.loads(invoke("train", "--out", str(run_dir), "--json", "--json-params", "--seed", "5").stdout)
    for name in ("config.toml", "metrics.csv", "metrics.jsonl", "checkpoint.pt", "versions.json", "run.json"):
        assert (run_dir / name).stat().st_size > 0, name
    versions = json.loads((run_dir / "versions.json").read_text())
    assert "torch" in json.dumps(versions) and "minidl" in json.dumps(versions)
    assert json.loads((run_dir / "run.json").read_text())["seed"] == 5
    again = json.loads(invoke("train", "--config", str(run_dir / "config.toml"), "--json", "--json-params").stdout)
    assert again["parameters"] == first["parameters"]


def test_existing_output_is_never_overwritten_without_asking(invoke, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    invoke("train", "--out", str(run_dir), "--epochs", "1")
    before = (run_dir / "checkpoint.pt").read_bytes()
    one_line_error(invoke("train", "--out", str(run_dir)), "not empty", "--overwrite")
    assert (run_dir / "checkpoint.pt").read_bytes() == before
    assert invoke("train", "--out", str(run_dir), "--overwrite", "--epochs", "2").exit_code == 0
    assert len((run_dir / "metrics.jsonl").read_text().splitlines()) == 2


def test_bad_run_directories(invoke, tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("mine")
    one_line_error(invoke("train", "--out", str(a_file)), "is a file")
    assert a_file.read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(invoke("train", "--resume", str(empty)), "checkpoint")
    run_dir = tmp_path / "run"
    invoke("train", "--out", str(run_dir), "--epochs", "1")
    before = (run_dir / "checkpoint.pt").read_bytes()
    one_line_error(invoke("train", "--resume", str(run_dir), "--set", "dataset.num_inputs=3",
                          "--set", "dataset.true_w=1,2,3"), "only --epochs and --device", "dataset.num_inputs")
    assert (run_dir / "checkpoint.pt").read_bytes() == before
    (run_dir / "checkpoint.pt").write_bytes(before[: len(before) // 2])
    one_line_error(invoke("train", "--resume", str(run_dir)), "checkpoint.pt")
    one_line_error(invoke("train", "--plot"), "--out")


def test_plots_from_the_command_line(invoke, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert invoke("train", "--out", str(run_dir), "--plot", "--set", "dataset.num_test=100").exit_code == 0
    assert (run_dir / "data.png").read_bytes().startswith(b"\x89PNG")
    assert (run_dir / "loss.png").read_bytes().startswith(b"\x89PNG")
    svg, pdf = tmp_path / "data.svg", tmp_path / "loss.pdf"
    assert invoke("plot", "data", "-o", str(svg), "--feature", "0").exit_code == 0
    assert "<svg" in svg.read_text()
    assert invoke("plot", str(run_dir), "-o", str(pdf)).exit_code == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    one_line_error(invoke("plot", str(run_dir), "-o", str(tmp_path / "x.gif")), ".gif", ".png")
    one_line_error(invoke("plot", str(tmp_path / "nothing"), "-o", str(tmp_path / "x.png")), "run directory")


def test_ctrl_c_saves_the_last_completed_epoch_and_exits_130(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [MINIDL, "train", "--epochs", "1000", "--set", "dataset.num_examples=20000", "--out", str(run_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "MINIDL_LOAD_PLUGINS": ""})
    deadline = time.monotonic() + 60
    while not (run_dir / "checkpoint.pt").exists():
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "is saved in" in stderr and "--resume" in stderr and "Traceback" not in stderr
    resumed = CliRunner().invoke(create_cli(), ["train", "--resume", str(run_dir), "--epochs", "2", "--json"],
                                 env={"MINIDL_LOAD_PLUGINS": ""})
    assert resumed.exit_code == 0, resumed.stderr


@pytest.mark.slow
def test_nproc_two_processes_equal_one_with_double_batch(tmp_path: Path) -> None:
    env = {**os.environ, "MINIDL_LOAD_PLUGINS": ""}
    parallel = subprocess.run([MINIDL, "train", "--nproc", "2", "--batch-size", "5", "--json", "--json-params",
                               "--epochs", "2"],
                              capture_output=True, text=True, env=env, timeout=300)
    assert parallel.returncode == 0, parallel.stderr
    single = subprocess.run([MINIDL, "train", "--batch-size", "10", "--json", "--json-params", "--epochs", "2"],
                            capture_output=True, text=True, env=env, timeout=300)
    a, b = json.loads(parallel.stdout)["parameters"], json.loads(single.stdout)["parameters"]
    assert a["b"] == pytest.approx(b["b"], abs=1e-5)
    assert a["w"] == pytest.approx(b["w"], abs=1e-5)


def test_ddp_without_launcher_and_bad_nproc(invoke) -> None:
    one_line_error(invoke("train", "--strategy", "ddp"), "torchrun", "--nproc")
    one_line_error(invoke("train", "--nproc", "0"), "--nproc", "got 0")


def test_resume_refuses_changes_and_leaves_the_run_intact(invoke, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    invoke("train", "--out", str(run_dir), "--epochs", "3")
    saved = {name: (run_dir / name).read_bytes() for name in ("config.toml", "checkpoint.pt", "metrics.csv")}
    one_line_error(invoke("train", "--resume", str(run_dir), "--epochs", "6", "--lr", "0.5"), "optimizer.lr")
    one_line_error(invoke("train", "--resume", str(run_dir), "--epochs", "6", "--seed", "5"), "train.seed")
    one_line_error(invoke("train", "--resume", str(run_dir), "--epochs", "6", "--callback", "early-stopping"),
                   "callback.early-stopping")
    one_line_error(invoke("train", "--resume", str(run_dir), "--epochs", "2"), "already trained 3 epochs")
    one_line_error(invoke("train", "--resume", str(run_dir), "--out", str(tmp_path / "other")), "--out")
    one_line_error(invoke("train", "--resume", str(run_dir), "--config", str(run_dir / "config.toml")), "--config")
    assert {name: (run_dir / name).read_bytes() for name in saved} == saved
    assert not (tmp_path / "other").exists()
    assert invoke("train", "--resume", str(run_dir), "--epochs", "4", "--device", "cpu").exit_code == 0


def test_a_resume_that_fails_to_load_leaves_config_toml_alone(invoke, tmp_path: Path) -> None:
    import torch

    run_dir = tmp_path / "run"
    invoke("train", "--out", str(run_dir), "--epochs", "2")
    config_before = (run_dir / "config.toml").read_text()
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    state["dataset"]["sizes"]["train"] = 999  # a checkpoint that no longer fits the rebuilt data
    torch.save(state, run_dir / "checkpoint.pt")
    result = invoke("train", "--resume", str(run_dir), "--epochs", "5")
    one_line_error(result, "dataset sizes")
    assert (run_dir / "config.toml").read_text() == config_before
