"""minidl.compat: components that do not fit are one line before training, nonsense a warning.

The command-line cases are issue 13's, through click's CliRunner (they need the
first-party plugins concise and classify, else they are skipped); the library cases go
through ``Trainer.fit``. The check must change nothing: seeded runs stay byte-identical.
"""

from __future__ import annotations

import importlib.util
import random
import re
import textwrap
import warnings

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn
from torch.utils.data import TensorDataset

import minidl
from minidl import compat
from minidl.adapters import TensorData, as_dataset
from minidl.cli import create_cli
from minidl.compat import CompatibilityWarning, IncompatibleComponentsError, check_components
from minidl.errors import MinidlWarning
from minidl.trainer import Trainer

SHAPES = ("--dataset", "shapes", "--set", "dataset.num_examples=40", "--set", "dataset.num_test=0")


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    """The built-in plugins only."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    return minidl.load_plugins(entry_points=False)


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch):
    """``minidl ARGS`` in-process with the defaults plus the concise and classify plugins."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "concise,classify")

    def run(*args: str):
        return CliRunner().invoke(create_cli(), list(args))

    return run


needs_plugins = pytest.mark.skipif(
    not all(importlib.util.find_spec(name) for name in ("minidl_concise", "minidl_classify")),
    reason="needs the first-party plugins minidl-concise and minidl-classify")


def one_line_error(result, *fragments: str) -> str:
    """Exit 2, nothing on stdout, one ``Error:`` line on stderr holding every fragment."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def one_warning(result, *fragments: str) -> str:
    """Exit 0, exactly one ``Warning:`` line on stderr holding every fragment."""
    assert result.exit_code == 0, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Warning: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# -- the command line: issue 13's mismatches, one line and exit 2 -------------------------
@needs_plugins
def test_class_loss_on_regression_data(invoke) -> None:
    line = one_line_error(invoke("train", "--loss", "cross-entropy"))
    assert line == ("Error: loss 'cross-entropy' needs class labels, but dataset 'synthetic-linear' "
                    "has real-valued labels of shape (1000, 1)")


@needs_plugins
def test_linreg_on_images_names_both_and_the_shapes(invoke) -> None:
    one_line_error(invoke("train", *SHAPES), "model 'linreg' (num_inputs=784)",
                          "dataset 'shapes' examples of shape (1, 28, 28)", "raised RuntimeError")


@needs_plugins
def test_squared_loss_on_class_labels(invoke) -> None:
    one_line_error(invoke("train", *SHAPES, "--model", "mlp"),
                   "loss 'squared' needs real-valued labels, but dataset 'shapes' has class labels of shape (40,)")


@needs_plugins
def test_regression_metric_on_a_classifier(invoke) -> None:
    result = invoke("train", *SHAPES, "--model", "softmax-regression", "--loss", "softmax-cross-entropy",
                    "--metric", "mae")
    one_line_error(result, "metric 'mae' needs real-valued labels, but dataset 'shapes' has class labels "
                           "of shape (40,)")


@needs_plugins
def test_probabilities_loss_on_logits_says_how_to_fix(invoke) -> None:
    one_line_error(invoke("train", *SHAPES, "--model", "mlp-scratch", "--loss", "softmax-cross-entropy"),
                   "loss 'softmax-cross-entropy' needs probabilities, but model 'mlp-scratch' outputs logits",
                   "loss.from_logits=true")


@needs_plugins
def test_fewer_outputs_than_classes(invoke) -> None:
    one_line_error(invoke("train", *SHAPES, "--model", "mlp", "--set", "model.num_outputs=3", "--loss",
                          "cross-entropy"),
                   "dataset 'shapes' has class labels up to 9, but model 'mlp' outputs 3 scores per example")


# -- the command line: silent nonsense, one warning line and training goes on ------------
@needs_plugins
def test_softmax_model_on_regression_data_warns(invoke) -> None:
    one_warning(invoke("train", "--model", "softmax-regression", "--epochs", "1"),
                "Warning: model 'softmax-regression' outputs class probabilities, but dataset "
                "'synthetic-linear' has real-valued labels of shape (1000, 1)")


@needs_plugins
def test_accuracy_on_real_labels_warns_and_json_stays_clean(invoke) -> None:
    result = invoke("train", "--metric", "accuracy", "--epochs", "1", "--json")
    one_warning(result, "metric 'accuracy' needs class labels, but dataset 'synthetic-linear' has real-valued labels")
    assert result.stdout.startswith("{")


@needs_plugins
def test_torch_cross_entropy_on_probabilities_warns(invoke) -> None:
    result = invoke("train", *SHAPES, "--model", "softmax-regression", "--loss", "cross-entropy",
                    "--epochs", "1", "--quiet")
    one_warning(result, "loss 'cross-entropy' takes logits", "model 'softmax-regression' already outputs probabilities")


@needs_plugins
def test_a_fitting_classifier_gives_no_warning(invoke) -> None:
    result = invoke("train", *SHAPES, "--model", "mlp", "--loss", "cross-entropy", "--metric", "accuracy",
                    "--epochs", "1", "--quiet")
    assert result.exit_code == 0 and result.stderr == "", result.stderr


# -- third-party components that declare nothing ------------------------------------------
PLUGIN = '''
    import torch
    from minidl import hookimpl

    class Boom(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, X):
            raise ValueError("no forward today")

    def boom(num_inputs: int | None = None):
        """A model whose forward raises."""
        return Boom()

    def outer():
        """A loss that broadcasts."""
        return Outer()

    class Outer:
        def __call__(self, y_hat, y):
            return y_hat - y.reshape(-1)  # (n, 1) - (n,): broadcasts to (n, n)

    @hookimpl
    def register_models(register):
        register("boom", boom)

    @hookimpl
    def register_losses(register):
        register("outer", outer)
'''


@pytest.fixture
def third_party(tmp_path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "thirdparty.py"
    path.write_text(textwrap.dedent(PLUGIN))
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "")
    return lambda *args: CliRunner().invoke(create_cli(), ["-p", str(path), *args])


def test_a_model_that_raises_is_named_with_its_plugin(third_party) -> None:
    line = one_line_error(third_party("train", "--model", "boom"), "model 'boom' from plugin ",
                          "raised ValueError: no forward today", "dataset 'synthetic-linear' examples of shape (2,)")
    assert re.search(r"from plugin '[^']*thirdparty[^']*' raised", line), line


def test_an_undeclared_loss_that_broadcasts_is_refused(third_party) -> None:
    one_line_error(third_party("train", "--loss", "outer"), "loss 'outer' gives losses of shape (2, 2)",
                   "model 'linreg' outputs of shape (2, 1)", "labels of shape (2, 1)")


# -- the library -----------------------------------------------------------------------
def regression(n: int = 20, *, flat: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    X = torch.randn(n, 2, generator=torch.Generator().manual_seed(1))
    y = X @ torch.tensor([2.0, -3.4]) + 4.2  # (n,)
    return X, (y if flat else y.reshape(-1, 1))


def test_flat_labels_against_column_outputs_are_refused_before_any_step(plugins) -> None:
    X, y = regression(flat=True)
    model = nn.Linear(2, 1)
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(IncompatibleComponentsError) as caught:
        Trainer(plugins=plugins).fit(model, as_dataset(TensorDataset(X, y)), nn.MSELoss(reduction="none"), opt)
    message = str(caught.value)
    assert "\n" not in message
    assert message == ("loss 'MSELoss' gives losses of shape (2, 2) for model 'Linear' outputs of shape (2, 1) "
                       "and dataset 'TensorData' labels of shape (2,): the labels broadcast against the outputs "
                       "instead of one loss per example; reshape the labels to (n, 1), e.g. y.reshape(-1, 1)")
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    assert all(p.grad is None for p in model.parameters())


def test_column_labels_train(plugins) -> None:
    X, y = regression()
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    history = Trainer(max_epochs=1, plugins=plugins).fit(model, as_dataset(TensorDataset(X, y)),
                                                         nn.MSELoss(reduction="none"), optimizer)
    assert len(history) == 1


def test_library_warning_is_a_minidl_warning_pointing_at_the_caller(plugins) -> None:
    X, y = regression(flat=True)
    model = nn.Sequential(nn.Linear(2, 3), nn.Softmax(dim=1))  # probabilities, by its last layer
    data = as_dataset(TensorDataset(X, (y > 0).long()))
    with pytest.warns(CompatibilityWarning, match=r"loss 'CrossEntropyLoss' takes logits.*already outputs") as caught:
        Trainer(max_epochs=1, plugins=plugins).fit(model, data, nn.CrossEntropyLoss(reduction="none"),
                                                   torch.optim.SGD(model.parameters(), lr=0.1))
    assert issubclass(caught[0].category, MinidlWarning)
    assert caught[0].filename == __file__


def test_a_torch_regression_loss_on_integer_labels_is_refused(plugins) -> None:
    X, _ = regression()
    with pytest.raises(IncompatibleComponentsError, match=r"loss 'MSELoss' needs real-valued labels, but dataset "
                       r"'TensorData' has class labels of shape \(20,\) \(inferred from their dtype int64\)"):
        check_components(nn.Linear(2, 1), TensorData(X, torch.zeros(20, dtype=torch.long)), nn.MSELoss())


@pytest.mark.parametrize("dtype", [torch.long, torch.float64])
def test_features_of_another_dtype_than_the_model_are_named_with_both_dtypes(plugins, dtype: torch.dtype) -> None:
    """The message was torch's own (long int != float), blaming the model alone."""
    X, y = regression()
    kind = str(dtype).removeprefix("torch.")
    with pytest.raises(IncompatibleComponentsError, match=rf"model 'Linear' cannot take dataset 'TensorData' "
                       rf"examples of shape \(2,\) and dtype {kind} \(the model's parameters are float32\): "):
        check_components(nn.Linear(2, 1), TensorData(X.to(dtype), y), nn.MSELoss(reduction="none"))


def test_a_model_with_more_outputs_than_the_dataset_is_told_how_many(plugins) -> None:
    data = TensorData(*regression())
    data.num_outputs = 1
    with pytest.raises(IncompatibleComponentsError, match=r"outputs of shape \(2, 3\) .*; dataset 'TensorData' "
                       r"has num_outputs=1: give model 'Linear' 1 output\(s\)$"):
        check_components(nn.Linear(2, 3), data, _squared())


def _squared():
    def squared(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2

    return squared


def test_an_unknown_declared_kind_is_named(plugins) -> None:
    class Odd(nn.Module):
        output_kind = "scores"

        def forward(self, X: torch.Tensor) -> torch.Tensor:
            return X[:, :1]

    with pytest.raises(IncompatibleComponentsError, match=r"model 'Odd' declares output_kind='scores'; accepted: "):
        check_components(Odd(), TensorData(*regression()), nn.MSELoss(reduction="none"))


class Noisy(nn.Module):
    """Draws from torch's RNG in its forward, with dropout and batch norm: the dry run must leave no trace."""

    def __init__(self) -> None:
        super().__init__()
        self.norm, self.drop, self.linear = nn.BatchNorm1d(2), nn.Dropout(0.5), nn.Linear(2, 1)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        random.random()
        np.random.rand()
        return self.linear(self.drop(self.norm(X))) + 0 * torch.rand(len(X), 1)


def test_the_dry_run_changes_no_rng_mode_buffer_or_gradient() -> None:
    model = Noisy()
    model.norm.eval()  # a mixed mode, restored as it was
    states = torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy()
    buffers = {k: v.clone() for k, v in model.state_dict().items()}
    check_components(model, TensorData(*regression()), nn.MSELoss(reduction="none"))
    assert torch.equal(states[0], torch.get_rng_state())
    assert states[1] == random.getstate()
    assert np.array_equal(states[2], np.random.get_state()[1])
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in buffers.items())
    assert model.training and not model.norm.training and model.drop.training
    assert all(p.grad is None for p in model.parameters())


# -- once per fit, and nothing changes --------------------------------------------------
def test_build_checks_once_and_fit_does_not_check_again(plugins, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = compat.check_components
    monkeypatch.setattr(compat, "check_components", lambda *a, **k: calls.append(1) or real(*a, **k))
    run = minidl.build(minidl.RunConfig(), plugins)
    run.trainer.max_epochs = 1
    run.fit()
    assert len(calls) == 1
    run.trainer.fit(run.model, run.dataset, nn.MSELoss(reduction="none"), run.optimizer)  # another loss: checked
    assert len(calls) == 2


def without_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compat, "check_components", lambda *args, **kwargs: compat.Checked(()))


@pytest.mark.parametrize("args", [
    (),
    pytest.param(("--dataset", "shapes", "--model", "softmax-regression", "--loss", "softmax-cross-entropy",
                  "--metric", "accuracy", "--set", "dataset.num_examples=200", "--set", "dataset.num_test=50",
                  "--epochs", "2", "--batch-size", "20", "--lr", "0.1"), marks=needs_plugins),
])
def test_json_output_is_byte_identical_with_and_without_the_check(invoke, monkeypatch, args) -> None:
    checked = invoke("train", "--json", *args)
    assert checked.exit_code == 0 and checked.stderr == "", checked.stderr
    without_check(monkeypatch)
    unchecked = invoke("train", "--json", *args)
    assert checked.stdout_bytes == unchecked.stdout_bytes


def test_library_fit_is_bit_identical_with_and_without_the_check(plugins, monkeypatch) -> None:
    def fit() -> list[torch.Tensor]:
        minidl.seed_everything(0)
        model = Noisy()
        with warnings.catch_warnings():
            warnings.simplefilter("error", CompatibilityWarning)
            Trainer(max_epochs=2, seed=0, plugins=plugins).fit(
                model, TensorData(*regression()), nn.MSELoss(reduction="none"),
                torch.optim.SGD(model.parameters(), lr=0.05))
        return [p.detach().clone() for p in model.state_dict().values()]

    checked = fit()
    without_check(monkeypatch)
    assert all(torch.equal(a, b) for a, b in zip(checked, fit()))
