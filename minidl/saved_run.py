"""Reading a run back from its directory: its configuration and checkpoint (:func:`read_run`),
its per-epoch records (:func:`read_metrics`), or the whole run built with its checkpoint
loaded (:func:`load_run`, a :class:`SavedRun`). The files are :mod:`minidl.run_layout`'s,
written by :class:`~minidl.records.RunRecorder`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minidl.checkpoint import check_compatible, load_training_checkpoint
from minidl.errors import CheckpointError, MinidlError
from minidl.run import Run
from minidl.run_layout import CHECKPOINT_FILE, CONFIG_FILE, METRICS_JSONL

if TYPE_CHECKING:
    import torch

    from minidl.config import RunConfig
    from minidl.plugins import Plugins
    from minidl.trainer import History

def read_run(run_dir: str | Path) -> tuple[RunConfig, dict[str, Any] | None]:
    """Read a run directory back: its configuration and its last checkpoint.

    The checkpoint is held to the schema (:func:`~minidl.checkpoint.check_state`). It is
    None for a run interrupted before its first epoch was saved (``config.toml`` is
    written first): such a run starts again from the beginning. Continue with ``run =
    build(config)`` (changing ``config.train.epochs`` first for more epochs),
    :func:`~minidl.checkpoint.check_compatible` and ``run.fit(resume=state)``, or use
    :func:`load_run`. Raises :class:`CheckpointError` naming ``run_dir`` when it is not a
    directory or holds no configuration, or a checkpoint that is missing or damaged.
    """
    from minidl.config import load_config

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"cannot read the run in {str(run_dir)!r}: no such directory")
    if not (run_dir / CONFIG_FILE).is_file():
        also = "" if (run_dir / CHECKPOINT_FILE).exists() else f" and no {CHECKPOINT_FILE}"
        raise CheckpointError(f"cannot read the run in {str(run_dir)!r}: it holds no {CONFIG_FILE}{also}; "
                              "resume a directory written by minidl train --out")
    config = load_config(run_dir / CONFIG_FILE)
    if not (run_dir / CHECKPOINT_FILE).exists():
        if _recorded_epochs(run_dir) <= 1:  # epoch 1's row is written just before its checkpoint
            return config, None
        raise CheckpointError(f"cannot read the run in {str(run_dir)!r}: it holds no {CHECKPOINT_FILE} "
                              f"although {METRICS_JSONL} records {_recorded_epochs(run_dir)} epochs")
    return config, load_training_checkpoint(run_dir / CHECKPOINT_FILE)


def _recorded_epochs(run_dir: Path) -> int:
    try:
        with open(run_dir / METRICS_JSONL, encoding="utf-8") as file:
            return sum(1 for line in file if line.strip())
    except OSError:
        return 0


@dataclass
class SavedRun(Run):
    """A run read back from its directory by :func:`load_run`: built, with its checkpoint loaded.

    ``directory`` is where it was read from, ``state`` the trainer state it holds (None
    for a run that had not finished an epoch). :meth:`fit` continues from that state:
    set ``run.trainer.max_epochs`` to a new total first. To keep recording into the
    directory, attach ``RunRecorder(run.directory, resume=True).start(run)`` before.
    """

    directory: Path = field(default_factory=Path)
    state: dict[str, Any] | None = None

    def fit(self, resume: dict[str, Any] | None = None) -> History:
        """Train on from ``resume`` (default: the state loaded, or the last fit's)."""
        history = super().fit(resume=self.state if resume is None else resume)
        self.state = self.trainer.state_dict()
        return history

    def evaluate(self) -> dict[str, float]:
        """Loss and metrics on each split, as an epoch's record has them (``loss``, ``test_loss``, ...)."""
        return self.trainer.evaluate()

    def predict(self, data: Any, *, split: str | None = None) -> torch.Tensor:
        """The model's outputs for a tensor of examples or a dataset split: see :meth:`Trainer.predict`."""
        return self.trainer.predict(self.model, data, split=split)


def load_run(run_dir: str | Path, plugins: Plugins | None = None, *, device: str | None = None) -> SavedRun:
    """A saved run (a ``minidl train --out`` directory) as built components, checkpoint loaded.

    ``load_run("runs/a")`` builds the run of ``runs/a/config.toml`` with ``plugins``
    (default: the installed ones) and loads ``checkpoint.pt`` into its model, optimizer,
    dataset, loss, callbacks and trainer: ready for ``run.evaluate()``,
    ``run.predict(X)`` (or ``run.trainer.predict(None, X)``) and, after
    ``run.trainer.max_epochs = N``, ``run.fit()`` for more epochs. ``device`` (``cpu``,
    ``cuda``, ...) replaces the device the run was trained on. Raises
    :class:`CheckpointError` (one line naming the file) for a missing, damaged or
    mismatched checkpoint.
    """
    from minidl.run import build

    run_dir = Path(run_dir)
    config, state = read_run(run_dir)
    if device is not None:
        config = config.with_flags(device=device)
    run = build(config, plugins)
    trainer = run.trainer
    trainer.setup(run.model, run.dataset, run.loss, run.optimizer)
    if state is not None:
        source = f"checkpoint {str(run_dir / CHECKPOINT_FILE)!r}"
        check_compatible(run.model, state, source, optimizer=run.optimizer)
        trainer.load_state_dict(state, source)
    return SavedRun(run.config, run.dataset, run.model, run.loss, run.optimizer, trainer,
                    directory=run_dir, state=state)


def read_metrics(run: str | Path) -> list[dict[str, Any]]:
    """The per-epoch records of a run directory (or of a ``metrics.jsonl`` file)."""
    path = Path(run)
    if path.is_dir():
        path = path / METRICS_JSONL
    if not path.is_file():
        raise MinidlError(
            f"no run records at {str(run)!r}: expected a run directory written by "
            f"minidl train --out (with {METRICS_JSONL}) or a {METRICS_JSONL} file"
        )
    records = []
    with open(path, "rb") as file:  # decoded line by line: a damaged byte is named with its line
        for number, raw in enumerate(file, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MinidlError(f"{str(path)!r}, line {number}: not UTF-8 text ({exc.reason} at byte "
                                  f"{exc.start}); every line of {METRICS_JSONL} is one epoch's JSON record") from None
            if line.strip():
                records.append(_metrics_record(path, number, line))
    return records


def _metrics_record(path: Path, number: int, line: str) -> dict[str, Any]:
    """One line of ``metrics.jsonl``: a JSON object with an integer ``epoch``."""
    where = f"{str(path)!r}, line {number}"
    try:
        record = json.loads(line)
    except ValueError:
        raise MinidlError(f"{where}: not a JSON record: {line.strip()[:60]!r}") from None
    if not isinstance(record, dict):
        raise MinidlError(f"{where}: not a JSON record (an object): {line.strip()[:60]!r}")
    epoch = record.get("epoch")
    if isinstance(epoch, bool) or not isinstance(epoch, int):
        found = "has no 'epoch'" if epoch is None else f"has 'epoch' {epoch!r}, not an integer"
        raise MinidlError(f"{where}: the record {found}; every line of {METRICS_JSONL} is one epoch's record")
    return record
