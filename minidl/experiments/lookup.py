"""Finding runs by what a user types: an id, a unique prefix of one, or the run's directory."""

from __future__ import annotations

import difflib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from minidl.errors import MinidlError
from minidl.experiments.index import RUN_COLUMNS, RunIndex


def find_runs(index: RunIndex, texts: Sequence[str], columns: Sequence[str] = RUN_COLUMNS) -> list[dict[str, Any]]:
    """The rows of the runs named by ``texts``, in that order; one :class:`MinidlError` for any unknown,
    and for a run named twice (``runs diff A A``, or by its id and its directory)."""
    rows = index.runs(columns=list(dict.fromkeys(("id", "dir", *columns))))
    found = [_find(rows, text, index.root) for text in texts]
    named: dict[str, str] = {}
    for text, row in zip(texts, found):
        if row["id"] in named:
            again = "twice" if named[row["id"]] == text else f"twice (as {named[row['id']]!r} and {text!r})"
            raise MinidlError(f"run {row['id']} is named {again}; give each run once")
        named[row["id"]] = text
    return found


def _find(rows: Sequence[dict[str, Any]], text: str, root: Path) -> dict[str, Any]:
    if not text.strip():  # would be a prefix of every id
        raise MinidlError("empty run id: give a run id, a unique prefix of one, or the run's directory "
                          "(see minidl runs list)")
    by_id = {row["id"]: row for row in rows}
    if text in by_id:
        return by_id[text]
    named = (Path(text), root / text)  # as given, resolved too: a symbolic link names the run it leads to
    for candidate in {*(os.path.abspath(path) for path in named), *(str(_resolved(path)) for path in named)}:
        match = [row for row in rows if row["dir"] == candidate]
        if match:
            return match[0]
    prefixed = [row for row in rows if row["id"].startswith(text)]
    if len(prefixed) == 1:
        return prefixed[0]
    if prefixed:
        raise MinidlError(f"run id {text!r} is ambiguous: it begins {', '.join(sorted(r['id'] for r in prefixed))}; "
                          "give more digits")
    raise MinidlError(f"unknown run {text!r} in {str(index_file(root))!r}; {_closest(rows, text)}")


def _closest(rows: Sequence[dict[str, Any]], text: str) -> str:
    names = {row["id"]: row["id"] for row in rows}
    names.update({os.path.relpath(row["dir"]): row["id"] for row in rows})
    close = difflib.get_close_matches(text, list(names), n=3, cutoff=0.3)
    if close:
        return "closest: " + ", ".join(f"{name} ({names[name]})" if names[name] != name else name for name in close)
    if not rows:
        return "the index holds no runs"
    newest = sorted(rows, key=lambda row: row.get("started") or "", reverse=True)[:5]
    return "newest: " + ", ".join(row["id"] for row in newest) + " (see minidl runs list)"


def index_file(root: Path) -> Path:
    """The database file of a runs root."""
    from minidl.experiments.index import DB_NAME

    return root / DB_NAME


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a loop of links
        return path
