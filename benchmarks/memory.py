"""Memory: the estimate that refuses sizes too big, and peak RSS of each loop.

Peak memory is measured in a fresh process per loop (``python -m benchmarks.memory LOOP
N D BATCH``), since tracemalloc does not see torch's allocations. The process imports
everything and runs the loop once on tiny data (so libraries and allocator pools are in
place), then reads its resident set size (``/proc/self/status`` ``VmRSS``) as the
baseline, creates the data, resets the kernel's peak counter (``/proc/self/clear_refs``
``5``) and runs the first :data:`MEMORY_STEPS` steps of an epoch, then the epoch's loss
over the whole data (the index lists and the permutation are made before the first step,
so a longer run adds nothing but time). The peak (``VmHWM``) minus the size with the data
is what the loop added; the data's own size is counted as ``n * (d + 1) * 4`` bytes, so
that what making the data left in the allocator is not charged to the loop. Without
``clear_refs``, ``ru_maxrss`` minus the baseline before the data, minus the data, is used.
The target: data plus one int64 permutation (8 bytes an example) plus 10%.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MEMORY_STEPS = 500  # per memory run: the index lists and permutation are made before step 1
PROCESS_BASE = 600 * 2**20  # torch, lightning and Python, measured at about 400-500 MB
# Per example, the worst loop's extra: the notebook's two index lists while the order is
# replayed (2 x 36 bytes), its permutation (8) and its whole-data loss with autograd (16).
WORST_LOOP_PER_EXAMPLE = 2 * 36 + 8 + 16


class TooBigError(Exception):
    """A size that would not fit in the memory available."""


@dataclass(frozen=True)
class Peak:
    """One loop's peak memory over its baseline, and what it is compared with."""

    loop: str
    peak: int  # bytes: the data plus what the loop added at its peak
    data: int  # bytes of X and y
    permutation: int  # bytes of one int64 permutation

    @property
    def ratio(self) -> float:
        """Peak over data plus one permutation (the target is at most 1.10)."""
        return self.peak / (self.data + self.permutation)


def data_bytes(num_examples: int, num_inputs: int) -> int:
    """Bytes of float32 ``X (n, d)`` and ``y (n, 1)``."""
    return num_examples * (num_inputs + 1) * 4


def estimate(num_examples: int, num_inputs: int) -> int:
    """Bytes a benchmark process needs at this size, with its most wasteful loop."""
    return PROCESS_BASE + data_bytes(num_examples, num_inputs) + num_examples * WORST_LOOP_PER_EXAMPLE


def available() -> int:
    """Bytes of memory available now (``MemAvailable``), or a large number where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 1 << 62


def check_fits(sizes: dict[str, tuple[int, int]], free: int | None = None) -> None:
    """Raise :class:`TooBigError` naming the size and the estimate when one would not fit."""
    free = available() if free is None else free
    for what, (n, d) in sizes.items():
        need = estimate(n, d)
        if need > free:
            raise TooBigError(
                f"{what}: {n:,} x {d} needs about {need / 2**30:.1f} GiB (data "
                f"{data_bytes(n, d) / 2**30:.1f} GiB, index lists and permutation "
                f"{n * WORST_LOOP_PER_EXAMPLE / 2**30:.1f} GiB, process "
                f"{PROCESS_BASE / 2**30:.1f} GiB) but {free / 2**30:.1f} GiB is available; "
                "choose fewer examples"
            )


def measure_peak(loop: str, num_examples: int, num_inputs: int, batch_size: int,
                 seed: int = 0, timeout: float = 600) -> Peak:
    """Run ``loop`` for one epoch in a fresh process and return its peak over the baseline."""
    command = [sys.executable, "-m", "benchmarks.memory", loop, str(num_examples), str(num_inputs),
               str(batch_size), str(seed)]
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, cwd=root)
    if done.returncode != 0:
        raise RuntimeError(f"memory run of {loop} failed: {done.stderr.strip().splitlines()[-1:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    data = data_bytes(num_examples, num_inputs)
    return Peak(loop, data + result["extra"], data, 8 * num_examples)


def _status(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _child(loop_name: str, num_examples: int, num_inputs: int, batch_size: int, seed: int) -> dict[str, int]:
    import gc

    from benchmarks.run import all_loops
    from benchmarks.timing import LR, Workload, make_data

    loop = all_loops()[loop_name]
    tiny = make_data(Workload("warm-up", 64, num_inputs, 8, 1), seed)
    loop(*tiny, batch_size=8, epochs=1, lr=LR, seed=seed)
    gc.collect()
    baseline = _status("VmRSS")
    X, y, w0 = make_data(Workload("memory", num_examples, num_inputs, batch_size, 1), seed)
    with_data = _status("VmRSS")
    reset = _reset_peak()
    loop(X, y, w0, batch_size=batch_size, epochs=1, lr=LR, seed=seed, max_steps=MEMORY_STEPS)
    peak = _status("VmHWM") if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if not reset:  # ru_maxrss counts from the start: take the baseline before the data
        return {"extra": peak - baseline - data_bytes(num_examples, num_inputs), "reset": 0}
    return {"extra": peak - with_data, "reset": 1}


if __name__ == "__main__":
    name, n, d, batch, seed_ = sys.argv[1], *map(int, sys.argv[2:6])
    print(json.dumps(_child(name, n, d, batch, seed_)))
