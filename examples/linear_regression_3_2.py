"""d2l section 3.2, linear regression from scratch, retold on minidl.

Run: python examples/linear_regression_3_2.py [--plot scatter.png]

The notebook's pieces are minidl's defaults: the book's own functions live in
``minidl.d2l``, and the Trainer runs the loop the notebook writes by hand.
"""

from __future__ import annotations

import argparse

import minidl
import minidl.d2l as d2l


def from_scratch(true_w: list[float], true_b: float) -> None:
    """The notebook's loop, written with the book's helpers (only the import changed)."""
    import torch

    features, labels = d2l.synthetic_data(true_w, true_b, 1000)
    w = torch.normal(0, 0.01, (len(true_w), 1), requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    lr, num_epochs, batch_size = 0.03, 3, 10
    for epoch in range(num_epochs):
        for X, y in d2l.data_iter(batch_size, features, labels):
            loss = d2l.squared_loss(d2l.linreg(X, w, b), y).sum()
            loss.backward()
            d2l.sgd([w, b], lr, batch_size)
            w.grad.zero_()
            b.grad.zero_()
        with torch.no_grad():
            train_l = d2l.squared_loss(d2l.linreg(features, w, b), labels)
        print(f"epoch {epoch + 1}, loss {train_l.mean().item():f}")


def with_minidl(plot: str | None) -> None:
    """The same training as one call: the default configuration is the notebook's."""
    config = minidl.RunConfig()  # synthetic-linear, linreg, squared, sgd; lr 0.03, 3 epochs, batch 10
    run = minidl.build(config, verbose=True)
    run.fit()
    learned = run.parameters()
    print("w:", [round(v, 4) for v in learned["w"]], " true:", run.dataset.true_w)
    print("b:", round(learned["b"], 4), " true:", run.dataset.true_b)
    if plot:
        from minidl.plots import plot_data

        plot_data(run.dataset, plot, feature=1)
        print(f"scatter plot written to {plot}")


def main() -> None:
    """Run both versions."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plot", metavar="FILE", help="also draw the notebook's scatter plot to FILE")
    args = parser.parse_args()
    minidl.seed_everything(0)
    print("-- the book's code, with `import minidl.d2l as d2l`")
    from_scratch([2, -3.4], 4.2)
    print("-- minidl's Trainer with the default plugins")
    with_minidl(args.plot)


if __name__ == "__main__":
    main()
