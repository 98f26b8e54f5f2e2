"""Every numeric option of minidl-concise (entry points ``concise`` and ``fitting``) declares
its range in the factory's signature, checked once by the option parser and shown by
``minidl show``."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from minidl_concise import fitting as fitting_plugin
from minidl_concise import plugin as concise_plugin

from minidl.plugins import Plugins
from minidl.testing import check_option_ranges

#: (component, option) -> why the option takes any finite number.
UNBOUNDED = {
    ("dataset 'torch-synthetic-linear'", "true_w"): "the true weights: any real numbers",
    ("dataset 'torch-synthetic-linear'", "true_b"): "the true bias: any real number",
    ("dataset 'polynomial'", "true_w"): "the true coefficients: any real numbers",
    ("dataset 'polynomial'", "true_b"): "the constant term: any real number",
    ("dataset 'high-dim-linear'", "true_w"): "every true weight's value: any real number",
    ("dataset 'high-dim-linear'", "true_b"): "the true bias: any real number",
}


def test_every_numeric_option_declares_a_range() -> None:
    plugins = Plugins()
    plugins.register(concise_plugin, name="concise")
    plugins.register(fitting_plugin, name="fitting")
    # sizes (int, list[int]) also declare an upper bound, below the default cap
    checked = check_option_ranges(["concise", "fitting"], plugins, allow=UNBOUNDED, bounded_sizes=True)
    assert len(checked) >= 40  # 6 torch optimizers, 2 models, 3 datasets, l2-penalty


@pytest.mark.parametrize(("kind", "name", "shown"), [
    ("optimizer", "torch-adam", "betas (list[float], default [0.9, 0.999], >= 0, < 1, finite)"),
    ("optimizer", "torch-sgd", "momentum (float, default 0.0, >= 0, < 1, finite)"),
    ("optimizer", "torch-adagrad", "eps (float, default 1e-10, >= 0, finite)"),
    ("model", "mlp", "hidden (list[int], default [256], >= 1, <= 1000000)"),
    ("model", "linear", "num_inputs (int | None, default none, >= 1, <= 100000000)"),
    ("dataset", "torch-synthetic-linear", "noise_std (float, default 0.01, >= 0, finite)"),
    ("callback", "l2-penalty", "lambd (float, default 3.0, >= 0, finite)"),
])
def test_show_prints_the_ranges(monkeypatch: pytest.MonkeyPatch, kind: str, name: str, shown: str) -> None:
    from minidl.cli import create_cli

    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "concise,fitting")
    result = CliRunner().invoke(create_cli(), ["show", kind, name])
    assert result.exit_code == 0, result.stderr
    assert f"  {shown}  " in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--optimizer", "torch-sgd", "--set", "optimizer.momentum=1.5"],
     "optimizer 'torch-sgd': option 'momentum' must be < 1, got 1.5"),
    (["--optimizer", "torch-adam", "--set", "optimizer.betas=0.9,-0.1"],
     "optimizer 'torch-adam': option 'betas' must be >= 0, got -0.1"),
    (["--optimizer", "torch-sgd", "--set", "optimizer.nesterov=true"],  # two options together: torch's check
     "optimizer 'torch-sgd': torch.optim.SGD rejected the options: Nesterov momentum requires a momentum "
     "and zero dampening"),
    (["--dataset", "torch-synthetic-linear", "--set", "dataset.noise_std=nan"],  # issue 14.3
     "dataset 'torch-synthetic-linear': option 'noise_std' must be a finite number, got nan"),
    (["--dataset", "torch-synthetic-linear", "--set", "dataset.num_examples=99999999999999999999999"],
     "dataset 'torch-synthetic-linear': option 'num_examples' must be <= 100000000, got 99999999999999999999999"),
    (["--model", "mlp", "--set", "model.hidden=[16,0]"], "model 'mlp': option 'hidden' must be >= 1, got 0"),
    (["--dataset", "polynomial", "--set", "dataset.degree=101"],
     "dataset 'polynomial': option 'degree' must be <= 100, got 101"),
    (["--callback", "l2-penalty", "--set", "callback.l2-penalty.lambd=-1"],
     "callback 'l2-penalty': option 'lambd' must be >= 0, got -1.0"),
])
def test_train_refuses_an_option_out_of_its_range_in_one_line(monkeypatch: pytest.MonkeyPatch, args: list[str],
                                                              message: str) -> None:
    from minidl.cli import create_cli

    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "concise,fitting")
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    result = CliRunner().invoke(create_cli(), ["train", *args, "--epochs", "1"])
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr == f"Error: {message}\n"
