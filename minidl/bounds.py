"""Range markers for a numeric option's type hint: ``lr: Annotated[float, Gt(0)] = 0.03``.

:class:`Gt`, :class:`Ge`, :class:`Lt` and :class:`Le` bound the value (or each item of a
list); :class:`AllowNonFinite` lets a float option take nan and inf; an int option that
declares no upper bound is capped at :data:`INT_CAP`. :mod:`minidl.options` reads and
checks them (and re-exports them: ``from minidl.options import Gt`` works).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = ["INT_CAP", "AllowNonFinite", "Bound", "Ge", "Gt", "Le", "Lt"]

#: The bound of an int option that declares none (a value beyond it is a typo or an attack).
INT_CAP = 10**9


@dataclass(frozen=True)
class Bound:
    """A range marker for ``Annotated[int | float, ...]``: the value compared with ``bound``."""

    bound: float
    symbol: ClassVar[str] = ""
    upper: ClassVar[bool] = False  # True for Lt and Le

    def admits(self, value: float) -> bool:
        """True when ``value`` is inside the bound."""
        raise NotImplementedError

    def __str__(self) -> str:
        return f"{self.symbol} {_number(self.bound)}"


@dataclass(frozen=True)
class Gt(Bound):
    """The value must be greater than ``bound``: ``Annotated[float, Gt(0)]``."""

    symbol: ClassVar[str] = ">"

    def admits(self, value: float) -> bool:
        """``value > bound``."""
        return value > self.bound


@dataclass(frozen=True)
class Ge(Bound):
    """The value must be greater than or equal to ``bound``."""

    symbol: ClassVar[str] = ">="

    def admits(self, value: float) -> bool:
        """``value >= bound``."""
        return value >= self.bound


@dataclass(frozen=True)
class Lt(Bound):
    """The value must be less than ``bound``."""

    symbol: ClassVar[str] = "<"
    upper: ClassVar[bool] = True

    def admits(self, value: float) -> bool:
        """``value < bound``."""
        return value < self.bound


@dataclass(frozen=True)
class Le(Bound):
    """The value must be less than or equal to ``bound``."""

    symbol: ClassVar[str] = "<="
    upper: ClassVar[bool] = True

    def admits(self, value: float) -> bool:
        """``value <= bound``."""
        return value <= self.bound


@dataclass(frozen=True)
class AllowNonFinite:
    """Marks a float option that accepts nan, inf and -inf: ``Annotated[float, AllowNonFinite()]``."""


def _number(value: float) -> str:
    return str(int(value)) if isinstance(value, int) or (isinstance(value, float) and value.is_integer()
                                                         and abs(value) < 1e16) else repr(value)
