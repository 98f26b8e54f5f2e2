"""Generation from a saved run: the model of ``minidl train --out DIR``, its vocabulary, and
the book's ``predict_rnn``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from minidl.errors import MinidlError, shown
from minidl.saved_run import check_run_dir, load_run
from minidl_sequence.components import check_stateful, predict
from minidl_sequence.corpus import Vocabulary

if TYPE_CHECKING:
    from minidl.plugins import Plugins


def generate(run_dir: str | Path, prefix: str, length: int, plugins: Plugins | None = None) -> str:
    """``prefix`` and ``length`` characters more, from the trained model in ``run_dir``.

    The run is rebuilt from its ``config.toml`` (so its corpus is read again, and must be
    the one it was trained on) and its ``checkpoint.pt`` loaded. Raises
    :class:`MinidlError` for a path that is no readable run directory, a run without a
    finished epoch (its model untrained), without a sequence model or character
    dataset, or a prefix that is empty or has characters outside the run's vocabulary
    (naming them).
    """
    check_run_dir(run_dir, "generate from")
    if not prefix:
        raise MinidlError("--prefix is empty; give at least one character to continue")
    saved = load_run(run_dir, plugins, device="cpu")  # one character at a time: the cpu is the fast place
    if saved.state is None:
        raise MinidlError(f"the run in {str(run_dir)!r} has no finished epoch (no checkpoint.pt): its model is "
                          "untrained, nothing to generate from; train it on with minidl train --resume")
    config = saved.config
    check_stateful(saved.model, f"the model of {str(run_dir)!r} (model {config.model.name!r})")
    vocab = getattr(saved.dataset, "vocab", None)
    if not isinstance(vocab, Vocabulary):
        raise MinidlError(f"the dataset of {str(run_dir)!r} (dataset {config.dataset.name!r}) has no character "
                          "vocabulary; generate needs a run trained on a character dataset such as jay-lyrics")
    try:
        return predict(prefix, length, saved.model, vocab)
    except MinidlError as exc:
        raise MinidlError(f"--prefix {shown(prefix)}: {exc}") from None
