"""The table of ``minidl runs list`` (and of a sweep's end): plain text, aligned, one run a line."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping, Sequence
from typing import Any

#: The index columns a listing reads (never the configuration or versions: they are large).
LIST_COLUMNS = ("id", "status", "dataset", "model", "loss", "optimizer", "lr", "batch_size", "epochs",
                "epochs_done", "final_loss", "final_test_loss", "duration", "dir", "sweep", "started", "final",
                "host", "pid")
MISSING = "missing"  # the status shown for a run whose directory no longer exists
KILLED = "killed"  # shown for a run recorded as running whose process on this host is gone (SIGKILL, OOM)
HEADERS = ("ID", "STATUS", "DATASET/MODEL/LOSS/OPTIMIZER", "LR", "BATCH", "EPOCHS", "LOSS", "TEST LOSS",
           "TIME", "DIR")
NUMERIC = {"LR", "BATCH", "EPOCHS", "LOSS", "TEST LOSS", "TIME"}


def mark_missing(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows whose directory is gone; their status becomes :data:`MISSING` (the recorded one is kept)."""
    missing = []
    for row in rows:
        if not os.path.isdir(row["dir"]):
            row["recorded_status"], row["status"] = row["status"], MISSING
            missing.append(row)
    return missing


def mark_killed(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows recorded as running whose process, on this host, is gone; their status becomes :data:`KILLED`."""
    host, killed = platform.node(), []
    for row in rows:
        if row["status"] == "running" and row.get("host") == host and isinstance(row.get("pid"), int) \
                and not _alive(row["pid"]):
            row["recorded_status"], row["status"] = row["status"], KILLED
            killed.append(row)
    return killed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process, or not a pid we can ask about
    return True


def format_table(rows: Sequence[Mapping[str, Any]], extra: str | None = None) -> str:
    """The runs as aligned text; ``extra`` adds a column of that metric of the last epoch."""
    headers = [*HEADERS[:-1], *([extra.upper()] if extra else []), HEADERS[-1]]
    here = os.getcwd() + os.sep
    lines = [_cells(row, extra, here) for row in rows]
    widths = [max(len(header), *(len(line[i]) for line in lines)) for i, header in enumerate(headers)]
    right = [header in NUMERIC or header == (extra or "").upper() for header in headers]

    def join(cells: Sequence[str]) -> str:
        return "  ".join(cell.rjust(width) if is_right else cell.ljust(width)
                         for cell, width, is_right in zip(cells, widths, right)).rstrip()

    return "\n".join([join(headers), *(join(line) for line in lines)])


def json_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The runs for ``--json``: the listed columns, the last epoch's record decoded."""
    return [{**row, "final": json.loads(row["final"]) if row.get("final") else {}} for row in rows]


def _cells(row: Mapping[str, Any], extra: str | None, here: str) -> list[str]:
    done, total = row.get("epochs_done"), row.get("epochs")
    cells = [
        str(row["id"]), str(row["status"]),
        "/".join(str(row.get(kind) or "?") for kind in ("dataset", "model", "loss", "optimizer")),
        _number(row.get("lr"), "g"), _number(row.get("batch_size"), "d"),
        f"{done}/{total}" if done != total and total is not None else ("" if total is None else str(total)),
        _number(row.get("final_loss"), ".4g"), _number(row.get("final_test_loss"), ".4g"),
        format_duration(row.get("duration")),
    ]
    if extra:
        final = json.loads(row["final"]) if row.get("final") else {}
        cells.append(_number(final.get(extra), ".4g"))
    directory = str(row["dir"])
    cells.append(directory[len(here):] if directory.startswith(here) else directory)
    return cells


def _number(value: Any, spec: str) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    return format(int(value) if spec == "d" else value, spec)


def format_duration(seconds: Any) -> str:
    """``0.42s``, ``12.3s``, ``4m05s``, ``2h03m``; empty when unknown."""
    if not isinstance(seconds, (int, float)):
        return ""
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"
