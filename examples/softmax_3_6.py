"""Book section 3.6, softmax regression from scratch, retold on minidl.

First the book's own code (W, b, softmax, cross_entropy, train_ch3), then the same
run from minidl-classify's registered components, as ``minidl train`` builds it.
The data is Fashion-MNIST when $MINIDL_DATA holds its IDX files, otherwise the
offline ``shapes`` set (28x28 images too, so the code is the same).

    python examples/softmax_3_6.py [--epochs 5]
"""

from __future__ import annotations

import argparse
import os

import torch
from torch.utils.data import DataLoader, TensorDataset

import minidl
from minidl.config import ComponentConfig, RunConfig, TrainSettings
from minidl.d2l import cross_entropy, evaluate_accuracy, softmax, train_ch3
from minidl.errors import MinidlError

batch_size, lr = 256, 0.1  # the book's


def choose_dataset(registry: minidl.Registry) -> tuple[str, object]:
    """Fashion-MNIST from $MINIDL_DATA when its files are there, else ``shapes``."""
    if os.environ.get("MINIDL_DATA"):
        try:
            return "fashion-mnist", registry.build("dataset", "fashion-mnist")
        except MinidlError as exc:
            print(f"note: {exc}; using shapes")
    return "shapes", registry.build("dataset", "shapes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    num_epochs = parser.parse_args().epochs
    torch.manual_seed(0)
    plugins = minidl.load_plugins()
    name, data = choose_dataset(plugins.registry)
    train_iter = DataLoader(TensorDataset(*data.tensors("train")), batch_size=batch_size, shuffle=True)
    test_iter = DataLoader(TensorDataset(*data.tensors("test")), batch_size=batch_size)
    print(f"3.6 on {name}: {len(train_iter.dataset)} training and {len(test_iter.dataset)} test images")

    # 3.6.2-3.6.7, as in the book
    num_inputs, num_outputs = 784, 10
    W = torch.normal(0, 0.01, (num_inputs, num_outputs), requires_grad=True)
    b = torch.zeros(num_outputs, requires_grad=True)

    def net(X: torch.Tensor) -> torch.Tensor:
        return softmax(torch.mm(X.view((-1, num_inputs)), W) + b)

    print(f"untrained test acc {evaluate_accuracy(test_iter, net):.3f}")  # about 0.1
    train_ch3(net, train_iter, test_iter, cross_entropy, num_epochs, batch_size, [W, b], lr)

    # 3.6.8: predict
    X, y = next(iter(test_iter))
    labels = data.text_labels
    pairs = [f"{labels[t]}/{labels[p]}" for t, p in zip(y[:6].tolist(), net(X[:6]).argmax(dim=1).tolist())]
    print("true/predicted:", ", ".join(pairs))

    # The same run from registered components: minidl train --dataset NAME
    # --model softmax-regression --loss softmax-cross-entropy --lr 0.1 --batch-size 256 --metric accuracy
    print("minidl's Trainer (loss and accuracy over each whole split after the epoch):")
    config = RunConfig(dataset=ComponentConfig(name), model=ComponentConfig("softmax-regression"),
                       loss=ComponentConfig("softmax-cross-entropy"),
                       optimizer=ComponentConfig("sgd", {"lr": lr}),
                       train=TrainSettings(epochs=num_epochs, batch_size=batch_size, metrics=["accuracy"]))
    minidl.build(config, plugins, verbose=True).fit()


if __name__ == "__main__":
    main()
