"""What training leaves behind: the per-epoch records (:class:`History`) and their line.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from minidl.interfaces import Metric

__all__ = ["History", "format_epoch"]


class History:
    """Per-epoch records: ``history[i]`` is a dict, ``history["loss"]`` one column."""

    def __init__(self, records: Iterable[Mapping[str, Any]] = ()) -> None:
        self.records: list[dict[str, Any]] = [dict(r) for r in records]

    def append(self, record: Mapping[str, Any]) -> None:
        """Add one epoch's record."""
        self.records.append(dict(record))

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return [record.get(key) for record in self.records]
        return self.records[key]

    def __repr__(self) -> str:
        return f"History({self.records!r})"


def format_epoch(record: Mapping[str, Any], metrics: Mapping[str, Metric] = {}) -> str:
    """The notebook's line, ``epoch 1, loss 0.035462``, plus test loss and metrics, then
    whatever else is in the record (values callbacks added, other splits) as ``KEY VALUE``."""
    parts = [f"epoch {record['epoch']}, loss {record['loss']:f}"]
    shown = {"epoch", "loss", "test_loss"}
    if "test_loss" in record:
        parts.append(f"test loss {record['test_loss']:f}")
    for prefix, label in (("", "train"), ("test_", "test")):
        for name, metric in metrics.items():
            if prefix + name in record:
                fmt = getattr(metric, "fmt", "{:f}")
                value = fmt.format(record[prefix + name])
                parts.append(f"{label} {getattr(metric, 'label', name)} {value}")
                shown.add(prefix + name)
    for key, value in record.items():
        if key not in shown:
            text = f"{value:g}" if isinstance(value, float) else str(value)
            parts.append(f"{key} {text}")
    return ", ".join(parts)
