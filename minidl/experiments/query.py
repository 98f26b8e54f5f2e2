"""What ``--where`` and ``--sort`` of ``minidl runs list`` mean in SQL: columns, settings, metrics.

A key is a column of the index (``status``, ``lr``, ...), a setting of the resolved
configuration (``optimizer.lr``, ``train.batch_size``, ``callback.NAME.OPTION``) or a
metric (``final.test_loss``, ``best.loss``), read with SQLite's ``json_extract``.
Values are bound as parameters, never written into the SQL.
"""

from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

from minidl.errors import MinidlError
from minidl.experiments.rundir import STATUSES

CONFIG_KINDS = ("dataset", "model", "loss", "optimizer", "train", "callback")
WHERE_PATTERN = re.compile(r"^([\w.\-]+)\s*(!=|<=|>=|=|<|>)(.*)$")
WHERE_COLUMNS = ("id", "dir", "sweep", "status", "dataset", "model", "loss", "optimizer", "lr", "batch_size",
                 "epochs", "seed", "epochs_done", "duration", "started", "ended")
NUMERIC_COLUMNS = ("lr", "batch_size", "epochs", "seed", "epochs_done", "duration")
#: Columns holding text: a value is compared as given, never read as a number (a run or sweep
#: id of 8 hex digits may be all digits, 12345678, or read as one, 1e345678).
TEXT_COLUMNS = tuple(column for column in WHERE_COLUMNS if column not in NUMERIC_COLUMNS)
SQLITE_INTEGERS = (-(2**63), 2**63 - 1)  # a larger integer is compared as a float


class Where(NamedTuple):
    """One ``--where``: the text as given, its key, operator and value (a number, or text), and
    the value's text as given (``raw``)."""

    text: str
    key: str
    operator: str
    value: Any
    raw: str


def parse_where(text: str) -> Where:
    """Read one ``--where KEY=VALUE``: :class:`MinidlError` naming it when it cannot mean anything.

    Refused before any query: no operator or key, no value, an operator doubled
    (``lr==0.1``), a number column compared with text, a status no run can have.
    """
    match = WHERE_PATTERN.match(text.strip())
    if not match:
        raise MinidlError(f"cannot read --where {text!r}: expected KEY=VALUE, e.g. optimizer.lr=0.1 or "
                          "status=finished (also !=, <, >, <=, >=)")
    key, operator, raw = match.group(1), match.group(2), match.group(3).strip()
    key_expression(key, "where")  # an unknown key is refused first
    if not raw:
        raise MinidlError(f"--where {text!r} gives no value: e.g. {key}{operator}0.1")
    if raw[0] in "=<>!":
        raise MinidlError(f"cannot read --where {text!r}: the value begins with {raw[0]!r}; the operators are "
                          "=, !=, <, >, <=, >= (one of them, once)")
    value = raw if key in TEXT_COLUMNS else _number_or_text(raw)
    if key not in WHERE_COLUMNS and raw.lower() in ("true", "false"):
        value = int(raw.lower() == "true")  # a flag's setting: SQLite's JSON holds true as 1
    if key in NUMERIC_COLUMNS and isinstance(value, str):
        raise MinidlError(f"--where {text!r}: {key} is a number; got {raw!r}")
    if key == "status" and value not in STATUSES:
        hint = " (killed and missing are worked out when listing: status=running lists the killed ones)" \
            if value in ("killed", "missing") else ""
        raise MinidlError(f"--where {text!r}: unknown status {raw!r}; accepted: "
                          f"{', '.join(STATUSES)}{hint}")
    return Where(text, key, operator, value, raw)


def where_clause(text: str) -> tuple[str, tuple[Any, ...]]:
    """SQL for one ``--where KEY=VALUE`` (``!=``, ``<``, ``>``, ``<=``, ``>=`` also), with its parameter."""
    where = parse_where(text)
    expression = key_expression(where.key, "where")
    if where.key not in WHERE_COLUMNS and where.operator in ("=", "!=") \
            and not isinstance(where.value, str):
        # a setting's JSON may hold the text "1e3" or "007" as well as the number: = matches either
        return f"{expression} {'NOT IN' if where.operator == '!=' else 'IN'} (?, ?)", (where.value, where.raw)
    return f"{expression} {where.operator} ?", (where.value,)


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
    if not key.strip():
        raise MinidlError("--sort '' names nothing: give a metric such as test_loss, or a setting such as "
                          "optimizer.lr")
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
    if number.is_integer() and "." not in value and "e" not in value.lower():
        integer = int(value)
        return integer if SQLITE_INTEGERS[0] <= integer <= SQLITE_INTEGERS[1] else number
    return number
