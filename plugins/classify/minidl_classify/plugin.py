"""Registers the classification chapter's components (book sections 3.4-3.10).

Datasets ``fashion-mnist`` and ``shapes``, models ``softmax-regression`` and
``mlp-scratch``, the loss ``softmax-cross-entropy`` and the metric ``accuracy``.
Factories import torch only when called, so ``minidl list`` stays instant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from minidl import hookimpl
from minidl.default_plugins.notebook import MAX_INPUTS
from minidl.hookspecs import Register
from minidl.options import Ge, Le
from minidl_classify import MAX_SIDE

MAX_WIDTH = 10**6  # the most classes and hidden units
Inputs = Annotated[int, Ge(1), Le(MAX_INPUTS)]
Width = Annotated[int, Ge(1), Le(MAX_WIDTH)]


def fashion_mnist(root: str | None = None, resize: Annotated[int, Ge(1), Le(MAX_SIDE)] | None = None) -> Any:
    """Fashion-MNIST read from local IDX files (60,000 train, 10,000 test, 10 classes).

    Args:
        root: folder of the IDX files (default: $MINIDL_DATA, else ~/Datasets/FashionMNIST); "shapes": offline stand-in
        resize: side in pixels to resize the 28x28 images to (bilinear), e.g. 224 (none: 28)
    """
    from minidl_classify.datasets import fashion_mnist_data

    return fashion_mnist_data(root, resize)


def shapes(
    num_examples: Annotated[int, Ge(1), Le(10**7)] = 6000,
    num_test: Annotated[int, Ge(0), Le(10**7)] = 1000,
    jitter: Annotated[float, Ge(0), Le(10)] = 2.5,
    noise: Annotated[float, Ge(0), Le(1)] = 0.2,
    resize: Annotated[int, Ge(1), Le(MAX_SIDE)] | None = None,
) -> Any:
    """Ten shapes drawn on 28x28 images, generated from the seed (Fashion-MNIST's format, offline).

    Args:
        num_examples: training images
        num_test: held-out test images (0: no test split)
        jitter: largest shift of a shape's centre from the image centre, in pixels
        noise: standard deviation of the Gaussian pixel noise
        resize: side in pixels to resize the 28x28 images to (bilinear), e.g. 224 (none: 28)
    """
    from minidl_classify.datasets import shapes_data

    return shapes_data(num_examples, num_test, jitter, noise, resize)


def _fashion_mnist_bytes(options: Mapping[str, Any]) -> int:
    from minidl_classify.datasets import fashion_mnist_bytes

    return fashion_mnist_bytes(options)


def _shapes_bytes(options: Mapping[str, Any]) -> int:
    from minidl_classify.datasets import shapes_bytes

    return shapes_bytes(options)


fashion_mnist.estimate_bytes = _fashion_mnist_bytes  # type: ignore[attr-defined]
shapes.estimate_bytes = _shapes_bytes  # type: ignore[attr-defined]


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def softmax_regression(num_inputs: Inputs | None = None, num_outputs: Width | None = None) -> Any:
    """Softmax regression from scratch, softmax(X @ W + b); W from N(0, 0.01), b = 0.

    Args:
        num_inputs: features per example (default: the dataset's, else 784)
        num_outputs: classes (default: the dataset's, else 10)
    """
    from minidl_classify.components import BOOK_INPUTS, BOOK_OUTPUTS, SoftmaxRegression

    return SoftmaxRegression(_or(num_inputs, BOOK_INPUTS), _or(num_outputs, BOOK_OUTPUTS))


def mlp_scratch(num_inputs: Inputs | None = None, num_outputs: Width | None = None, num_hiddens: Width = 256) -> Any:
    """Multilayer perceptron from scratch, relu(X @ W1 + b1) @ W2 + b2, giving logits.

    Args:
        num_inputs: features per example (default: the dataset's, else 784)
        num_outputs: classes (default: the dataset's, else 10)
        num_hiddens: hidden units
    """
    from minidl_classify.components import BOOK_INPUTS, BOOK_OUTPUTS, MLPScratch

    return MLPScratch(_or(num_inputs, BOOK_INPUTS), _or(num_outputs, BOOK_OUTPUTS), num_hiddens)


def softmax_cross_entropy(from_logits: bool = False) -> Any:
    """The book's cross-entropy, -log(y_hat[y]), per example, on probabilities.

    Args:
        from_logits: the model outputs logits (mlp-scratch): apply softmax inside
    """
    from minidl_classify.components import SoftmaxCrossEntropy

    return SoftmaxCrossEntropy(from_logits)


def accuracy() -> Any:
    """Classification accuracy: share of examples whose argmax is the label."""
    from minidl.metrics import Accuracy

    return Accuracy()


@hookimpl
def register_datasets(register: Register) -> None:
    """Register ``fashion-mnist`` and ``shapes``."""
    register("fashion-mnist", fashion_mnist)
    register("shapes", shapes)


@hookimpl
def register_models(register: Register) -> None:
    """Register ``softmax-regression`` and ``mlp-scratch``."""
    register("softmax-regression", softmax_regression)
    register("mlp-scratch", mlp_scratch)


@hookimpl
def register_losses(register: Register) -> None:
    """Register ``softmax-cross-entropy``."""
    register("softmax-cross-entropy", softmax_cross_entropy)


@hookimpl
def register_metrics(register: Register) -> None:
    """Register ``accuracy``."""
    register("accuracy", accuracy)
