"""Data-parallel scaling on the CPU: training examples per second with 1 and 2 processes.

    python -m benchmarks.ddp_scaling [--model linreg|mlp|both] [--examples N] [--inputs D]
                                     [--batch-size B] [--repeats R]

For each model it times the second epoch's training steps (evaluation excluded) of:

* 1 process, the plain Trainer, batch B, and batch 2B (the same global batch as 2 x B);
* 2 processes through :func:`minidl.distributed.launch` (gloo), batch B each.

Every process uses one thread (``torch.set_num_threads(1)``), so 2 processes use the
2 cores a 1-process run leaves idle. Scaling efficiency = examples/s with 2 processes
divided by twice the 1-process rate at the same per-process batch B; speed-up = the
2-process rate over 1 process at the same global batch 2B. ``linreg`` (closed-form
gradients, explicit all-reduce of 101 numbers a step) shows the per-step cost of
communicating; ``mlp`` (DDP, ~300k parameters a step) the cost of its volume.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from minidl import distributed
from minidl.config import ComponentConfig, RunConfig
from minidl.hookspecs import hookimpl
from minidl.plugins import Plugins, load_plugins
from minidl.run import build


def mlp(num_inputs: int | None = None, hidden: int = 512) -> Any:
    """Two hidden ReLU layers of ``hidden`` units, one output.

    Args:
        num_inputs: input features (default: the dataset's)
        hidden: units per hidden layer
    """
    d = num_inputs or 2
    return torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, hidden),
                               torch.nn.ReLU(), torch.nn.Linear(hidden, 1))


class BenchComponents:
    """Registers the ``mlp`` model."""

    @hookimpl
    def register_models(self, register: Any) -> None:
        """mlp."""
        register("mlp", mlp)


class StepTimer:
    """Times the training steps of the last epoch: from its start to its last step."""

    def __init__(self) -> None:
        self.start = self.end = 0.0

    @hookimpl
    def on_epoch_start(self, trainer: Any, epoch: int) -> None:
        """Start the clock."""
        self.start = time.perf_counter()

    @hookimpl
    def on_batch_end(self, trainer: Any, epoch: int, step: int, loss: float) -> None:
        """Stop the clock (again)."""
        self.end = time.perf_counter()


def plugins() -> Plugins:
    """The default plugins and ``mlp``."""
    loaded = load_plugins(entry_points=False)
    loaded.register(BenchComponents(), "ddp-scaling")
    return loaded


def make_config(model: str, examples: int, inputs: int, batch_size: int) -> RunConfig:
    """Synthetic linear data, squared loss, sgd; 2 epochs, the second timed."""
    config = RunConfig()
    config.dataset = ComponentConfig("synthetic-linear", {
        "num_examples": examples, "num_inputs": inputs, "true_w": [0.1] * inputs})
    config.model = ComponentConfig("linreg", {"grad": "analytic"}) if model == "linreg" else ComponentConfig("mlp")
    config.optimizer = ComponentConfig("sgd", {"lr": 0.01})
    config.train.batch_size, config.train.epochs = batch_size, 2
    return config


def examples_per_second(run: Any, timer: StepTimer) -> float:
    """Training examples per second in the timed epoch, over all processes."""
    return len(run.dataset.tensors("train")[0]) / (timer.end - timer.start)


def one_process(config: RunConfig) -> float:
    """Examples per second of the plain Trainer in this process."""
    torch.set_num_threads(1)
    run = build(config, plugins())
    timer = StepTimer()
    run.trainer.callbacks.append(timer)
    run.fit()
    return examples_per_second(run, timer)


def worker(config: RunConfig, out: Path) -> None:
    """One rank of the 2-process run; rank 0 writes the rate to ``out``."""
    torch.set_num_threads(1)
    with distributed.process_group() as ctx:
        run = distributed.make_data_parallel(build(config, plugins()), ctx)
        timer = StepTimer()
        run.trainer.callbacks.append(timer)
        run.fit()
        if ctx.is_rank_zero:
            out.write_text(json.dumps(examples_per_second(run, timer)))


def two_processes(args: argparse.Namespace, model: str) -> float:
    """Examples per second of 2 processes, batch B each, launched as torchrun would."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "rate.json"
        argv = ["--worker", str(out), "--model", model, "--examples", str(args.examples),
                "--inputs", str(args.inputs), "--batch-size", str(args.batch_size)]
        code = distributed.launch(2, argv, program=[sys.executable, "-m", "benchmarks.ddp_scaling"])
        if code:
            raise SystemExit(f"the 2-process run failed with exit code {code}")
        return float(json.loads(out.read_text()))


def measure(args: argparse.Namespace, model: str) -> dict[str, float]:
    """Best of ``repeats`` for each setting."""
    B = args.batch_size
    settings = {
        f"1 process, batch {B}": lambda: one_process(make_config(model, args.examples, args.inputs, B)),
        f"1 process, batch {2 * B}": lambda: one_process(make_config(model, args.examples, args.inputs, 2 * B)),
        f"2 processes, batch {B} each": lambda: two_processes(args, model),
    }
    return {name: max(run() for _ in range(args.repeats)) for name, run in settings.items()}


def report(model: str, rates: dict[str, float]) -> None:
    """Print the table and the two ratios."""
    one_b, one_2b, two = rates.values()
    print(f"\n{model}")
    print(f"{'setting':<28} {'examples/s':>12}")
    for name, rate in rates.items():
        print(f"{name:<28} {rate:>12,.0f}")
    print(f"scaling efficiency (2 procs vs 2 x 1 proc at batch B): {two / (2 * one_b):.0%}")
    print(f"speed-up at the same global batch (2 x B vs 1 x 2B):  {two / one_2b:.2f}x")


def parse(argv: list[str]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["linreg", "mlp", "both"], default="both")
    parser.add_argument("--examples", type=int, default=None, help="default: 1,000,000 (linreg), 100,000 (mlp)")
    parser.add_argument("--inputs", type=int, default=100)
    parser.add_argument("--batch-size", type=int, default=256, help="per process")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (or, with ``--worker``, one rank of it)."""
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.worker is not None:
        worker(make_config(args.model, args.examples, args.inputs, args.batch_size), args.worker)
        return
    for model in (["linreg", "mlp"] if args.model == "both" else [args.model]):
        model_args = argparse.Namespace(**vars(args))
        if model_args.examples is None:
            model_args.examples = 1_000_000 if model == "linreg" else 100_000
        report(model, measure(model_args, model))


if __name__ == "__main__":
    main()
