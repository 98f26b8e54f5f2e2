"""``minidl generate`` on odd run directories and prefixes: one line, exit 2, never an
untrained model's text or a message as long as the prefix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from minidl.cli import create_cli

TRAIN = ["train", "-q", "--dataset", "jay-lyrics", "--set", "dataset.num_chars=300", "--set", "dataset.num_steps=5",
         "--model", "rnn", "--set", "model.num_hiddens=8", "--loss", "sequence-cross-entropy", "--lr", "1",
         "--batch-size", "4", "--epochs", "1"]


@pytest.fixture
def run_dir(train_into) -> Path:
    return train_into("rnn", TRAIN)


def generate(plugins, *args: str | Path):
    return CliRunner().invoke(create_cli(plugins), ["generate", *map(str, args)])


def one_line(result, *fragments: str) -> None:
    assert result.exit_code == 2 and result.stdout == "", (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: "), result.stderr
    assert all(fragment in result.stderr for fragment in fragments), result.stderr


def test_a_run_without_a_checkpoint_is_refused_not_generated_from_untrained(plugins, run_dir):
    """A run stopped before its first checkpoint printed its freshly initialised model's text."""
    (run_dir / "checkpoint.pt").unlink()
    (run_dir / "metrics.jsonl").write_text("")
    one_line(generate(plugins, run_dir, "--prefix", "我", "--length", "5"),
             "has no finished epoch (no checkpoint.pt)", "nothing to generate from")


def test_a_long_prefix_is_shortened_in_the_message(plugins, run_dir):
    result = generate(plugins, run_dir, "--prefix", "\u2603" * 100_000, "--length", "1")
    one_line(result, "(100000 characters)", "not in the vocabulary", "'\u2603'")
    assert len(result.stderr) < 400


def test_a_file_is_named_as_a_file(plugins, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    one_line(generate(plugins, tmp_path / "notes.txt"), "cannot generate from", "it is a file, not a directory")


def test_a_checkpoint_of_another_vocabulary_names_the_checkpoint(plugins, run_dir, data_env, tmp_path):
    other = tmp_path / "other"
    assert CliRunner().invoke(create_cli(plugins), [*TRAIN, "--set", "dataset.num_chars=500",
                                                    "--out", str(other)]).exit_code == 0
    shutil.copy(other / "checkpoint.pt", run_dir / "checkpoint.pt")
    one_line(generate(plugins, run_dir, "--prefix", "我"), f"{str(run_dir / 'config.toml')!r} is not the "
             "configuration its checkpoint was trained with: dataset.num_chars is 300 there, 500 in the checkpoint")
    import torch  # a checkpoint of an older minidl holds no configuration: its fields are still checked

    state = torch.load(run_dir / "checkpoint.pt", weights_only=False)
    del state["config"]
    torch.save(state, run_dir / "checkpoint.pt")
    one_line(generate(plugins, run_dir, "--prefix", "我"),
             f"checkpoint {str(run_dir / 'checkpoint.pt')!r}: field 'dataset'")
