"""A stateful model's hidden state carried from batch to batch (truncated BPTT).

The Trainer asks :func:`carries_state` once per epoch; when both the dataset
(``carries_state``, consecutive sampling) and the model (``begin_state``, a
:class:`~minidl.interfaces.StatefulModel`) have a state to carry, it calls the model
through a fresh :class:`CarriedState` for that epoch, else the model itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = ["CarriedState", "carries_state", "detach_state", "is_stateful"]


def is_stateful(model: Any) -> bool:
    """True when ``model`` has a ``begin_state`` (a :class:`~minidl.interfaces.StatefulModel`)."""
    return callable(getattr(model, "begin_state", None))


def carries_state(model: Any, data: Any) -> bool:
    """True when ``data`` declares ``carries_state`` and ``model`` is stateful."""
    return bool(getattr(data, "carries_state", False)) and is_stateful(model)


class CarriedState:
    """Calls a stateful model batch after batch, carrying its state (truncated BPTT).

    One is made at each epoch start, so every epoch starts from ``begin_state``. Before
    each batch the state from the previous one is detached (``model.detach_state``, else
    :func:`detach_state`), so gradients flow through one batch only, as the book's
    consecutive sampling does.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.detach = getattr(model, "detach_state", detach_state)
        self.state: Any = None  # None until the first batch, whose size it takes

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        if self.state is None:
            self.state = self.model.begin_state(len(X), X.device)
        else:
            self.state = self.detach(self.state)
        y_hat, self.state = self.model.forward_with_state(X, self.state)
        return y_hat  # type: ignore[no-any-return]


def detach_state(state: Any) -> Any:
    """A hidden state cut from the autograd graph: a tensor, or tuples/lists of them (LSTM)."""
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    return state.detach() if hasattr(state, "detach") else state
