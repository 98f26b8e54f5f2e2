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
from torch.utils import data as torch_data

from minidl.d2l.checks import integer
from minidl.d2l.lazy import first_party
from minidl.d2l.linear import use_svg_display
from minidl.d2l.plotting import pyplot
from minidl.errors import MinidlError

__all__ = [
    "get_fashion_mnist_labels",
    "load_data_fashion_mnist",
    "show_fashion_mnist",
]

NEEDS_CLASSIFY = "Fashion-MNIST and its offline stand-in, the shapes data,"


def _reader() -> ModuleType:
    return first_party("minidl_classify.fashion_mnist", NEEDS_CLASSIFY)


def get_fashion_mnist_labels(labels: Iterable[Any]) -> list[str]:
    """The text labels of numeric Fashion-MNIST labels (the shapes' names when
    ``$MINIDL_DATA=shapes`` asks for the offline stand-in)."""
    reader = _reader()
    names = first_party("minidl_classify.shapes", NEEDS_CLASSIFY).SHAPES_LABELS if reader.is_stand_in() \
        else reader.FASHION_MNIST_LABELS
    return [names[_label_index(i, len(names))] for i in labels]


def _label_index(label: Any, num_classes: int) -> int:
    """``label`` (an int, an integer tensor or a whole float) as an index into the text labels."""
    index = int(label)
    if index != label or not 0 <= index < num_classes:
        raise MinidlError(f"get_fashion_mnist_labels: label {label!r} is not a class; labels are the "
                          f"integers 0..{num_classes - 1}")
    return index


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
    """A collate function that stacks a batch and resizes its images (bilinear), as the
    book's ``transforms.Resize`` did."""

    def __init__(self, size: int | tuple[int, int]) -> None:
        self.size = size

    def __call__(self, batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        X, y = torch_data.default_collate(batch)
        resized: torch.Tensor = first_party("minidl_classify.resize", NEEDS_CLASSIFY).resize_images(X, self.size)
        return resized, y


def _check_resize(resize: object) -> int | tuple[int, int] | None:
    """``resize`` as the book's ``transforms.Resize`` takes it: None, a side, or (height, width)."""
    accepted = "None, a positive int (the side) or a pair (height, width) of positive ints"
    if resize is None:
        return None
    if isinstance(resize, (list, tuple)):
        if len(resize) != 2:
            raise MinidlError(f"load_data_fashion_mnist: resize={resize!r} has {len(resize)} value(s); "
                              f"accepted: {accepted}")
        height, width = (integer(side, "resize", "load_data_fashion_mnist") for side in resize)
        return height, width
    try:
        return integer(resize, "resize", "load_data_fashion_mnist")
    except TypeError:
        raise TypeError(f"load_data_fashion_mnist: resize must be {accepted}, got {resize!r} "
                        f"({type(resize).__name__})") from None


def load_data_fashion_mnist(batch_size: int, resize: int | tuple[int, int] | None = None,
                            root: str | os.PathLike[str] | None = None
                            ) -> tuple[torch_data.DataLoader, torch_data.DataLoader]:
    """Fashion-MNIST as ``(train_iter, test_iter)`` DataLoaders of (N, 1, 28, 28) images.

    Read from local IDX files in ``root``, else ``$MINIDL_DATA``, else the book's
    ``~/Datasets/FashionMNIST``; nothing is downloaded. Offline, ``root="shapes"`` (or
    ``$MINIDL_DATA=shapes``) serves the classify plugin's generated ``shapes`` images
    instead (6,000 train, 1,000 test, drawn from torch's RNG) in the same form, so the
    book's code runs unchanged. ``resize`` resizes each batch's images (bilinear) as it
    is served.
    """
    where = "load_data_fashion_mnist"
    batch_size = integer(batch_size, "batch_size", where)
    size = _check_resize(resize)
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"{where}: root must be a folder (a str or a path), got {root!r} ({type(root).__name__})")
    if root is not None and os.path.isfile(root):
        raise MinidlError(f"{where}: root={os.fspath(root)!r} is a file; give the folder that holds the "
                          f"Fashion-MNIST IDX files, or root=\"shapes\" for the offline stand-in")
    reader = _reader()
    if reader.is_stand_in(root):
        shapes = first_party("minidl_classify.shapes", NEEDS_CLASSIFY)
        splits = {"train": shapes.make_shapes(shapes.STAND_IN_TRAIN), "test": shapes.make_shapes(shapes.STAND_IN_TEST)}
    else:
        splits = reader.read_fashion_mnist(root)
    collate: dict[str, Any] = {"collate_fn": _Resize(size)} if size is not None else {}
    train = torch_data.TensorDataset(*splits["train"])
    test = torch_data.TensorDataset(*splits["test"])
    return (torch_data.DataLoader(train, batch_size=batch_size, shuffle=True, **collate),
            torch_data.DataLoader(test, batch_size=batch_size, shuffle=False, **collate))
