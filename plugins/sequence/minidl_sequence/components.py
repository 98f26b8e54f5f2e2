"""The chapter's loss and metric (cross-entropy at every time step, perplexity) and the
book's ``predict_rnn`` for any :class:`~minidl.interfaces.StatefulModel`."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch.nn import functional as F

from minidl.errors import MinidlError
from minidl_sequence.corpus import Vocabulary


def _flat(y_hat: torch.Tensor, y: torch.Tensor, component: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores (..., classes) and labels (...) as (positions, classes) and (positions,)."""
    if y_hat.dim() < 2 or tuple(y_hat.shape[:-1]) != tuple(y.shape):
        raise MinidlError(f"{component} needs scores (batch, num_steps, classes) and labels (batch, num_steps), "
                          f"got {tuple(y_hat.shape)} and {tuple(y.shape)}")
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise MinidlError(f"{component} needs integer class labels (character indices), got {y.dtype}")
    return y_hat.reshape(-1, y_hat.shape[-1]), y.reshape(-1)


class SequenceCrossEntropy:
    """The book's loss: softmax cross-entropy of the logits at every time step, here as one
    value per sequence (its mean over the steps), so the batch mean is the book's mean
    over all ``batch * num_steps`` predictions."""

    label_kind = "class"
    input_kind = "logits"
    name = "loss 'sequence-cross-entropy'"

    def __call__(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Logits (batch, num_steps, vocab) and labels (batch, num_steps) -> losses (batch,)."""
        scores, labels = _flat(y_hat, y, self.name)
        losses = F.cross_entropy(scores, labels.long(), reduction="none")  # (batch * num_steps,)
        return losses.view(y.shape[0], -1).mean(dim=1)


class Perplexity:
    """exp of the mean cross-entropy over every predicted character (6.4): 1 for a
    perfect model, the vocabulary size for a uniform guess."""

    higher_is_better = False
    label = "perplexity"
    fmt = "{:f}"
    label_kind = "class"
    name = "metric 'perplexity'"

    def chunk_mean(self, y_hat: torch.Tensor, y: torch.Tensor) -> float:
        """The mean cross-entropy, the Trainer's average over evaluation chunks."""
        scores, labels = _flat(y_hat, y, self.name)
        return float(F.cross_entropy(scores, labels.long()))

    def from_mean(self, mean: float) -> float:
        """``exp(mean)``; inf when it overflows, as the book's ``train_and_predict_rnn_pytorch``."""
        try:
            return math.exp(mean)
        except OverflowError:
            return math.inf

    def __call__(self, y_hat: torch.Tensor, y: torch.Tensor) -> float:
        """Perplexity over all positions of ``y_hat`` and ``y``."""
        return self.from_mean(self.chunk_mean(y_hat, y))


def check_stateful(model: Any, what: str) -> None:
    """Raise :class:`MinidlError` unless ``model`` has ``begin_state`` and ``forward_with_state``."""
    if not (callable(getattr(model, "begin_state", None)) and callable(getattr(model, "forward_with_state", None))):
        raise MinidlError(f"{what} is not a sequence model (it has no begin_state and forward_with_state); "
                          "use rnn-scratch, gru-scratch, lstm-scratch, rnn, gru or lstm")


def predict(prefix: str, num_chars: int, model: Any, vocab: Vocabulary,
            device: torch.device | str | None = None) -> str:
    """The book's ``predict_rnn``: feed ``prefix`` one character at a time, then append the
    most likely next character ``num_chars`` times; return prefix and continuation.

    Raises :class:`MinidlError` for an empty prefix or one with characters outside ``vocab``.
    """
    if not prefix:
        raise MinidlError("the prefix is empty; give at least one character to continue")
    check_stateful(model, type(model).__name__)
    given = vocab.encode(prefix)
    if device is None:
        param = next(iter(model.parameters()), None)
        device = param.device if param is not None else "cpu"
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.no_grad():
            state = model.begin_state(1, device)
            output = [given[0]]
            for t in range(num_chars + len(prefix) - 1):
                X = torch.tensor([[output[-1]]], device=device)  # (1, 1): the last character
                Y, state = model.forward_with_state(X, state)  # Y: (1, 1, vocab)
                output.append(given[t + 1] if t < len(prefix) - 1 else int(Y[0, -1].argmax().item()))
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    return vocab.decode(output)
