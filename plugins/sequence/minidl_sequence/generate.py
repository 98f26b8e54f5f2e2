"""Generation from a saved run: the model of ``minidl train --out DIR``, its vocabulary, and
the book's ``predict_rnn``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from minidl.errors import MinidlError
from minidl.records import load_run
from minidl_sequence.components import check_stateful, predict
from minidl_sequence.corpus import Vocabulary

if TYPE_CHECKING:
    from minidl.plugins import Plugins


def generate(run_dir: str | Path, prefix: str, length: int, plugins: Plugins | None = None) -> str:
    """``prefix`` and ``length`` characters more, from the trained model in ``run_dir``.

    The run is rebuilt from its ``config.toml`` (so its corpus is read again, and must be
    the one it was trained on) and its ``checkpoint.pt`` loaded. Raises
    :class:`MinidlError` for a run without a sequence model or character dataset, or a
    prefix with characters outside the run's vocabulary (naming them).
    """
    if not Path(run_dir).is_dir():
        raise MinidlError(f"cannot generate from {str(run_dir)!r}: no such directory; give a run directory "
                          "written by minidl train --out")
    saved = load_run(run_dir, plugins, device="cpu")  # one character at a time: the cpu is the fast place
    config = saved.config
    check_stateful(saved.model, f"the model of {str(run_dir)!r} (model {config.model.name!r})")
    vocab = getattr(saved.dataset, "vocab", None)
    if not isinstance(vocab, Vocabulary):
        raise MinidlError(f"the dataset of {str(run_dir)!r} (dataset {config.dataset.name!r}) has no character "
                          "vocabulary; generate needs a run trained on a character dataset such as jay-lyrics")
    if not prefix:
        raise MinidlError("--prefix is empty; give at least one character to continue")
    try:
        return predict(prefix, length, saved.model, vocab)
    except MinidlError as exc:
        raise MinidlError(f"--prefix {prefix!r}: {exc}") from None
