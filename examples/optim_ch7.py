"""Book chapter 7, optimisation algorithms, on minidl.

7.2 gradient descent on a 2-D toy function; 7.3-7.8 minibatch SGD, momentum, AdaGrad,
RMSProp, AdaDelta and Adam on the airfoil data: each written from scratch as the book
writes it (``optimizer_fn(params, states, hyperparams)``, trained by ``train_ch7``) and
the ``torch.optim`` one (``train_pytorch_ch7``). Both helpers run on minidl's Trainer.

    python examples/optim_ch7.py [PATH/airfoil_self_noise.dat] [--epochs 2] [--figures DIR]

Without PATH the data is read from $MINIDL_DATA/airfoil_self_noise.dat.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from minidl.d2l.linear import set_figsize
from minidl.d2l.optimization import get_data_ch7, show_trace_2d, train_2d, train_ch7, train_pytorch_ch7
from minidl.d2l.plotting import pyplot


# -- the book's optimizers (7.3-7.8), unchanged ------------------------------------------
def sgd(params, states, hyperparams):
    for p in params:
        p.data -= hyperparams["lr"] * p.grad.data


def sgd_momentum(params, states, hyperparams):
    for p, v in zip(params, states):
        v.data = hyperparams["momentum"] * v.data + hyperparams["lr"] * p.grad.data
        p.data -= v.data


def adagrad(params, states, hyperparams):
    eps = 1e-6
    for p, s in zip(params, states):
        s.data += p.grad.data**2
        p.data -= hyperparams["lr"] * p.grad.data / torch.sqrt(s + eps)


def rmsprop(params, states, hyperparams):
    gamma, eps = hyperparams["gamma"], 1e-6
    for p, s in zip(params, states):
        s.data = gamma * s.data + (1 - gamma) * (p.grad.data) ** 2
        p.data -= hyperparams["lr"] * p.grad.data / torch.sqrt(s + eps)


def adadelta(params, states, hyperparams):
    rho, eps = hyperparams["rho"], 1e-5
    for p, (s, delta) in zip(params, states):
        s[:] = rho * s + (1 - rho) * (p.grad.data**2)
        g = p.grad.data * torch.sqrt((delta + eps) / (s + eps))
        p.data -= g
        delta[:] = rho * delta + (1 - rho) * g * g


def adam(params, states, hyperparams):
    beta1, beta2, eps = 0.9, 0.999, 1e-6
    for p, (v, s) in zip(params, states):
        v[:] = beta1 * v + (1 - beta1) * p.grad.data
        s[:] = beta2 * s + (1 - beta2) * p.grad.data**2
        v_bias_corr = v / (1 - beta1 ** hyperparams["t"])
        s_bias_corr = s / (1 - beta2 ** hyperparams["t"])
        p.data -= hyperparams["lr"] * v_bias_corr / (torch.sqrt(s_bias_corr) + eps)
    hyperparams["t"] += 1


def zeros_like_params(num_features: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One state tensor per parameter: ``(w, b)`` shaped ``(d, 1)`` and ``(1,)``."""
    return torch.zeros((num_features, 1)), torch.zeros(1)


def toy_2d() -> None:
    """7.2/7.4: gradient descent on f(x) = 0.1 x1^2 + 2 x2^2, learning rate 0.4."""
    eta = 0.4

    def f_2d(x1, x2):
        return 0.1 * x1**2 + 2 * x2**2

    def gd_2d(x1, x2, s1, s2):
        return (x1 - eta * 0.2 * x1, x2 - eta * 4 * x2, 0, 0)

    show_trace_2d(f_2d, train_2d(gd_2d))


def chapter_7(features: torch.Tensor, labels: torch.Tensor, epochs: int) -> dict:
    """Each section's from-scratch run, then its torch.optim run; returns what to draw."""
    d = features.shape[1]

    def pairs() -> list[tuple[torch.Tensor, torch.Tensor]]:  # AdaDelta's and Adam's two states
        return list(zip(zeros_like_params(d), zeros_like_params(d)))

    runs = {
        "7.3 sgd": lambda: train_ch7(sgd, None, {"lr": 0.05}, features, labels, 10, epochs),
        "7.3 torch SGD": lambda: train_pytorch_ch7(torch.optim.SGD, {"lr": 0.05}, features, labels, 10, epochs),
        "7.4 momentum": lambda: train_ch7(sgd_momentum, zeros_like_params(d), {"lr": 0.004, "momentum": 0.9},
                                          features, labels, 10, epochs),
        "7.4 torch SGD momentum": lambda: train_pytorch_ch7(torch.optim.SGD, {"lr": 0.004, "momentum": 0.9},
                                                            features, labels, 10, epochs),
        "7.5 adagrad": lambda: train_ch7(adagrad, zeros_like_params(d), {"lr": 0.1}, features, labels, 10, epochs),
        "7.6 rmsprop": lambda: train_ch7(rmsprop, zeros_like_params(d), {"lr": 0.01, "gamma": 0.9},
                                         features, labels, 10, epochs),
        "7.7 adadelta": lambda: train_ch7(adadelta, pairs(), {"rho": 0.9}, features, labels, 10, epochs),
        "7.8 adam": lambda: train_ch7(adam, pairs(), {"lr": 0.01, "t": 1}, features, labels, 10, epochs),
        "7.8 torch Adam": lambda: train_pytorch_ch7(torch.optim.Adam, {"lr": 0.01}, features, labels, 10, epochs),
    }
    plt = pyplot()
    results = {}
    for title, run in runs.items():
        print(title, end=": ")
        plt.figure()  # a figure per run, as each notebook cell has
        results[title] = run()
        plt.title(title, fontsize="small")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", default=None,
                        help="airfoil_self_noise.dat (default: $MINIDL_DATA/airfoil_self_noise.dat)")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per run (the book's 2)")
    parser.add_argument("--figures", type=Path, default=None, help="save every figure in this folder")
    args = parser.parse_args()
    torch.manual_seed(0)
    set_figsize()  # the book's 3.5 x 2.5 inches, for every figure from here on
    plt = pyplot()
    toy_2d()
    features, labels = get_data_ch7(args.path)
    chapter_7(features, labels, args.epochs)
    if args.figures:
        args.figures.mkdir(parents=True, exist_ok=True)
        for number in plt.get_fignums():
            plt.figure(number).savefig(args.figures / f"ch7_{number:02d}.png", dpi=150, bbox_inches="tight")
        print(f"{len(plt.get_fignums())} figures saved in {args.figures}")


if __name__ == "__main__":
    main()
