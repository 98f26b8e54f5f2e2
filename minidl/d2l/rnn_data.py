"""Chapter 6.3's helpers: the lyrics corpus and its two samplers, under the book's names.

Thin wrappers over the ``minidl-sequence`` plugin (imported on first use); their
arguments are checked when they are called. :mod:`minidl.d2l.rnn` re-exports them.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType

import torch

from minidl.d2l.checks import as_device, integer
from minidl.d2l.lazy import first_party
from minidl.errors import MinidlError

__all__ = ["Batches", "Corpus", "data_iter_consecutive", "data_iter_random", "load_data_jay_lyrics"]

NEEDED_FOR = "the book's chapter-6 helpers"
Corpus = Sequence[int] | torch.Tensor
Batches = Iterator[tuple[torch.Tensor, torch.Tensor]]


def sequence_module(module: str) -> ModuleType:
    """``minidl_sequence.<module>``, or an error saying how to install the plugin."""
    return first_party(f"minidl_sequence.{module}", NEEDED_FOR)


def book_device(device: torch.device | str | None, where: str = "the chapter-6 helpers") -> torch.device:
    """The book's default: cuda when available, else the cpu."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return as_device(device, where)


def _check_corpus(corpus_indices: object, where: str) -> None:
    """A corpus is a sequence (or 1-D tensor) of character indices, not text."""
    if isinstance(corpus_indices, str):
        raise TypeError(f"{where}: corpus_indices must be the characters' indices, got the text itself; "
                        f"use the corpus_indices of load_data_jay_lyrics()")
    if isinstance(corpus_indices, torch.Tensor) and corpus_indices.dim() != 1:
        raise ValueError(f"{where}: corpus_indices must be 1-D, got shape {tuple(corpus_indices.shape)}")
    if not hasattr(corpus_indices, "__len__"):
        raise TypeError(f"{where}: corpus_indices must be a list (or 1-D tensor) of character indices, "
                        f"got {type(corpus_indices).__name__}")


def sampler_args(where: str, corpus_indices: Corpus, batch_size: object, num_steps: object,
                 count: Callable[[int, int, int], int]) -> tuple[int, int]:
    """``batch_size`` and ``num_steps`` checked, and the corpus long enough for one batch."""
    _check_corpus(corpus_indices, where)
    batch_size, num_steps = integer(batch_size, "batch_size", where), integer(num_steps, "num_steps", where)
    n = len(corpus_indices)
    if count(n, batch_size, num_steps) < 1:
        raise MinidlError(f"{where}: a corpus of {n} characters gives no batch of batch_size={batch_size} "
                          f"sequences of num_steps={num_steps}; use a longer corpus or a smaller batch_size "
                          f"or num_steps")
    return batch_size, num_steps


def random_count(n: int, batch_size: int, num_steps: int) -> int:
    """Batches random sampling draws from a corpus of ``n`` characters."""
    return (n - 1) // num_steps // batch_size


def consecutive_count(n: int, batch_size: int, num_steps: int) -> int:
    """Batches consecutive sampling draws from a corpus of ``n`` characters."""
    return int(sequence_module("data").consecutive_steps(n, batch_size, num_steps))


# -- 6.3: the corpus and its two samplers ------------------------------------------------
def load_data_jay_lyrics(path: str | None = None) -> tuple[list[int], dict[str, int], list[str], int]:
    """The book's corpus: ``(corpus_indices, char_to_idx, idx_to_char, vocab_size)`` of the
    first 10,000 characters of ``jaychou_lyrics.txt.zip``, newlines as spaces.

    Read from ``path`` (the zip, the text file or their folder), else ``$MINIDL_DATA``,
    else the book's ``../../data/``. The characters are indexed in sorted order (the
    book's ``list(set(...))`` order changes with Python's hash seed).
    """
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load_data_jay_lyrics: path must be a file or folder (a str or a path), got {path!r} "
                        f"({type(path).__name__})")
    corpus = sequence_module("corpus")
    text = corpus.read_corpus(path, corpus.BOOK_NUM_CHARS,
                              hint="pass its path, load_data_jay_lyrics(path), or set MINIDL_DATA to its folder")
    if not text:
        raise MinidlError(f"load_data_jay_lyrics: the corpus read from {corpus.locate(path)} is empty; "
                          f"give the book's {corpus.LYRICS_ZIP}")
    vocab = corpus.Vocabulary.of(text)
    return vocab.encode(text), vocab.char_to_idx, list(vocab.idx_to_char), len(vocab)


def data_iter_random(corpus_indices: Corpus, batch_size: int, num_steps: int,
                     device: torch.device | str | None = None) -> Batches:
    """Random sampling: windows of ``num_steps`` characters in an order from Python's
    ``random.shuffle``, ``batch_size`` per batch (an incomplete last batch is dropped);
    ``(X, Y)`` float32, ``Y`` one character later. The arguments are checked when it is
    called (a corpus that gives no batch at all is an error), the order drawn when iterated."""
    batch_size, num_steps = sampler_args("data_iter_random", corpus_indices, batch_size, num_steps, random_count)
    return _random_batches(corpus_indices, batch_size, num_steps, book_device(device, "data_iter_random"))


def _random_batches(corpus_indices: Corpus, batch_size: int, num_steps: int, device: torch.device) -> Batches:
    data = sequence_module("data")
    num_examples = (len(corpus_indices) - 1) // num_steps
    example_indices = list(range(num_examples))
    random.shuffle(example_indices)
    X, Y = data.windows(torch.as_tensor(corpus_indices, dtype=torch.float32, device=device), num_steps)
    order = torch.tensor(example_indices, dtype=torch.int64, device=device)
    yield from data.random_batches(X, Y, batch_size, order, drop_last=True)


def data_iter_consecutive(corpus_indices: Corpus, batch_size: int, num_steps: int,
                          device: torch.device | str | None = None) -> Batches:
    """Consecutive sampling: the corpus as ``batch_size`` rows, ``num_steps`` columns per
    batch, so that each batch continues the one before; ``(X, Y)`` float32. The arguments
    are checked when it is called (a corpus that gives no batch at all is an error)."""
    where = "data_iter_consecutive"
    batch_size, num_steps = sampler_args(where, corpus_indices, batch_size, num_steps, consecutive_count)
    corpus = torch.as_tensor(corpus_indices, dtype=torch.float32, device=book_device(device, where))
    return sequence_module("data").consecutive_batches(corpus, batch_size, num_steps)  # type: ignore[no-any-return]


# -- 6.4: prediction and gradient clipping ----------------------------------------------
