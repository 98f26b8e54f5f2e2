"""The notebook's tensor functions, the ones the components are built on.

Sections 3.2 and 3.6 of the book: synthetic data and its minibatches, the linear model,
the squared loss, minibatch SGD, softmax, cross-entropy and counting correct
predictions, plus the label check the classification components share. Under the
book's names and signatures; :mod:`minidl.d2l` re-exports them, so the book's code and
minidl's components call the very same functions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import cast

import torch

from minidl.errors import MinidlError

__all__ = [
    "check_labels",
    "count_correct",
    "cross_entropy",
    "data_iter",
    "linreg",
    "sgd",
    "softmax",
    "squared_loss",
    "synthetic_data",
]


# -- 3.2: linear regression -------------------------------------------------------------
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
    if isinstance(batch_size, bool) or not hasattr(batch_size, "__index__") or batch_size < 1:
        raise MinidlError(f"data_iter: batch_size must be an integer >= 1, got {batch_size!r}")
    num_examples = len(features)
    if len(labels) != num_examples:
        raise MinidlError(f"data_iter: features have {num_examples} examples but labels {len(labels)}; "
                          f"they must be the same examples")
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
    if not batch_size > 0:  # 0 divides by zero, a negative one climbs the loss
        raise MinidlError(f"sgd: batch_size must be a positive number (the gradient is divided by it), "
                          f"got {batch_size!r}")
    alpha = lr / batch_size
    for param in params:
        # through .data, as the notebook does: a third of the cost of a no_grad block, which
        # is most of a small model's update; the step comes after backward, graph freed
        param.data.sub_(cast(torch.Tensor, param.grad), alpha=alpha)


# -- 3.6: softmax regression ------------------------------------------------------------
def softmax(X: torch.Tensor) -> torch.Tensor:
    """Row-wise softmax of ``X`` (n, q): ``exp(X) / exp(X).sum(dim=1)``."""
    X_exp = (X - X.amax(dim=1, keepdim=True)).exp()  # the shift avoids overflow, changes nothing
    return X_exp / X_exp.sum(dim=1, keepdim=True)  # (n, q)


def cross_entropy(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example cross-entropy ``-log(y_hat[i, y[i]])`` of probabilities ``y_hat``: (n, 1)."""
    return -torch.log(y_hat.gather(1, y.view(-1, 1)))


def count_correct(y_hat: torch.Tensor, y: torch.Tensor) -> int:
    """How many predictions are right: ``argmax(y_hat, dim=1) == y`` for 2-D ``y_hat``.

    A 1-D (or one-column) ``y_hat`` is taken to hold predicted labels already.
    """
    predicted = y_hat.argmax(dim=1) if y_hat.dim() == 2 and y_hat.shape[1] > 1 else y_hat.reshape(-1)
    return int((predicted == y.reshape(-1)).sum().item())


def check_labels(y: torch.Tensor, num_classes: int, component: str) -> None:
    """Raise :class:`MinidlError` naming ``component`` unless ``y`` holds integers in
    ``0..num_classes-1``."""
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise MinidlError(f"{component} needs integer class labels, got {y.dtype} labels "
                          f"(is the dataset a classification one?)")
    if y.numel() == 0:
        return
    low, high = (int(v) for v in torch.aminmax(y))
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise MinidlError(f"{component}: label {bad} is out of range for {num_classes} classes; "
                          f"labels must be integers in 0..{num_classes - 1}")
