"""Comparing runs: the settings that differ between them, labels from those, metrics side by side."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from minidl.experiments.table import format_duration

ABSENT = "-"  # shown for a setting one run has and another lacks


def settings(row: Mapping[str, Any]) -> dict[str, Any]:
    """A run's resolved configuration as ``KIND.OPTION`` keys (``callback.NAME.OPTION`` too)."""
    from minidl.config import flatten

    return flatten(json.loads(row["config"])) if row.get("config") else {}


def differing(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The settings whose values are not the same in every run, in configuration order."""
    flats = [settings(row) for row in rows]
    keys = list(dict.fromkeys(key for flat in flats for key in flat))
    return [key for key in keys
            if len({json.dumps(flat[key]) if key in flat else ABSENT for flat in flats}) > 1]


def labels(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One label per run from what differs (``lr=0.1, batch_size=10``); the id where nothing does."""
    keys = differing(rows)
    if not keys:
        return [str(row["id"]) for row in rows]
    short = _short_names(keys)
    flats = [settings(row) for row in rows]
    labelled = [", ".join(f"{short[key]}={_value(flat.get(key, ABSENT))}" for key in keys[:3]) for flat in flats]
    if len(set(labelled)) < len(labelled):  # more than 3 keys differ, or equal labels: add the id
        labelled = [f"{label} ({row['id']})" for label, row in zip(labelled, rows)]
    return labelled


def diff_table(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    """Rows of ``runs diff``: a header of ids, the settings that differ, then the metrics."""
    flats = [settings(row) for row in rows]
    table = [["", *(str(row["id"]) for row in rows)]]
    table += [[key, *(_value(flat.get(key, ABSENT)) for flat in flats)] for key in differing(rows)]
    table.append(["status", *(str(row["status"]) for row in rows)])
    table.append(["epochs done", *(str(row.get("epochs_done", "")) for row in rows)])
    finals = [json.loads(row["final"]) if row.get("final") else {} for row in rows]
    bests = [json.loads(row["best"]) if row.get("best") else {} for row in rows]
    metrics = [key for key in dict.fromkeys(k for final in finals for k in final) if key != "epoch"]
    table += [[f"final {key}", *(_value(final.get(key, "-")) for final in finals)] for key in metrics]
    table += [[f"best {key}", *(_value(best.get(key, "-")) for best in bests)] for key in metrics]
    table.append(["time", *(format_duration(row.get("duration")) for row in rows)])
    return table


def format_rows(table: Sequence[Sequence[str]]) -> str:
    """Aligned columns, the first left-aligned."""
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "\n".join("  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)
                               for i, (cell, width) in enumerate(zip(row, widths))).rstrip() for row in table)


def _short_names(keys: Sequence[str]) -> dict[str, str]:
    """``optimizer.lr`` as ``lr`` unless two differing keys end alike."""
    last = [key.rsplit(".", 1)[-1] for key in keys]
    return {key: name if last.count(name) == 1 else key for key, name in zip(keys, last)}


def _value(value: Any) -> str:
    if isinstance(value, float):
        return format(value, ".4g")
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)
