"""The chapter's components as classes: labelled image data, the from-scratch models
and the cross-entropy loss, built on :mod:`minidl.functional`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from minidl.adapters import TensorData
from minidl.errors import MinidlError
from minidl.functional import check_labels, cross_entropy, softmax

BOOK_INPUTS, BOOK_OUTPUTS = 784, 10  # Fashion-MNIST's, used when no dataset says otherwise


class ClassificationData(TensorData):
    """Images (or features) with integer labels in ``0..num_outputs-1``, checked on entry.

    ``num_inputs`` (features per example) and ``num_outputs`` (classes) size the models;
    ``text_labels`` names each class.
    """

    label_kind = "class"  # compatibility declaration (minidl.compat)

    def __init__(self, component: str, train: tuple[torch.Tensor, torch.Tensor],
                 test: tuple[torch.Tensor, torch.Tensor] | None, text_labels: Sequence[str]) -> None:
        for _, y in (train, *([test] if test is not None else [])):
            check_labels(y, len(text_labels), component)
        super().__init__(*train, test=test)
        self.num_outputs = len(text_labels)
        self.text_labels = tuple(text_labels)


def _flatten(X: torch.Tensor, num_inputs: int, component: str) -> torch.Tensor:
    """``X`` as (batch, num_inputs), the book's ``X.view(-1, num_inputs)``, size checked."""
    per_example = X[0].numel() if X.dim() > 1 else 1
    if per_example != num_inputs:
        raise MinidlError(f"{component} takes {num_inputs} inputs per example, got {per_example} "
                          f"(examples of shape {tuple(X.shape[1:])}); set its num_inputs to {per_example}")
    return X.reshape(-1, num_inputs)


class SoftmaxRegression(nn.Module):
    """``softmax(X.view(-1, num_inputs) @ W + b)``: W (num_inputs, num_outputs) from
    N(0, 0.01), b zeros (section 3.6)."""

    output_kind = "probabilities"  # compatibility declaration (minidl.compat)

    def __init__(self, num_inputs: int, num_outputs: int) -> None:
        super().__init__()
        self.num_inputs = num_inputs
        self.W = nn.Parameter(torch.normal(0.0, 0.01, (num_inputs, num_outputs)))
        self.b = nn.Parameter(torch.zeros(num_outputs))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """(batch, ...) -> class probabilities (batch, num_outputs)."""
        return softmax(_flatten(X, self.num_inputs, "model 'softmax-regression'") @ self.W + self.b)


class MLPScratch(nn.Module):
    """``relu(X @ W1 + b1) @ W2 + b2``, weights from N(0, 0.01), biases zeros (section
    3.9); it outputs logits, as the book's."""

    output_kind = "logits"  # compatibility declaration (minidl.compat)

    def __init__(self, num_inputs: int, num_outputs: int, num_hiddens: int) -> None:
        super().__init__()
        self.num_inputs = num_inputs
        self.W1 = nn.Parameter(torch.normal(0.0, 0.01, (num_inputs, num_hiddens)))
        self.b1 = nn.Parameter(torch.zeros(num_hiddens))
        self.W2 = nn.Parameter(torch.normal(0.0, 0.01, (num_hiddens, num_outputs)))
        self.b2 = nn.Parameter(torch.zeros(num_outputs))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """(batch, ...) -> logits (batch, num_outputs)."""
        X = _flatten(X, self.num_inputs, "model 'mlp-scratch'")
        H = torch.clamp(X @ self.W1 + self.b1, min=0)  # the book's relu: max(x, 0); (batch, hiddens)
        return H @ self.W2 + self.b2


def log_softmax(X: torch.Tensor) -> torch.Tensor:
    """Row-wise ``log(softmax(X))``, computed as ``X - logsumexp(X)`` so it never takes log(0)."""
    shifted = X - X.amax(dim=1, keepdim=True)
    return shifted - shifted.exp().sum(dim=1, keepdim=True).log()


class SoftmaxCrossEntropy:
    """The book's ``cross_entropy`` (per example, (n, 1)), with the labels checked.

    ``y_hat`` holds probabilities (a model ending in softmax), or logits when
    ``from_logits`` is set (softmax is then applied inside, stably).
    """

    name = "loss 'softmax-cross-entropy'"
    label_kind = "class"  # compatibility declaration (minidl.compat); input_kind follows from_logits

    def __init__(self, from_logits: bool = False) -> None:
        self.from_logits = from_logits
        self.input_kind = "logits" if from_logits else "probabilities"

    def __call__(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-example losses (n, 1)."""
        if y_hat.dim() != 2:
            raise MinidlError(f"{self.name} needs scores of shape (batch, classes), got {tuple(y_hat.shape)}")
        check_labels(y, y_hat.shape[1], self.name)
        if self.from_logits:
            return -log_softmax(y_hat).gather(1, y.view(-1, 1))
        self._check_probabilities(y_hat)
        return cross_entropy(y_hat, y)

    def _check_probabilities(self, y_hat: torch.Tensor) -> None:
        low, high = (float(v) for v in torch.aminmax(y_hat.detach()))
        if low < 0 or high > 1:
            raise MinidlError(
                f"{self.name} expects probabilities in [0, 1] (a model ending in softmax), got values "
                f"from {low:.3g} to {high:.3g}; for a model that outputs logits (mlp-scratch) "
                f"set loss.from_logits=true"
            )

    def state_dict(self) -> dict[str, bool]:
        """No learned state; records the setting."""
        return {"from_logits": self.from_logits}

    def load_state_dict(self, state_dict: dict[str, bool]) -> None:
        """Nothing to restore."""
