"""Every numeric option of minidl-classify declares its range in the factory's signature,
checked once by the option parser and shown by ``minidl show``."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from minidl_classify import plugin as classify_plugin

from minidl.options import Ge, Gt, Le, Lt, Option
from minidl.plugins import Plugins

NUMERIC = re.compile(r"(list\[)?(int|float)\]?( \| None)?")  # int, float | None, list[float], ...

#: (component, option) -> why the option takes any finite number.
UNBOUNDED: dict[tuple[str, str], str] = {}


def numeric_options() -> list[tuple[str, Option]]:
    """(component label, option) for every int or float option the plugin registers."""
    plugins = Plugins()
    plugins.register(classify_plugin, name="classify")
    return [(component.label, option) for component in plugins.registry
            for option in component.options if NUMERIC.fullmatch(option.type_name)]


OPTIONS = numeric_options()


def test_the_plugin_has_numeric_options() -> None:
    assert len(OPTIONS) >= 11  # 2 datasets, 2 models


@pytest.mark.parametrize(("label", "option"), OPTIONS, ids=[f"{label}.{o.name}" for label, o in OPTIONS])
def test_every_numeric_option_declares_a_range(label: str, option: Option) -> None:
    declared = [c for c in option.constraints if isinstance(c, (Gt, Ge, Lt, Le))]
    if (label, option.name) in UNBOUNDED:
        assert not declared, f"{label}.{option.name} declares {declared}: take it off UNBOUNDED"
        return
    assert declared, (f"{label}: option {option.name!r} declares no range; declare one "
                      "(Annotated[int, Ge(1), Le(10**6)]) or add it to UNBOUNDED with the reason")
    assert any(not bound.upper for bound in declared), f"{label}.{option.name}: no lower bound"
    if option.type_name.startswith("int"):  # sizes: a bound below the default cap
        assert any(bound.upper for bound in declared), f"{label}.{option.name}: no declared upper bound"


def test_the_allowlist_names_only_real_options() -> None:
    assert set(UNBOUNDED) <= {(label, option.name) for label, option in OPTIONS}


@pytest.mark.parametrize(("kind", "name", "shown"), [
    ("model", "mlp-scratch", "num_hiddens (int, default 256, >= 1, <= 1000000)"),
    ("model", "softmax-regression", "num_outputs (int | None, default none, >= 1, <= 1000000)"),
    ("dataset", "shapes", "noise (float, default 0.2, >= 0, <= 1, finite)"),
])
def test_show_prints_the_ranges(monkeypatch: pytest.MonkeyPatch, kind: str, name: str, shown: str) -> None:
    from minidl.cli import create_cli

    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "classify")
    result = CliRunner().invoke(create_cli(), ["show", kind, name])
    assert result.exit_code == 0, result.stderr
    assert f"  {shown}  " in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "mlp-scratch", "--set", "model.num_hiddens=0"],
     "model 'mlp-scratch': option 'num_hiddens' must be >= 1, got 0"),
    (["--model", "softmax-regression", "--set", "model.num_inputs=1000000000"],
     "model 'softmax-regression': option 'num_inputs' must be <= 100000000, got 1000000000"),
    (["--dataset", "shapes", "--set", "dataset.jitter=inf"],
     "dataset 'shapes': option 'jitter' must be a finite number, got inf"),
])
def test_train_refuses_an_option_out_of_its_range_in_one_line(monkeypatch: pytest.MonkeyPatch, args: list[str],
                                                              message: str) -> None:
    from minidl.cli import create_cli

    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "classify")
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    result = CliRunner().invoke(create_cli(), ["train", *args, "--epochs", "1"])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr == f"Error: {message}\n"
