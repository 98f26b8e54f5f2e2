"""Benchmark minidl against the notebook, a bare PyTorch loop and Lightning, in one process.

Run ``python -m benchmarks.run`` (or ``python benchmarks/run.py``) from the repository
root; ``--quick`` for small sizes, ``--help`` for the options. It prints the tables and
writes them to ``benchmarks/RESULTS.md`` (``--output``). Exit status: 0 when it ran,
1 when the loops did not reach the same loss (no times are reported then), 2 for bad
options or sizes that would not fit in memory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import cnn, rnn
from benchmarks import loops as L
from benchmarks.memory import MEMORY_STEPS, TooBigError, check_fits, measure_peak
from benchmarks.reference_loops import notebook_loop
from benchmarks.report import (
    Target,
    document,
    memory_table,
    startup_table,
    targets_table,
    timing_table,
)
from benchmarks.timing import LossMismatchError, Workload, check_losses, make_data, measure, paired_ratio

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTIONS = ("notebook", "wide-10", "wide-4096", "lenet", "gru", "memory", "startup")

LABELS = {
    "notebook": "the notebook's loop (Python index lists, autograd, manual sgd)",
    "bare": "bare PyTorch (randperm, slices, autograd, in-place update)",
    "closed_form": "bare closed-form gradient, no autograd (the floor)",
    "minidl": "minidl Trainer, defaults",
    "minidl_hook": "minidl Trainer + a no-op on_batch_end callback",
    "minidl_analytic": "minidl Trainer, linreg grad=analytic",
    "concise": "the book's concise version (DataLoader, nn.Linear, MSELoss, optim.SGD)",
    "lightning": "PyTorch Lightning (LightningModule, DataLoader, optim.SGD)",
}


def all_loops(lightning: bool = True) -> dict[str, L.Loop]:
    """Every loop by name; Lightning's only when it is installed and wanted."""
    loops: dict[str, L.Loop] = {
        "notebook": notebook_loop, "bare": L.bare_loop, "closed_form": L.closed_form_loop,
        "minidl": L.minidl_loop, "minidl_hook": L.minidl_hook_loop,
        "minidl_analytic": L.minidl_analytic_loop, "concise": L.concise_loop,
    }
    if lightning and L.lightning_available():
        loops["lightning"] = L.lightning_loop
    return loops


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command's options; ``--quick`` lowers every size it does not set explicitly."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats (about a minute)")
    p.add_argument("--repeats", type=int,
                   help="timed repeats per loop and size, three times as many at the notebook's (default 7)")
    p.add_argument("--examples", type=int, help="examples of the wide sizes (default 1,000,000)")
    p.add_argument("--features", type=int, help="features of the wide sizes (default 100)")
    p.add_argument("--steps", type=int, help="steps per run at the wide size, batch 10 (default 3000)")
    p.add_argument("--memory-examples", type=int, help="examples for peak memory (default 10,000,000)")
    p.add_argument("--memory-batch", type=int, default=4096, help="batch size of the memory runs")
    p.add_argument("--lenet-batches", type=int,
                   help="batches of 256 images per epoch in the LeNet row (default 20, --quick 4)")
    p.add_argument("--gru-chars", type=int,
                   help="characters of the lyrics in the GRU row (default 10,000, the book's; --quick 2,400)")
    p.add_argument("--loops", help=f"comma-separated subset of: {', '.join(LABELS)} (bare is always run)")
    p.add_argument("--skip", default="", help=f"comma-separated sections to skip: {', '.join(SECTIONS)}")
    p.add_argument("--no-lightning", action="store_true", help="leave Lightning out even if installed")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="cuda: also time on the GPU")
    p.add_argument("--clock", default="wall", choices=["wall", "cpu"], help="wall or process CPU time")
    p.add_argument("--rtol", type=float, default=1e-3, help="relative tolerance of the loss check")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", type=Path, default=RESULTS, help="where to write the tables (Markdown)")
    args = p.parse_args(argv)
    quick = args.quick
    defaults = {"repeats": 3 if quick else 7, "examples": 20_480 if quick else 1_000_000,
                "features": 20 if quick else 100, "steps": 250 if quick else 3000,
                "memory_examples": 200_000 if quick else 10_000_000, "lenet_batches": 4 if quick else 20,
                "gru_chars": 2_400 if quick else 10_000}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    _check(p, args)
    return args


def _check(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for name in ("repeats", "examples", "features", "steps", "memory_examples", "memory_batch", "lenet_batches"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.gru_chars < rnn.BATCH * (rnn.NUM_STEPS + 1):
        p.error(f"--gru-chars must be >= {rnn.BATCH * (rnn.NUM_STEPS + 1)} (one batch), got {args.gru_chars}")
    unknown = set(filter(None, args.skip.split(","))) - set(SECTIONS)
    if unknown:
        p.error(f"unknown section(s) {', '.join(sorted(unknown))} in --skip; accepted: {', '.join(SECTIONS)}")
    if args.loops:
        unknown = set(args.loops.split(",")) - set(LABELS)
        if unknown:
            p.error(f"unknown loop(s) {', '.join(sorted(unknown))}; accepted: {', '.join(LABELS)}")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            p.error("--device cuda: no CUDA device on this machine")


def workloads(args: argparse.Namespace) -> dict[str, Workload]:
    """The timed sizes: the notebook's, and the wide one at batch 10 and batch 4096."""
    n, d = args.examples, args.features
    wide = 4096 if not args.quick else 512
    return {
        "notebook": Workload("1000x2, batch 10, 3 epochs (the notebook's)", 1000, 2, 10, 3),
        "wide-10": Workload(f"{n:,}x{d}, batch 10, {args.steps} steps", n, d, 10, 1, args.steps),
        "wide-4096": Workload(f"{n:,}x{d}, batch {wide}, 2 epochs", n, d, wide, 2),
    }


def chosen_loops(args: argparse.Namespace) -> dict[str, L.Loop]:
    """The loops to run: all (or ``--loops``), with the bare loop always in."""
    loops = all_loops(lightning=not args.no_lightning)
    if args.loops:
        wanted = {"bare", *args.loops.split(",")}
        loops = {name: loop for name, loop in loops.items() if name in wanted}
    return loops


def time_section(key: str, workload: Workload, loops: dict[str, L.Loop], args: argparse.Namespace,
                 device: str) -> tuple[list[str], dict]:
    """Measure one workload; raise :class:`LossMismatchError` before any time is shown."""
    if device != "cpu":
        loops = {k: v for k, v in loops.items() if k != "notebook"}  # its index lists live on the CPU
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(f"timing {workload.name} on {device} ...", flush=True)
    data = make_data(workload, args.seed, device)
    repeats = args.repeats * (3 if key == "notebook" else 1)  # the cheapest size, and the noisiest
    results = measure(loops, workload, data, repeats=repeats, seed=args.seed, clock=clock)
    del data
    check_losses(results, "bare", args.rtol)
    title = workload.name + ("" if device == "cpu" else f" on {device}")
    return timing_table(title, results, LABELS), results


def timing_targets(results: dict[str, dict]) -> list[Target]:
    """The issue's per-step targets that this run measured."""
    wanted = [("notebook", "minidl", "bare", "minidl Trainer defaults / bare loop, 1000x2 batch 10", 1.10),
              ("wide-10", "minidl", "bare", "minidl Trainer defaults / bare loop, wide batch 10", 1.10),
              ("notebook", "minidl_analytic", "closed_form",
               "linreg grad=analytic / closed-form floor, 1000x2 batch 10", 2.0),
              ("wide-4096", "minidl", "bare", "minidl Trainer defaults / bare loop, wide batch 4096", 1.2)]
    return [Target(what, paired_ratio(results[key], name, ref), limit)
            for key, name, ref, what, limit in wanted
            if key in results and name in results[key] and ref in results[key]]


def memory_section(loops: dict[str, L.Loop], args: argparse.Namespace) -> tuple[list[str], list[Target]]:
    """Peak memory of each loop in its own process, at ``--memory-examples`` x 2."""
    n = args.memory_examples
    print(f"peak memory at {n:,}x2, one process per loop ...", flush=True)
    peaks = [measure_peak(name, n, 2, args.memory_batch, args.seed)
             for name in loops if name != "minidl_hook"]
    title = f"Peak memory, {n:,}x2, batch {args.memory_batch}, {MEMORY_STEPS} steps and the epoch's loss"
    targets = [Target(f"minidl Trainer peak / (data + permutation), {n:,}x2", p.ratio, 1.10)
               for p in peaks if p.loop == "minidl"]
    return memory_table(title, peaks, LABELS), targets


def startup_section(runs: int) -> tuple[list[str], list[Target]]:
    """``minidl --help`` against ``python -c "import click, pluggy"``, whole processes."""
    script = shutil.which("minidl") or str(Path(sys.executable).with_name("minidl"))
    if not Path(script).exists():
        return ["### Command-line start-up", "", "`minidl` is not installed: not measured.", ""], []
    commands = {'python -c "import click, pluggy"': [sys.executable, "-c", "import click, pluggy"],
                "minidl --help": [script, "--help"]}
    # As installed: pip compiles the bytecode of what it installs (click, pluggy), but an
    # editable minidl under PYTHONDONTWRITEBYTECODE would be compiled from source at every
    # start (about 30 ms here). Let the warm-up run write it, as a first start would.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    for command in commands.values():
        subprocess.run(command, capture_output=True, check=True, env=env)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, capture_output=True, check=True, env=env)
            times[name].append(time.perf_counter() - start)
    ratio = statistics.median(times["minidl --help"]) / statistics.median(times[next(iter(times))])
    return startup_table(times), [Target('minidl --help / python -c "import click, pluggy"', ratio, 2.0)]


def run(args: argparse.Namespace, argv: Sequence[str]) -> str:
    """Every section not skipped; returns the Markdown document (also printed and written)."""
    skip = set(filter(None, args.skip.split(",")))
    loops = chosen_loops(args)
    sections: list[str] = []
    results: dict[str, dict] = {}
    for key, workload in workloads(args).items():
        if key in skip:
            continue
        for device in dict.fromkeys(["cpu", args.device]):
            table, measured = time_section(key, workload, loops, args, device)
            sections += table
            results.setdefault(key, measured)
    targets = timing_targets(results)
    if "lenet" not in skip:  # issue 10.6: LeNet, the Trainer against a bare loop and the book's train_ch5
        table, more = cnn.section(args)
        sections, targets = sections + table, targets + more
    if "gru" not in skip:  # issue 10.6: the char-level GRU, the Trainer against a bare loop
        table, more = rnn.section(args)
        sections, targets = sections + table, targets + more
    if "memory" not in skip:
        table, more = memory_section(loops, args)
        sections, targets = sections + table, targets + more
    if "startup" not in skip:
        table, more = startup_section(3 if args.quick else 9)
        sections, targets = sections + table, targets + more
    notes = [f"clock: {args.clock}; {args.repeats} repeats ({3 * args.repeats} at the notebook's size), "
             "interleaved; medians and min-max over repeats; ratios are medians of the per-repeat ratios",
             _gpu_note(args.device)]
    return document([*targets_table(targets), *sections], notes, argv)


def _gpu_note(device: str) -> str:
    import torch

    if device == "cuda":
        return f"GPU: {torch.cuda.get_device_name()}"
    return "GPU: not run on a GPU (no CUDA device here; `--device cuda` adds GPU rows where there is one)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; see the module docstring for the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    try:
        skip = set(args.skip.split(","))
        sizes = {"--examples/--features": (args.examples, args.features),
                 "--memory-examples": (args.memory_examples, 2)}
        check_fits({k: v for k, v in sizes.items() if not (k.startswith("--mem") and "memory" in skip)})
        text = run(args, argv)
    except TooBigError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    except LossMismatchError as exc:
        print(f"Error: {exc}; no times reported", file=sys.stderr)
        return 1
    print(text)
    args.output.write_text(text + "\n")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
