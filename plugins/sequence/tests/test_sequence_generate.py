"""``minidl generate``: added by the plugin's register_commands hook, continues a prefix with a
saved run's model; bad input is one line and exit status 2."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from minidl_sequence.components import predict

from minidl.cli import create_cli
from minidl.records import load_run

TRAIN = ["train", "--dataset", "jay-lyrics", "--set", "dataset.sampling=consecutive", "--set", "dataset.num_chars=600",
         "--set", "dataset.num_steps=5", "--model", "gru-scratch", "--set", "model.num_hiddens=8",
         "--loss", "sequence-cross-entropy", "--lr", "1", "--batch-size", "4", "--epochs", "2",
         "--callback", "grad-clip", "--metric", "perplexity", "-q"]


@pytest.fixture
def run_dir(train_into) -> Path:
    return train_into("gru", TRAIN)


def generate(plugins, *args: str):
    return CliRunner().invoke(create_cli(plugins), ["generate", *args])


def test_generate_prints_the_prefix_and_its_continuation(plugins, run_dir):
    result = generate(plugins, str(run_dir), "--prefix", "分开", "--length", "12")
    assert result.exit_code == 0, result.output
    text = result.stdout.rstrip("\n")
    assert text.startswith("分开") and len(text) == 2 + 12
    saved = load_run(run_dir, plugins)
    assert text == predict("分开", 12, saved.model, saved.dataset.vocab)  # the saved model's greedy choice
    default = generate(plugins, str(run_dir))
    assert default.exit_code == 0 and len(default.stdout.rstrip("\n")) == 2 + 50  # the book's 分开 and 50


def test_generate_uses_the_trained_parameters(plugins, run_dir):
    saved = load_run(run_dir, plugins)
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    assert all(torch.equal(v, state["model"][k]) for k, v in saved.model.state_dict().items())


@pytest.mark.parametrize("prefix, message", [
    ("分开xyz", r"^Error: --prefix '分开xyz': 3 character\(s\) not in the vocabulary of \d+ characters the model "
               r"was trained on: 'x', 'y', 'z'$"),
    ("", r"^Error: --prefix is empty; give at least one character to continue$"),
])
def test_generate_refuses_a_bad_prefix_in_one_line(plugins, run_dir, prefix, message):
    result = generate(plugins, str(run_dir), "--prefix", prefix)
    assert result.exit_code == 2 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert __import__("re").match(message, result.stderr.strip()), result.stderr


def test_generate_refuses_a_run_without_a_sequence_model(plugins, tmp_path):
    out = tmp_path / "linreg"
    assert CliRunner().invoke(create_cli(plugins), ["train", "-q", "--epochs", "1", "--out", str(out)]).exit_code == 0
    result = generate(plugins, str(out))
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert "(model 'linreg') is not a sequence model" in result.stderr and "gru-scratch" in result.stderr


def test_generate_refuses_a_missing_run_or_corpus(plugins, run_dir, tmp_path, monkeypatch):
    result = generate(plugins, str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert "cannot generate from" in result.stderr and "nowhere': no such directory" in result.stderr
    monkeypatch.delenv("MINIDL_DATA")  # the run named no path: its corpus came from $MINIDL_DATA
    monkeypatch.chdir(tmp_path)
    result = generate(plugins, str(run_dir))
    assert result.exit_code == 2 and len(result.stderr.splitlines()) == 1
    assert "jaychou_lyrics.txt.zip was not found" in result.stderr and "MINIDL_DATA" in result.stderr


def test_generate_is_in_the_help(plugins):
    result = CliRunner().invoke(create_cli(plugins), ["--help"])
    assert "generate" in result.stdout
    result = CliRunner().invoke(create_cli(plugins), ["generate", "--help"])
    assert "--prefix" in result.stdout and "--length" in result.stdout


def test_resume_from_the_command_line_is_bit_identical(plugins, data_env, tmp_path):
    """Consecutive sampling, the state carried: 4 epochs straight, or 2 and a resume to 4."""
    cli = create_cli(plugins)
    four = [*TRAIN[: TRAIN.index("--epochs")], "--epochs", "4", "-q"]
    two = [*TRAIN[: TRAIN.index("--epochs")], "--epochs", "2", "-q"]
    assert CliRunner().invoke(cli, [*four, "--out", str(tmp_path / "straight")]).exit_code == 0
    assert CliRunner().invoke(create_cli(plugins), [*two, "--out", str(tmp_path / "halves")]).exit_code == 0
    resumed = CliRunner().invoke(create_cli(plugins), ["train", "--resume", str(tmp_path / "halves"), "--epochs", "4",
                                                       "-q"])
    assert resumed.exit_code == 0, resumed.output
    a, b = (torch.load(tmp_path / name / "checkpoint.pt", weights_only=True) for name in ("straight", "halves"))
    assert a["epoch"] == b["epoch"] == 4
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert a["history"] == b["history"]
