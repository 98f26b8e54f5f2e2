"""Resizing image batches with torch's ``interpolate`` (bilinear, antialiased: PIL's filter), no torchvision.

The ``resize`` option of the ``fashion-mnist`` and ``shapes`` datasets and the book's
``load_data_fashion_mnist(batch_size, resize=...)`` both resize through here.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

__all__ = ["CHUNK", "resize_images", "resized_bytes"]

CHUNK = 512  # images per interpolate call: bounded temporaries


def resize_images(X: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """``X`` (N, C, H, W) in [0, 1] resized to (N, C, size, size), bilinear with
    antialiasing, clamped to [0, 1]; done ``CHUNK`` images at a time."""
    height, width = (size, size) if isinstance(size, int) else size
    out = torch.empty((X.shape[0], X.shape[1], height, width), dtype=X.dtype)  # (N, C, h, w)
    for start in range(0, len(X), CHUNK):
        chunk = X[start : start + CHUNK]
        out[start : start + CHUNK] = F.interpolate(chunk, size=(height, width), mode="bilinear",
                                                   antialias=True).clamp_(0, 1)
    return out


def resized_bytes(num_images: int, size: int | None, channels: int = 1) -> int:
    """Bytes of ``num_images`` float32 images resized to ``size`` x ``size`` (0 without resize)."""
    return 0 if size is None else num_images * channels * size * size * 4
