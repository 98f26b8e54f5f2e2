"""d2l section 3.11, underfitting and overfitting with polynomial fitting, retold on minidl.

Run: python examples/fitting_3_11.py [-o losses.png] [--epochs 100]

The data is the book's: y = 1.2x - 3.4x^2 + 5.6x^3 + 5 + noise (the ``polynomial``
dataset of the minidl-concise plugin). A linear model on the features x, x^2, x^3 fits
well; on x alone it underfits; trained on 2 examples it overfits. The book uses
``nn.MSELoss`` with lr 0.01; minidl's ``squared`` loss is half of it, hence lr 0.02.
"""

from __future__ import annotations

import argparse
from typing import Any

import minidl
from minidl.config import ComponentConfig

#: title -> options of the ``polynomial`` dataset
EXPERIMENTS: dict[str, dict[str, Any]] = {
    "third-order polynomial (normal)": {},
    "linear features (underfitting)": {"degree": 1},
    "2 training examples (overfitting)": {"num_examples": 2},
}


def fit(options: dict[str, Any], epochs: int, seed: int) -> tuple[Any, minidl.History]:
    """Train linreg with sgd on the polynomial data as the book's ``fit_and_plot``."""
    num_examples = options.get("num_examples", 100)
    config = minidl.RunConfig()
    config.dataset = ComponentConfig("polynomial", dict(options))
    config.optimizer.options["lr"] = 0.02
    config.train.epochs, config.train.seed = epochs, seed
    config.train.batch_size = min(10, num_examples)  # the book's batch size
    run = minidl.build(config)
    return run, run.fit()


def plot(histories: dict[str, minidl.History], path: str) -> None:
    """One semilogy panel per experiment: train loss, and test loss dotted."""
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, len(histories), figsize=(3.5 * len(histories), 2.8))
    for ax, (title, history) in zip(axes, histories.items()):
        ax.semilogy(history["epoch"], history["loss"], label="train")
        ax.semilogy(history["epoch"], history["test_loss"], linestyle=":", label="test")
        ax.set(title=title, xlabel="epochs", ylabel="loss")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> None:
    """Run the three experiments; print their final losses and weights."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", metavar="FILE", help="save the semilogy figure to FILE")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    histories = {}
    for title, options in EXPERIMENTS.items():
        run, history = fit(options, args.epochs, args.seed)
        histories[title] = history
        learned = run.parameters()
        print(f"{title}: final epoch: train loss {history[-1]['loss']:.6g}, "
              f"test loss {history[-1]['test_loss']:.6g}")
        print(f"  weight: {learned['w']}, bias: {learned['b']:.4f}")
    if args.output:
        plot(histories, args.output)
        print(f"figure written to {args.output}")


if __name__ == "__main__":
    main()
