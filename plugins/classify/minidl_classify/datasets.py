"""The chapter's datasets: Fashion-MNIST from local IDX files, and ``shapes``, generated.

Both serve (N, 1, 28, 28) images in [0, 1], or (N, 1, resize, resize) with ``resize``
(resized once, in chunks, when the dataset is built: the Trainer evaluates whole splits).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from minidl_classify.components import ClassificationData
from minidl_classify.fashion_mnist import FASHION_MNIST_LABELS, is_stand_in, read_fashion_mnist
from minidl_classify.resize import resize_images, resized_bytes
from minidl_classify.shapes import (
    DEFAULT_JITTER,
    DEFAULT_NOISE,
    SHAPES_LABELS,
    SIZE,
    STAND_IN_TEST,
    STAND_IN_TRAIN,
    make_shapes,
)

FASHION_TRAIN, FASHION_TEST = 60_000, 10_000  # images per split in the files
SHAPES_TEMPORARIES = 12  # (n, 28, 28) float32 arrays make_shapes holds at its peak


def _resized(split: tuple[torch.Tensor, torch.Tensor], resize: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    X, y = split
    return (X, y) if resize is None else (resize_images(X, resize), y)


def fashion_mnist_data(root: str | os.PathLike[str] | None, resize: int | None = None) -> ClassificationData:
    """Fashion-MNIST's 60,000 training and 10,000 test images, (N, 1, 28, 28) in [0, 1];
    ``root="shapes"`` (or ``$MINIDL_DATA=shapes``): the shapes stand-in instead."""
    if is_stand_in(root):
        return shapes_data(STAND_IN_TRAIN, STAND_IN_TEST, DEFAULT_JITTER, DEFAULT_NOISE, resize)
    splits = read_fashion_mnist(root)
    return ClassificationData("dataset 'fashion-mnist'", _resized(splits["train"], resize),
                              _resized(splits["test"], resize), FASHION_MNIST_LABELS)


def shapes_data(num_examples: int, num_test: int, jitter: float, noise: float,
                resize: int | None = None) -> ClassificationData:
    """``num_examples`` + ``num_test`` shape images drawn from torch's RNG (the options in
    the ranges the ``shapes`` factory declares, checked when they are parsed)."""
    train = _resized(make_shapes(num_examples, jitter, noise), resize)  # each split's classes balanced
    test = _resized(make_shapes(num_test, jitter, noise), resize) if num_test else None
    return ClassificationData("dataset 'shapes'", train, test, SHAPES_LABELS)


def fashion_mnist_bytes(options: Mapping[str, Any]) -> int:
    """Bytes fashion-mnist allocates: the uint8 file contents, float32 images and int64
    labels, plus the resized images."""
    if is_stand_in(options.get("root")):
        return shapes_bytes({"num_examples": STAND_IN_TRAIN, "num_test": STAND_IN_TEST,
                             "resize": options.get("resize")})
    n = FASHION_TRAIN + FASHION_TEST
    return n * (SIZE * SIZE * (1 + 4) + 8 + 1) + resized_bytes(n, options.get("resize"))


def shapes_bytes(options: Mapping[str, Any]) -> int:
    """Bytes shapes allocates at its peak: the drawing's temporaries for the larger split,
    both splits' float32 images and int64 labels, plus the resized images."""
    n_train, n_test = int(options["num_examples"]), int(options["num_test"])
    drawing = max(n_train, n_test) * SIZE * SIZE * 4 * SHAPES_TEMPORARIES
    kept = (n_train + n_test) * (SIZE * SIZE * 4 + 8)
    return drawing + kept + resized_bytes(n_train + n_test, options.get("resize"))
