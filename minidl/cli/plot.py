"""``minidl plot``: the data (the notebook's scatter, or sample images with their labels), or a run's curves."""

from __future__ import annotations

import os

import click

from minidl.cli.params import ComponentName
from minidl.plugins import Plugins


@click.command("plot")
@click.argument("target", metavar="data|RUN_DIR")
@click.option("-o", "--output", required=True, metavar="FILE", help="The picture to write: .png, .svg or .pdf.")
@click.option("--feature", default=1, show_default=True, help="With `data`: the feature on the x axis (0-based).")
@click.option("--dataset", type=ComponentName("dataset"), help="With `data`: the dataset by name.")
@click.option("--set", "assignments", multiple=True, metavar="dataset.OPTION=VALUE", help="A dataset option.")
@click.option("--seed", type=int, help="With `data`: the seed the data is drawn from (default 0).")
@click.option("--config", "config_path", metavar="FILE", help="With `data`: take the dataset from a config file.")
@click.option("--metric", "metrics", multiple=True, metavar="NAME",
              help="With RUN_DIR: draw this curve (loss, accuracy, ...; repeatable; default: all of them).")
@click.pass_obj
def plot_command(plugins: Plugins, target: str, output: str, feature: int, dataset: str | None,
                 assignments: tuple[str, ...], seed: int | None, config_path: str | None,
                 metrics: tuple[str, ...]) -> None:
    """Draw `data` (a feature against the labels, or sample images of classes) or a run's curves.

    \b
      minidl plot data -o data.png --set dataset.num_examples=500
      minidl plot runs/a -o loss.svg
      minidl plot runs/a -o accuracy.png --metric accuracy
    """
    from minidl.plots import check_plot_path, plot_data, plot_history

    check_plot_path(output)
    if target != "data":
        if not os.path.isdir(target):
            raise click.BadParameter(f"{target!r} is neither `data` nor a run directory", param_hint="TARGET")
        click.echo(f"wrote {plot_history(target, output, metrics=metrics or None)}")
        return
    if metrics:
        raise click.UsageError("--metric picks the curves of a run: give RUN_DIR, not `data`")
    from minidl.cli.train import configure
    from minidl.config import RunConfig, load_config
    from minidl.run import build_dataset

    config = configure(load_config(config_path) if config_path else RunConfig(), assignments,
                       dataset=dataset, seed=seed)
    click.echo(f"wrote {plot_data(build_dataset(config, plugins), output, feature=feature)}")
