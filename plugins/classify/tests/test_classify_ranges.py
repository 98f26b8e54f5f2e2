"""Every numeric option of minidl-classify declares its range in the factory's signature,
checked once by the option parser and shown by ``minidl show``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from minidl_classify import plugin as classify_plugin

from minidl.plugins import Plugins
from minidl.testing import check_option_ranges


def test_every_numeric_option_declares_a_range() -> None:
    plugins = Plugins()
    plugins.register(classify_plugin, name="classify")
    # sizes (int) also declare an upper bound, below the default cap
    checked = check_option_ranges("classify", plugins, bounded_sizes=True)
    assert len(checked) >= 11  # 2 datasets, 2 models


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
