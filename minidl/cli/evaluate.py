"""``minidl evaluate RUN_DIR``: the loss and metrics of a saved run on each of its splits."""

from __future__ import annotations

import json
from typing import Any

import click

from minidl.cli.params import ComponentName
from minidl.errors import CheckpointError, DivergedError, MinidlError
from minidl.plugins import Plugins
from minidl.run_layout import CHECKPOINT_FILE


@click.command("evaluate")
@click.argument("run_dir", metavar="RUN_DIR")
@click.option("--metric", "metrics", multiple=True, type=ComponentName("metric"),
              help="Also compute this metric, beside the run's own (repeatable).")
@click.option("--device", help="cpu, cuda, cuda:N or auto (default: the run's own).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: the epoch and each split's values.")
@click.pass_obj
def evaluate_command(plugins: Plugins, run_dir: str, metrics: tuple[str, ...], device: str | None,
                     as_json: bool) -> None:
    """Loss and metrics of a run saved by `minidl train --out RUN_DIR`, on each split.

    \b
      minidl evaluate runs/a
      minidl evaluate runs/a --metric mae --json
    """
    from minidl.saved_run import load_run

    run = load_run(run_dir, plugins, device=device)
    if run.state is None:
        raise MinidlError(f"the run in {run_dir!r} has no finished epoch (no {CHECKPOINT_FILE}): nothing to evaluate")
    for name in metrics:
        if name not in run.trainer.metrics:
            run.trainer.metrics[name] = plugins.registry.build("metric", name)
    try:
        values = by_split(run.evaluate(), run.dataset.splits)
    except DivergedError as exc:  # not training: the saved parameters themselves give no finite loss
        raise CheckpointError(f"cannot evaluate the run in {run_dir!r}: the model of its {CHECKPOINT_FILE} gives "
                              f"a loss of {exc.loss}{_non_finite(run.model)}; the checkpoint is damaged, or "
                              "was saved after the run diverged") from None
    if as_json:
        click.echo(json.dumps({"run": run_dir, "epoch": run.trainer.epoch, "splits": values}, indent=2))
        return
    click.echo(f"{run_dir}: epoch {run.trainer.epoch}")
    for split, split_values in values.items():
        click.echo(f"{split}: " + ", ".join(_format(name, value, run.trainer.metrics)
                                            for name, value in split_values.items()))


def by_split(record: dict[str, float], splits: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """An epoch record (``loss``, ``test_loss``, ``test_accuracy``) as values per split."""
    result: dict[str, dict[str, float]] = {split: {} for split in splits}
    for key, value in record.items():
        split = next((s for s in splits if s != "train" and key.startswith(f"{s}_")), "train")
        result[split][key.removeprefix(f"{split}_") if split != "train" else key] = value
    return result


def _format(name: str, value: float, metrics: dict[str, Any]) -> str:
    metric = metrics.get(name)
    fmt = getattr(metric, "fmt", "{:f}") if metric is not None else "{:f}"
    label = getattr(metric, "label", name) if metric is not None else name
    return f"{label} {fmt.format(value)}"


def _non_finite(model: Any) -> str:
    """``: parameters w, b are not finite`` for the parameters holding nan or inf, else nothing."""
    import torch

    names = [name for name, tensor in model.state_dict().items()
             if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())]
    return f" (its parameters {', '.join(names)} are not finite)" if names else ""
