"""Section 3.5's helpers: Fashion-MNIST's text labels, its pictures and its DataLoaders.

The files are read by the classify plugin (:mod:`minidl_classify.fashion_mnist`, the
reader of the ``fashion-mnist`` dataset), imported when first needed: ``import
minidl.d2l`` works without the plugin, and these helpers then raise an ImportError
naming it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from types import ModuleType
from typing import Any

import torch
from torch import nn
from torch.utils import data as torch_data

from minidl.d2l.lazy import first_party
from minidl.d2l.linear import use_svg_display
from minidl.d2l.plotting import pyplot

__all__ = [
    "get_fashion_mnist_labels",
    "load_data_fashion_mnist",
    "show_fashion_mnist",
]

NEEDS_CLASSIFY = "Fashion-MNIST and its offline stand-in, the shapes data,"


def _reader() -> ModuleType:
    return first_party("minidl_classify.fashion_mnist", NEEDS_CLASSIFY)


def get_fashion_mnist_labels(labels: Iterable[Any]) -> list[str]:
    """The text labels of numeric Fashion-MNIST labels."""
    names = _reader().FASHION_MNIST_LABELS
    return [names[int(i)] for i in labels]


def show_fashion_mnist(images: Sequence[torch.Tensor], labels: Sequence[str]) -> None:
    """Draw ``images`` side by side in one row, each titled with its label."""
    use_svg_display()
    _, figs = pyplot().subplots(1, len(images), figsize=(12, 12), squeeze=False)
    for f, img, lbl in zip(figs[0], images, labels):
        f.imshow(_as_image(img).numpy())
        f.set_title(lbl)
        f.axes.get_xaxis().set_visible(False)
        f.axes.get_yaxis().set_visible(False)


def _as_image(img: torch.Tensor) -> torch.Tensor:
    img = img.detach().cpu()
    return img.reshape(img.shape[-2:]) if img.dim() >= 2 else img.view(28, 28)


class _Resize:
    """A collate function that stacks a batch and resizes its images (bilinear)."""

    def __init__(self, size: int | tuple[int, int]) -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def __call__(self, batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        X, y = torch_data.default_collate(batch)
        X = nn.functional.interpolate(X, size=self.size, mode="bilinear", antialias=True)
        return X.clamp_(0, 1), y


def load_data_fashion_mnist(batch_size: int, resize: int | tuple[int, int] | None = None,
                            root: str | os.PathLike[str] | None = None
                            ) -> tuple[torch_data.DataLoader, torch_data.DataLoader]:
    """Fashion-MNIST as ``(train_iter, test_iter)`` DataLoaders of (N, 1, 28, 28) images.

    Read from local IDX files in ``root`` (see
    :func:`minidl_classify.fashion_mnist.fashion_mnist_root`); nothing is downloaded.
    ``resize`` resizes each batch's images (bilinear) as it is served.
    """
    splits = _reader().read_fashion_mnist(root)
    collate: dict[str, Any] = {"collate_fn": _Resize(resize)} if resize else {}
    train = torch_data.TensorDataset(*splits["train"])
    test = torch_data.TensorDataset(*splits["test"])
    return (torch_data.DataLoader(train, batch_size=batch_size, shuffle=True, **collate),
            torch_data.DataLoader(test, batch_size=batch_size, shuffle=False, **collate))
