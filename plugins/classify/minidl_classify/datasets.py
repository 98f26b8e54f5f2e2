"""The chapter's datasets: Fashion-MNIST from local IDX files, and ``shapes``, generated."""

from __future__ import annotations

import os

from minidl.errors import OptionError
from minidl_classify.components import ClassificationData
from minidl_classify.fashion_mnist import FASHION_MNIST_LABELS, read_fashion_mnist
from minidl_classify.shapes import SHAPES_LABELS, make_shapes


def fashion_mnist_data(root: str | os.PathLike[str] | None) -> ClassificationData:
    """Fashion-MNIST's 60,000 training and 10,000 test images, (N, 1, 28, 28) in [0, 1]."""
    splits = read_fashion_mnist(root)
    return ClassificationData("dataset 'fashion-mnist'", splits["train"], splits["test"], FASHION_MNIST_LABELS)


def shapes_data(num_examples: int, num_test: int, jitter: float, noise: float) -> ClassificationData:
    """``num_examples`` + ``num_test`` shape images drawn from torch's RNG."""
    if num_examples < 1 or num_test < 0:
        raise OptionError(f"dataset 'shapes': num_examples must be >= 1 and num_test >= 0, "
                          f"got {num_examples} and {num_test}")
    if not 0 <= jitter <= 10 or not 0 <= noise <= 1:
        raise OptionError(f"dataset 'shapes': jitter must be in [0, 10] pixels and noise in [0, 1], "
                          f"got {jitter} and {noise}")
    train = make_shapes(num_examples, jitter, noise)  # each split's classes balanced
    test = make_shapes(num_test, jitter, noise) if num_test else None
    return ClassificationData("dataset 'shapes'", train, test, SHAPES_LABELS)
