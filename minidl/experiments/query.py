"""What ``--where`` and ``--sort`` of ``minidl runs list`` mean in SQL: columns, settings, metrics.

A key is a column of the index (``status``, ``lr``, ...), a setting of the resolved
configuration (``optimizer.lr``, ``train.batch_size``, ``callback.NAME.OPTION``) or a
metric (``final.test_loss``, ``best.loss``), read with SQLite's ``json_extract``.
Values are bound as parameters, never written into the SQL.
"""

from __future__ import annotations

import math
import re
from typing import Any

from minidl.errors import MinidlError

CONFIG_KINDS = ("dataset", "model", "loss", "optimizer", "train", "callback")
WHERE_PATTERN = re.compile(r"^([\w.\-]+)\s*(!=|<=|>=|=|<|>)(.*)$")


def where_clause(text: str) -> tuple[str, tuple[Any, ...]]:
    """SQL for one ``--where KEY=VALUE`` (``!=``, ``<``, ``>``, ``<=``, ``>=`` also), with its parameter."""
    match = WHERE_PATTERN.match(text.strip())
    if not match:
        raise MinidlError(f"cannot read --where {text!r}: expected KEY=VALUE, e.g. optimizer.lr=0.1 or "
                          "status=finished")
    key, operator, value = match.group(1), match.group(2), match.group(3).strip()
    return f"{key_expression(key, 'where')} {operator} ?", (_number_or_text(value),)


WHERE_COLUMNS = ("id", "dir", "sweep", "status", "dataset", "model", "loss", "optimizer", "lr", "batch_size",
                 "epochs", "seed", "epochs_done", "duration", "started", "ended")


def key_expression(key: str, option: str) -> str:
    """A column, or ``json_extract`` of a configuration key (``optimizer.lr``) or metric (``best.loss``)."""
    if key in WHERE_COLUMNS:
        return key
    parts = key.split(".")
    if re.fullmatch(r"[\w.\-]+", key) and len(parts) >= 2 and all(parts) \
            and parts[0] in (*CONFIG_KINDS, "final", "best"):
        column = parts[0] if parts[0] in ("final", "best") else "config"
        path = parts[1:] if column != "config" else parts
        return f"json_extract({column}, '$" + "".join(f'."{part}"' for part in path) + "')"
    raise MinidlError(
        f"cannot use {key!r} in --{option}: accepted: {', '.join(WHERE_COLUMNS)}, a setting KIND.OPTION "
        f"such as optimizer.lr (KIND one of {', '.join(CONFIG_KINDS)}), final.METRIC or best.METRIC")


def sort_expression(key: str) -> str:
    """What ``--sort KEY`` orders by: a metric of the last epoch unless KEY names a column or setting."""
    if (key in WHERE_COLUMNS and key != "loss") or "." in key:
        return key_expression(key, "sort")
    if not re.fullmatch(r"[\w\-]+", key):
        raise MinidlError(f"cannot sort by {key!r}: give a metric such as test_loss, or a setting such as "
                          "optimizer.lr")
    return f"json_extract(final, '$.\"{key}\"')"


def _number_or_text(value: str) -> Any:
    try:
        number = float(value)
    except ValueError:
        return value
    if not math.isfinite(number):  # stored as text: JSON has no such numbers
        return value
    return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
