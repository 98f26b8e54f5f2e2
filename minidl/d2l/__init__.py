"""The book's helpers under the book's names and signatures.

Code written for "Dive into Deep Learning" (PyTorch edition) runs after changing its
import line to ``import minidl.d2l as d2l``. These are the very functions minidl's
components use (:mod:`minidl.functional`, :mod:`minidl.metrics`), not copies; this
package sits on top of the framework and its plugins, and nothing below imports it.
Plotting needs the ``plot`` extra (matplotlib); ``plt`` and the plotting helpers raise
an ``ImportError`` naming it when it is missing. Helpers built on a first-party plugin
(Fashion-MNIST, ``read_idx``, chapter 7's data) import it when called.
"""

from __future__ import annotations

from typing import Any

from minidl.d2l import cnn, rnn
from minidl.d2l.classification import (
    Accuracy,
    FlattenLayer,
    cross_entropy,
    evaluate_accuracy,
    softmax,
)
from minidl.d2l.cnn import FROM_VISION, corr2d, train_ch5
from minidl.d2l.fashion_mnist import (
    get_fashion_mnist_labels,
    load_data_fashion_mnist,
    show_fashion_mnist,
)
from minidl.d2l.lazy import first_party
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
from minidl.d2l.rnn import (
    FROM_SEQUENCE,
    data_iter_consecutive,
    data_iter_random,
    grad_clipping,
    load_data_jay_lyrics,
    predict_rnn,
    predict_rnn_pytorch,
    train_and_predict_rnn,
    train_and_predict_rnn_pytorch,
)
from minidl.d2l.training import train_ch3

# Other chapters' helpers (d2l.cnn, d2l.rnn, ...) add their imports above and their
# names below, one block each.

__all__ = [
    "Accuracy",
    "FlattenLayer",
    "GlobalAvgPool2d",
    "RNNModel",
    "Residual",
    "corr2d",
    "cross_entropy",
    "data_iter",
    "data_iter_consecutive",
    "data_iter_random",
    "evaluate_accuracy",
    "get_data_ch7",
    "get_fashion_mnist_labels",
    "grad_clipping",
    "linreg",
    "load_data_fashion_mnist",
    "load_data_jay_lyrics",
    "one_hot",
    "plt",
    "predict_rnn",
    "predict_rnn_pytorch",
    "read_idx",
    "resnet18",
    "resnet_block",
    "semilogy",
    "set_figsize",
    "sgd",
    "show_fashion_mnist",
    "show_trace_2d",
    "softmax",
    "squared_loss",
    "synthetic_data",
    "to_onehot",
    "train_2d",
    "train_and_predict_rnn",
    "train_and_predict_rnn_pytorch",
    "train_ch3",
    "train_ch5",
    "train_ch7",
    "train_pytorch_ch7",
    "use_svg_display",
]


def __getattr__(name: str) -> Any:
    if name == "plt":  # imported on first use, so minidl.d2l works without matplotlib
        return pyplot()
    if name == "read_idx":  # the classify plugin's IDX reader, imported on first use
        return first_party("minidl_classify.idx", "read_idx (the IDX file reader)").read_idx
    if name in FROM_VISION:  # chapter 5's layers, from the vision plugin on first use
        return getattr(cnn, name)
    if name in FROM_SEQUENCE:  # chapter 6's model and one-hot helpers, from the sequence plugin
        return getattr(rnn, name)
    raise AttributeError(f"module 'minidl.d2l' has no attribute {name!r}")
