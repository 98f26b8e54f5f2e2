"""Fashion-MNIST read from local IDX files: nothing is downloaded, torchvision is not needed.

The files are looked for in ``root``, else ``$MINIDL_DATA``, else the book's
``~/Datasets/FashionMNIST``, each folder also in its ``FashionMNIST/`` and
``FashionMNIST/raw/`` subfolders (torchvision's layouts). Both the ``fashion-mnist``
dataset and the book's ``minidl.d2l.load_data_fashion_mnist`` read through here.

Offline, ``root="shapes"`` (or ``$MINIDL_DATA=shapes``) asks for the stand-in: the
generated ``shapes`` images, in the same tensors (:func:`is_stand_in`).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from minidl.errors import MinidlError
from minidl.functional import check_labels
from minidl_classify.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx

__all__ = [
    "BOOK_ROOT",
    "DATA_ENV",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_LABELS",
    "OFFLINE_STAND_IN",
    "fashion_mnist_root",
    "is_stand_in",
    "read_fashion_mnist",
]

FASHION_MNIST_LABELS = ("t-shirt", "trouser", "pullover", "dress", "coat",
                        "sandal", "shirt", "sneaker", "bag", "ankle boot")

#: split -> (images file, labels file), each also accepted with a ``.gz`` suffix.
FASHION_MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
BOOK_ROOT = "~/Datasets/FashionMNIST"  # the book's default folder
DATA_ENV = "MINIDL_DATA"  # a folder holding the files (or a FashionMNIST/ folder with them)
OFFLINE_STAND_IN = "shapes"  # root="shapes" (or $MINIDL_DATA=shapes): the generated shapes instead


def is_stand_in(root: str | os.PathLike[str] | None = None) -> bool:
    """Whether ``root`` (else ``$MINIDL_DATA``) names the offline stand-in, ``shapes``."""
    chosen = root if root is not None else os.environ.get(DATA_ENV)
    return chosen is not None and os.fspath(chosen) == OFFLINE_STAND_IN


def fashion_mnist_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder to read Fashion-MNIST from: ``root``, else ``$MINIDL_DATA``, else the
    book's ``~/Datasets/FashionMNIST``."""
    chosen = root if root is not None else os.environ.get(DATA_ENV) or BOOK_ROOT
    return Path(chosen).expanduser()


def _find_files(root: Path) -> dict[str, tuple[Path, Path]]:
    """The IDX files of each split, found in ``root`` or its FashionMNIST[/raw] subfolders."""
    names = [name for pair in FASHION_MNIST_FILES.values() for name in pair]
    folders = [root, root / "FashionMNIST", root / "FashionMNIST" / "raw", root / "raw"]
    for folder in folders:
        found = {name: _existing(folder, name) for name in names}
        if all(found.values()):
            return {split: (found[images], found[labels])  # type: ignore[misc]
                    for split, (images, labels) in FASHION_MNIST_FILES.items()}
    missing = [name for name in names if not _existing(root, name)]
    raise MinidlError(
        f"Fashion-MNIST not found in {root}: expected {', '.join(names)} (each may end in .gz) "
        f"in that folder or its FashionMNIST/ or FashionMNIST/raw/ subfolder; missing there: "
        f"{', '.join(missing)}. Download them from https://github.com/zalandoresearch/fashion-mnist "
        f"and put them there, or point root / ${DATA_ENV} at their folder; offline, "
        f"root=\"{OFFLINE_STAND_IN}\" (or ${DATA_ENV}={OFFLINE_STAND_IN}) serves the generated shapes "
        f"images instead, in the same form"
    )


def _existing(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_fashion_mnist(root: str | os.PathLike[str] | None = None
                       ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Read both splits: ``{"train": (X, y), "test": (X, y)}``, ``X`` float32 in [0, 1]
    of shape (N, 1, 28, 28), ``y`` int64 labels in 0..9."""
    splits = {}
    for split, (images_path, labels_path) in _find_files(fashion_mnist_root(root)).items():
        images = read_idx(images_path, IMAGES_MAGIC)  # (N, 28, 28) uint8
        labels = read_idx(labels_path, LABELS_MAGIC)  # (N,) uint8
        if len(images) != len(labels):
            raise MinidlError(f"{images_path} holds {len(images)} images but {labels_path} "
                              f"holds {len(labels)} labels; they must be the same split")
        y = torch.from_numpy(labels).long()
        check_labels(y, len(FASHION_MNIST_LABELS), f"Fashion-MNIST file {labels_path}")
        X = torch.from_numpy(images).unsqueeze(1).float().div_(255)  # (N, 1, 28, 28)
        splits[split] = (X, y)
    return splits
