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
    saved = int(stderr.split("epoch ")[2].split(" is saved")[0])  # however far it got before the signal
    resumed = CliRunner().invoke(create_cli(), ["train", "--resume", str(run_dir), "--epochs", str(saved + 1),
                                                "--json"], env={"MINIDL_LOAD_PLUGINS": ""})
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


def straight_json(invoke, *args: str) -> dict:
    result = invoke("train", "--json", "--json-params", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# -- issue 13: a run interrupted in its first epoch, evaluate, plot --metric -------------------
def test_resume_of_a_run_without_a_finished_epoch_starts_it_from_the_beginning(
        invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from minidl import records

    def interrupted(path: Path, state: dict) -> Path:
        raise KeyboardInterrupt  # Ctrl-C while epoch 1's checkpoint is written

    run_dir = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(records, "save_checkpoint", interrupted)
        result = invoke("train", "--epochs", "3", "--out", str(run_dir))
    assert result.exit_code == 130
    assert "no epoch was completed, nothing saved" in result.stderr and f"--resume {run_dir}" in result.stderr
    assert (run_dir / "config.toml").is_file() and not (run_dir / "checkpoint.pt").exists()
    one_line_error(invoke("train", "--out", str(run_dir)), "not empty", "--overwrite",
                   f"or --resume {run_dir} to train it from the beginning")
    resumed = invoke("train", "--resume", str(run_dir), "--json", "--json-params")
    assert resumed.exit_code == 0, resumed.stderr
    assert resumed.stderr == f"{run_dir} holds no finished epoch: training it from the beginning\n"
    straight = straight_json(invoke, "--epochs", "3")
    assert json.loads(resumed.stdout)["parameters"] == straight["parameters"]
    assert json.loads(resumed.stdout)["history"] == straight["history"]
    assert [json.loads(line)["epoch"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_evaluate_a_saved_run(invoke, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert invoke("train", "--out", str(run_dir), "--set", "dataset.num_test=50", "--metric", "mse").exit_code == 0
    last = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
    result = invoke("evaluate", str(run_dir))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{run_dir}: epoch 3",
        f"train: loss {last['loss']:f}, mse {last['mse']:f}",
        f"test: loss {last['test_loss']:f}, mse {last['test_mse']:f}",
    ]
    data = json.loads(invoke("evaluate", str(run_dir), "--json", "--metric", "mae", "--device", "cpu").stdout)
    assert data["epoch"] == 3 and set(data["splits"]) == {"train", "test"}
    assert data["splits"]["test"]["loss"] == last["test_loss"] and data["splits"]["train"]["mse"] == last["mse"]
    assert "mae" in data["splits"]["train"]
    one_line_error(invoke("evaluate", str(tmp_path / "nothing")), "no such directory")
    one_line_error(invoke("evaluate", str(run_dir), "--metric", "nope"), "unknown metric 'nope'")
    one_line_error(invoke("evaluate", str(run_dir), "--device", "tpu"), "unknown device 'tpu'")
    (run_dir / "checkpoint.pt").unlink()
    (run_dir / "metrics.jsonl").write_text("")
    one_line_error(invoke("evaluate", str(run_dir)), "no finished epoch", "nothing to evaluate")


def test_plot_a_chosen_metric(invoke, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    invoke("train", "--out", str(run_dir), "--metric", "mae", "--epochs", "2")
    assert invoke("plot", str(run_dir), "-o", str(tmp_path / "mae.png"), "--metric", "mae").exit_code == 0
    assert (tmp_path / "mae.png").read_bytes().startswith(b"\x89PNG")
    one_line_error(invoke("plot", str(run_dir), "-o", str(tmp_path / "x.png"), "--metric", "accuracy"),
                   "no metric 'accuracy'", "it has: loss, mae")
    one_line_error(invoke("plot", "data", "-o", str(tmp_path / "x.png"), "--metric", "mae"), "RUN_DIR")
    (run_dir / "metrics.jsonl").write_text('{"epoch": 1, "loss": 0.5}\n{"loss": 0.25}\n')
    one_line_error(invoke("plot", str(run_dir), "-o", str(tmp_path / "x.png")), "metrics.jsonl', line 2",
                   "has no 'epoch'")


def test_a_classification_run_plots_images_and_accuracy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("minidl_classify")
    pytest.importorskip("matplotlib")
    from matplotlib.image import imread

    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    monkeypatch.delenv("MINIDL_LOAD_PLUGINS", raising=False)
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(create_cli(), [
        "train", "--dataset", "shapes", "--model", "softmax-regression", "--loss", "softmax-cross-entropy",
        "--metric", "accuracy", "--epochs", "2", "--batch-size", "64", "--lr", "0.5", "--set",
        "dataset.num_examples=200", "--set", "dataset.num_test=50", "--out", str(run_dir), "--plot", "-q"])
    assert result.exit_code == 0, result.stderr
    assert imread(run_dir / "loss.png").shape[:2] == (500, 1400)  # loss and accuracy side by side
    height, width = imread(run_dir / "data.png").shape[:2]
    assert width > 2 * height  # a 2x9 grid of sample images, not the 700x500 scatter


# -- issue 14: a write that fails, SIGTERM ----------------------------------------------------
def test_a_full_disk_is_one_line_naming_the_file_and_the_saved_epoch(
        invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from minidl import records
    from minidl.checkpoint import CheckpointWriteError

    real = records.save_checkpoint

    def full_at_epoch_3(path: Path, state: dict) -> Path:
        if state["epoch"] == 3:
            raise CheckpointWriteError(path, "No space left on device", "checkpoint")
        return real(path, state)

    run_dir = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(records, "save_checkpoint", full_at_epoch_3)
        result = invoke("train", "--epochs", "5", "--out", str(run_dir))
    assert result.exit_code == 1
    assert result.stderr == (f"Error: cannot write checkpoint '{run_dir / 'checkpoint.pt'}': No space left on device; "
                             f"epoch 2 is saved in {run_dir / 'checkpoint.pt'}; "
                             f"continue with: minidl train --resume {run_dir}\n")
    resumed = invoke("train", "--resume", str(run_dir), "--epochs", "5", "--json", "--json-params")
    assert json.loads(resumed.stdout)["parameters"] == straight_json(invoke, "--epochs", "5")["parameters"]


def start_training(run_dir: Path) -> subprocess.Popen:
    """A long ``minidl train --out run_dir`` in a real process (its run index beside run_dir)."""
    return subprocess.Popen(
        [MINIDL, "train", "--epochs", "100000", "--set", "dataset.num_examples=20000", "--out", str(run_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=run_dir.parent,
        env={**os.environ, "MINIDL_LOAD_PLUGINS": "", "MINIDL_RUNS": str(run_dir.parent / "runs")})


@pytest.mark.slow  # a real process: SIGTERM is what Slurm, Kubernetes and `timeout` send
def test_sigterm_saves_the_last_completed_epoch_and_exits_143(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    process = start_training(run_dir)
    deadline = time.monotonic() + 60
    while not (run_dir / "checkpoint.pt").exists():
        assert time.monotonic() < deadline and process.poll() is None, process.stderr
        time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143
    assert stderr.count("\n") == 1 and stderr.startswith("Terminated (SIGTERM) during epoch "), stderr
    assert "is saved in" in stderr and f"minidl train --resume {run_dir}" in stderr
    saved = int(stderr.split("epoch ")[2].split(" is saved")[0])
    import torch

    assert torch.load(run_dir / "checkpoint.pt", weights_only=True)["epoch"] == saved


@pytest.mark.slow
def test_sigterm_without_out_says_nothing_was_saved(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [MINIDL, "train", "--epochs", "100000", "--set", "dataset.num_examples=20000"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
        env={**os.environ, "MINIDL_LOAD_PLUGINS": ""})
    assert process.stdout is not None
    assert process.stdout.readline().startswith("epoch 1, loss")  # training, past start-up
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 143
    assert stderr.startswith("Terminated (SIGTERM) during epoch ") and stderr.count("\n") == 1, stderr
    assert stderr.endswith(": nothing saved (use --out DIR)\n")


def test_a_picture_that_cannot_be_written_after_training_says_the_run_is_saved(
        invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from minidl import plots
    from minidl.checkpoint import WriteError

    def full(figure: object, path: Path, fmt: str) -> Path:
        raise WriteError(path, "No space left on device", "picture")

    monkeypatch.setattr(plots, "save_figure", full)
    run_dir = tmp_path / "run"
    result = invoke("train", "--out", str(run_dir), "--plot", "-q")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: cannot write picture '{run_dir / 'data.png'}': No space left on device; "
                             f"training finished: epoch 3 is saved in {run_dir / 'checkpoint.pt'}; "
                             f"continue with: minidl train --resume {run_dir}\n")


def test_an_unwritable_tensorboard_log_dir_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tensorboard")
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "")
    monkeypatch.setenv("MINIDL_PLUGINS", "minidl.default_plugins.tensorboard")
    (tmp_path / "file").write_text("not a folder")
    log_dir = tmp_path / "file" / "tb"
    result = CliRunner().invoke(create_cli(), ["train", "--callback", "tensorboard", "--set",
                                               f"callback.tensorboard.log_dir={log_dir}"])
    assert result.exit_code == 1
    assert result.stderr == (f"Error: cannot write TensorBoard log_dir '{log_dir}': Not a directory; "
                             "nothing saved (use --out DIR)\n")
