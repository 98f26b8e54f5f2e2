"""The chapter 7 optimizers from scratch, against torch.optim and against the book's own functions."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch

import minidl
from minidl.adapters import TensorData
from minidl.errors import OptionError
from minidl.trainer import Trainer

STEPS_DATA = 120  # examples: 2 epochs of batch 10 -> 24 steps


def _problem() -> tuple[torch.nn.Module, TensorData]:
    """A linear regression whose batch-mean gradients are never exactly zero."""
    g = torch.Generator().manual_seed(1)
    X = torch.randn(STEPS_DATA, 5, generator=g)
    y = X @ torch.tensor([1.0, -2.0, 0.5, 3.0, -1.0]) + 0.3 * torch.randn(STEPS_DATA, generator=g)
    torch.manual_seed(2)
    model = torch.nn.Linear(5, 1)
    return model, TensorData(X, y.reshape(-1, 1))


def _squared(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (y_hat - y) ** 2 / 2


def _train(model: torch.nn.Module, data: TensorData,
           make_optimizer: Callable[[Any], Any], plugins: minidl.Plugins) -> torch.nn.Module:
    """Two epochs through minidl's Trainer: same seed, so the same batches in the same order."""
    model = copy.deepcopy(model)
    trainer = Trainer(max_epochs=2, batch_size=10, seed=0, plugins=plugins)
    trainer.fit(model, data, _squared, make_optimizer(list(model.parameters())))
    return model


def _assert_same_parameters(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=lambda m, name=name: f"{name}: {m}")


# (our name, our options, torch class, torch options): the settings under which the formulas agree
AGAINST_TORCH = [
    ("momentum", {"lr": 0.02, "momentum": 0.5}, torch.optim.SGD, {"lr": 0.02, "momentum": 0.5, "dampening": 0}),
    ("momentum", {"lr": 0.004, "momentum": 0.9}, torch.optim.SGD, {"lr": 0.004, "momentum": 0.9}),
    # the book adds eps inside the square root, torch outside: they agree exactly at eps = 0
    ("adagrad", {"lr": 0.1, "eps": 0.0}, torch.optim.Adagrad, {"lr": 0.1, "eps": 0.0}),
    ("rmsprop", {"lr": 0.01, "gamma": 0.9, "eps": 0.0}, torch.optim.RMSprop,
     {"lr": 0.01, "alpha": 0.9, "eps": 0.0}),
    ("adadelta", {"rho": 0.9, "eps": 1e-5}, torch.optim.Adadelta, {"lr": 1.0, "rho": 0.9, "eps": 1e-5}),
    ("adadelta", {"rho": 0.8, "eps": 1e-6, "lr": 0.5}, torch.optim.Adadelta, {"lr": 0.5, "rho": 0.8, "eps": 1e-6}),
    ("adam", {"lr": 0.01}, torch.optim.Adam, {"lr": 0.01, "eps": 1e-6}),
    ("adam", {"lr": 0.05, "betas": [0.8, 0.99], "eps": 1e-8}, torch.optim.Adam,
     {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-8}),
]


@pytest.mark.parametrize(("name", "options", "torch_cls", "torch_options"), AGAINST_TORCH,
                         ids=[f"{case[0]}-{i}" for i, case in enumerate(AGAINST_TORCH)])
def test_matches_torch_optim(plugins: minidl.Plugins, name: str, options: dict, torch_cls: type,
                             torch_options: dict) -> None:
    model, data = _problem()
    ours = _train(model, data, lambda p: plugins.registry.build("optimizer", name, options, params=p), plugins)
    theirs = _train(model, data, lambda p: torch_cls(p, **torch_options), plugins)
    _assert_same_parameters(ours, theirs)
    assert not torch.allclose(ours.weight, model.weight)  # it did train


# The book's code (Dive-into-DL-PyTorch, chapter 7), the oracle for the book's defaults.
def book_sgd_momentum(params, states, hyperparams):
    for p, v in zip(params, states):
        v.data = hyperparams["momentum"] * v.data + hyperparams["lr"] * p.grad.data
        p.data -= v.data


def book_adagrad(params, states, hyperparams):
    eps = 1e-6
    for p, s in zip(params, states):
        s.data += p.grad.data**2
        p.data -= hyperparams["lr"] * p.grad.data / torch.sqrt(s + eps)


def book_rmsprop(params, states, hyperparams):
    gamma, eps = hyperparams["gamma"], 1e-6
    for p, s in zip(params, states):
        s.data = gamma * s.data + (1 - gamma) * (p.grad.data) ** 2
        p.data -= hyperparams["lr"] * p.grad.data / torch.sqrt(s + eps)


def book_adadelta(params, states, hyperparams):
    rho, eps = hyperparams["rho"], 1e-5
    for p, (s, delta) in zip(params, states):
        s[:] = rho * s + (1 - rho) * (p.grad.data**2)
        g = p.grad.data * torch.sqrt((delta + eps) / (s + eps))
        p.data -= g
        delta[:] = rho * delta + (1 - rho) * g * g


def book_adam(params, states, hyperparams):
    beta1, beta2, eps = 0.9, 0.999, 1e-6
    for p, (v, s) in zip(params, states):
        v[:] = beta1 * v + (1 - beta1) * p.grad.data
        s[:] = beta2 * s + (1 - beta2) * p.grad.data**2
        v_bias_corr = v / (1 - beta1 ** hyperparams["t"])
        s_bias_corr = s / (1 - beta2 ** hyperparams["t"])
        p.data -= hyperparams["lr"] * v_bias_corr / (torch.sqrt(s_bias_corr) + eps)
    hyperparams["t"] += 1


def _zeros(model: torch.nn.Module) -> list[torch.Tensor]:
    return [torch.zeros_like(p) for p in model.parameters()]


BOOK_CASES = [  # (our name, our options: the book's defaults, book function, its states, hyperparams)
    ("momentum", {}, book_sgd_momentum, _zeros, {"lr": 0.02, "momentum": 0.5}),
    ("adagrad", {}, book_adagrad, _zeros, {"lr": 0.1}),
    ("rmsprop", {}, book_rmsprop, _zeros, {"lr": 0.01, "gamma": 0.9}),
    ("adadelta", {}, book_adadelta, lambda m: list(zip(_zeros(m), _zeros(m))), {"rho": 0.9}),
    ("adam", {}, book_adam, lambda m: list(zip(_zeros(m), _zeros(m))), {"lr": 0.01, "t": 1}),
]


@pytest.mark.parametrize(("name", "options", "book_fn", "states", "hyperparams"), BOOK_CASES,
                         ids=[case[0] for case in BOOK_CASES])
def test_defaults_are_the_books_code(plugins: minidl.Plugins, name: str, options: dict,
                                     book_fn: Callable, states: Callable, hyperparams: dict) -> None:
    from minidl.d2l.optimization import BookOptimizer

    model, data = _problem()
    ours = _train(model, data, lambda p: plugins.registry.build("optimizer", name, options, params=p), plugins)
    book = _train(model, data, lambda p: BookOptimizer(book_fn, p, states(model), dict(hyperparams)), plugins)
    _assert_same_parameters(ours, book)


def test_components_come_from_the_optim_entry_point(plugins: minidl.Plugins) -> None:
    for name in ("momentum", "adagrad", "rmsprop", "adadelta", "adam"):
        component = plugins.registry.get("optimizer", name)
        assert component.plugin == "optim"
        assert all(option.help for option in component.options)
    assert plugins.registry.get("dataset", "airfoil").plugin == "optim"
    assert plugins.distribution("optim") == "minidl-optim"


@pytest.mark.parametrize(("name", "options", "words"), [  # the ranges the factories declare
    ("momentum", {"momentum": 1.0}, "option 'momentum' must be < 1, got 1.0"),
    ("momentum", {"momentum": -0.1}, "option 'momentum' must be >= 0, got -0.1"),
    ("rmsprop", {"gamma": 1.5}, "option 'gamma' must be < 1, got 1.5"),
    ("adadelta", {"rho": -1.0}, "option 'rho' must be >= 0, got -1.0"),
    ("adadelta", {"eps": 0.0}, "option 'eps' must be > 0, got 0.0"),
    ("adagrad", {"eps": -1.0}, "option 'eps' must be >= 0, got -1.0"),
    ("adam", {"betas": [0.9]}, "betas must be two numbers"),
    ("adam", {"betas": [0.9, 1.0]}, "option 'betas' must be < 1, got 1.0"),
    ("adam", {"lr": -0.1}, "option 'lr' must be > 0, got -0.1"),
    ("adam", {"eps": "nan"}, "option 'eps' must be a finite number, got nan"),
])
def test_bad_hyperparameters_name_the_optimizer(plugins: minidl.Plugins, name: str, options: dict,
                                                words: str) -> None:
    with pytest.raises(OptionError) as info:
        plugins.registry.build("optimizer", name, options, params=[torch.nn.Parameter(torch.zeros(1))])
    assert str(info.value).startswith(f"optimizer {name!r}: ")
    assert words in str(info.value)


def test_a_changed_learning_rate_is_used(plugins: minidl.Plugins) -> None:
    w = torch.nn.Parameter(torch.ones(1))
    optimizer = plugins.registry.build("optimizer", "momentum", {"lr": 0.1, "momentum": 0.0}, params=[w])
    optimizer.param_groups[0]["lr"] = 0.5
    w.grad = torch.ones(1)
    optimizer.step()
    torch.testing.assert_close(w.detach(), torch.tensor([0.5]))


@pytest.mark.parametrize("name", ["momentum", "adagrad", "rmsprop", "adadelta", "adam"])
def test_resuming_from_a_checkpoint_continues_identically(plugins: minidl.Plugins, name: str) -> None:
    model, data = _problem()
    straight = _train(model, data, lambda p: plugins.registry.build("optimizer", name, params=p), plugins)

    first = copy.deepcopy(model)
    trainer = Trainer(max_epochs=1, batch_size=10, seed=0, plugins=plugins)
    trainer.fit(first, data, _squared, plugins.registry.build("optimizer", name, params=list(first.parameters())))
    state = copy.deepcopy(trainer.state_dict())
    second = copy.deepcopy(model)
    resumed = Trainer(max_epochs=2, batch_size=10, seed=0, plugins=plugins)
    optimizer = plugins.registry.build("optimizer", name, params=list(second.parameters()))
    resumed.fit(second, data, _squared, optimizer, resume=state)
    _assert_same_parameters(second, straight)


def test_the_plugin_conforms(plugins: minidl.Plugins, airfoil_path: Any) -> None:
    testing = pytest.importorskip("minidl.testing")
    testing.check_plugin("optim", plugins, options={"airfoil": {"path": str(airfoil_path)}})
