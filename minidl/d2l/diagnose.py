"""What to tell a learner whose network cannot take the data's images.

Torch's own message for a network that meets images of the wrong size ("Kernel size
can't be greater than actual input size", "mat1 and mat2 shapes cannot be multiplied
(2x24 and 864x10)") names neither the layer nor what to change. When a book helper's
forward fails, :func:`explain_misfit` replays one example's shape through the network
(on torch's meta device: no arithmetic, nothing changed) with the vision plugin's
hooks, and names the first layer whose feature map vanishes or which was built for
another input size, with the image sizes that work.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from minidl.d2l.lazy import first_party

__all__ = ["explain_misfit"]


def explain_misfit(net: Any, X: torch.Tensor) -> str | None:
    """Why ``net`` (an ``nn.Module``) cannot take the examples of batch ``X``, with the
    ``load_data_fashion_mnist(..., resize=N)`` that would fit; None when that cannot be named
    (the vision plugin is missing, the net is a plain function, or the failure is of another kind)."""
    if not isinstance(net, nn.Module) or not isinstance(X, torch.Tensor) or X.dim() < 2:
        return None
    try:
        sizing = first_party("minidl_vision.sizing", "the layer-by-layer size check")
    except ImportError:
        return None
    found = sizing.misfit(net, tuple(X.shape[1:]))
    if found is None:
        return None
    reason, sides = found
    if sides is None:
        return reason
    first, last = sides
    if last is None:
        sizes = f"any side from {first}"
    elif first == last:
        sizes = f"side {first}"
    else:
        sizes = f"a side from {first} to {last}"
    return f"{reason}; this network takes square images of {sizes}: load_data_fashion_mnist(batch_size, resize=N)"
