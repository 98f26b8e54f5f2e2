"""The airfoil self-noise data (book 7.3) as a minidl dataset, read by :func:`minidl.d2l.optimization.get_data_ch7`."""

from __future__ import annotations

from minidl.adapters import TensorData
from minidl.d2l.optimization import get_data_ch7


class Airfoil(TensorData):
    """Standardised airfoil data: 1500 examples, 5 features, 1 label (``(n,)``, as the book)."""

    def __init__(self, path: str | None = None) -> None:
        features, labels = get_data_ch7(path)
        super().__init__(features, labels)
        self.num_outputs = 1
