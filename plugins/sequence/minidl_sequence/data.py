"""Character sequences as minibatches: the book's random and consecutive sampling (6.3).

An example is ``num_steps`` characters ``X`` and the same window one character later,
``Y``: the model learns to predict each next character. Random sampling cuts the corpus
into ``(len - 1) // num_steps`` such windows and serves them shuffled; consecutive
sampling lays the corpus out as ``batch_size`` rows, so that row ``i`` of a batch
continues row ``i`` of the batch before and a hidden state can be carried over.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import torch

from minidl.errors import MinidlError, OptionError
from minidl_sequence.corpus import Vocabulary

Sampling = Literal["random", "consecutive"]
Batch = tuple[torch.Tensor, torch.Tensor]


def windows(corpus: torch.Tensor, num_steps: int) -> Batch:
    """Every non-overlapping window: ``X`` (n, num_steps) from position ``j * num_steps``,
    ``Y`` the same shifted by one; ``n = (len(corpus) - 1) // num_steps``."""
    n = (len(corpus) - 1) // num_steps
    X = corpus[: n * num_steps].reshape(n, num_steps)
    Y = corpus[1 : n * num_steps + 1].reshape(n, num_steps)
    return X, Y


def random_batches(X: torch.Tensor, Y: torch.Tensor, batch_size: int, order: torch.Tensor, *,
                   drop_last: bool = False) -> Iterator[Batch]:
    """Windows ``X[order[i:i+batch_size]]`` and their ``Y``, in ``order``; the last batch
    may be short, or is dropped with ``drop_last`` (the book's ``data_iter_random``)."""
    for i in range(0, len(order), batch_size):
        j = order[i : i + batch_size]
        if drop_last and len(j) < batch_size:
            return
        yield X.index_select(0, j), Y.index_select(0, j)


def consecutive_batches(corpus: torch.Tensor, batch_size: int, num_steps: int) -> Iterator[Batch]:
    """The book's ``data_iter_consecutive``: the corpus as ``batch_size`` rows of
    ``len // batch_size`` characters, served ``num_steps`` columns at a time."""
    batch_len = len(corpus) // batch_size
    rows = corpus[: batch_size * batch_len].view(batch_size, batch_len)  # (batch_size, batch_len)
    for i in range(0, (batch_len - 1) // num_steps * num_steps, num_steps):
        yield rows[:, i : i + num_steps], rows[:, i + 1 : i + num_steps + 1]


def consecutive_steps(num_chars: int, batch_size: int, num_steps: int) -> int:
    """How many batches consecutive sampling gives per epoch."""
    return max(0, (num_chars // batch_size - 1) // num_steps)


class LyricsData:
    """A character corpus served as the book samples it; a minidl Dataset.

    ``tensors("train")`` holds every window (the random sampler's examples), which is
    what the Trainer evaluates on, each from a fresh state. ``carries_state`` is True
    for consecutive sampling, so the Trainer carries the hidden state across batches.
    """

    splits = ("train",)
    label_kind = "class"  # labels are character indices

    def __init__(self, corpus: torch.Tensor, vocab: Vocabulary, num_steps: int, sampling: Sampling,
                 name: str = "dataset 'jay-lyrics'") -> None:
        if sampling not in ("random", "consecutive"):
            raise OptionError(f"{name}: sampling must be random or consecutive, got {sampling!r}")
        if len(corpus) < num_steps + 1:
            raise OptionError(f"{name}: num_steps={num_steps} needs at least {num_steps + 1} characters; "
                              f"the corpus has {len(corpus)}")
        self.name, self.vocab, self.num_steps, self.sampling = name, vocab, num_steps, sampling
        self.corpus = corpus  # (num_chars,) int64 character indices
        self.carries_state = sampling == "consecutive"
        self.num_outputs = len(vocab)  # one score per character: the models' vocab size
        self._windows = windows(corpus, num_steps)

    @property
    def idx_to_char(self) -> tuple[str, ...]:
        """The characters by index."""
        return self.vocab.idx_to_char

    @property
    def char_to_idx(self) -> dict[str, int]:
        """Each character's index."""
        return self.vocab.char_to_idx

    @property
    def vocab_size(self) -> int:
        """The number of distinct characters."""
        return len(self.vocab)

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        """One epoch: shuffled windows (random), or the rows' next columns (consecutive)."""
        if self.sampling == "consecutive":
            if consecutive_steps(len(self.corpus), batch_size, self.num_steps) == 0:
                raise MinidlError(
                    f"{self.name}: consecutive sampling of {len(self.corpus)} characters in {batch_size} rows "
                    f"leaves {len(self.corpus) // batch_size} per row, too few for num_steps={self.num_steps} "
                    f"plus one; use a batch size of at most {len(self.corpus) // (self.num_steps + 1)}")
            return consecutive_batches(self.corpus, batch_size, self.num_steps)
        X, Y = self._windows
        order = torch.randperm(len(X), generator=generator).to(X.device)
        return random_batches(X, Y, batch_size, order)

    def tensors(self, split: str = "train") -> Batch:
        """Every window ``(X, Y)``, in corpus order."""
        if split != "train":
            raise MinidlError(f"{self.name} has no split {split!r}; splits: train")
        return self._windows

    def to(self, device: torch.device | str) -> LyricsData:
        """Move the corpus to ``device``."""
        self.corpus = self.corpus.to(device)
        self._windows = (self._windows[0].to(device), self._windows[1].to(device))
        return self

    def state_dict(self) -> dict[str, Any]:
        """The vocabulary and sizes (the corpus is read again, not saved)."""
        return {"sizes": {"train": len(self._windows[0])}, "num_chars": len(self.corpus),
                "vocab": "".join(self.vocab.idx_to_char)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Check that the saved run read the same corpus (same characters, same vocabulary)."""
        mine = self.state_dict()
        for key, what in (("vocab", "vocabulary"), ("num_chars", "length"), ("sizes", "windows")):
            if key in state_dict and state_dict[key] != mine[key]:
                raise MinidlError(f"{self.name}: the corpus read now differs from the saved run's ({what} "
                                  f"differs); point dataset.path at the file the run was trained on")
