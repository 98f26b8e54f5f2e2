"""The ``minidl optim`` command group. torch and matplotlib are imported inside the callbacks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from minidl.errors import MinidlError


class CommandError(click.ClickException):
    """A bad input: one ``Error: ...`` line, exit status 2 (as a usage error)."""

    exit_code = 2


def _plugins(ctx: click.Context) -> Any:
    """The plugins the ``minidl`` command loaded, else freshly loaded ones."""
    from minidl.plugins import Plugins, load_plugins

    obj = ctx.find_object(Plugins)
    if obj is None:
        root = ctx.find_root().obj
        obj = getattr(root, "plugins", None) if not isinstance(root, Plugins) else root
    return obj if isinstance(obj, Plugins) else load_plugins()


@click.group("optim")
def optim() -> None:
    """Chapter 7: compare optimization algorithms."""


@optim.command("compare")
@click.option("--optimizer", "optimizers", multiple=True, required=True, metavar="NAME",
              help="An optimizer to compare; repeat for each (e.g. --optimizer sgd --optimizer adam).")
@click.option("--dataset", default=None, metavar="NAME", help="Dataset (default: synthetic-linear).")
@click.option("--model", default=None, metavar="NAME", help="Model (default: linreg).")
@click.option("--loss", default=None, metavar="NAME", help="Loss (default: squared).")
@click.option("--set", "assignments", multiple=True, metavar="KIND.OPTION=VALUE",
              help="Set an option: optimizer.lr=0.01 (every optimizer that has it), "
                   "NAME.lr=0.01 (optimizer NAME only), dataset.path=..., model.X=..., train.seed=...")
@click.option("--epochs", default=2, show_default=True, type=click.IntRange(min=1), help="Epochs per run.")
@click.option("--batch-size", default=10, show_default=True, type=click.IntRange(min=1),
              help="Examples per minibatch.")
@click.option("--seed", default=0, show_default=True, type=int,
              help="Seed of every run: same data, initial parameters and batch order.")
@click.option("--every", default=100, show_default=True, type=click.IntRange(min=1),
              help="Record the training loss every this many examples.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write the figure of the loss curves here (PNG, PDF or SVG by the suffix).")
@click.pass_context
def compare(ctx: click.Context, optimizers: tuple[str, ...], dataset: str | None, model: str | None,
            loss: str | None, assignments: tuple[str, ...], epochs: int, batch_size: int, seed: int,
            every: int, output: str | None) -> None:
    """Train the same setup with each optimizer and plot their loss curves on one figure.

    Every run starts from the same parameters and sees the same batches; the training
    loss is recorded every --every examples, as the book's chapter 7.
    """
    from minidl_optim.compare import base_config, plot_curves, run_all

    try:
        if output and not Path(output).resolve().parent.is_dir():
            raise MinidlError(f"cannot write the figure to {output!r}: its folder does not exist")
        if output:
            from minidl.plots import check_plot_path

            check_plot_path(output)  # before training, not after
        config = base_config(dataset, model, loss, epochs, batch_size, seed)
        curves = run_all(_plugins(ctx), config, list(optimizers), list(assignments), every)
        for curve in curves:
            click.echo(curve.summary())
        if output:
            plot_curves(curves, output)
            click.echo(f"figure written to {output}")
    except (MinidlError, ImportError) as exc:
        raise CommandError(str(exc).splitlines()[0]) from None
