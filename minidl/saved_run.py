"""Reading a run back from its directory: its configuration and checkpoint (:func:`read_run`),
its per-epoch records (:func:`read_metrics`), or the whole run built with its checkpoint
loaded (:func:`load_run`, a :class:`SavedRun`). The files are :mod:`minidl.run_layout`'s,
written by :class:`~minidl.records.RunRecorder`.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from minidl.bounds import INT_CAP
from minidl.checkpoint import check_compatible, load_training_checkpoint, reason_of
from minidl.errors import CheckpointError, MinidlError, UnknownComponentError, shown
from minidl.run import Run
from minidl.run_layout import CHECKPOINT_FILE, CONFIG_FILE, METRICS_JSONL, VERSIONS_FILE

if TYPE_CHECKING:
    import torch

    from minidl.config import RunConfig
    from minidl.plugins import Plugins
    from minidl.trainer import History

def read_run(run_dir: str | Path, plugins: Plugins | None = None) -> tuple[RunConfig, dict[str, Any] | None]:
    """Read a run directory back: its configuration and its last checkpoint.

    The checkpoint is held to the schema (:func:`~minidl.checkpoint.check_state`). It is
    None for a run interrupted before its first epoch was saved (``config.toml`` is
    written first): such a run starts again from the beginning. Continue with ``run =
    build(config)`` (changing ``config.train.epochs`` first for more epochs),
    :func:`~minidl.checkpoint.check_compatible` and ``run.fit(resume=state)``, or use
    :func:`load_run`. With ``plugins`` the configuration comes back resolved against
    their registry, a value it no longer accepts (a component not installed, an option
    out of range) named with the file. Raises :class:`CheckpointError` naming
    ``run_dir`` when it is not a readable directory or holds no configuration, and
    :class:`MinidlError` naming the file and the field for a configuration that is
    incomplete or damaged, or a checkpoint that is missing or damaged.
    """
    from minidl.config import from_toml, read_config_text

    run_dir = check_run_dir(run_dir)
    config_path = run_dir / CONFIG_FILE
    if not _exists(config_path, file=True):
        also = "" if _exists(run_dir / CHECKPOINT_FILE) else f" and no {CHECKPOINT_FILE}"
        raise CheckpointError(f"cannot read the run in {str(run_dir)!r}: it holds no {CONFIG_FILE}{also}; "
                              f"give a directory written by minidl train --out")
    text = read_config_text(config_path)  # read once: parsed here, and checked whole
    config = from_toml(text, str(config_path))
    check_saved_config(config_path, text)
    if plugins is not None:
        config = resolve_saved(config, plugins, config_path)
    if not _exists(run_dir / CHECKPOINT_FILE):
        if _recorded_epochs(run_dir) <= 1:  # epoch 1's row is written just before its checkpoint
            return config, None
        raise CheckpointError(f"cannot read the run in {str(run_dir)!r}: it holds no {CHECKPOINT_FILE} "
                              f"although {METRICS_JSONL} records {_recorded_epochs(run_dir)} epochs")
    state = load_training_checkpoint(run_dir / CHECKPOINT_FILE)
    if plugins is not None:
        check_config_unchanged(config_path, text, config, state, plugins)
    return config, state


def check_config_unchanged(config_path: Path, text: str, config: RunConfig, state: Mapping[str, Any],
                           plugins: Plugins) -> None:
    """Refuse a ``config.toml`` edited (or a line deleted) since its checkpoint was saved.

    The checkpoint holds the configuration it was trained with (``"config"``; a checkpoint
    of an older minidl holds none, and nothing is checked). ``config`` is the file's,
    resolved; only the settings a resume may change (``train.epochs``, ``train.device``)
    may differ: any other would build a run that is not the one the checkpoint holds.
    """
    from minidl.config import SWAPS, changed_settings, comparable, flatten, from_toml

    saved_text = state.get("config")
    if not isinstance(saved_text, str) or saved_text == text:
        return
    try:
        trained = from_toml(saved_text, f"{CHECKPOINT_FILE}'s configuration").resolve(plugins.registry)
    except MinidlError:
        return  # it names something no longer installed: config.toml's own resolution is the check
    changed = changed_settings(trained, config)
    if not changed:
        return
    swapped = [key for key in changed if key in SWAPS]
    changed = swapped or changed  # another component: its options differ too, and say no more
    before, after = comparable(trained), comparable(config)
    written = flatten(from_toml(text, str(config_path)).to_dict())
    differences = "; ".join(f"{key} is {_setting(after, key, written)} there, {_setting(before, key)} in the "
                            "checkpoint" for key in changed[:3]) + ("; ..." if len(changed) > 3 else "")
    raise MinidlError(f"{str(config_path)!r} is not the configuration its checkpoint was trained with: {differences}; "
                      f"put it back, or start a new run from it: minidl train --config {config_path} "
                      "--out NEW_DIR")


def _setting(values: Mapping[str, Any], key: str, written: Mapping[str, Any] | None = None) -> str:
    if key not in values:
        return "not set"
    text = shown(values[key])
    missing = written is not None and key not in written and key != "callbacks"
    return f"{text} (its default: the line is missing)" if missing else text


def check_run_dir(run_dir: str | Path, doing: str = "read the run in") -> Path:
    """``run_dir`` as a :class:`Path`, once it is a directory this process can list.

    The one check every reader of a run directory makes first: raises
    :class:`CheckpointError` (one line naming ``run_dir``) for an empty name, a path
    that does not exist (or a broken symbolic link, or a loop of them), a file, or a
    directory that cannot be read (its permissions). Messages begin ``cannot {doing} 'DIR'``.
    """
    if str(run_dir) == "":
        raise CheckpointError("the run directory is an empty name; give a directory written by minidl train --out")
    path = Path(run_dir)
    where = f"cannot {doing} {str(path)!r}"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise CheckpointError(f"{where}: no such directory; give a directory written by minidl train --out") from None
    except OSError as exc:  # a loop of symbolic links, a folder above it that cannot be entered
        raise CheckpointError(f"{where}: {reason_of(exc)}") from None
    if not stat.S_ISDIR(mode):
        raise CheckpointError(f"{where}: it is a file, not a directory; give a directory written by "
                              "minidl train --out")
    try:
        os.listdir(path)
    except OSError as exc:
        raise CheckpointError(f"{where}: {reason_of(exc)}") from None
    return path


def _exists(path: Path, *, file: bool = False) -> bool:
    """Whether ``path`` is there (a file, with ``file``); one that cannot be looked at is a :class:`CheckpointError`."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise CheckpointError(f"cannot read {str(path)!r}: {reason_of(exc)}") from None
    return stat.S_ISREG(mode) or not file


#: What ``minidl train --out`` always writes into ``config.toml``: every table, each with these keys.
SAVED_TABLES: dict[str, tuple[str, ...]] = {
    "train": ("epochs", "batch_size", "seed", "device", "metrics"),
    "dataset": ("name",), "model": ("name",), "loss": ("name",), "optimizer": ("name",),
}


def check_saved_config(path: str | Path, text: str) -> None:
    """Raise :class:`MinidlError` unless ``text``, the ``config.toml`` at ``path`` of a run directory, is whole.

    :meth:`RunConfig.to_toml` writes every table (``[train]`` with all its settings, each
    component with its ``name``). A file that lacks one (emptied, cut short, another
    tool's) would otherwise read as the defaults and rebuild another run, silently; the
    message names the file and what it lacks. A configuration given with ``--config``
    may leave anything out: this is for saved runs only. ``text`` has been read as
    TOML already (:func:`~minidl.config.from_toml`).
    """
    import tomllib

    data = tomllib.loads(text)
    missing = []
    for table, keys in SAVED_TABLES.items():
        value = data.get(table)
        if not isinstance(value, dict):
            missing.append(f"[{table}]")
        else:
            missing += [f"{table}.{key}" for key in keys if key not in value]
    if missing:
        raise MinidlError(f"{str(Path(path))!r} is incomplete: it lacks {', '.join(missing)} (minidl train --out "
                          "writes it whole: it was cut short or edited); restore it")


def resolve_saved(config: RunConfig, plugins: Plugins, path: str | Path) -> RunConfig:
    """``config`` (read from ``path``, a saved run's) resolved; a value refused names the file."""
    try:
        return config.resolve(plugins.registry)
    except UnknownComponentError as exc:
        raise MinidlError(f"{str(path)!r}: {exc}{_plugins_not_loaded(Path(path).parent, plugins)}") from exc
    except MinidlError as exc:
        raise MinidlError(f"{str(path)!r}: {exc}") from exc


def _plugins_not_loaded(run_dir: Path, plugins: Plugins) -> str:
    """``; it was trained with './mine.py', not loaded now: give -p ./mine.py``: the plugins named
    with ``-p`` that the run's ``versions.json`` records and are not loaded; "" for none."""
    try:
        from minidl.experiments.rundir import read_json

        recorded = read_json(run_dir / VERSIONS_FILE).get("plugins")
        loaded = {info.name for info in plugins.info()}
        # the ones named with -p (no distribution): an installed one not loaded has its own hint
        missing = [str(entry.get("file") or entry["name"]) for entry in recorded if isinstance(entry, dict)
                   and isinstance(entry.get("name"), str) and not entry.get("distribution")
                   and entry["name"] not in loaded and entry.get("file") not in loaded]
    except (OSError, ValueError, AttributeError, TypeError):
        return ""
    if not missing:
        return ""
    return (f"; it was trained with {', '.join(map(shown, missing[:3]))}, not loaded now: give "
            + " ".join(f"-p {name}" for name in missing[:3]))


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
    from minidl.plugins import get_plugins
    from minidl.run import build

    plugins = plugins or get_plugins()
    config, state = read_run(run_dir, plugins)  # checks the directory first (check_run_dir)
    run_dir = Path(run_dir)
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
    """The per-epoch records of a run directory (or of a ``metrics.jsonl`` file).

    Each line is one epoch's JSON object, its ``epoch`` an integer from 1 up, rising
    line by line. Raises :class:`MinidlError` (one line naming the file, and the line)
    for a directory that cannot be read, a file that is missing or unreadable, or a line
    that is not such a record.
    """
    path = Path(run)
    if str(run) != "" and _exists(path) and not _exists(path, file=True):
        path = check_run_dir(path) / METRICS_JSONL
    if str(run) == "" or not _exists(path, file=True):
        raise MinidlError(
            f"no run records at {str(run)!r}: expected a run directory written by "
            f"minidl train --out (with {METRICS_JSONL}) or a {METRICS_JSONL} file"
        )
    records: list[dict[str, Any]] = []
    try:
        with open(path, "rb") as file:  # decoded line by line: a damaged byte is named with its line
            for number, raw in enumerate(file, 1):
                try:
                    line = raw.decode("utf-8-sig" if number == 1 else "utf-8")  # an editor's BOM is no damage
                except UnicodeDecodeError as exc:
                    raise MinidlError(f"{str(path)!r}, line {number}: not UTF-8 text ({exc.reason} at byte "
                                      f"{exc.start}); every line of {METRICS_JSONL} is one epoch's JSON "
                                      "record") from None
                if line.strip():
                    record = _metrics_record(path, number, line)
                    if records and record["epoch"] <= records[-1]["epoch"]:
                        raise MinidlError(f"{str(path)!r}, line {number}: epoch {record['epoch']} follows epoch "
                                          f"{records[-1]['epoch']}; the epochs of {METRICS_JSONL} rise line by line")
                    records.append(record)
    except OSError as exc:
        raise MinidlError(f"cannot read {str(path)!r}: {reason_of(exc)}") from None
    return records


def _metrics_record(path: Path, number: int, line: str) -> dict[str, Any]:
    """One line of ``metrics.jsonl``: a JSON object with an integer ``epoch`` from 1 up."""
    where = f"{str(path)!r}, line {number}"
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # RecursionError: arrays nested thousands deep
        raise MinidlError(f"{where}: not a JSON record: {line.strip()[:60]!r}") from None
    if not isinstance(record, dict):
        raise MinidlError(f"{where}: not a JSON record (an object): {line.strip()[:60]!r}")
    epoch = record.get("epoch")
    if epoch is None:
        found = "has no 'epoch'"
    elif isinstance(epoch, bool) or not isinstance(epoch, int):
        found = f"has 'epoch' {_short(epoch)}, not an integer"
    elif not 1 <= epoch <= INT_CAP:
        found = f"has 'epoch' {_short(epoch)}, not one from 1 to {INT_CAP}"
    else:
        return record
    raise MinidlError(f"{where}: the record {found}; every line of {METRICS_JSONL} is one epoch's record")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
