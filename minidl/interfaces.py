"""The component interfaces the Trainer knows, and nothing else.

They are structural (``typing.Protocol``): a class fits by having the methods, with no
base class to inherit. ``torch.nn.Module`` already fits :class:`Model` and
:class:`Loss`, ``torch.optim.Optimizer`` fits :class:`Optimizer`;
:func:`minidl.adapters.as_dataset` wraps ``torch.utils.data`` datasets and loaders.

Optional extras, used when present and looked up once per epoch (never per step):
:class:`StatefulModel` (a recurrent model's hidden state, carried across batches when a
:class:`SequenceDataset` says ``carries_state``), a dataset's ``carries_state``, and a
metric's ``chunk_mean`` / ``from_mean`` (a metric that is a function of a mean).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import torch

Batch = tuple["torch.Tensor", "torch.Tensor"]  # (X, y): features and labels of a minibatch


@runtime_checkable
class Stateful(Protocol):
    """Anything whose state can be saved and restored, as in PyTorch."""

    def state_dict(self) -> dict[str, Any]:
        """Return the state needed to restore this object later."""
        ...

    def load_state_dict(self, state_dict: dict[str, Any]) -> Any:
        """Restore the state returned by :meth:`state_dict`."""
        ...


@runtime_checkable
class Dataset(Stateful, Protocol):
    """Labelled examples, served as shuffled minibatches and as whole splits.

    ``splits`` names the splits it holds: ``("train",)``, or ``("train", "test")``
    when it has held-out data.
    """

    splits: tuple[str, ...]

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        """Yield ``(X, y)`` minibatches of the training split in an order drawn from
        ``generator``; the last batch may be short."""
        ...

    def tensors(self, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """Return the whole split as ``(X, y)``, for evaluation."""
        ...

    def to(self, device: torch.device | str) -> Dataset:
        """Move the data to ``device``; return the dataset."""
        ...


@runtime_checkable
class SequenceDataset(Dataset, Protocol):
    """A dataset whose consecutive batches continue each other (consecutive sampling).

    ``carries_state = True`` declares that row ``i`` of a batch continues row ``i`` of
    the batch before: the Trainer then carries a :class:`StatefulModel`'s hidden state
    from batch to batch within an epoch (every batch has the same size), detached
    between batches; it starts from ``begin_state`` at every epoch. A dataset without
    the attribute (or with ``False``: random sampling) gets a fresh state every batch.
    """

    carries_state: bool


@runtime_checkable
class Model(Stateful, Protocol):
    """Holds parameters and maps ``X`` to ``y_hat``; any ``torch.nn.Module`` fits."""

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """Predict ``y_hat`` for the batch ``X``."""
        ...

    def parameters(self) -> Iterator[torch.Tensor]:
        """Yield the trainable parameters."""
        ...

    def to(self, device: torch.device | str) -> Any:
        """Move the parameters to ``device``."""
        ...


@runtime_checkable
class StatefulModel(Model, Protocol):
    """A model with a hidden state carried along a sequence: an RNN, GRU or LSTM.

    ``model(X)`` runs from a fresh state (``begin_state(len(X), X.device)``) and returns
    only the output, so the model is a plain :class:`Model` to everything else
    (evaluation, the conformance checks). When the dataset carries state the Trainer
    calls, per epoch, ``state = begin_state(batch_size, device)`` before the first
    batch, then ``y_hat, state = forward_with_state(X, state)`` for each batch, with
    ``detach_state(state)`` before every batch after the first (optional: by default
    every tensor in the state is detached; a state is a tensor or a tuple of them).
    Generation (``minidl generate``) uses the same two methods, one character at a time.
    """

    def begin_state(self, batch_size: int, device: torch.device | str) -> Any:
        """A fresh state for ``batch_size`` sequences (the book's ``init_rnn_state``)."""
        ...

    def forward_with_state(self, X: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Run ``X`` from ``state``; return the output and the state after the last step."""
        ...


@runtime_checkable
class Loss(Protocol):
    """Maps ``(y_hat, y)`` to per-example losses (one value per example, not a mean).

    Losses that hold state also provide ``state_dict`` / ``load_state_dict``.
    """

    def __call__(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Return the per-example losses of the batch."""
        ...


@runtime_checkable
class Optimizer(Stateful, Protocol):
    """Updates parameters from their gradients, as ``torch.optim.Optimizer`` does.

    ``param_groups`` is a list of dicts with ``params`` and ``lr``, so schedules and
    checkpoints treat every optimizer alike. The gradients it sees are those of the
    batch *mean* loss.
    """

    param_groups: list[dict[str, Any]]

    def step(self) -> Any:
        """Update the parameters from their ``.grad``."""
        ...

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear the gradients of every parameter."""
        ...


@runtime_checkable
class Metric(Protocol):
    """Scores predictions on a whole split, e.g. mean squared error or accuracy.

    ``higher_is_better`` tells callbacks which way to watch it. Evaluation goes in chunks
    of examples, and chunk values are averaged by size, so a metric must be a mean over
    examples; one that is a function of such a mean (perplexity: the exponential of the
    mean cross-entropy) also provides ``chunk_mean(y_hat, y) -> float`` (the mean) and
    ``from_mean(mean) -> float``: the Trainer averages ``chunk_mean`` over the chunks
    and reports ``from_mean`` of it; ``metric(y_hat, y)`` equals
    ``from_mean(chunk_mean(y_hat, y))``. Optional ``label`` and ``fmt`` set how the
    epoch line prints it (``train acc 0.912``).
    """

    higher_is_better: bool

    def __call__(self, y_hat: torch.Tensor, y: torch.Tensor) -> float:
        """Return the metric over all examples of ``y_hat`` and ``y``."""
        ...

