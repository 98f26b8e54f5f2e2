"""Forward passes without gradients, over whole splits: the Trainer's per-epoch loss and
metrics (:func:`evaluate_split`) and its ``predict``, in chunks of bounded size
(:func:`eval_chunk`), the model in eval mode and then back in the mode it was in.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from minidl.errors import DivergedError, MinidlError

if TYPE_CHECKING:
    import torch

    from minidl.interfaces import Loss, Metric, Model

__all__ = ["EVAL_CHUNK", "EVAL_CHUNK_BYTES", "eval_chunk", "eval_mode", "evaluate_split", "examples_of",
           "predict_in_chunks", "set_mode"]

EVAL_CHUNK = 65_536  # at most this many examples per forward pass when evaluating a whole split
# and at most this much input per pass: a CNN's activations are a multiple of it
EVAL_CHUNK_BYTES = 2 * 2**20


def eval_chunk(X: torch.Tensor) -> int:
    """Examples per forward pass over ``X`` when evaluating or predicting: many small
    examples at once (no Python loop over 1,000,000 rows), few large images (bounded memory)."""
    per_example = max(1, X[:1].numel() * X.element_size())  # bytes of one example
    return max(1, min(EVAL_CHUNK, EVAL_CHUNK_BYTES // per_example))


def evaluate_split(model: Model, loss: Loss, metrics: Mapping[str, Metric], X: torch.Tensor,
                   y: torch.Tensor, epoch: int) -> dict[str, float]:
    """``loss`` and each metric as means over the split ``(X, y)``; a nan or infinite loss
    is a :class:`DivergedError` at ``epoch``. Call it in eval mode under ``no_grad``."""
    n = len(X)
    sums = dict.fromkeys(["loss", *metrics], 0.0)
    # a metric that is a function of a mean (perplexity) is averaged through that mean
    means = {name: getattr(metric, "chunk_mean", metric) for name, metric in metrics.items()}
    chunk = eval_chunk(X)
    for start in range(0, n, chunk):  # in chunks: no full-size temporaries
        X_chunk, y_chunk = X[start : start + chunk], y[start : start + chunk]
        y_hat = model(X_chunk)  # a stateful model starts each chunk from a fresh state
        weight = len(X_chunk) / n
        sums["loss"] += loss(y_hat, y_chunk).mean().item() * weight
        for name, mean in means.items():
            sums[name] += mean(y_hat, y_chunk) * weight
    if not math.isfinite(sums["loss"]):
        raise DivergedError(epoch, None, sums["loss"])
    for name, metric in metrics.items():
        if means[name] is not metric:
            sums[name] = metric.from_mean(sums[name])  # type: ignore[attr-defined]
    return sums


def examples_of(data: Any, split: str | None) -> torch.Tensor:
    """``data`` itself when it is a tensor, else a dataset's ``split`` (default ``test``
    when it has one, else ``train``): its examples, without labels."""
    import torch

    if isinstance(data, torch.Tensor):
        return data
    splits = tuple(getattr(data, "splits", ()))
    if not splits or not hasattr(data, "tensors"):
        raise MinidlError(f"predict takes a tensor of examples or a dataset, got {type(data).__name__}")
    chosen = split or ("test" if "test" in splits else "train")
    if chosen not in splits:
        raise MinidlError(f"the dataset has no split {chosen!r}; it has {', '.join(splits)}")
    examples: torch.Tensor = data.tensors(chosen)[0]
    return examples


def predict_in_chunks(model: Model, X: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    """``model``'s outputs for ``X``, ``batch_size`` examples per pass on ``device``, back on
    ``X``'s device, in eval mode and without gradients."""
    import torch

    with eval_mode(model), torch.no_grad():
        outputs = [model(X[start : start + batch_size].to(device)).to(X.device)
                   for start in range(0, len(X), batch_size)]
    if not outputs:
        raise MinidlError("nothing to predict: the data holds no examples")
    return torch.cat(outputs)


@contextlib.contextmanager
def eval_mode(module: Any) -> Iterator[None]:
    """Inside the block the module is in eval mode; after it, in the mode it was in."""
    was_training = getattr(module, "training", None)
    if hasattr(module, "eval"):
        module.eval()
    try:
        yield
    finally:
        set_mode(module, was_training)


def set_mode(module: Any, training: bool | None) -> None:
    """``module.train(training)``, for a module that has modes (``training`` None: it has none)."""
    if training is not None and hasattr(module, "train"):
        module.train(training)
