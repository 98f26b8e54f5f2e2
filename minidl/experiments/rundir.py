"""A run directory read back as a row of the run index: what ``runs reindex`` rebuilds from.

Reads ``run.json`` (id, status, invocations), ``config.toml``, ``versions.json`` and
``metrics.jsonl``; a directory a sweep trained (its parent holds ``sweep.json``) names
the sweep. A run recorded before ids existed gets one derived from its path.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import tomllib
from collections.abc import Container, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from minidl.checkpoint import reason_of
from minidl.errors import MinidlError
from minidl.run_layout import CONFIG_FILE, METRICS_JSONL, RUN_FILE, VERSIONS_FILE

SWEEP_FILE = "sweep.json"  # in a sweep's directory, beside its points
STATUSES = ("running", "finished", "diverged", "interrupted", "failed")
#: The index's columns that hold numbers; a hand-edited file's other values there are dropped.
INTEGER_COLUMNS = ("batch_size", "epochs", "seed", "epochs_done", "pid")
REAL_COLUMNS = ("duration", "lr", "final_loss", "final_test_loss", "best_loss", "best_test_loss")
TIME_COLUMNS = ("started", "ended")


def is_run_dir(path: Path) -> bool:
    """Whether ``path`` holds the records of ``minidl train --out``."""
    return (path / RUN_FILE).is_file() and (path / CONFIG_FILE).is_file()


def find_run_dirs(root: Path, _seen: set[tuple[int, int]] | None = None) -> Iterator[Path]:
    """Every run directory under ``root`` (not inside another run, nor in hidden folders), sorted.

    Each directory is looked into once, however many symbolic links lead to it: two links
    to ``.`` made the walk grow without end.
    """
    seen = set() if _seen is None else _seen
    try:
        info = root.stat()
    except OSError:
        return
    if (info.st_dev, info.st_ino) in seen:
        return
    seen.add((info.st_dev, info.st_ino))
    if is_run_dir(root):
        yield root
        return
    try:
        children = sorted(child for child in root.iterdir() if child.is_dir() and not child.name.startswith("."))
    except OSError:
        return
    for child in children:
        yield from find_run_dirs(child, seen)


def now() -> str:
    """The time as the index writes it: ISO 8601 UTC, milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def derived_id(path: Path) -> str:
    """The id of a run whose ``run.json`` holds none: 8 hex digits of its absolute path's hash."""
    return hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]


def fresh_id(path: Path, taken: Container[str]) -> str:
    """An id for the copy in ``path`` that no other run or sweep has: :func:`derived_id`, else
    (a copy made again where one stood before) random hex digits."""
    candidate = derived_id(path)
    while candidate in taken:
        candidate = secrets.token_hex(4)
    return candidate


def write_id(path: Path, identifier: str) -> bool:
    """Put ``identifier`` into the JSON object in ``path`` (``run.json``, ``sweep.json``), atomically,
    everything else kept; False when it cannot be read or written (a read-only copy)."""
    from minidl.checkpoint import write_json

    try:
        record = read_json(path)
        if not isinstance(record, dict):
            return False
        write_json(path, {**record, "id": identifier})
    except MinidlError:  # unreadable, or a WriteError
        return False
    return True


def copy_of(directory: Path, identifier: str, recorded: str | None, file_name: str) -> Path | None:
    """The directory ``directory`` was copied from (``cp -r``), if it is one: the index records
    ``identifier`` at ``recorded``, another directory whose ``file_name`` (``run.json``,
    ``sweep.json``) still holds that id. None for the same directory, or one moved (gone from
    ``recorded``, or no longer holding the id): a moved directory keeps its id."""
    if recorded is None or Path(recorded) == directory.resolve():
        return None
    try:
        record = read_json(Path(recorded) / file_name)
    except MinidlError:
        return None
    return Path(recorded) if isinstance(record, dict) and record.get("id") == identifier else None


def read_json(path: Path) -> Any:
    """A JSON file's content; :class:`MinidlError` naming the file when it is missing or broken."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise MinidlError(f"cannot read {str(path)!r}: {exc}") from None


SweepMemo = dict[Path, tuple[str | None, frozenset[str]]]  # a sweep folder -> its id and point names


def run_row(path: Path, sweeps: SweepMemo | None = None) -> dict[str, Any]:
    """The index row of run directory ``path``; :class:`MinidlError` naming a broken file.

    ``sweeps``: a dict kept across calls, so each sweep's ``sweep.json`` is read once when
    rows of many of its points are made (a sweep of 3,000 points holds a 270 KB spec).
    """
    path = path.resolve()
    info = read_json(path / RUN_FILE)
    if not isinstance(info, dict):
        raise MinidlError(f"{str(path / RUN_FILE)!r} is not a run record (a JSON object)")
    config = _read_config(path / CONFIG_FILE)
    records = _read_records(path / METRICS_JSONL)
    entries = info.get("invocations")
    invocations = [entry for entry in entries if isinstance(entry, dict)] if isinstance(entries, list) else []
    last = invocations[-1] if invocations else {}
    command = last.get("command")
    run_id = info.get("id")
    row = {
        "id": run_id if isinstance(run_id, str) and run_id.strip() else derived_id(path), "dir": str(path),
        "sweep": sweep_of(path, sweeps),
        "started": invocations[0].get("started") if invocations else None, "ended": last.get("ended"),
        "duration": duration(invocations),
        "command": json.dumps(command if isinstance(command, list) and all(isinstance(c, str) for c in command)
                              else []),
        "stop_reason": last.get("stop_reason"), "error": last.get("error"), "host": last.get("host"),
        "pid": last.get("pid"),
        "config": json.dumps(plain(config)), "versions": _versions_text(path / VERSIONS_FILE), "updated": now(),
        **config_fields(config), **metric_fields(records),
    }
    row["status"] = _status(info.get("status"), row)
    return typed(row)


def typed(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with each value of the type of its column: a hand-edited ``run.json`` or ``config.toml``
    (``epochs = "three"``, ``"ended": []``) gives None there (text columns: its JSON), never a value
    SQLite cannot store."""
    for key, value in row.items():
        if key in INTEGER_COLUMNS:
            row[key] = value if isinstance(value, int) and not isinstance(value, bool) \
                and -(2**63) <= value < 2**63 else None
        elif key in REAL_COLUMNS:
            number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
            row[key] = float(number) if number is not None and math.isfinite(number) else None
        elif key in TIME_COLUMNS:
            row[key] = value if isinstance(value, str) else None
        elif value is not None and not isinstance(value, str):
            row[key] = json.dumps(plain(value), default=str)
    return row


def config_fields(config: Mapping[str, Any]) -> dict[str, Any]:
    """The index's columns taken from a resolved configuration (as read from TOML)."""
    def table(kind: str) -> Mapping[str, Any]:
        value = config.get(kind)
        return value if isinstance(value, Mapping) else {}

    train = table("train")
    fields: dict[str, Any] = {kind: table(kind).get("name") for kind in ("dataset", "model", "loss", "optimizer")}
    fields = {kind: name if isinstance(name, str) else None for kind, name in fields.items()}
    lr = table("optimizer").get("lr")
    fields["lr"] = lr if isinstance(lr, (int, float)) and not isinstance(lr, bool) else None
    fields.update({key: train.get(key) for key in ("batch_size", "epochs", "seed")})
    return fields


def metric_fields(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The index's metric columns from the per-epoch records: the last epoch's and each best."""
    final = {key: finite(value) for key, value in records[-1].items()} if records else {}
    best: dict[str, float] = {}
    for record in records:
        for key, value in record.items():
            value = finite(value)
            if key == "epoch" or not isinstance(value, (int, float)) or isinstance(value, bool):
                continue
            better = max if key.endswith("accuracy") else min
            best[key] = better(best[key], value) if key in best else value
    epoch = final.get("epoch")
    return {
        "epochs_done": (epoch if isinstance(epoch, int) and not isinstance(epoch, bool) else len(records))
        if records else 0,
        "final": json.dumps(final), "best": json.dumps(best),
        "final_loss": final.get("loss"), "final_test_loss": final.get("test_loss"),
        "best_loss": best.get("loss"), "best_test_loss": best.get("test_loss"),
    }


def finite(value: Any) -> Any:
    """``value``, or None for a nan or infinite float (JSON and SQLite have no such numbers)."""
    return None if isinstance(value, float) and not math.isfinite(value) else value


def plain(value: Any) -> Any:
    """``value`` with every nan or infinite float (an option allowing them) as a string: valid JSON."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def duration(invocations: Sequence[Mapping[str, Any]]) -> float | None:
    """Seconds trained over every invocation; one still running counts until now."""
    total, known = 0.0, False
    for entry in invocations:
        started = _time(entry.get("started"))
        ended = _time(entry.get("ended")) or (datetime.now(UTC) if entry is invocations[-1] else None)
        if started and ended:
            total, known = total + max((ended - started).total_seconds(), 0.0), True
    return round(total, 3) if known else None


def sweep_of(path: Path, sweeps: SweepMemo | None = None) -> str | None:
    """The id of the sweep whose directory holds run directory ``path`` as one of its points, if any.

    ``sweeps``: as for :func:`run_row`.
    """
    memo = {} if sweeps is None else sweeps
    if path.parent not in memo:
        memo[path.parent] = _sweep_points(path.parent / SWEEP_FILE)
    sweep_id, names = memo[path.parent]
    return sweep_id if path.name in names else None  # a run put into the sweep's folder is not one of its points


def _sweep_points(sweep_file: Path) -> tuple[str | None, frozenset[str]]:
    if not sweep_file.is_file():
        return None, frozenset()
    try:
        spec = read_json(sweep_file)
    except MinidlError:
        return None, frozenset()
    if not isinstance(spec, dict):
        return None, frozenset()
    points = spec.get("points")
    listed = points if isinstance(points, list) else []
    names = frozenset(str(point["name"]) for point in listed if isinstance(point, dict)
                      and isinstance(point.get("name"), str))
    run_id = spec.get("id")
    return (run_id if isinstance(run_id, str) and run_id else None), names


def _status(recorded: Any, row: Mapping[str, Any]) -> str:
    if recorded in STATUSES:
        return str(recorded)
    # recorded before statuses existed: finished when every epoch is there
    epochs = row.get("epochs")
    done = isinstance(epochs, int) and row["epochs_done"] >= epochs
    return "finished" if done or row.get("stop_reason") else "interrupted"


def _read_config(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise MinidlError(f"cannot read {str(path)!r}: {exc}") from None


def _read_records(path: Path) -> list[dict[str, Any]]:
    """The per-epoch records; a last line cut short (the process was killed as it wrote) is left out."""
    if not path.is_file():
        return []
    try:
        lines = path.read_bytes().split(b"\n")
    except OSError as exc:
        raise MinidlError(f"cannot read {str(path)!r}: {reason_of(exc)}") from None
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            if number == len(lines):  # no newline after it: written in part
                break
            raise MinidlError(f"cannot read {str(path)!r}, line {number}: {exc}") from None
        if not isinstance(record, dict):
            raise MinidlError(f"cannot read {str(path)!r}, line {number}: not a record (a JSON object) but "
                              f"{line.decode('utf-8', 'replace')[:40]!r}")
        records.append(record)
    return records


def _versions_text(path: Path) -> str | None:
    try:
        return json.dumps(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def _time(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        return None
