"""Registers chapter 6's components (recurrent neural networks) and ``minidl generate``.

Dataset ``jay-lyrics``; models ``rnn-scratch``, ``gru-scratch``, ``lstm-scratch`` (6.4,
6.7, 6.8) and ``rnn``, ``gru``, ``lstm`` (torch layers, 6.5); loss
``sequence-cross-entropy``; metric ``perplexity``. Clip gradients with the built-in
``grad-clip`` callback. Factories import torch only when called, so ``minidl list``
stays instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from minidl import hookimpl
from minidl.options import Ge, Le

if TYPE_CHECKING:
    import click

    from minidl.hookspecs import Register

BOOK_VOCAB = 1027  # the vocabulary of the book's 10,000 characters, when no dataset says
BOOK_HIDDENS = 256
MAX_CHARS = 10**8


def jay_lyrics(path: str | None = None, sampling: Literal["random", "consecutive"] = "random",
               num_steps: Annotated[int, Ge(1), Le(10**6)] = 35,
               num_chars: Annotated[int, Ge(2), Le(MAX_CHARS)] = 10_000) -> Any:
    """The book's Jay Chou lyrics, character by character (first 10,000, newlines as spaces).

    Args:
        path: the jaychou_lyrics.txt.zip file, or its folder (default: $MINIDL_DATA, else ../../data/)
        sampling: random (shuffled windows, fresh state each batch) or consecutive (state carried)
        num_steps: characters per example (time steps)
        num_chars: how many characters of the corpus to keep (the book keeps 10,000)
    """
    import torch

    from minidl_sequence.corpus import Vocabulary, read_corpus
    from minidl_sequence.data import LyricsData

    text = read_corpus(path, num_chars, hint="point at it with --set dataset.path=FILE_OR_FOLDER, "
                                             "or set MINIDL_DATA to its folder")
    vocab = Vocabulary.of(text)
    corpus = torch.tensor(vocab.encode(text), dtype=torch.int64)
    return LyricsData(corpus, vocab, num_steps, sampling)


def _estimate_bytes(options: dict[str, Any]) -> int:
    """About 64 bytes per character kept (the text, its indices as a list and a tensor); no
    more characters than the file's bytes. A missing file estimates 0: building says where."""
    from minidl.errors import MinidlError
    from minidl_sequence.corpus import text_bytes

    try:
        size = text_bytes(options.get("path"))
    except MinidlError:
        return 0
    return 64 * min(int(options["num_chars"]), size)


jay_lyrics.estimate_bytes = _estimate_bytes  # type: ignore[attr-defined]


def _vocab(num_outputs: int | None) -> int:
    return BOOK_VOCAB if num_outputs is None else num_outputs


def _scratch(cell: str, num_outputs: int | None, num_hiddens: int) -> Any:
    from minidl_sequence.models import ScratchRNN

    return ScratchRNN(cell, _vocab(num_outputs), num_hiddens)


def _layer(cell: str, num_outputs: int | None, num_hiddens: int, num_layers: int) -> Any:
    from minidl_sequence.models import layer_model

    return layer_model(cell, _vocab(num_outputs), num_hiddens, num_layers)


Hiddens = Annotated[int, Ge(1), Le(65_536)]
Layers = Annotated[int, Ge(1), Le(64)]
Vocab = Annotated[int, Ge(1), Le(10**7)] | None


def rnn_scratch(num_outputs: Vocab = None, num_hiddens: Hiddens = BOOK_HIDDENS) -> Any:
    """RNN from scratch (6.4): H = tanh(X W_xh + H W_hh + b_h), logits H W_hq + b_q; loss sequence-cross-entropy.

    Args:
        num_outputs: vocabulary size, one-hot inputs and output scores (default: the dataset's, else 1027)
        num_hiddens: hidden units
    """
    return _scratch("rnn", num_outputs, num_hiddens)


def gru_scratch(num_outputs: Vocab = None, num_hiddens: Hiddens = BOOK_HIDDENS) -> Any:
    """GRU from scratch (6.7): update and reset gates, logits per step; loss sequence-cross-entropy.

    Args:
        num_outputs: vocabulary size, one-hot inputs and output scores (default: the dataset's, else 1027)
        num_hiddens: hidden units
    """
    return _scratch("gru", num_outputs, num_hiddens)


def lstm_scratch(num_outputs: Vocab = None, num_hiddens: Hiddens = BOOK_HIDDENS) -> Any:
    """LSTM from scratch (6.8): input, forget, output gates, memory cell; loss sequence-cross-entropy.

    Args:
        num_outputs: vocabulary size, one-hot inputs and output scores (default: the dataset's, else 1027)
        num_hiddens: hidden units
    """
    return _scratch("lstm", num_outputs, num_hiddens)


def rnn(num_outputs: Vocab = None, num_hiddens: Hiddens = BOOK_HIDDENS, num_layers: Layers = 1) -> Any:
    """nn.RNN and a dense layer on one-hot characters (6.5's RNNModel); loss sequence-cross-entropy.

    Args:
        num_outputs: vocabulary size, one-hot inputs and output scores (default: the dataset's, else 1027)
        num_hiddens: hidden units
        num_layers: stacked recurrent layers
    """
    return _layer("rnn", num_outputs, num_hiddens, num_layers)


def gru(num_outputs: Vocab = None, num_hiddens: Hiddens = BOOK_HIDDENS, num_layers: Layers = 1) -> Any:
    """nn.GRU and a dense layer on one-hot characters (6.7, concise); loss sequence-cross-entropy.

    Args:
        num_outputs: vocabulary size, one-hot inputs and output scores (default: the dataset's, else 1027)
        num_hiddens: hidden units
        num_layers: stacked recurrent layers
    """
    return _layer("gru", num_outputs, num_hiddens, num_layers)


def lstm(num_outputs: Vocab = None, num_hiddens: Hiddens = BOOK_HIDDENS, num_layers: Layers = 1) -> Any:
    """nn.LSTM and a dense layer on one-hot characters (6.8, concise); loss sequence-cross-entropy.

    Args:
        num_outputs: vocabulary size, one-hot inputs and output scores (default: the dataset's, else 1027)
        num_hiddens: hidden units
        num_layers: stacked recurrent layers
    """
    return _layer("lstm", num_outputs, num_hiddens, num_layers)


MODELS = {"rnn-scratch": rnn_scratch, "gru-scratch": gru_scratch, "lstm-scratch": lstm_scratch,
          "rnn": rnn, "gru": gru, "lstm": lstm}
for _factory in MODELS.values():  # declared for minidl.compat, before anything is built
    _factory.output_kind = "logits"  # type: ignore[attr-defined]


def sequence_cross_entropy() -> Any:
    """Cross-entropy of the logits at every time step (the book's loss for chapter 6's models)."""
    from minidl_sequence.components import SequenceCrossEntropy

    return SequenceCrossEntropy()


sequence_cross_entropy.label_kind = "class"  # type: ignore[attr-defined]
sequence_cross_entropy.input_kind = "logits"  # type: ignore[attr-defined]


def perplexity() -> Any:
    """Perplexity: exp of the mean cross-entropy per character (train perplexity 1.0 is perfect)."""
    from minidl_sequence.components import Perplexity

    return Perplexity()


perplexity.label_kind = "class"  # type: ignore[attr-defined]


@hookimpl
def register_datasets(register: Register) -> None:
    """Register ``jay-lyrics``."""
    register("jay-lyrics", jay_lyrics)


@hookimpl
def register_models(register: Register) -> None:
    """Register the recurrent models, from scratch and on torch layers."""
    for name, factory in MODELS.items():
        register(name, factory)


@hookimpl
def register_losses(register: Register) -> None:
    """Register ``sequence-cross-entropy``."""
    register("sequence-cross-entropy", sequence_cross_entropy)


@hookimpl
def register_metrics(register: Register) -> None:
    """Register ``perplexity``."""
    register("perplexity", perplexity)


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``minidl generate``."""
    from minidl_sequence.cli import generate_command

    cli.add_command(generate_command)
