"""The concise models, losses and optimizers against torch's own classes and the book's init."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import minidl
from minidl.errors import OptionError


def test_linear_is_flatten_then_nn_linear_with_the_books_init(registry: minidl.Registry) -> None:
    torch.manual_seed(0)
    net = registry.build("model", "linear", {"num_inputs": 400, "num_outputs": 50})
    assert isinstance(net.linear, nn.Linear) and isinstance(net.flatten, nn.Flatten)
    assert net.linear.weight.shape == (50, 400)
    assert abs(net.linear.weight.std().item() - 0.01) < 5e-4
    assert abs(net.linear.weight.mean().item()) < 5e-4
    assert torch.equal(net.linear.bias, torch.zeros(50))
    X = torch.randn(3, 400)
    torch.testing.assert_close(net(X), X @ net.linear.weight.T)


def test_linear_flattens_images(registry: minidl.Registry) -> None:
    net = registry.build("model", "linear", {"num_inputs": 16, "num_outputs": 10})
    assert net(torch.randn(5, 1, 4, 4)).shape == (5, 10)


def test_linear_takes_sizes_from_the_dataset_and_defaults_to_one_output(registry: minidl.Registry) -> None:
    net = registry.build("model", "linear", {}, num_inputs=3, num_outputs=None)
    assert net.linear.weight.shape == (1, 3)


def test_models_need_num_inputs(registry: minidl.Registry) -> None:
    with pytest.raises(OptionError, match="model 'linear' needs option 'num_inputs'"):
        registry.build("model", "linear", {})
    with pytest.raises(OptionError, match="model 'mlp' needs option 'num_outputs'"):
        registry.build("model", "mlp", {"num_inputs": 4})


def test_mlp_layers_activation_and_init(registry: minidl.Registry) -> None:
    torch.manual_seed(0)
    net = registry.build("model", "mlp", {"hidden": [256, 128], "activation": "tanh",
                                          "num_inputs": 784, "num_outputs": 10})
    linears = [m for m in net if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(784, 256), (256, 128), (128, 10)]
    assert sum(isinstance(m, nn.Tanh) for m in net) == 2
    weights = torch.cat([p.reshape(-1) for p in net.parameters()])
    assert abs(weights.std().item() - 0.01) < 5e-4
    assert net(torch.randn(2, 1, 28, 28)).shape == (2, 10)


@pytest.mark.parametrize(("hidden", "message"), [
    ("[]", "hidden must list one or more sizes, got []"),
    ("[0]", "option 'hidden' must be >= 1, got 0"),  # each size's declared range
    ("[8, 10000000]", "option 'hidden' must be <= 1000000, got 10000000"),
])
def test_mlp_rejects_bad_hidden_sizes(registry: minidl.Registry, hidden: str, message: str) -> None:
    with pytest.raises(OptionError) as info:
        registry.build("model", "mlp", {"hidden": hidden, "num_inputs": 2, "num_outputs": 1})
    assert str(info.value) == f"model 'mlp': {message}"


def test_mlp_rejects_an_unknown_activation(registry: minidl.Registry) -> None:
    with pytest.raises(OptionError, match="'relu', 'sigmoid', 'tanh'"):
        registry.build("model", "mlp", {"activation": "gelu", "num_inputs": 2, "num_outputs": 1})


def test_mse_is_per_example_and_averages_to_nn_mseloss(registry: minidl.Registry) -> None:
    loss = registry.build("loss", "mse")
    y_hat, y = torch.randn(8, 3), torch.randn(8, 3)
    per_example = loss(y_hat, y)
    assert per_example.shape == (8,)
    torch.testing.assert_close(per_example, ((y_hat - y) ** 2).mean(dim=1))
    torch.testing.assert_close(per_example.mean(), nn.MSELoss()(y_hat, y))


def test_mse_reshapes_flat_labels(registry: minidl.Registry) -> None:
    loss = registry.build("loss", "mse")
    y_hat, y = torch.randn(5, 1), torch.randn(5)
    torch.testing.assert_close(loss(y_hat, y), (y_hat.reshape(-1) - y) ** 2)


def test_cross_entropy_is_per_example_with_long_labels(registry: minidl.Registry) -> None:
    loss = registry.build("loss", "cross-entropy")
    y_hat, y = torch.randn(6, 4), torch.tensor([0, 3, 1, 2, 2, 0])
    expected = F.cross_entropy(y_hat, y, reduction="none")
    torch.testing.assert_close(loss(y_hat, y), expected)
    torch.testing.assert_close(loss(y_hat, y.float().reshape(-1, 1)), expected)


OPTIMIZER_CASES = [
    ("torch-sgd", torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01, "nesterov": True}),
    ("torch-adam", torch.optim.Adam, {"lr": 0.01, "betas": [0.8, 0.99], "eps": 1e-6, "amsgrad": True}),
    ("torch-adamw", torch.optim.AdamW, {"lr": 0.01, "betas": [0.8, 0.99], "weight_decay": 0.1}),
    ("torch-rmsprop", torch.optim.RMSprop, {"lr": 0.01, "alpha": 0.9, "momentum": 0.5, "centered": True}),
    ("torch-adagrad", torch.optim.Adagrad, {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("torch-adadelta", torch.optim.Adadelta, {"lr": 0.5, "rho": 0.8, "eps": 1e-5}),
]


@pytest.mark.parametrize(("name", "cls", "options"), OPTIMIZER_CASES)
def test_optimizers_are_torch_optim_with_the_options_given(
    registry: minidl.Registry, name: str, cls: type, options: dict
) -> None:
    params = [nn.Parameter(torch.randn(3))]
    optimizer = registry.build("optimizer", name, options, params=params)
    assert type(optimizer) is cls
    group = optimizer.param_groups[0]
    for key, value in options.items():
        assert group[key] == (tuple(value) if key == "betas" else value), key
    assert group["params"][0] is params[0]


@pytest.mark.parametrize(("name", "options", "torch_words"), [  # what two options decide together
    ("torch-sgd", {"nesterov": True}, "Nesterov momentum requires a momentum"),
    ("torch-sgd", {"nesterov": True, "momentum": 0.9, "dampening": 0.5}, "zero dampening"),
])
def test_options_torch_rejects_give_one_line_errors(
    registry: minidl.Registry, name: str, options: dict, torch_words: str
) -> None:
    with pytest.raises(OptionError) as info:
        registry.build("optimizer", name, options, params=[nn.Parameter(torch.zeros(1))])
    message = str(info.value)
    assert message.startswith(f"optimizer {name!r}: ")
    assert torch_words in message
    assert "\n" not in message


@pytest.mark.parametrize(("name", "options", "message"), [  # the ranges the factories declare
    ("torch-sgd", {"momentum": -0.5}, "option 'momentum' must be >= 0, got -0.5"),
    ("torch-sgd", {"dampening": 1.0}, "option 'dampening' must be < 1, got 1.0"),
    ("torch-adam", {"betas": [0.9, 1.5]}, "option 'betas' must be < 1, got 1.5"),
    ("torch-adamw", {"lr": 0.0}, "option 'lr' must be > 0, got 0.0"),
    ("torch-rmsprop", {"alpha": -1.0}, "option 'alpha' must be >= 0, got -1.0"),
    ("torch-adagrad", {"eps": -1e-10}, "option 'eps' must be >= 0, got -1e-10"),
    ("torch-adadelta", {"rho": 2.0}, "option 'rho' must be < 1, got 2.0"),
    ("torch-adadelta", {"weight_decay": float("inf")}, "option 'weight_decay' must be a finite number, got inf"),
])
def test_options_out_of_their_declared_range_are_refused_before_torch(
    registry: minidl.Registry, name: str, options: dict, message: str
) -> None:
    with pytest.raises(OptionError) as info:
        registry.build("optimizer", name, options, params=[nn.Parameter(torch.zeros(1))])
    assert str(info.value) == f"optimizer {name!r}: {message}"


def test_betas_must_be_two_numbers(registry: minidl.Registry) -> None:
    with pytest.raises(OptionError, match=r"optimizer 'torch-adam': betas must be two numbers"):
        registry.build("optimizer", "torch-adam", {"betas": [0.9, 0.99, 0.999]},
                       params=[nn.Parameter(torch.zeros(1))])


def test_torch_sgd_step_is_torchs(registry: minidl.Registry) -> None:
    w1 = nn.Parameter(torch.tensor([1.0, -2.0]))
    w2 = nn.Parameter(w1.detach().clone())
    mine = registry.build("optimizer", "torch-sgd", {"lr": 0.1, "momentum": 0.9}, params=[w1])
    theirs = torch.optim.SGD([w2], lr=0.1, momentum=0.9)
    for _ in range(3):
        for w, opt in ((w1, mine), (w2, theirs)):
            (w**2).sum().backward()
            opt.step()
            opt.zero_grad()
    torch.testing.assert_close(w1, w2, rtol=0, atol=0)
