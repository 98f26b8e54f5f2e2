"""Chapter 6's helpers (recurrent neural networks) under the book's names and signatures.

Thin wrappers over the ``minidl-sequence`` plugin (imported on first use, so
``import minidl.d2l`` works without it): the lyrics corpus, the two samplers, one-hot
encoding, ``predict_rnn``, ``grad_clipping``, ``RNNModel``; ``train_and_predict_rnn``
and ``train_and_predict_rnn_pytorch`` train on minidl's :class:`~minidl.trainer.Trainer`
and print the book's lines (``epoch 50, perplexity 70.039647, time 0.11 sec`` and
`` - 分开...``).

Two deliberate differences from the book: ``grad_clipping`` reads ``params`` once, so it
also clips when given ``model.parameters()`` (a generator, which the book's version
exhausts computing the norm and then never rescales: in 6.5 it clipped nothing); and
``train_and_predict_rnn_pytorch`` starts every epoch from a fresh state, as
``train_and_predict_rnn`` does, instead of carrying the last batch's state of one epoch
into the first batch of the next, where it does not continue the text.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from minidl.d2l.checks import flag, integer, positive_number
from minidl.d2l.rnn_data import (
    Batches,
    Corpus,
    book_device,
    consecutive_count,
    data_iter_consecutive,
    data_iter_random,
    load_data_jay_lyrics,
    random_count,
    sampler_args,
    sequence_module,
)
from minidl.d2l.training import FunctionNet, book_trainer
from minidl.default_plugins.notebook_components import BookSGD
from minidl.errors import MinidlError
from minidl.hookspecs import hookimpl

if TYPE_CHECKING:
    from minidl.trainer import History, Trainer

__all__ = [
    "FROM_SEQUENCE",
    "data_iter_consecutive",
    "data_iter_random",
    "grad_clipping",
    "load_data_jay_lyrics",
    "predict_rnn",
    "predict_rnn_pytorch",
    "train_and_predict_rnn",
    "train_and_predict_rnn_pytorch",
]

#: Names served from the plugin's modules on first use (module ``__getattr__``).
FROM_SEQUENCE = {"RNNModel": "models", "one_hot": "models", "to_onehot": "models"}


def __getattr__(name: str) -> Any:
    if name in FROM_SEQUENCE:
        return getattr(sequence_module(FROM_SEQUENCE[name]), name)
    raise AttributeError(f"module 'minidl.d2l.rnn' has no attribute {name!r}")


class _FunctionRNN(FunctionNet):
    """The book's ``rnn(inputs, state, params)`` and ``init_rnn_state`` as a stateful minidl
    Model: a :class:`~minidl.d2l.training.FunctionNet` (the book's ``params``, saved and
    restored by position) whose call runs from a fresh state."""

    def __init__(self, rnn: Callable[..., Any], params: Sequence[torch.Tensor], init_rnn_state: Callable[..., Any],
                 num_hiddens: int, vocab_size: int, device: torch.device | str | None) -> None:
        super().__init__(self._from_begin_state, params)
        self.__name__ = getattr(rnn, "__name__", type(rnn).__name__)  # the book's function, as checks name it
        self.rnn, self.init_rnn_state = rnn, init_rnn_state
        self.num_hiddens, self.vocab_size, self.device = num_hiddens, vocab_size, book_device(device)
        self.to_onehot = sequence_module("models").steps_one_hot  # unchecked: the windows are whole indices

    def begin_state(self, batch_size: int, device: torch.device | str) -> Any:
        """``init_rnn_state(batch_size, num_hiddens, device)``."""
        return self.init_rnn_state(batch_size, self.num_hiddens, self.device)

    def forward_with_state(self, X: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """``rnn(to_onehot(X), state, params)``, its outputs stacked: (batch, num_steps, vocab_size)."""
        outputs, state = self.rnn(self.to_onehot(X, self.vocab_size), state, self.params)
        return torch.stack(outputs, dim=1), state

    def _from_begin_state(self, X: torch.Tensor) -> torch.Tensor:
        return self.forward_with_state(X, self.begin_state(len(X), X.device))[0]


def predict_rnn(prefix: str, num_chars: int, rnn: Callable[..., Any], params: Sequence[torch.Tensor],
                init_rnn_state: Callable[..., Any], num_hiddens: int, vocab_size: int,
                device: torch.device | str | None, idx_to_char: Sequence[str], char_to_idx: dict[str, int]) -> str:
    """``prefix`` and ``num_chars`` characters more, each the most likely after the ones
    before; a character outside the vocabulary is a MinidlError naming it."""
    _check_vocab("predict_rnn", vocab_size, idx_to_char)
    model = _FunctionRNN(rnn, params, init_rnn_state, num_hiddens, vocab_size, device)
    return _predict(prefix, num_chars, model, idx_to_char, device, "predict_rnn")


def _check_vocab(where: str, vocab_size: object, idx_to_char: Sequence[str]) -> None:
    """``vocab_size`` must be ``len(idx_to_char)``: the model scores one character per index."""
    integer(vocab_size, "vocab_size", where)
    if vocab_size != len(idx_to_char):
        raise MinidlError(f"{where}: vocab_size={vocab_size}, but idx_to_char has {len(idx_to_char)} characters; "
                          f"they must be the same vocabulary (vocab_size = len(idx_to_char))")


def _check_prefixes(where: str, prefixes: object, idx_to_char: Sequence[str]) -> list[str]:
    """The prefixes a training loop continues: a list of strings, each in the vocabulary (checked before training)."""
    if isinstance(prefixes, str) or not isinstance(prefixes, Iterable):
        raise TypeError(f"{where}: prefixes must be a list of strings, got {prefixes!r}"
                        + (f"; for one prefix, use [{prefixes!r}]" if isinstance(prefixes, str) else ""))
    prefixes = list(prefixes)
    vocab = sequence_module("corpus").Vocabulary(tuple(idx_to_char))
    for prefix in prefixes:
        if not isinstance(prefix, str) or not prefix:
            raise TypeError(f"{where}: each prefix must be a non-empty string, got {prefix!r}")
        try:
            vocab.encode(prefix)
        except MinidlError as exc:
            raise MinidlError(f"{where}: prefix {prefix!r}: {exc}") from None
    return prefixes


def _predict(prefix: str, num_chars: int, model: Any, idx_to_char: Sequence[str],
             device: torch.device | str | None, where: str) -> str:
    num_chars = integer(num_chars, "num_chars", where, minimum=0)
    vocab = sequence_module("corpus").Vocabulary(tuple(idx_to_char))
    return str(sequence_module("components").predict(prefix, num_chars, model, vocab, book_device(device)))


def grad_clipping(params: Iterable[torch.Tensor], theta: float, device: torch.device | str | None) -> None:
    """Rescale every gradient by ``theta / norm`` when their joint L2 norm exceeds ``theta``
    (a positive number; ``math.inf`` clips nothing). Call it after ``backward``."""
    positive_number(theta, "theta", "grad_clipping", allow_inf=True)
    _clip(params, theta, device)


def _clip(params: Iterable[torch.Tensor], theta: float, device: torch.device | str | None) -> None:
    """:func:`grad_clipping` without its check of ``theta`` (the training loops check it once)."""
    params = list(params)  # read once: model.parameters() is a generator
    norm = torch.tensor([0.0], device=device)
    for i, param in enumerate(params):
        if param.grad is None:
            raise MinidlError(f"grad_clipping: parameter {i} of shape {tuple(param.shape)} has no gradient; "
                              f"call it after l.backward(), on parameters created with requires_grad=True")
        norm += (param.grad.data ** 2).sum()
    value = norm.sqrt().item()
    if value > theta:
        for param in params:
            param.grad.data *= theta / value  # type: ignore[union-attr]


# -- training on the Trainer -----------------------------------------------------------------
class _BookSequences:
    """The corpus served by the book's sampler; nothing is evaluated as a whole split (the
    book's perplexity is the running mean over the epoch's batches)."""

    splits: tuple[str, ...] = ()
    PEEK = 2  # windows shown to the Trainer's checks

    def __init__(self, corpus_indices: Corpus, num_steps: int, device: torch.device, is_random_iter: bool) -> None:
        self.corpus_indices, self.num_steps, self.device = corpus_indices, num_steps, device
        self.sampler = data_iter_random if is_random_iter else data_iter_consecutive
        self.carries_state = not is_random_iter  # consecutive: the Trainer carries the hidden state

    def batches(self, batch_size: int, generator: torch.Generator) -> Batches:
        """One epoch of the book's sampler (which refuses a corpus too short for one batch)."""
        return self.sampler(self.corpus_indices, batch_size, self.num_steps, self.device)

    def tensors(self, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """The first windows, float32 as the samplers give them."""
        corpus = torch.as_tensor(self.corpus_indices[: self.PEEK * self.num_steps + 1], dtype=torch.float32)
        X, Y = sequence_module("data").windows(corpus.to(self.device), self.num_steps)
        return X, Y

    def to(self, device: torch.device | str) -> _BookSequences:
        """The batches go where the book's ``device`` says."""
        return self

    def state_dict(self) -> dict[str, Any]:
        """Nothing to save: the corpus is the caller's."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Nothing to restore."""


class _BookSequenceLoss:
    """The book's step loss: ``nn.CrossEntropyLoss()`` over every time step, time-major.

    In a training step it returns the book's ``l`` as one value (so the Trainer's mean
    back-propagates exactly it) and adds ``l * batch * num_steps`` to the epoch's sum;
    under ``no_grad`` (the Trainer's checks) one loss per sequence.
    """

    def __init__(self) -> None:
        self.loss = nn.CrossEntropyLoss()
        self.reset()

    def reset(self) -> None:
        """Start a new epoch's sums."""
        self.l_sum, self.n = 0.0, 0

    def perplexity(self) -> float:
        """``exp(l_sum / n)``, inf when it overflows."""
        try:
            return math.exp(self.l_sum / max(self.n, 1))
        except OverflowError:
            return math.inf

    def __call__(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``y_hat`` (batch, num_steps, vocab) and ``y`` (batch, num_steps), the book's ``Y``."""
        outputs = y_hat.transpose(0, 1).reshape(-1, y_hat.shape[-1])  # (num_steps * batch, vocab), as torch.cat
        labels = torch.transpose(y, 0, 1).contiguous().view(-1)  # (num_steps * batch,)
        if not torch.is_grad_enabled():
            losses = nn.functional.cross_entropy(outputs, labels.long(), reduction="none")
            return losses.view(y.shape[1], y.shape[0]).mean(dim=0)
        l = self.loss(outputs, labels.long())  # noqa: E741
        self.l_sum += l.item() * labels.shape[0]
        self.n += labels.shape[0]
        return l.reshape(1)


class _BookClipping:
    """Calls :func:`grad_clipping` between backward and the optimizer's step, as the book's loops."""

    def __init__(self, params: Sequence[torch.Tensor], theta: float, device: torch.device) -> None:
        self.params, self.theta, self.device = list(params), theta, device

    @hookimpl
    def on_before_optimizer_step(self, trainer: Trainer, epoch: int, step: int) -> None:
        """Clip the gradients to ``theta``."""
        _clip(self.params, self.theta, self.device)


class _PerplexityLine:
    """Records the epoch's perplexity; every ``pred_period`` epochs prints the book's line
    and a continuation of each prefix."""

    def __init__(self, loss: _BookSequenceLoss, pred_period: int, prefixes: Sequence[str],
                 predict: Callable[[str], str], echo: Callable[[str], Any] = print) -> None:
        self.loss, self.pred_period, self.prefixes = loss, pred_period, list(prefixes)
        self.predict, self.echo = predict, echo

    @hookimpl
    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Reset the running sums."""
        self.loss.reset()

    @hookimpl
    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Record ``loss`` and ``perplexity`` as the book computes them; print its lines."""
        metrics["loss"], metrics["perplexity"] = self.loss.l_sum / max(self.loss.n, 1), self.loss.perplexity()
        if epoch % self.pred_period == 0:
            self.echo(f"epoch {epoch}, perplexity {metrics['perplexity']:f}, time {trainer.epoch_seconds[-1]:.2f} sec")
            for prefix in self.prefixes:
                self.echo(" - " + self.predict(prefix))


def _train(model: Any, params: Sequence[torch.Tensor], optimizer: Any, data: _BookSequences,
           clipping_theta: float, num_epochs: int, batch_size: int, pred_period: int,
           prefixes: Sequence[str], predict: Callable[[str], str]) -> History:
    loss = _BookSequenceLoss()
    callbacks = [_BookClipping(params, clipping_theta, data.device),
                 _PerplexityLine(loss, pred_period, prefixes, predict)]
    trainer = book_trainer(num_epochs, batch_size, callbacks=callbacks, device=str(data.device))
    return trainer.fit(model, data, loss, optimizer)


def train_and_predict_rnn(rnn: Callable[..., Any], get_params: Callable[[], Sequence[torch.Tensor]],
                          init_rnn_state: Callable[..., Any], num_hiddens: int, vocab_size: int,
                          device: torch.device | str | None, corpus_indices: Corpus, idx_to_char: Sequence[str],
                          char_to_idx: dict[str, int], is_random_iter: bool, num_epochs: int, num_steps: int,
                          lr: float, clipping_theta: float, batch_size: int, pred_period: int, pred_len: int,
                          prefixes: Sequence[str]) -> History:
    """Train the book's from-scratch ``rnn`` (6.4, 6.7, 6.8) with SGD (``lr``, on the mean
    loss), gradients clipped to ``clipping_theta``, random or consecutive sampling (the
    state carried across batches, detached); every ``pred_period`` epochs print
    ``epoch N, perplexity P, time T sec`` and continue each prefix by ``pred_len``
    characters. Returns the History (``loss`` and ``perplexity`` per epoch)."""
    where = "train_and_predict_rnn"
    is_random_iter = flag(is_random_iter, "is_random_iter", where)
    prefixes = _check_training(where, vocab_size, idx_to_char, corpus_indices, batch_size, num_steps,
                               clipping_theta, pred_period, pred_len, prefixes, is_random_iter)
    device = book_device(device, where)
    params = get_params()
    model = _FunctionRNN(rnn, params, init_rnn_state, num_hiddens, vocab_size, device)

    def predict(prefix: str) -> str:
        return _predict(prefix, pred_len, model, idx_to_char, device, where)

    data = _BookSequences(corpus_indices, num_steps, device, is_random_iter)
    optimizer = BookSGD(params, lr)  # the book's sgd(params, lr, 1), rounded as written
    return _train(model, list(params), optimizer, data, clipping_theta, num_epochs, batch_size,
                  pred_period, prefixes, predict)


def _check_training(where: str, vocab_size: object, idx_to_char: Sequence[str], corpus_indices: Corpus,
                    batch_size: object, num_steps: object, clipping_theta: object, pred_period: object,
                    pred_len: object, prefixes: object, is_random_iter: bool) -> list[str]:
    """Every argument of a chapter-6 training loop checked before its first epoch; the prefixes as a list."""
    _check_vocab(where, vocab_size, idx_to_char)
    sampler_args(where, corpus_indices, batch_size, num_steps,
                  random_count if is_random_iter else consecutive_count)
    positive_number(clipping_theta, "clipping_theta", where, allow_inf=True)
    integer(pred_period, "pred_period", where)
    integer(pred_len, "pred_len", where, minimum=0)
    return _check_prefixes(where, prefixes, idx_to_char)


# -- 6.5: the concise version ------------------------------------------------------------------
class _BookModule(nn.Module):
    """A model with the book's call ``model(X, state) -> (logits (num_steps * batch, vocab), state)``
    (6.5's ``RNNModel``) as a stateful minidl Model; its first state is None, as the book's."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def begin_state(self, batch_size: int, device: torch.device | str) -> Any:
        """None: the book's layers start from zeros."""
        return None

    def forward_with_state(self, X: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """The book's call; logits as (batch, num_steps, vocab_size)."""
        output, state = self.model(X, state)
        return output.view(X.shape[1], X.shape[0], -1).transpose(0, 1), state

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Logits (batch, num_steps, vocab_size) from a fresh state."""
        return self.forward_with_state(X, None)[0]


def predict_rnn_pytorch(prefix: str, num_chars: int, model: nn.Module, vocab_size: int,
                        device: torch.device | str | None, idx_to_char: Sequence[str],
                        char_to_idx: dict[str, int]) -> str:
    """:func:`predict_rnn` for a model called as ``model(X, state)`` (6.5's ``RNNModel``)."""
    _check_vocab("predict_rnn_pytorch", vocab_size, idx_to_char)
    return _predict(prefix, num_chars, _BookModule(model), idx_to_char, device, "predict_rnn_pytorch")


def train_and_predict_rnn_pytorch(model: nn.Module, num_hiddens: int, vocab_size: int,
                                  device: torch.device | str | None, corpus_indices: Corpus,
                                  idx_to_char: Sequence[str], char_to_idx: dict[str, int], num_epochs: int,
                                  num_steps: int, lr: float, clipping_theta: float, batch_size: int,
                                  pred_period: int, pred_len: int, prefixes: Sequence[str]) -> History:
    """Train ``model`` (6.5's ``RNNModel``) with ``torch.optim.Adam``, consecutive sampling,
    gradients clipped to ``clipping_theta``; print the book's lines every ``pred_period``
    epochs. Returns the History."""
    where = "train_and_predict_rnn_pytorch"
    prefixes = _check_training(where, vocab_size, idx_to_char, corpus_indices, batch_size, num_steps,
                               clipping_theta, pred_period, pred_len, prefixes, is_random_iter=False)
    positive_number(lr, "lr", where)
    device = book_device(device, where)
    model.to(device)
    params = list(model.parameters())

    def predict(prefix: str) -> str:
        return predict_rnn_pytorch(prefix, pred_len, model, vocab_size, device, idx_to_char, char_to_idx)

    data = _BookSequences(corpus_indices, num_steps, device, is_random_iter=False)
    optimizer = torch.optim.Adam(params, lr=lr)
    return _train(_BookModule(model), params, optimizer, data, clipping_theta, num_epochs, batch_size,
                  pred_period, prefixes, predict)
