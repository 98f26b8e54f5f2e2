"""Book section 3.3, "linear regression, the concise way", on minidl.

The book's data, ``TensorDataset`` + ``DataLoader``, ``nn.Linear`` with its init,
``nn.MSELoss`` and ``optim.SGD(lr=0.03)``, trained by minidl's Trainer; then the same
run by component names, as ``minidl train --model linear --loss mse --optimizer torch-sgd``.

    python examples/concise_3_3.py [--epochs 3]
"""

from __future__ import annotations

import argparse
from collections import OrderedDict

import torch
from torch import nn
from torch.utils import data as Data

import minidl
from minidl import d2l
from minidl.config import ComponentConfig, RunConfig, TrainSettings


def per_example_mse(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``nn.MSELoss`` per example: the Trainer back-propagates their mean, the book's loss."""
    return nn.functional.mse_loss(y_hat, y.view(y_hat.shape), reduction="none").mean(dim=1)


def by_hand(epochs: int) -> None:
    """3.3.1-3.3.7: the book's objects, handed to minidl's Trainer."""
    torch.manual_seed(0)
    num_inputs, true_w, true_b = 2, [2, -3.4], 4.2
    features, labels = d2l.synthetic_data(true_w, true_b, 1000)  # 3.3.1
    dataset = Data.TensorDataset(features, labels)  # 3.3.2
    data_iter = Data.DataLoader(dataset, batch_size=10, shuffle=True)
    net = nn.Sequential(OrderedDict([("linear", nn.Linear(num_inputs, 1))]))  # 3.3.3
    nn.init.normal_(net.linear.weight, mean=0, std=0.01)  # 3.3.4
    nn.init.constant_(net.linear.bias, val=0)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.03)  # 3.3.5-3.3.6
    trainer = minidl.Trainer(max_epochs=epochs, batch_size=10, seed=0, verbose=True)  # 3.3.7
    trainer.fit(net, minidl.as_dataset(data_iter), per_example_mse, optimizer)
    print(true_w, net.linear.weight.data)
    print(true_b, net.linear.bias.data)


def by_name(epochs: int) -> None:
    """The same run from the registry: the minidl-concise plugin's components."""
    config = RunConfig(dataset=ComponentConfig("torch-synthetic-linear"),
                       model=ComponentConfig("linear"), loss=ComponentConfig("mse"),
                       optimizer=ComponentConfig("torch-sgd", {"lr": 0.03}),
                       train=TrainSettings(epochs=epochs, batch_size=10, seed=0))
    run = minidl.build(config, verbose=True)
    run.fit()
    print(run.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (the book's 3)")
    args = parser.parse_args()
    by_hand(args.epochs)
    by_name(args.epochs)


if __name__ == "__main__":
    main()
