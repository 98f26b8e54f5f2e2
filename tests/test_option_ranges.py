"""Every numeric option of the default plugins (minidl.default_plugins) declares its range
in the factory's signature, checked once by the option parser and shown by ``minidl show``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from minidl.cli import create_cli
from minidl.plugins import DEFAULT_PLUGINS, Plugins
from minidl.testing import check_option_ranges

#: (component, option) -> why the option takes any finite number.
UNBOUNDED = {
    ("dataset 'synthetic-linear'", "true_w"): "the true weights: any real numbers",
    ("dataset 'synthetic-linear'", "true_b"): "the true bias: any real number",
    ("callback 'stop-at'", "threshold"): "a value of any metric, which may be negative",
}


def test_every_numeric_option_declares_a_range() -> None:
    plugins = Plugins()
    plugins.load_defaults()
    checked = check_option_ranges(DEFAULT_PLUGINS, plugins, allow=UNBOUNDED)  # UNBOUNDED names real options too
    assert len(checked) >= 15  # synthetic-linear, linreg, sgd, the callbacks


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch):
    """Run ``minidl ARGS`` in-process with the default plugins only."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "")
    return lambda *args: CliRunner().invoke(create_cli(), list(args))


@pytest.mark.parametrize(("kind", "name", "shown"), [
    ("model", "linreg", "init_std (float, default 0.01, >= 0, finite)"),
    ("callback", "lr-schedule", "gamma (float, default 0.5, > 0, <= 1, finite)"),
    ("callback", "grad-clip", "max_norm (float, default 1.0, > 0, finite)"),
    ("callback", "early-stopping", "min_delta (float, default 0.0, >= 0, finite)"),
])
def test_show_prints_the_ranges(invoke, kind: str, name: str, shown: str) -> None:
    result = invoke("show", kind, name)
    assert result.exit_code == 0, result.stderr
    assert f"  {shown}  " in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "model.init_std=-1"], "model 'linreg': option 'init_std' must be >= 0, got -1.0"),
    (["--set", "model.num_inputs=0"], "model 'linreg': option 'num_inputs' must be >= 1, got 0"),
    (["--callback", "early-stopping", "--set", "callback.early-stopping.patience=0"],
     "callback 'early-stopping': option 'patience' must be >= 1, got 0"),
    (["--callback", "early-stopping", "--set", "callback.early-stopping.min_delta=-0.1"],
     "callback 'early-stopping': option 'min_delta' must be >= 0, got -0.1"),
    (["--callback", "lr-schedule", "--set", "callback.lr-schedule.gamma=1.5"],
     "callback 'lr-schedule': option 'gamma' must be <= 1, got 1.5"),
    (["--callback", "lr-schedule", "--set", "callback.lr-schedule.step=0"],
     "callback 'lr-schedule': option 'step' must be >= 1, got 0"),
    (["--callback", "grad-clip", "--set", "callback.grad-clip.max_norm=0"],
     "callback 'grad-clip': option 'max_norm' must be > 0, got 0.0"),
    (["--callback", "grad-clip", "--set", "callback.grad-clip.max_norm=inf"],
     "callback 'grad-clip': option 'max_norm' must be a finite number, got inf"),
    (["--callback", "stop-at", "--set", "callback.stop-at.threshold=nan"],
     "callback 'stop-at': option 'threshold' must be a finite number, got nan"),
])
def test_train_refuses_an_option_out_of_its_range_in_one_line(invoke, args: list[str], message: str) -> None:
    result = invoke("train", *args, "--epochs", "1")
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr == f"Error: {message}\n"
