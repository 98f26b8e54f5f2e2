"""``torch.optim`` optimizers built by name, with torch's own checks turned into minidl errors."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from minidl.errors import OptionError

#: minidl name -> torch.optim class name
TORCH_OPTIMIZERS = {
    "torch-sgd": "SGD",
    "torch-adam": "Adam",
    "torch-adamw": "AdamW",
    "torch-rmsprop": "RMSprop",
    "torch-adagrad": "Adagrad",
    "torch-adadelta": "Adadelta",
}


def build_torch_optimizer(name: str, params: Iterable[Any], **options: Any) -> torch.optim.Optimizer:
    """``torch.optim.<class>(params, **options)``; a value torch rejects raises OptionError.

    ``betas`` arrives as a list and must hold two numbers.
    """
    label = f"optimizer {name!r}"
    if "betas" in options:
        betas = options["betas"]
        if len(betas) != 2:
            raise OptionError(f"{label}: betas must be two numbers [beta1, beta2], got {betas!r}")
        options["betas"] = (float(betas[0]), float(betas[1]))
    cls = getattr(torch.optim, TORCH_OPTIMIZERS[name])
    try:
        return cls(params, **options)
    except (ValueError, TypeError, RuntimeError) as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OptionError(f"{label}: torch.optim.{cls.__name__} rejected the options: {message}") from None
