"""The concise models, losses and dataset: ``torch.nn`` and ``torch.utils.data`` at work."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils import data as torch_data

from minidl.adapters import TorchData
from minidl.default_plugins.notebook_components import SyntheticLinear
from minidl.errors import OptionError

ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def need_size(component: str, name: str, value: int | None) -> int:
    """``value`` when it is set (by the user, in the range the factory declares, or by the
    dataset); ``None`` is an error naming the component and the option to set."""
    if value is None:
        raise OptionError(f"{component} needs option {name!r}: the dataset does not give it; "
                          f"set it, e.g. --set model.{name}=2")
    return value


def linear_net(num_inputs: int, num_outputs: int) -> nn.Sequential:
    """Book 3.3/3.7: ``flatten`` then ``linear``; weight from N(0, 0.01), bias 0."""
    net = nn.Sequential(OrderedDict([
        ("flatten", nn.Flatten()),  # a no-op on (n, d) features; (n, C, H, W) images -> (n, C*H*W)
        ("linear", nn.Linear(num_inputs, num_outputs)),
    ]))
    nn.init.normal_(net.linear.weight, mean=0.0, std=0.01)
    nn.init.constant_(net.linear.bias, val=0.0)
    return net


def mlp_net(num_inputs: int, num_outputs: int, hidden: Sequence[int], activation: str) -> nn.Sequential:
    """Book 3.10: flatten, (linear, activation) per hidden size, linear; all parameters N(0, 0.01)."""
    layers: list[tuple[str, nn.Module]] = [("flatten", nn.Flatten())]
    width = num_inputs
    for i, size in enumerate(hidden, 1):
        layers += [(f"hidden{i}", nn.Linear(width, size)), (f"{activation}{i}", ACTIVATIONS[activation]())]
        width = size
    layers.append(("output", nn.Linear(width, num_outputs)))
    net = nn.Sequential(OrderedDict(layers))
    for param in net.parameters():
        nn.init.normal_(param, mean=0.0, std=0.01)
    return net


class MSELoss(nn.Module):
    """Per-example mean squared error: ``nn.MSELoss(reduction='none')``, mean over outputs."""

    label_kind, input_kind = "real", "values"  # compatibility declarations (minidl.compat)

    def __init__(self) -> None:
        super().__init__()
        self.loss = nn.MSELoss(reduction="none")

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``(n, k)`` predictions and labels of ``n * k`` values -> ``(n,)`` losses."""
        per_value = self.loss(y_hat, y.reshape(y_hat.shape).to(y_hat.dtype))  # (n, k)
        return per_value.reshape(len(y_hat), -1).mean(dim=1)  # (n,)


class CrossEntropyLoss(nn.Module):
    """Per-example softmax cross-entropy: ``nn.CrossEntropyLoss(reduction='none')``."""

    label_kind, input_kind = "class", "logits"  # compatibility declarations (minidl.compat)

    def __init__(self) -> None:
        super().__init__()
        self.loss = nn.CrossEntropyLoss(reduction="none")

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``(n, classes)`` scores and ``n`` class indices -> ``(n,)`` losses."""
        return self.loss(y_hat, y.reshape(-1).long())


class SyntheticLinearLoader(TorchData):
    """Book 3.3's data: ``TensorDataset(features, labels)`` served by a ``DataLoader``.

    The ``synthetic-linear`` dataset's draws and checks (the same data for the same
    seed), served through ``torch.utils.data`` instead of tensors.
    """

    label_kind = "real"  # compatibility declaration (minidl.compat)

    def __init__(self, num_examples: int, num_inputs: int, true_w: Sequence[float],
                 true_b: float, noise_std: float, num_test: int = 0) -> None:
        drawn = SyntheticLinear(num_examples, num_inputs, true_w, true_b, noise_std, num_test,
                                component="dataset 'torch-synthetic-linear'")
        self.true_w, self.true_b = drawn.true_w, drawn.true_b
        self.num_inputs, self.num_outputs = drawn.num_inputs, drawn.num_outputs
        train, *test = (torch_data.TensorDataset(*drawn.tensors(split)) for split in drawn.splits)
        super().__init__(train, *test)

    @property
    def true_params(self) -> dict[str, Any]:
        """The parameters the data was drawn from, by the ``linear`` model's names."""
        return {"linear.weight": self.true_w, "linear.bias": self.true_b}
