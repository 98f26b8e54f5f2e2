"""The airfoil self-noise data (book 7.3): its reader and the ``airfoil`` dataset.

The book's ``get_data_ch7`` (in :mod:`minidl.d2l`) is :func:`load_airfoil`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from minidl.adapters import TensorData
from minidl.errors import MinidlError

AIRFOIL_FILE = "airfoil_self_noise.dat"
AIRFOIL_COLUMNS = 6  # 5 features, then the scaled sound pressure level (the label)
AIRFOIL_ROWS = 1500  # the book keeps the first 1500 of 1503 rows
BOOK_DATA_PATH = Path("..") / ".." / "data" / AIRFOIL_FILE  # the book's path, from its notebooks


def airfoil_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The file to read: ``path``, else ``$MINIDL_DATA/airfoil_self_noise.dat``, else the book's."""
    if path is not None:
        return Path(path)
    data_dir = os.environ.get("MINIDL_DATA")
    return Path(data_dir) / AIRFOIL_FILE if data_dir else BOOK_DATA_PATH


def read_airfoil(path: Path) -> np.ndarray:
    """Read the tab-separated table as float64 ``(rows, 6)``; bad input raises MinidlError."""
    expected = f"expected the UCI airfoil self-noise file ({AIRFOIL_COLUMNS} numeric columns per line)"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MinidlError(f"airfoil data file {str(path)!r} does not exist; {expected}; "
                          "give its path or set MINIDL_DATA to its folder") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MinidlError(f"airfoil data file {str(path)!r} cannot be read ({exc}); {expected}") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != AIRFOIL_COLUMNS:
            raise MinidlError(f"airfoil data file {str(path)!r}, line {number}: "
                              f"{len(fields)} columns; {expected}")
        try:
            rows.append([float(field) for field in fields])
        except ValueError:
            raise MinidlError(f"airfoil data file {str(path)!r}, line {number}: "
                              f"non-numeric value in {line.strip()!r}; {expected}") from None
    if len(rows) < 2:
        raise MinidlError(f"airfoil data file {str(path)!r} has {len(rows)} rows; {expected}, "
                          "at least 2 rows")
    return np.asarray(rows)


def load_airfoil(path: str | os.PathLike[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The airfoil data, every column standardised: features ``(1500, 5)``, labels ``(1500,)``
    (the book's ``get_data_ch7``, which :mod:`minidl.d2l` calls).

    ``path`` defaults to ``airfoil_self_noise.dat`` in the folder named by ``MINIDL_DATA``,
    else to the book's ``../../data/airfoil_self_noise.dat``.
    """
    file = airfoil_path(path)
    data = read_airfoil(file)
    std = data.std(axis=0)  # population std (ddof=0), as the book's numpy call
    if not np.all(std > 0):
        column = int(np.argmin(std)) + 1
        raise MinidlError(f"airfoil data file {str(file)!r}: column {column} is constant; "
                          "expected varying measurements in every column")
    data = (data - data.mean(axis=0)) / std
    return (torch.tensor(data[:AIRFOIL_ROWS, :-1], dtype=torch.float32),
            torch.tensor(data[:AIRFOIL_ROWS, -1], dtype=torch.float32))


class Airfoil(TensorData):
    """Standardised airfoil data: 1500 examples, 5 features, 1 label (``(n,)``, as the book)."""

    label_kind = "real"  # compatibility declaration (minidl.compat)

    def __init__(self, path: str | None = None) -> None:
        features, labels = load_airfoil(path)
        super().__init__(features, labels)
        self.num_outputs = 1
