"""Fixtures for minidl-vision (``plugins``, ``registry``: minidl.testing.fixtures): the book's
own code as a module, and small labelled image sets."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

BOOK = Path(__file__).with_name("book_cnn.py")


@pytest.fixture(scope="session")
def book() -> ModuleType:
    """The book's chapter-5 code (book_cnn.py), imported from its path."""
    spec = importlib.util.spec_from_file_location("book_cnn", BOOK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_images(num_examples: int, side: int, channels: int = 1, classes: int = 10,
                num_test: int = 0, seed: int = 0) -> Any:
    """A minidl dataset of random images in [0, 1] with balanced labels (num_outputs set)."""
    from minidl.adapters import TensorData

    g = torch.Generator().manual_seed(seed)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.rand(n, channels, side, side, generator=g), torch.arange(n) % classes

    data = TensorData(*split(num_examples), test=split(num_test) if num_test else None)
    data.num_outputs = classes  # type: ignore[attr-defined]
    return data


@pytest.fixture
def images() -> Callable[..., Any]:
    """:func:`make_images`."""
    return make_images
