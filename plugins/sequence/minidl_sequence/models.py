"""Character-level language models: RNN, GRU and LSTM from scratch (6.4, 6.7, 6.8) and on
torch's layers (6.5's ``RNNModel``).

Each takes character indices ``X`` (batch, num_steps), one-hot encodes them as the book
does, and gives logits (batch, num_steps, vocab_size): one score per character for every
time step. Each is a :class:`~minidl.interfaces.StatefulModel`: ``model(X)`` starts
from a zero state; ``forward_with_state`` continues from a given one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from minidl.errors import MinidlError, OptionError

State = tuple[torch.Tensor, ...]
Cell = Callable[[list[torch.Tensor], State, Sequence[torch.Tensor]], tuple[list[torch.Tensor], State]]


# -- the book's one-hot encoding (6.4) ----------------------------------------------------
def _check_one_hot(where: str, x: Any, n_class: Any, dims: int, shape: str) -> None:
    """TypeError / ValueError naming ``where`` for anything but ``dims``-D whole-number indices and ``n_class >= 1``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{where}: the indices must be a tensor of shape {shape}, got {type(x).__name__}; "
                        f"use torch.tensor(...)")
    if x.dim() != dims:
        raise ValueError(f"{where}: the indices must be of shape {shape}, got shape {tuple(x.shape)}")
    if isinstance(n_class, bool) or not isinstance(n_class, int) or n_class < 1:
        raise ValueError(f"{where}: n_class must be an integer >= 1 (the vocabulary size), got {n_class!r}")
    if x.dtype.is_complex or x.dtype == torch.bool:
        raise TypeError(f"{where}: the indices must be integers (or whole floats), got {x.dtype}")
    if x.dtype.is_floating_point and not torch.equal(x, x.trunc()):
        bad = x[x != x.trunc()].flatten()[0].item()
        raise ValueError(f"{where}: index {bad} is not a whole number; the indices must be "
                         f"integers in 0..{n_class - 1}")


def _scatter_one_hot(x: torch.Tensor, n_class: int, dtype: torch.dtype, where: str) -> torch.Tensor:
    x = x.long()
    res = torch.zeros(x.shape[0], n_class, dtype=dtype, device=x.device)
    try:
        res.scatter_(1, x.view(-1, 1), 1)
    except RuntimeError:  # an index out of range: named here, at no cost to the valid case
        low, high = int(x.min()), int(x.max())
        bad = low if low < 0 else high
        raise ValueError(f"{where}: index {bad} is out of range for n_class={n_class}; the indices must be "
                         f"integers in 0..{n_class - 1}") from None
    return res


def one_hot(x: torch.Tensor, n_class: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Indices (batch,) -> one-hot rows (batch, n_class); indices in ``0..n_class-1``."""
    _check_one_hot("one_hot", x, n_class, 1, "(batch,)")
    return _scatter_one_hot(x, n_class, dtype, "one_hot")


def to_onehot(X: torch.Tensor, n_class: int) -> list[torch.Tensor]:
    """Indices (batch, num_steps) -> ``num_steps`` one-hot matrices (batch, n_class)."""
    _check_one_hot("to_onehot", X, n_class, 2, "(batch, num_steps)")
    return steps_one_hot(X, n_class)


def steps_one_hot(X: torch.Tensor, n_class: int) -> list[torch.Tensor]:
    """:func:`to_onehot` without its argument checks, for the models' forward passes: their
    windows are whole indices by construction, and the check's ``torch.equal`` would wait
    for the GPU at every step (an index out of range is still named, by the scatter)."""
    return [_scatter_one_hot(X[:, i], n_class, torch.float32, "to_onehot") for i in range(X.shape[1])]


# -- the book's cells, from scratch -------------------------------------------------------
def rnn(inputs: list[torch.Tensor], state: State, params: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], State]:
    """6.4: ``H = tanh(X W_xh + H W_hh + b_h)``, ``Y = H W_hq + b_q`` at every step."""
    W_xh, W_hh, b_h, W_hq, b_q = params
    (H,) = state
    outputs = []
    for X in inputs:
        H = torch.tanh(torch.matmul(X, W_xh) + torch.matmul(H, W_hh) + b_h)
        outputs.append(torch.matmul(H, W_hq) + b_q)
    return outputs, (H,)


def gru(inputs: list[torch.Tensor], state: State, params: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], State]:
    """6.7: update gate Z, reset gate R, candidate state, ``H = Z * H + (1 - Z) * H~``."""
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q = params
    (H,) = state
    outputs = []
    for X in inputs:
        Z = torch.sigmoid(torch.matmul(X, W_xz) + torch.matmul(H, W_hz) + b_z)
        R = torch.sigmoid(torch.matmul(X, W_xr) + torch.matmul(H, W_hr) + b_r)
        H_tilda = torch.tanh(torch.matmul(X, W_xh) + torch.matmul(R * H, W_hh) + b_h)
        H = Z * H + (1 - Z) * H_tilda
        outputs.append(torch.matmul(H, W_hq) + b_q)
    return outputs, (H,)


def lstm(inputs: list[torch.Tensor], state: State, params: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], State]:
    """6.8: input, forget and output gates, memory cell ``C = F * C + I * C~``, ``H = O * tanh(C)``."""
    W_xi, W_hi, b_i, W_xf, W_hf, b_f, W_xo, W_ho, b_o, W_xc, W_hc, b_c, W_hq, b_q = params
    H, C = state
    outputs = []
    for X in inputs:
        I = torch.sigmoid(torch.matmul(X, W_xi) + torch.matmul(H, W_hi) + b_i)  # noqa: E741
        F = torch.sigmoid(torch.matmul(X, W_xf) + torch.matmul(H, W_hf) + b_f)
        O = torch.sigmoid(torch.matmul(X, W_xo) + torch.matmul(H, W_ho) + b_o)  # noqa: E741
        C_tilda = torch.tanh(torch.matmul(X, W_xc) + torch.matmul(H, W_hc) + b_c)
        C = F * C + I * C_tilda
        H = O * C.tanh()
        outputs.append(torch.matmul(H, W_hq) + b_q)
    return outputs, (H, C)


#: Each cell: its step function, its gates (each an input weight, a hidden weight and a bias,
#: named as the book), and how many tensors its state holds.
CELLS: dict[str, tuple[Cell, tuple[str, ...], int]] = {
    "rnn": (rnn, ("h",), 1),
    "gru": (gru, ("z", "r", "h"), 1),
    "lstm": (lstm, ("i", "f", "o", "c"), 2),
}


def check_sizes(component: str, **sizes: int) -> None:
    """Raise :class:`OptionError` naming ``component`` for any size below 1."""
    for name, value in sizes.items():
        if value < 1:
            raise OptionError(f"{component}: {name} must be >= 1, got {value}")


def check_indices(X: torch.Tensor, component: str) -> None:
    """``X`` must be (batch, num_steps) character indices."""
    if X.dim() != 2 or X.dtype.is_complex or X.dtype == torch.bool:
        raise MinidlError(f"{component} takes character indices of shape (batch, num_steps), got "
                          f"{X.dtype} of shape {tuple(X.shape)}; use a character dataset such as jay-lyrics")


class ScratchRNN(nn.Module):
    """The book's RNN, GRU or LSTM from scratch: parameters as the book names them
    (``W_xh``, ``W_hh``, ``b_h``, ..., ``W_hq``, ``b_q``), weights from N(0, 0.01),
    biases zero, its step function applied to the one-hot inputs."""

    output_kind = "logits"

    def __init__(self, cell: str, vocab_size: int, num_hiddens: int) -> None:
        super().__init__()
        self.component = f"model '{cell}-scratch'"
        check_sizes(self.component, num_outputs=vocab_size, num_hiddens=num_hiddens)
        self.cell, self.vocab_size, self.num_hiddens = cell, vocab_size, num_hiddens
        self.step, gates, self.state_size = CELLS[cell]
        self.param_names: list[str] = []
        for gate in gates:
            self._add(f"W_x{gate}", torch.normal(0.0, 0.01, (vocab_size, num_hiddens)))
            self._add(f"W_h{gate}", torch.normal(0.0, 0.01, (num_hiddens, num_hiddens)))
            self._add(f"b_{gate}", torch.zeros(num_hiddens))
        self._add("W_hq", torch.normal(0.0, 0.01, (num_hiddens, vocab_size)))
        self._add("b_q", torch.zeros(vocab_size))

    def _add(self, name: str, value: torch.Tensor) -> None:
        self.register_parameter(name, nn.Parameter(value))
        self.param_names.append(name)

    def params(self) -> list[torch.Tensor]:
        """The parameters in the book's order (its ``get_params()``)."""
        return [getattr(self, name) for name in self.param_names]

    def begin_state(self, batch_size: int, device: torch.device | str) -> State:
        """Zeros (batch_size, num_hiddens): ``(H,)``, or ``(H, C)`` for the LSTM."""
        return tuple(torch.zeros((batch_size, self.num_hiddens), device=device) for _ in range(self.state_size))

    def forward_with_state(self, X: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Indices (batch, num_steps) from ``state`` -> logits (batch, num_steps, vocab_size), new state."""
        check_indices(X, self.component)
        outputs, state = self.step(steps_one_hot(X, self.vocab_size), state, self.params())
        return torch.stack(outputs, dim=1), state

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Logits (batch, num_steps, vocab_size), from a zero state."""
        return self.forward_with_state(X, self.begin_state(X.shape[0], X.device))[0]


class LayerRNN(nn.Module):
    """6.5's ``RNNModel``: a torch recurrent layer on the one-hot inputs, then a dense layer.

    ``rnn_layer`` is an ``nn.RNN``, ``nn.GRU`` or ``nn.LSTM`` (time-major, as the book's).
    """

    output_kind = "logits"

    def __init__(self, rnn_layer: nn.Module, vocab_size: int) -> None:
        super().__init__()
        where = type(self).__name__
        if not isinstance(rnn_layer, nn.RNNBase):
            raise TypeError(f"{where}: rnn_layer must be an nn.RNN, nn.GRU or nn.LSTM, got {type(rnn_layer).__name__}")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
            raise ValueError(f"{where}: vocab_size must be an integer >= 1 (the number of characters), "
                             f"got {vocab_size!r}")
        if rnn_layer.input_size != vocab_size:
            raise ValueError(f"{where}: rnn_layer takes input_size={rnn_layer.input_size}, but the one-hot "
                             f"inputs have vocab_size={vocab_size} values; build it with input_size=vocab_size")
        if rnn_layer.batch_first:
            raise ValueError(f"{where}: rnn_layer has batch_first=True, but the inputs are time-major "
                             f"(num_steps, batch, vocab_size), as the book's; build it without batch_first")
        self.rnn = rnn_layer
        self.hidden_size = rnn_layer.hidden_size * (2 if rnn_layer.bidirectional else 1)
        self.vocab_size = vocab_size
        self.dense = nn.Linear(self.hidden_size, vocab_size)

    def begin_state(self, batch_size: int, device: torch.device | str) -> Any:
        """Zeros (layers * directions, batch_size, hidden_size); a pair for an LSTM."""
        layers = self.rnn.num_layers * (2 if self.rnn.bidirectional else 1)
        zeros = torch.zeros((layers, batch_size, self.rnn.hidden_size), device=device)
        return (zeros, zeros.clone()) if isinstance(self.rnn, nn.LSTM) else zeros

    def run(self, X: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """The book's forward: logits (num_steps * batch, vocab_size), time-major, and the state."""
        inputs = torch.stack(steps_one_hot(X, self.vocab_size))  # (num_steps, batch, vocab_size)
        Y, state = self.rnn(inputs, state)
        return self.dense(Y.view(-1, Y.shape[-1])), state

    def forward_with_state(self, X: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """Indices (batch, num_steps) from ``state`` -> logits (batch, num_steps, vocab_size), new state."""
        check_indices(X, "model '" + type(self.rnn).__name__.lower() + "'")
        output, state = self.run(X, state)
        return output.view(X.shape[1], X.shape[0], -1).transpose(0, 1), state

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Logits (batch, num_steps, vocab_size), from a zero state."""
        return self.forward_with_state(X, self.begin_state(X.shape[0], X.device))[0]


LAYERS: dict[str, type[nn.Module]] = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}


def layer_model(cell: str, vocab_size: int, num_hiddens: int, num_layers: int) -> LayerRNN:
    """``RNNModel(nn.RNN/GRU/LSTM(input_size=vocab_size, hidden_size=num_hiddens), vocab_size)``."""
    check_sizes(f"model '{cell}'", num_outputs=vocab_size, num_hiddens=num_hiddens, num_layers=num_layers)
    layer = LAYERS[cell](input_size=vocab_size, hidden_size=num_hiddens, num_layers=num_layers)
    return LayerRNN(layer, vocab_size)


class RNNModel(LayerRNN):
    """6.5's ``RNNModel`` with the book's call: ``model(inputs, state)`` gives logits
    (num_steps * batch, vocab_size), time-major, and the new state (also kept in
    ``model.state``). ``state=None`` starts from zeros, as torch's layers do."""

    def __init__(self, rnn_layer: nn.Module, vocab_size: int) -> None:
        super().__init__(rnn_layer, vocab_size)
        self.state: Any = None

    def forward(self, inputs: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:  # type: ignore[override]
        """The book's forward (``inputs``: indices (batch, num_steps))."""
        output, self.state = self.run(inputs, state)
        return output, self.state
