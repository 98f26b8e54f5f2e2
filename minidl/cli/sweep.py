"""``minidl sweep``: train every point of a grid (or random draws), each an ordinary run directory."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from pathlib import Path
from typing import Any

import click

from minidl.cli.runs import current_runs_root, print_runs, runs_root_option
from minidl.cli.train import train_command
from minidl.errors import DivergedError, MinidlError
from minidl.plugins import Plugins
from minidl.signals import sigterm_interrupts

#: The options of `minidl train` that a sweep takes too: they set what every point shares.
TRAIN_OPTIONS = ("config_path", "dataset", "model", "loss", "optimizer", "epochs", "batch_size", "lr", "seed",
                 "device", "assignments", "metrics", "callbacks")


@click.command("sweep")
@click.option("--grid", "grid", multiple=True, metavar="KIND.OPTION=V1,V2,...",
              help="Values of a setting, --set's keys (repeatable: the points are the product). "
                   "With --sampler random also ranges: A..B, log:A..B, int:A..B.")
@click.option("--out", metavar="DIR", help="The sweep's directory: one run directory per point inside.")
@click.option("--resume", metavar="DIR", help="Continue the sweep in DIR: finished points are skipped.")
@click.option("-j", "--jobs", "processes", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Train this many points at once, each in its own process.")
@click.option("--sampler", type=click.Choice(["grid", "random"]), default="grid", show_default=True,
              help="grid: every combination; random: --trials draws.")
@click.option("--trials", type=click.IntRange(min=1), help="With --sampler random: how many points to draw.")
@click.option("--sweep-seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="With --sampler random: the seed of the draws (the runs' own seed is --seed).")
@click.option("--sort", metavar="METRIC", help="Order the final table by this metric (default test_loss, or loss).")
@click.option("--desc", is_flag=True, help="With --sort: highest first (e.g. for test_accuracy).")
@runs_root_option
@click.pass_obj
def sweep_command(plugins: Plugins, grid: tuple[str, ...], out: str | None, resume: str | None, processes: int,
                  sampler: str, trials: int | None, sweep_seed: int, sort: str | None, desc: bool,
                  **train_flags: Any) -> None:
    """Train every point of a grid, then print them as `minidl runs list`, best first.

    \b
      minidl sweep --grid optimizer.lr=0.01,0.03,0.1 --grid train.batch_size=10,100 \\
                   --epochs 5 --out runs/lr-sweep -j 2
      minidl sweep --resume runs/lr-sweep
      minidl sweep --sampler random --trials 8 --grid optimizer.lr=log:1e-4..1 --out runs/lr-random
    """
    from minidl.experiments import sweep
    from minidl.experiments.index import RunIndex, runs_root

    root = runs_root(current_runs_root()).resolve()
    for option, value in (("--out", out), ("--resume", resume)):
        if value is not None and not value.strip():  # '' is the current directory: never what was meant
            raise click.BadParameter("'' names no directory", param_hint=f"'{option}'")
    if sort is not None:
        from minidl.experiments.query import sort_expression

        sort_expression(sort)  # a key that cannot be one is refused before anything trains
    if resume is not None:
        directory, spec, points = _resumed(plugins, resume, out, grid, train_flags, sampler, trials)
    else:
        directory, spec, points = _new(plugins, grid, out, sampler, trials, sweep_seed, train_flags, root)
    with sweep.locked(directory), sigterm_interrupts():
        with RunIndex.open(root) as index:  # a broken index fails here, before anything trains
            if resume is not None:  # under the lock: another process may be training these points
                spec, original = sweep.record_points(index, directory, spec, points)
                if original is not None:
                    click.echo(f"Note: {directory} holds sweep {original[1]} as {original[0]} does (a copy): "
                               f"recorded as sweep {spec['id']}", err=True)
            _record_sweep(index, directory, spec)
        failed = _run(plugins, directory, spec, points, processes, root)
    with RunIndex.open(root) as index:
        click.echo("")
        where = (f"sweep={spec['id']}",)
        if sort is not None:
            try:
                index.check_query(where, sort)
            except MinidlError as exc:  # the sweep is done: its table is shown all the same
                click.echo(f"Warning: {exc}; sorted by the default instead", err=True)
                sort = None
        print_runs(index, where=where, sort=sort or _default_sort(index, spec["id"]), descending=desc)
    if failed:
        click.echo(f"{len(failed)} of {len(points)} points failed: {', '.join(failed)}", err=True)
        sys.exit(1)


def _new(plugins: Plugins, grid: tuple[str, ...], out: str | None, sampler: str, trials: int | None, seed: int,
         train_flags: dict[str, Any], root: Path) -> tuple[Path, dict[str, Any], list[Any]]:
    from minidl.config import RunConfig, load_config
    from minidl.experiments import grid as grids
    from minidl.experiments import sweep

    if out is None:
        raise click.UsageError("give the sweep's directory: --out DIR (or continue one with --resume DIR)")
    axes = grids.parse_axes(grid)
    assignments = grids.points(axes, sampler, trials, seed)
    directory = Path(out).resolve()
    sweep.check_new_dir(directory)
    config_path = train_flags.pop("config_path")
    base = (load_config(config_path) if config_path else RunConfig()).with_flags(
        assignments=train_flags.pop("assignments"), **train_flags)
    grids.check_points(base, plugins.registry, assignments, distinct=True)
    points = [sweep.Point(number, grids.point_name(number, point), point) for number, point in enumerate(assignments)]
    spec = sweep.new_spec(grid=grid, sampler=sampler, trials=trials, seed=seed, plugins=_plugin_specs(),
                          points=points)
    sweep.create(directory, spec, base.to_toml())
    click.echo(f"sweep {spec['id']}: {len(points)} points in {directory}")
    return directory, spec, points


def _resumed(plugins: Plugins, resume: str, out: str | None, grid: tuple[str, ...], train_flags: dict[str, Any],
             sampler: str, trials: int | None) -> tuple[Path, dict[str, Any], list[Any]]:
    from minidl.experiments import grid as grids
    from minidl.experiments import sweep

    given = [name for name, value in (("--out", out), ("--grid", grid), ("--sampler", sampler != "grid"),
                                      ("--trials", trials)) if value]
    given += [f"--{name.replace('_', '-')}" for name, value in train_flags.items() if value]
    if given:
        raise click.UsageError(f"--resume continues the sweep with its own grid and settings: leave out "
                               f"{', '.join(given)}")
    directory = Path(resume).resolve()
    spec, points = sweep.load(directory)
    todo = [point for point in points if sweep.point_state(directory / point.name) != "done"]
    if todo:  # a damaged sweep.toml or point fails now, not point by point after the others trained
        try:
            grids.check_points(sweep.base_config(directory), plugins.registry, [point.assignments for point in todo])
        except MinidlError as exc:
            raise MinidlError(f"cannot resume the sweep in {str(directory)!r}: {exc}") from None
    return directory, spec, points


def _record_sweep(index: Any, directory: Path, spec: dict[str, Any]) -> None:
    from minidl.experiments.reindex import sweep_row

    index.put_sweep(sweep_row(directory, spec))


def _run(plugins: Plugins, directory: Path, spec: dict[str, Any], points: list[Any], processes: int,
         root: Path) -> list[str]:
    """Run the points still to do; return the names of those that failed."""
    from minidl.experiments import sweep

    todo, done = sweep.jobs(directory, points, root)
    if done:
        click.echo(f"{done} of {len(points)} points already done")
    failed: list[str] = []
    finished = [done]

    def report(job: Any, code: int, output: str) -> None:
        finished[0] += 1
        status = sweep.status_of(job, directory, code)
        lines = [line for line in output.strip().splitlines() if line.strip()]
        why = f": {lines[-1].removeprefix('Error: ')}" if status != "finished" and lines else ""
        click.echo(f"[{finished[0]}/{len(points)}] {job.point.name}: {status}{' (resumed)' if job.resumed else ''}"
                   f"{why}")
        if status == "failed":
            failed.append(job.point.name)

    try:
        if processes == 1:
            sweep.run_in_turn(todo, _in_process(plugins), report)
        else:
            prefix = sweep.command_prefix(spec.get("plugins", []))
            sweep.run_parallel(todo, processes, prefix, report)
    except KeyboardInterrupt as exc:
        click.echo(f"sweep interrupted; continue with: minidl sweep --resume {directory}", err=True)
        sys.exit(getattr(exc, "exit_code", 130))
    return failed


def _in_process(plugins: Plugins) -> Any:
    """Run `minidl train ARGS` in this process: (exit code, what it printed or the error)."""
    from minidl.signals import Terminated

    def execute(args: list[str]) -> tuple[int, str]:
        buffer, argv = io.StringIO(), sys.argv
        try:
            sys.argv = [argv[0], "train", *args]  # what run.json records as the point's command line
            with contextlib.redirect_stdout(buffer):
                ctx = train_command.make_context("train", list(args), obj=plugins,
                                                 parent=click.get_current_context())
                with ctx:
                    train_command.invoke(ctx)
        except DivergedError as exc:
            return 1, str(exc)
        except (MinidlError, click.ClickException) as exc:
            return 2, exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
        except SystemExit as exc:  # Ctrl-C or SIGTERM: train has recorded it; stop the sweep
            if exc.code == 128 + 15:
                raise Terminated() from None
            if exc.code == 130:
                raise KeyboardInterrupt() from None
            return int(exc.code or 0), ""
        except Exception as exc:  # a bug in one point's components: report it, go on with the others
            return 1, f"{type(exc).__name__}: {exc}"
        finally:
            sys.argv = argv
        return 0, buffer.getvalue()

    return execute


def _plugin_specs() -> list[str]:
    """The ``-p`` plugins given to this command, file paths made absolute (a point runs them too)."""
    specs = click.get_current_context().find_root().params.get("plugin_specs") or ()
    return [os.path.abspath(spec) if os.path.exists(spec) else spec for spec in specs]


def _default_sort(index: Any, sweep_id: str) -> str:
    rows = index.runs(columns=("final_test_loss",), where=(f"sweep={sweep_id}",))
    return "test_loss" if any(row["final_test_loss"] is not None for row in rows) else "loss"


for _param in train_command.params:  # every option a point shares, exactly as `minidl train` reads it
    if _param.name in TRAIN_OPTIONS:
        sweep_command.params.append(_param)
