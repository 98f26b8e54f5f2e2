"""Every numeric option of minidl-optim declares its range in the factory's signature,
checked once by the option parser and shown by ``minidl show``."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from minidl_optim import plugin as optim_plugin

from minidl.options import Ge, Gt, Le, Lt, Option
from minidl.plugins import Plugins

NUMERIC = re.compile(r"(list\[)?(int|float)\]?( \| None)?")  # int, float | None, list[float], ...

#: (component, option) -> why the option takes any finite number.
UNBOUNDED: dict[tuple[str, str], str] = {}


def numeric_options() -> list[tuple[str, Option]]:
    """(component label, option) for every int or float option the plugin registers."""
    plugins = Plugins()
    plugins.register(optim_plugin, name="optim")
    return [(component.label, option) for component in plugins.registry
            for option in component.options if NUMERIC.fullmatch(option.type_name)]


OPTIONS = numeric_options()


def test_the_plugin_has_numeric_options() -> None:
    assert len(OPTIONS) >= 12  # 5 optimizers: lr, and momentum / eps / gamma / rho / betas


@pytest.mark.parametrize(("label", "option"), OPTIONS, ids=[f"{label}.{o.name}" for label, o in OPTIONS])
def test_every_numeric_option_declares_a_range(label: str, option: Option) -> None:
    declared = [c for c in option.constraints if isinstance(c, (Gt, Ge, Lt, Le))]
    if (label, option.name) in UNBOUNDED:
        assert not declared, f"{label}.{option.name} declares {declared}: take it off UNBOUNDED"
        return
    assert declared, (f"{label}: option {option.name!r} declares no range; declare one "
                      "(Annotated[float, Gt(0)]) or add it to UNBOUNDED with the reason")
    assert any(not bound.upper for bound in declared), f"{label}.{option.name}: no lower bound"


def test_the_allowlist_names_only_real_options() -> None:
    assert set(UNBOUNDED) <= {(label, option.name) for label, option in OPTIONS}


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
