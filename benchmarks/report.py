"""The results as a Markdown table, with the machine, the versions and the command."""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.memory import Peak
from benchmarks.timing import Measurement, paired_ratio


@dataclass(frozen=True)
class Target:
    """One of the issue's targets, as measured in this run."""

    what: str
    ratio: float
    limit: float

    @property
    def met(self) -> bool:
        """True when the measured ratio is within the limit (never when it was not measured)."""
        return self.ratio <= self.limit


NOT_MEASURED = "n/a"  # a ratio no repeat could measure (see paired_ratio)


def ratio_text(ratio: float) -> str:
    """A ratio to two places, or ``n/a`` where it could not be measured."""
    return f"{ratio:.2f}" if math.isfinite(ratio) else NOT_MEASURED


def machine() -> str:
    """CPU model and core count."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def versions() -> str:
    """Python, torch, minidl and (when installed) Lightning versions."""
    import torch

    import minidl

    parts = [f"python {platform.python_version()}", f"torch {torch.__version__} "
             f"({torch.get_num_threads()} threads)", f"minidl {minidl.__version__}"]
    try:
        from importlib.metadata import version

        parts.append(f"lightning {version('lightning')}")
    except Exception:
        parts.append("lightning not installed")
    return ", ".join(parts)


def timing_table(title: str, results: dict[str, Measurement], labels: dict[str, str],
                 reference: str = "bare", notebook: str = "notebook",
                 notebook_header: str = "vs notebook") -> list[str]:
    """One workload's rows: median and min-max per step, ratios, fixed cost, loss."""
    lines = [f"### {title}", "",
             f"| loop | µs per step (median) | min-max | vs bare | {notebook_header} | fixed ms | final loss |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for name, m in results.items():
        vs_nb = ratio_text(paired_ratio(results, name, notebook)) if notebook in results else "-"
        lines.append(
            f"| {labels.get(name, name)} | {m.median * 1e6:.1f} | {min(m.per_step) * 1e6:.1f}-"
            f"{max(m.per_step) * 1e6:.1f} | {ratio_text(paired_ratio(results, name, reference))} | {vs_nb} | "
            f"{statistics.median(m.fixed) * 1e3:.1f} | {m.losses[-1]:.6g} |"
        )
    return [*lines, ""]


def memory_table(title: str, peaks: Sequence[Peak], labels: dict[str, str]) -> list[str]:
    """Peak memory over the baseline per loop, against data plus one permutation."""
    lines = [f"### {title}", "", "| loop | peak MB (data + loop's extra) | data MB | permutation MB | "
             "peak / (data + permutation) |", "|---|---:|---:|---:|---:|"]
    for p in peaks:
        lines.append(f"| {labels.get(p.loop, p.loop)} | {p.peak / 2**20:.0f} | {p.data / 2**20:.0f} | "
                     f"{p.permutation / 2**20:.0f} | {p.ratio:.2f} |")
    return [*lines, ""]


def startup_table(times: dict[str, list[float]]) -> list[str]:
    """Whole-process times of ``minidl --help`` and of the imports it cannot avoid."""
    lines = ["### Command-line start-up (whole process)", "",
             "| command | ms (median) | min-max | ratio |", "|---|---:|---:|---:|"]
    base = statistics.median(next(iter(times.values())))
    for command, runs in times.items():
        lines.append(f"| `{command}` | {statistics.median(runs) * 1e3:.0f} | {min(runs) * 1e3:.0f}-"
                     f"{max(runs) * 1e3:.0f} | {statistics.median(runs) / base:.2f} |")
    return [*lines, ""]


def targets_table(targets: Sequence[Target]) -> list[str]:
    """Each target, its measured ratio and whether it is met."""
    lines = ["### Targets", "", "| target | measured | limit | met |", "|---|---:|---:|---|"]
    for t in targets:
        met = "yes" if t.met else "**no**" if math.isfinite(t.ratio) else "not measured"
        lines.append(f"| {t.what} | {ratio_text(t.ratio)} | {t.limit:.2f} | {met} |")
    if any(not math.isfinite(t.ratio) for t in targets):
        lines += ["", f"{NOT_MEASURED}: in no repeat did the long run take longer than the short one (a busy "
                  "machine); rerun with more --repeats or larger sizes"]
    return [*lines, ""]


def document(sections: Sequence[str], notes: Sequence[str], argv: Sequence[str]) -> str:
    """The whole RESULTS.md text, for a run of ``python -m benchmarks.run`` with ``argv``."""
    head = ["# Benchmark results", "",
            f"- command: `{' '.join(['python -m benchmarks.run', *argv])}`",
            f"- machine: {machine()}", f"- versions: {versions()}", *[f"- {n}" for n in notes], ""]
    return "\n".join([*head, *sections])
