"""Layers the book defines and any component may use: ``FlattenLayer`` (section 3.7)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["FlattenLayer"]


class FlattenLayer(nn.Module):
    """Flattens each example: (batch, *, *, ...) -> (batch, features), the book's ``FlattenLayer``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x.view(batch, -1)``."""
        return x.view(x.shape[0], -1)
