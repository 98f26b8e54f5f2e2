"""Fixtures for minidl-classify: tiny IDX files written here (``plugins``, ``registry``: minidl.testing.fixtures)."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

IDX_CODES = {np.dtype("uint8"): 0x08, np.dtype("int8"): 0x09, np.dtype("int16"): 0x0B,
             np.dtype("int32"): 0x0C, np.dtype("float32"): 0x0D, np.dtype("float64"): 0x0E}


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    """Write ``array`` as an IDX file (the format's own layout: magic, sizes, big-endian data)."""
    array = np.asarray(array)
    header = bytes([0, 0, IDX_CODES[array.dtype], array.ndim])
    header += b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    raw = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    path.write_bytes(gzip.compress(raw) if compress else raw)
    return path


def make_fashion_folder(folder: Path, num_train: int = 40, num_test: int = 20, *,
                        compress: bool = True, labels_high: int = 10) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Write a tiny Fashion-MNIST (random 28x28 uint8 images) into ``folder``; return its arrays."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if compress else ""
    arrays = {}
    for split, n in (("train", num_train), ("t10k", num_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, labels_high, n).astype(np.uint8)
        write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", images, compress=compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}", labels, compress=compress)
        arrays["train" if split == "train" else "test"] = (images, labels)
    return arrays


@pytest.fixture
def idx_writer() -> Callable[..., Path]:
    """The IDX writer, for tests that craft their own files."""
    return write_idx


@pytest.fixture
def fashion_folder(tmp_path: Path) -> tuple[Path, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """A folder holding a tiny gzipped Fashion-MNIST, and the arrays written there."""
    return tmp_path, make_fashion_folder(tmp_path)


@pytest.fixture
def fashion_maker() -> Callable[..., dict[str, tuple[np.ndarray, np.ndarray]]]:
    """:func:`make_fashion_folder`, for tests that vary the layout."""
    return make_fashion_folder
