"""d2l section 3.12, weight decay, retold on minidl.

Run: python examples/weight_decay_3_12.py [-o losses.png] [--lambd 0 3] [--epochs 100]

High-dimensional linear regression (200 inputs, 20 training examples: the
``high-dim-linear`` dataset of minidl-concise) with and without the L2 penalty, which
the ``l2-penalty`` callback adds to the gradient of the weights before each sgd step;
batch size 1 and lr 0.003 as in the book. Like the book's ``init_params``, the weights
start from N(0, 1) (``--init linreg`` keeps linreg's N(0, 0.01)), which makes
overfitting without the penalty dramatic.
"""

from __future__ import annotations

import argparse
from typing import Any

import minidl
from minidl.config import ComponentConfig


def fit(lambd: float, epochs: int, seed: int, book_init: bool) -> tuple[Any, minidl.History]:
    """Train linreg with sgd and the L2 penalty ``lambd``, as the book's ``fit_and_plot``."""
    config = minidl.RunConfig()
    config.dataset = ComponentConfig("high-dim-linear")
    config.optimizer.options["lr"] = 0.003
    config.train.epochs, config.train.batch_size, config.train.seed = epochs, 1, seed
    config.callbacks = {"l2-penalty": {"lambd": lambd}}
    if book_init:
        config.model.options["init_std"] = 1.0  # the book: w = torch.randn((num_inputs, 1))
    run = minidl.build(config)
    return run, run.fit()


def plot(histories: dict[float, minidl.History], path: str) -> None:
    """One semilogy panel per lambda: train loss, and test loss dotted."""
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, len(histories), figsize=(3.5 * len(histories), 2.8), squeeze=False)
    for ax, (lambd, history) in zip(axes[0], histories.items()):
        ax.semilogy(history["epoch"], history["loss"], label="train")
        ax.semilogy(history["epoch"], history["test_loss"], linestyle=":", label="test")
        ax.set(title=f"lambd = {lambd:g}", xlabel="epochs", ylabel="loss")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> None:
    """Fit with each lambda; print the final losses and the L2 norm of w."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", metavar="FILE", help="save the semilogy figure to FILE")
    parser.add_argument("--lambd", type=float, nargs="+", default=[0.0, 3.0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", choices=("book", "linreg"), default="book")
    args = parser.parse_args(argv)
    histories = {}
    for lambd in args.lambd:
        run, history = fit(lambd, args.epochs, args.seed, args.init == "book")
        histories[lambd] = history
        print(f"lambd {lambd:g}: train loss {history[-1]['loss']:.6g}, "
              f"test loss {history[-1]['test_loss']:.6g}, L2 norm of w {run.model.w.norm().item():.6g}")
    if args.output:
        plot(histories, args.output)
        print(f"figure written to {args.output}")


if __name__ == "__main__":
    main()
