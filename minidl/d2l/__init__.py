"""The book's helpers under the book's names and signatures.

Code written for "Dive into Deep Learning" (PyTorch edition) runs after changing its
import line to ``import minidl.d2l as d2l``. These are the very functions minidl's
plugins use, not copies. Plotting needs the ``plot`` extra (matplotlib); ``plt`` and the
plotting helpers raise an ``ImportError`` naming it when it is missing.
"""

from __future__ import annotations

from typing import Any

from minidl.d2l.classification import (
    Accuracy,
    FlattenLayer,
    cross_entropy,
    evaluate_accuracy,
    get_fashion_mnist_labels,
    load_data_fashion_mnist,
    show_fashion_mnist,
    softmax,
    train_ch3,
)
from minidl.d2l.idx import read_idx
from minidl.d2l.linear import (
    data_iter,
    linreg,
    semilogy,
    set_figsize,
    sgd,
    squared_loss,
    synthetic_data,
    use_svg_display,
)
from minidl.d2l.optimization import (
    get_data_ch7,
    show_trace_2d,
    train_2d,
    train_ch7,
    train_pytorch_ch7,
)
from minidl.d2l.plotting import pyplot

__all__ = [
    "Accuracy",
    "FlattenLayer",
    "cross_entropy",
    "data_iter",
    "evaluate_accuracy",
    "get_data_ch7",
    "get_fashion_mnist_labels",
    "linreg",
    "load_data_fashion_mnist",
    "plt",
    "read_idx",
    "semilogy",
    "set_figsize",
    "sgd",
    "show_fashion_mnist",
    "show_trace_2d",
    "softmax",
    "squared_loss",
    "synthetic_data",
    "train_2d",
    "train_ch3",
    "train_ch7",
    "train_pytorch_ch7",
    "use_svg_display",
]


def __getattr__(name: str) -> Any:
    if name == "plt":  # imported on first use, so minidl.d2l works without matplotlib
        return pyplot()
    raise AttributeError(f"module 'minidl.d2l' has no attribute {name!r}")
