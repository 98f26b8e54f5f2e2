"""Every numeric option of minidl-optim declares its range in the factory's signature,
checked once by the option parser and shown by ``minidl show``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from minidl_optim import plugin as optim_plugin

from minidl.plugins import Plugins
from minidl.testing import check_option_ranges


def test_every_numeric_option_declares_a_range() -> None:
    plugins = Plugins()
    plugins.register(optim_plugin, name="optim")
    checked = check_option_ranges("optim", plugins)
    assert len(checked) >= 12  # 5 optimizers: lr, and momentum / eps / gamma / rho / betas


@pytest.mark.parametrize(("name", "option", "shown"), [
    ("momentum", "momentum", "momentum (float, default 0.5, >= 0, < 1, finite)"),
    ("adam", "betas", "betas (list[float], default [0.9, 0.999], >= 0, < 1, finite)"),
    ("adadelta", "eps", "eps (float, default 1e-05, > 0, finite)"),
    ("adagrad", "lr", "lr (float, default 0.1, > 0, finite)"),
])
def test_show_prints_the_ranges(monkeypatch: pytest.MonkeyPatch, name: str, option: str, shown: str) -> None:
    from minidl.cli import create_cli

    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "optim")
    result = CliRunner().invoke(create_cli(), ["show", "optimizer", name])
    assert result.exit_code == 0, result.stderr
    assert f"  {shown}  " in result.stdout


@pytest.mark.parametrize(("optimizer", "setting", "message"), [
    ("momentum", "momentum=1.5", "optimizer 'momentum': option 'momentum' must be < 1, got 1.5"),
    ("momentum", "lr=0", "optimizer 'momentum': option 'lr' must be > 0, got 0.0"),
    ("rmsprop", "gamma=-0.5", "optimizer 'rmsprop': option 'gamma' must be >= 0, got -0.5"),
    ("adadelta", "rho=nan", "optimizer 'adadelta': option 'rho' must be a finite number, got nan"),
    ("adam", "betas=[0.9,1]", "optimizer 'adam': option 'betas' must be < 1, got 1.0"),
    ("adam", "betas=[0.9]", "optimizer 'adam': betas must be two numbers [beta1, beta2], got [0.9]"),
])
def test_train_refuses_an_option_out_of_its_range_in_one_line(monkeypatch: pytest.MonkeyPatch, optimizer: str,
                                                              setting: str, message: str) -> None:
    from minidl.cli import create_cli

    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "optim")
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    result = CliRunner().invoke(create_cli(), ["train", "--optimizer", optimizer, "--set", f"optimizer.{setting}",
                                               "--epochs", "1"])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr == f"Error: {message}\n"
