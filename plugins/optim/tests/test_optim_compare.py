"""``minidl optim compare``: same setup per optimizer, one figure, one-line errors."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import minidl


@pytest.fixture
def cli(plugins: minidl.Plugins) -> click.Group:
    """A bare ``minidl`` group holding what plugins add through register_commands."""

    @click.group()
    @click.pass_context
    def main(ctx: click.Context) -> None:
        ctx.obj = plugins

    plugins.add_commands(main)
    return main


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", header[16:24])


def test_compare_on_airfoil_draws_one_figure(cli: click.Group, airfoil_path: Path, tmp_path: Path) -> None:
    figure = tmp_path / "cmp.png"
    result = CliRunner().invoke(cli, [
        "optim", "compare", "--optimizer", "sgd", "--optimizer", "adam", "--optimizer", "torch-sgd",
        "--dataset", "airfoil", "--set", f"dataset.path={airfoil_path}", "--set", "sgd.lr=0.05",
        "--epochs", "1", "-o", str(figure)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == ["sgd", "adam", "torch-sgd"]
    for line in lines[:3]:
        assert 0.2 < float(line.split("loss ")[1].split(",")[0]) < 0.3
    assert _png_size(figure) == (700, 500)  # 3.5 x 2.5 in at 200 dpi


def test_curves_share_the_setup_and_follow_the_options(plugins: minidl.Plugins) -> None:
    from minidl_optim.compare import base_config, run_all

    config = base_config(None, None, None, epochs=2, batch_size=10, seed=0)
    curves = run_all(plugins, config, ["sgd", "momentum"], ["optimizer.lr=0.01", "momentum.momentum=0.9"],
                     every=100)
    sgd, momentum = curves
    assert sgd.losses[0] == momentum.losses[0]  # the same initial parameters and data
    assert sgd.epochs == momentum.epochs and sgd.epochs[0] == 0 and sgd.epochs[-1] == 2
    assert len(sgd.losses) == 1 + 2 * 1000 // 100
    assert momentum.losses[-1] < sgd.losses[-1]  # lr 0.01: momentum 0.9 moves ~10x faster


def test_a_diverging_optimizer_is_reported_and_the_rest_still_run(cli: click.Group, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["optim", "compare", "--optimizer", "sgd", "--optimizer", "adam",
                                      "--set", "sgd.lr=100", "--epochs", "1", "-o", str(tmp_path / "f.png")])
    assert result.exit_code == 0, result.output
    assert "sgd: training diverged" in result.output and "adam: loss" in result.output


@pytest.mark.parametrize(("args", "words"), [
    (["--optimizer", "nope"], "unknown optimizer 'nope'"),
    (["--optimizer", "sgd", "--set", "optimizer.momentum=0.9"], "no optimizer among sgd has option 'momentum'"),
    (["--optimizer", "momentum", "--set", "momentum.momentum=1.5"],
     "optimizer 'momentum': option 'momentum' must be < 1, got 1.5"),
    (["--optimizer", "sgd", "--optimizer", "sgd"], "optimizer 'sgd' is given twice"),
    (["--optimizer", "sgd", "--dataset", "airfoil", "--set", "dataset.path=/no/such.dat"],
     "airfoil data file '/no/such.dat' does not exist"),
    (["--optimizer", "sgd", "-o", "/no/such/dir/f.png"], "its folder does not exist"),
])
def test_bad_input_is_one_error_line(cli: click.Group, args: list[str], words: str) -> None:
    result = CliRunner().invoke(cli, ["optim", "compare", "--epochs", "1", *args])
    assert result.exit_code == 2
    assert result.output.startswith("Error: ") and words in result.output
    assert result.output.count("\n") == 1


def test_the_command_modules_do_not_import_torch() -> None:
    code = ("import sys, minidl_optim.plugin, minidl_optim.commands;"
            "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_minidl_optim_compare_through_the_real_command_line(plugins: minidl.Plugins, tmp_path: Path) -> None:
    cli_module = pytest.importorskip("minidl.cli")
    figure = tmp_path / "f.png"
    result = CliRunner().invoke(cli_module.create_cli(plugins), [
        "optim", "compare", "--optimizer", "rmsprop", "--optimizer", "adadelta", "--epochs", "1",
        "-o", str(figure)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("rmsprop: loss ") and figure.is_file()
