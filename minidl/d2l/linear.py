"""Section 3.2's helpers: data, linear regression, squared loss, SGD, plotting setup."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import cast

import torch

from minidl.d2l.plotting import pyplot as _pyplot

__all__ = [
    "data_iter",
    "linreg",
    "semilogy",
    "set_figsize",
    "sgd",
    "squared_loss",
    "synthetic_data",
    "use_svg_display",
]


def synthetic_data(
    w: Sequence[float] | torch.Tensor,
    b: float,
    num_examples: int,
    *,
    noise_std: float = 0.01,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate ``y = Xw + b + noise``: features ``(num_examples, len(w))``, labels
    ``(num_examples, 1)``, noise drawn from N(0, noise_std)."""
    w = torch.as_tensor(w, dtype=torch.float32)
    X = torch.normal(0.0, 1.0, (num_examples, len(w)), generator=generator)  # (n, d)
    y = X @ w + b  # (n,)
    y += torch.normal(0.0, noise_std, y.shape, generator=generator)
    return X, y.reshape((-1, 1))


def data_iter(
    batch_size: int,
    features: torch.Tensor,
    labels: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield shuffled minibatches ``(X, y)``; the last one may be short.

    As the book's, but the order is one ``torch.randperm`` (an int64 tensor, drawn from
    ``generator``) instead of a Python list of indices, which costs 5x the memory.
    """
    num_examples = len(features)
    indices = torch.randperm(num_examples, generator=generator).to(features.device)
    for i in range(0, num_examples, batch_size):
        j = indices[i : i + batch_size]  # the last batch may be short
        yield features.index_select(0, j), labels.index_select(0, j)


def linreg(X: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """The linear regression model ``X @ w + b``."""
    return torch.mm(X, w) + b


def squared_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example squared loss ``(y_hat - y)**2 / 2``, with ``y`` reshaped to ``y_hat``."""
    return (y_hat - y.view_as(y_hat)) ** 2 / 2  # the book's y.view(y_hat.size()), in one call


def sgd(params: Sequence[torch.Tensor], lr: float, batch_size: int) -> None:
    """Minibatch SGD: ``param -= lr * param.grad / batch_size`` for each parameter."""
    alpha = lr / batch_size
    for param in params:
        # through .data, as the notebook does: a third of the cost of a no_grad block, which
        # is most of a small model's update; the step comes after backward, graph freed
        param.data.sub_(cast(torch.Tensor, param.grad), alpha=alpha)


def use_svg_display() -> None:
    """Show figures as SVG in a notebook (a no-op outside IPython)."""
    try:
        from matplotlib_inline.backend_inline import set_matplotlib_formats
    except ImportError:
        return
    set_matplotlib_formats("svg")


def set_figsize(figsize: tuple[float, float] = (3.5, 2.5)) -> None:
    """Set the default figure size (the book's 3.5 x 2.5 inches)."""
    use_svg_display()
    _pyplot().rcParams["figure.figsize"] = figsize


def semilogy(
    x_vals: Sequence[float],
    y_vals: Sequence[float],
    x_label: str,
    y_label: str,
    x2_vals: Sequence[float] | None = None,
    y2_vals: Sequence[float] | None = None,
    legend: Sequence[str] | None = None,
    figsize: tuple[float, float] = (3.5, 2.5),
) -> None:
    """Plot ``y_vals`` (and a dotted second curve) against x on a log y axis."""
    set_figsize(figsize)
    plt = _pyplot()
    plt.xlabel(x_label)
    plt.ylabel(y_label)
    plt.semilogy(x_vals, y_vals)
    if x2_vals is not None and y2_vals is not None:
        plt.semilogy(x2_vals, y2_vals, linestyle=":")
    if legend:
        plt.legend(legend)
