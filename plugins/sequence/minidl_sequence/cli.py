"""``minidl generate RUN_DIR --prefix 分开 --length 50``: continue a prefix with a trained model.

Added to the command line through the plugin's ``register_commands`` hook.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from minidl.plugins import Plugins

BOOK_PREFIX = "分开"
BOOK_LENGTH = 50


@click.command("generate")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--prefix", default=BOOK_PREFIX, show_default=True, help="The text to continue.")
@click.option("--length", default=BOOK_LENGTH, show_default=True, type=click.IntRange(0, 1_000_000),
              help="Characters to generate after the prefix.")
@click.pass_obj
def generate_command(plugins: Plugins, run_dir: Path, prefix: str, length: int) -> None:
    """Continue PREFIX with the character model saved in RUN_DIR (written by
    `minidl train --out RUN_DIR` with a sequence model such as gru-scratch)."""
    from minidl_sequence.generate import generate

    click.echo(generate(run_dir, prefix, length, plugins))
