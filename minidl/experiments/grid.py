"""Sweep points: a grid's product, or random draws over ranges, as ``--set`` assignments.

An axis is ``KIND.OPTION=V1,V2,...`` (values split at commas outside brackets, so
``dataset.true_w=[1,2],[3,4]`` has two), or for the random sampler a range:
``A..B`` (uniform; integers when both ends are), ``log:A..B`` (log-uniform) or
``int:A..B``. Keys are ``--set``'s vocabulary; :func:`check_points` resolves every
point's configuration, so a key that is no option fails as ``--set`` fails.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from minidl.errors import MinidlError

if TYPE_CHECKING:
    from minidl.config import RunConfig
    from minidl.registry import Registry

SAMPLERS = ("grid", "random")
RANGE_PATTERN = re.compile(r"^(?:(log|int):)?\s*([-+0-9.eE]+)\s*\.\.\s*([-+0-9.eE]+)$")
NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]+")
MAX_POINTS = 10_000  # a grid larger than this is surely a typo


@dataclass(frozen=True)
class Axis:
    """One ``--grid``: a key and either its values or a range (``scale`` uniform, log or int)."""

    key: str
    values: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 0.0
    scale: str = ""  # "" for a value list; "uniform", "log" or "int" for a range

    @property
    def size(self) -> int | None:
        """How many distinct values the axis gives; None for a continuous range."""
        if not self.scale:
            return len(self.values)
        return int(self.high) - int(self.low) + 1 if self.scale == "int" else None

    def draw(self, rng: random.Random) -> str:
        """One value: a random choice of the list, or a draw from the range."""
        if not self.scale:
            return rng.choice(self.values)
        if self.scale == "int":
            return str(rng.randint(int(self.low), int(self.high)))
        if self.scale == "log":
            return f"{math.exp(rng.uniform(math.log(self.low), math.log(self.high))):.4g}"
        return f"{rng.uniform(self.low, self.high):.4g}"


def parse_axis(text: str) -> Axis:
    """Read one ``--grid KEY=VALUES``; :class:`MinidlError` naming it when it cannot be read."""
    key, sep, spec = text.partition("=")
    key, spec = key.strip(), spec.strip()
    if not sep or not key or "." not in key:
        raise MinidlError(f"cannot read --grid {text!r}: expected KIND.OPTION=V1,V2,... "
                          "e.g. optimizer.lr=0.01,0.03,0.1 (or a range for --sampler random: optimizer.lr=log:1e-4..1)")
    if not spec:
        raise MinidlError(f"--grid {text!r} gives no values: list them, e.g. {key}=1,2,3")
    match = RANGE_PATTERN.match(spec)
    if match:
        return _range(text, key, match.group(1) or "", match.group(2), match.group(3))
    values = split_values(spec)
    if any(not value for value in values):
        raise MinidlError(f"--grid {text!r} has an empty value; separate values with single commas")
    if len(set(values)) < len(values):
        raise MinidlError(f"--grid {text!r} repeats a value")
    return Axis(key, tuple(values))


def _range(text: str, key: str, scale: str, low_text: str, high_text: str) -> Axis:
    try:
        low, high = float(low_text), float(high_text)
    except ValueError:
        raise MinidlError(f"cannot read the range in --grid {text!r}: expected A..B, log:A..B or int:A..B") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low >= high:
        raise MinidlError(f"--grid {text!r}: a range needs finite ends with the first below the second")
    if scale == "log" and low <= 0:
        raise MinidlError(f"--grid {text!r}: a log range needs ends above 0")
    integral = all(re.fullmatch(r"[-+]?\d+", part) for part in (low_text, high_text))
    if scale == "int" and not (low.is_integer() and high.is_integer()):  # int:0.5..3 drew 0, below the range
        raise MinidlError(f"--grid {text!r}: an int range needs whole-number ends, e.g. {key}=int:1..8")
    return Axis(key, (), low, high, scale or ("int" if integral else "uniform"))


def split_values(spec: str) -> list[str]:
    """``a,b,[1,2]`` as ``["a", "b", "[1,2]"]``: commas inside brackets stay."""
    values, depth, current = [], 0, ""
    for char in spec:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == "," and depth == 0:
            values.append(current.strip())
            current = ""
        else:
            current += char
    return [*values, current.strip()]


def parse_axes(texts: Sequence[str]) -> list[Axis]:
    """Every ``--grid``; at least one, each key once."""
    if not texts:
        raise MinidlError("an empty grid: give at least one --grid KIND.OPTION=V1,V2,... "
                          "e.g. --grid optimizer.lr=0.01,0.03,0.1")
    axes = [parse_axis(text) for text in texts]
    keys = [axis.key for axis in axes]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:
        raise MinidlError(f"--grid {twice[0]} is given twice; give its values in one --grid")
    return axes


def points(axes: Sequence[Axis], sampler: str = "grid", trials: int | None = None,
           seed: int = 0) -> list[tuple[str, ...]]:
    """The points as tuples of ``KEY=VALUE``: the grid's product, or ``trials`` random draws."""
    if sampler not in SAMPLERS:
        raise MinidlError(f"unknown sampler {sampler!r}; accepted: {', '.join(SAMPLERS)}")
    if sampler == "grid":
        ranged = [axis.key for axis in axes if axis.scale]
        if ranged:
            raise MinidlError(f"--grid {ranged[0]} is a range: ranges need --sampler random --trials N")
        if trials is not None:
            raise MinidlError("--trials counts random draws: give --sampler random too")
        total = math.prod(len(axis.values) for axis in axes)
        if total > MAX_POINTS:
            raise MinidlError(f"the grid has {total} points, more than {MAX_POINTS}; give fewer values")
        return [tuple(f"{axis.key}={value}" for axis, value in zip(axes, combo))
                for combo in itertools.product(*(axis.values for axis in axes))]
    if trials is None:
        raise MinidlError(f"--sampler random needs --trials N: how many points to draw (1 to {MAX_POINTS})")
    if not 1 <= trials <= MAX_POINTS:
        raise MinidlError(f"--sampler random needs --trials N with N from 1 to {MAX_POINTS}, got {trials}")
    sizes = [axis.size for axis in axes]
    size = math.prod(n for n in sizes if n is not None) if None not in sizes else None
    if size is not None and trials > size:
        raise MinidlError(f"--trials {trials} is more than the {size} distinct points these --grid values give; "
                          f"give --trials {size} or fewer, or --sampler grid")
    rng = random.Random(seed)
    drawn: dict[tuple[str, ...], None] = {}  # a point drawn again would train the same run twice
    draws = 100 * trials
    for _ in range(draws):
        drawn.setdefault(tuple(f"{axis.key}={axis.draw(rng)}" for axis in axes), None)
        if len(drawn) == trials:
            return list(drawn)
    raise MinidlError(f"--trials {trials}: only {len(drawn)} distinct points in {draws} draws (values are drawn "
                      "to 4 significant digits); give fewer --trials or wider ranges")


def apply_point(config: RunConfig, point: Sequence[str]) -> RunConfig:
    """A copy of ``config`` with the point's assignments (component names first)."""
    config = config.copy()
    for assignment in sorted(point, key=lambda item: not item.partition("=")[0].endswith(".name")):
        config.apply(assignment)
    return config


def check_points(config: RunConfig, registry: Registry, all_points: Sequence[Sequence[str]], *,
                 distinct: bool = False) -> None:
    """Resolve every point's configuration, so a bad key or value fails before anything trains.

    ``distinct``: two points that resolve to the same configuration (``optimizer.lr=1,1.0``)
    are refused too: the sweep would train the same run twice.
    """
    seen: dict[str, Sequence[str]] = {}
    for point in all_points:
        try:
            resolved = apply_point(config, point).resolve(registry).to_toml()
        except MinidlError as exc:
            raise MinidlError(f"--grid point {' '.join(point)}: {exc}") from None
        if distinct and resolved in seen:
            raise MinidlError(f"--grid points {' '.join(seen[resolved])} and {' '.join(point)} are the same "
                              "configuration; give each value once")
        seen.setdefault(resolved, point)


def point_name(number: int, point: Sequence[str]) -> str:
    """A directory name: ``003-lr=0.1-batch_size=10`` (the number keeps names unique and ordered)."""
    parts = [f"{assignment.partition('=')[0].rsplit('.', 1)[-1]}={assignment.partition('=')[2]}"
             for assignment in point]
    name = NAME_UNSAFE.sub("_", "-".join(parts))[:80]
    return f"{number:03d}-{name}" if name else f"{number:03d}"
