"""Book chapters 3.11 (under/overfitting) and 3.12 (weight decay): data, L2 penalty, experiments."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch

import minidl
from minidl.config import ComponentConfig, RunConfig, TrainSettings
from minidl.errors import OptionError
from minidl.testing import check_plugin

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    """The defaults and this entry point only, whatever else is installed."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "fitting")
    return minidl.load_plugins()


def build_dataset(plugins: minidl.Plugins, name: str, **options: Any) -> Any:
    torch.manual_seed(0)
    return plugins.registry.build("dataset", name, options)


def fit(plugins: minidl.Plugins, dataset: str, options: dict[str, Any], *, epochs: int, batch_size: int,
        lr: float, callbacks: dict[str, dict[str, Any]] | None = None, book_init: bool = False) -> Any:
    """Train linreg (autograd) with sgd through build(RunConfig); return the last epoch's record."""
    config = RunConfig(dataset=ComponentConfig(dataset, options),
                       model=ComponentConfig("linreg", {"grad": "autograd", "init_std": 1.0 if book_init else 0.01}),
                       optimizer=ComponentConfig("sgd", {"lr": lr}),
                       train=TrainSettings(epochs=epochs, batch_size=batch_size, seed=0),
                       callbacks=callbacks or {})
    run = minidl.build(config, plugins)  # init_std 1: 3.12's init_params, w = torch.randn((num_inputs, 1))
    record = run.fit()[-1]
    return SimpleNamespace(train=record["loss"], test=record["test_loss"], w_norm=run.model.w.norm().item())


# -- the data ------------------------------------------------------------------------------
def test_polynomial_data_is_the_books_cubic(plugins: minidl.Plugins) -> None:
    data = build_dataset(plugins, "polynomial")
    assert data.splits == ("train", "test") and data.num_inputs == 3 and data.num_outputs == 1
    X, y = data.tensors("train")
    assert X.shape == (100, 3) and y.shape == (100, 1) and data.tensors("test")[0].shape == (100, 3)
    x = X[:, :1]
    torch.testing.assert_close(X, torch.cat([x, x**2, x**3], dim=1))
    expected = 1.2 * x - 3.4 * x**2 + 5.6 * x**3 + 5  # the book's labels, before noise
    assert (y - expected).std().item() == pytest.approx(0.01, rel=0.3)


def test_polynomial_degree_one_keeps_the_labels_and_drops_the_powers(plugins: minidl.Plugins) -> None:
    cubic, linear = build_dataset(plugins, "polynomial"), build_dataset(plugins, "polynomial", degree=1)
    assert linear.tensors("train")[0].shape == (100, 1) and linear.num_inputs == 1
    torch.testing.assert_close(linear.tensors("train")[0], cubic.tensors("train")[0][:, :1])
    torch.testing.assert_close(linear.tensors("train")[1], cubic.tensors("train")[1])


def test_polynomial_sizes_and_no_test_split(plugins: minidl.Plugins) -> None:
    data = build_dataset(plugins, "polynomial", num_examples=2, num_test=0)
    assert data.splits == ("train",) and len(data.tensors("train")[0]) == 2


def test_high_dim_linear_is_the_books_data(plugins: minidl.Plugins) -> None:
    data = build_dataset(plugins, "high-dim-linear")
    X, y = data.tensors("train")
    X_test, y_test = data.tensors("test")
    assert X.shape == (20, 200) and X_test.shape == (100, 200) and data.num_inputs == 200
    residual = torch.cat([y, y_test]) - (torch.cat([X, X_test]) @ torch.full((200, 1), 0.01) + 0.05)
    assert residual.std().item() == pytest.approx(0.01, rel=0.3)


@pytest.mark.parametrize(("kind", "name", "options"), [
    ("dataset", "polynomial", {"degree": 0}),
    ("dataset", "polynomial", {"num_examples": 0}),
    ("dataset", "polynomial", {"true_w": []}),
    ("dataset", "high-dim-linear", {"num_inputs": 0}),
    ("callback", "l2-penalty", {"lambd": -1.0}),
])
def test_bad_options_are_named(plugins: minidl.Plugins, kind: str, name: str, options: dict) -> None:
    with pytest.raises(OptionError, match=name):
        plugins.registry.build(kind, name, options)


@pytest.mark.parametrize("name", ["polynomial", "high-dim-linear"])
@pytest.mark.parametrize(("old", "new"), [("n_train", "num_examples"), ("n_test", "num_test")])
def test_the_old_size_names_are_refused_naming_the_new_ones(plugins: minidl.Plugins, name: str,
                                                            old: str, new: str) -> None:
    """One vocabulary for every dataset (synthetic-linear, shapes, ...): num_examples, num_test."""
    with pytest.raises(OptionError, match=f"^dataset '{name}' has no option '{old}'; did you mean '{new}'\\?$"):
        plugins.registry.build("dataset", name, {old: 2})


def test_a_misspelt_option_gets_the_closest_name(plugins: minidl.Plugins) -> None:
    with pytest.raises(OptionError, match=r"^dataset 'polynomial' has no option 'num_exampels'; its options: "
                                          r"num_examples, num_test, .*; did you mean 'num_examples'\?$"):
        plugins.registry.build("dataset", "polynomial", {"num_exampels": 2})
    with pytest.raises(OptionError, match=r"has no option 'zzz'; its options: [a-z_, ]+$"):  # nothing close
        plugins.registry.build("dataset", "polynomial", {"zzz": 2})


def test_every_dataset_speaks_one_vocabulary(plugins: minidl.Plugins) -> None:
    """The sizes of a dataset's splits are num_examples and num_test wherever it has them."""
    for component in plugins.registry:
        if component.kind == "dataset":
            names = {option.name for option in component.options}
            assert not names & {"n_train", "n_test", "num_train", "n_examples"}, component.name
            assert "num_test" not in names or "num_examples" in names, component.name


# -- the L2 penalty ------------------------------------------------------------------------
def penalised_gradients(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor,
                        lambd: float) -> list[torch.Tensor]:
    """Autograd's gradients of mean squared loss + lambd/2 * ||w||^2 over weights (ndim >= 2)."""
    model.zero_grad()
    loss = ((model(X) - y) ** 2 / 2).mean()
    loss = loss + lambd / 2 * sum((p**2).sum() for p in model.parameters() if p.ndim >= 2)
    loss.backward()
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("model_name", ["linreg", "nn.Linear"])
def test_l2_penalty_adds_the_gradient_of_half_lambda_norm_squared(plugins: minidl.Plugins,
                                                                  model_name: str) -> None:
    torch.manual_seed(0)
    X, y = torch.randn(8, 5), torch.randn(8, 1)
    model = (plugins.registry.build("model", "linreg", num_inputs=5) if model_name == "linreg"
             else torch.nn.Linear(5, 1))
    expected = penalised_gradients(model, X, y, lambd=3.0)
    penalty = plugins.registry.build("callback", "l2-penalty", {"lambd": 3.0})
    model.zero_grad()
    ((model(X) - y) ** 2 / 2).mean().backward()
    penalty.on_before_optimizer_step(trainer=SimpleNamespace(model=model), epoch=1, step=1)
    for got, want in zip([p.grad for p in model.parameters()], expected):
        torch.testing.assert_close(got, want)


def test_l2_penalty_in_a_trainer_step_matches_the_books_update(plugins: minidl.Plugins) -> None:
    data = minidl.TensorData(torch.randn(4, 3), torch.randn(4, 1))
    torch.manual_seed(0)
    model = plugins.registry.build("model", "linreg", num_inputs=3)
    reference = [p.detach().clone().requires_grad_() for p in model.parameters()]
    optimizer = plugins.registry.build("optimizer", "sgd", {"lr": 0.1}, params=list(model.parameters()))
    penalty = plugins.registry.build("callback", "l2-penalty", {"lambd": 2.0})
    minidl.Trainer(max_epochs=1, batch_size=4, seed=0, callbacks=[penalty], plugins=plugins).fit(
        model, data, plugins.registry.build("loss", "squared"), optimizer)
    w, b = reference  # the book: l = loss(net(X, w, b), y) + lambd * l2_penalty(w); sgd on the mean
    X, y = data.tensors("train")
    (((X @ w + b - y) ** 2 / 2).mean() + 2.0 * (w**2).sum() / 2).backward()
    with torch.no_grad():
        for param, ref in zip(model.parameters(), reference):
            torch.testing.assert_close(param, ref - 0.1 * ref.grad)


def test_the_plugin_conforms(plugins: minidl.Plugins) -> None:
    results = check_plugin("fitting", plugins)
    assert set(results) == {"dataset 'polynomial'", "dataset 'high-dim-linear'", "callback 'l2-penalty'"}


# -- the book's experiments ---------------------------------------------------------------
def test_3_11_cubic_fits_linear_underfits_two_examples_overfit(plugins: minidl.Plugins) -> None:
    settings = {"epochs": 100, "lr": 0.02}  # the book: MSELoss (twice `squared`) with lr 0.01
    normal = fit(plugins, "polynomial", {}, batch_size=10, **settings)
    under = fit(plugins, "polynomial", {"degree": 1}, batch_size=10, **settings)
    over = fit(plugins, "polynomial", {"num_examples": 2}, batch_size=2, **settings)
    assert normal.train < 1e-3 and normal.test < 1e-3
    assert under.train > 10 and under.test > 10
    assert over.test > 10 * over.train and over.test > 1


def test_3_12_weight_decay_shrinks_w_and_the_test_loss(plugins: minidl.Plugins) -> None:
    settings = {"epochs": 40, "batch_size": 1, "lr": 0.003, "book_init": True}  # the book: 100
    plain = fit(plugins, "high-dim-linear", {}, callbacks={"l2-penalty": {"lambd": 0}}, **settings)
    decayed = fit(plugins, "high-dim-linear", {}, callbacks={"l2-penalty": {"lambd": 3}}, **settings)
    assert plain.train < 1e-6 and plain.test > 1  # the book: train ~0, test ~1e2, ||w|| 15.1
    assert decayed.test < 0.05 and decayed.test < plain.test / 100
    assert decayed.w_norm < 0.1 < 10 < plain.w_norm  # the book: ||w|| 0.035 with lambd 3


def test_3_12_with_linregs_small_init_weight_decay_still_helps(plugins: minidl.Plugins) -> None:
    settings = {"epochs": 20, "batch_size": 1, "lr": 0.003}
    plain = fit(plugins, "high-dim-linear", {}, callbacks={"l2-penalty": {"lambd": 0}}, **settings)
    decayed = fit(plugins, "high-dim-linear", {}, callbacks={"l2-penalty": {"lambd": 3}}, **settings)
    assert plain.train < 1e-6 and plain.test > 1000 * plain.train
    assert decayed.test < 0.7 * plain.test and decayed.w_norm < plain.w_norm / 2


# -- the example scripts ------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize(("script", "expected"), [
    ("fitting_3_11.py", ["third-order polynomial (normal)", "underfitting", "overfitting"]),
    ("weight_decay_3_12.py", ["lambd 0:", "lambd 3:", "L2 norm of w"]),
])
def test_example_scripts_run(script: str, expected: list[str], tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "fitting")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    figure = tmp_path / "losses.png"
    result = subprocess.run([sys.executable, str(REPO / "examples" / script), "--epochs", "10",
                             "-o", str(figure)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert all(text in result.stdout for text in expected), result.stdout
    assert "test loss" in result.stdout and figure.stat().st_size > 0
