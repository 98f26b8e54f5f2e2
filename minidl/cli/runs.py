"""``minidl runs``: list, show, compare and plot the runs in the run index; rebuild it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

RUNS_ROOT_KEY = "minidl.runs_root"  # in click's ctx.meta: the --runs-root given, if any
F = TypeVar("F", bound=Callable[..., Any])


def _store_runs_root(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        if not value.strip():  # '' would quietly mean $MINIDL_RUNS, or runs
            raise click.BadParameter("'' names no directory; give the runs root, e.g. --runs-root runs",
                                     ctx, param)
        ctx.meta[RUNS_ROOT_KEY] = value


def runs_root_option(command: F) -> F:
    """The ``--runs-root DIR`` option (not passed to the callback: read :func:`current_runs_root`)."""
    return click.option("--runs-root", metavar="DIR", expose_value=False, callback=_store_runs_root,
                        is_eager=True, help="Where the run index minidl.db is (default $MINIDL_RUNS, else runs).")(
        command)


def current_runs_root() -> str | None:
    """The ``--runs-root`` of the running command; None for the default ($MINIDL_RUNS, else runs)."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(RUNS_ROOT_KEY) if ctx is not None else None


@click.group("runs")
def runs_command() -> None:
    """The run index: every `minidl train --out DIR` and sweep point, in runs/minidl.db.

    \b
      minidl runs list --where optimizer.lr=0.1 --sort test_loss
      minidl runs show ID          minidl runs diff ID ID
      minidl runs plot ID ID -o loss.png
      minidl runs reindex          (rebuild it from the run directories)
    """


@runs_command.command("list")
@click.option("--where", "where", multiple=True, metavar="KEY=VALUE",
              help="Only runs where a column or setting (status, model, optimizer.lr, ...) has this value; "
                   "also !=, <, >, <=, >= (repeatable).")
@click.option("--sort", metavar="METRIC", help="Order by a metric of the last epoch (test_loss), lowest first.")
@click.option("--desc", is_flag=True, help="With --sort: highest first (e.g. for test_accuracy).")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many runs.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of the table.")
@runs_root_option
def list_command(where: tuple[str, ...], sort: str | None, desc: bool, limit: int | None, as_json: bool) -> None:
    """The runs in the index, newest first: settings, final losses, time, directory."""
    from minidl.experiments.index import RunIndex, RunIndexError
    from minidl.experiments.query import parse_where, sort_expression

    for text in where:  # read before the index: a bad one is refused even where no runs are recorded yet
        parse_where(text)
    if sort is not None:
        sort_expression(sort)
    try:
        index = RunIndex.open(current_runs_root(), create=False)
    except RunIndexError as exc:
        if exc.reason != "missing":
            raise
        click.echo("[]" if as_json else f"no runs recorded yet ({exc})", err=not as_json)
        return
    with index:
        print_runs(index, where=where, sort=sort, descending=desc, limit=limit, as_json=as_json, check_sort=True)


def print_runs(index: Any, *, where: tuple[str, ...] = (), sort: str | None = None, descending: bool = False,
               limit: int | None = None, as_json: bool = False, check_sort: bool = False) -> None:
    """Print the runs of ``index`` as ``runs list`` does; warn about deleted directories.

    ``check_sort``: refuse a ``where`` or ``sort`` key that no run has (``runs list``:
    :meth:`~minidl.experiments.index.RunIndex.check_query`).
    """
    import json

    from minidl.experiments.table import LIST_COLUMNS, format_table, json_rows, mark_killed, mark_missing

    if check_sort:
        index.check_query(where, sort)
    rows = index.runs(columns=LIST_COLUMNS, where=where, sort=sort, descending=descending, limit=limit)
    mark_killed(rows)
    missing = mark_missing(rows)
    if missing:
        shown = ", ".join(f"{row['id']} ({row['dir']})" for row in missing[:5]) + (", ..." if len(missing) > 5 else "")
        click.echo(f"Warning: {len(missing)} run directories no longer exist: {shown}; "
                   f"`minidl runs reindex` drops them from the index", err=True)
    if as_json:
        click.echo(json.dumps(json_rows(rows), indent=2))
    elif rows:
        extra = sort if sort and sort not in ("loss", "test_loss") and "." not in sort else None
        extra = extra if extra not in ("lr", "batch_size", "epochs", "duration", "status", "id") else None
        click.echo(format_table(rows, extra))
    else:
        click.echo("no runs match" if where else f"no runs recorded in {index.path} yet", err=True)


@runs_command.command("show")
@click.argument("run", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the run's row as JSON.")
@runs_root_option
def show_command(run: str, as_json: bool) -> None:
    """One run: where, when, how it ended, its settings, metrics and versions.

    ID is a run id, a unique prefix of one, or the run's directory.
    """
    import json

    from minidl.config import flatten
    from minidl.experiments.index import RunIndex
    from minidl.experiments.lookup import find_runs
    from minidl.experiments.table import mark_killed, mark_missing

    with RunIndex.open(current_runs_root(), create=False) as index:
        (row,) = find_runs(index, [run])
    mark_killed([row])
    missing = mark_missing([row])
    decoded = {key: json.loads(row[key]) if row.get(key) and key in JSON_COLUMNS else row[key] for key in row}
    if missing:
        click.echo(f"Warning: run {row['id']}'s directory {row['dir']} no longer exists; "
                   "`minidl runs reindex` drops it from the index", err=True)
    if as_json:
        click.echo(json.dumps(decoded, indent=2))
        return
    for line in show_lines(decoded, flatten(decoded.get("config") or {})):
        click.echo(line)


JSON_COLUMNS = ("final", "best", "config", "command", "versions")


def show_lines(row: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    """``runs show`` as text."""
    import shlex

    from minidl.experiments.table import format_duration

    lines = [f"{key:<9}{row[key]}" for key in ("id", "status", "dir", "sweep", "started", "ended")
             if row.get(key) or key in ("id", "status")]
    lines.append(f"{'time':<9}{format_duration(row.get('duration'))}")
    total = row.get("epochs")
    lines.append(f"{'epochs':<9}{row.get('epochs_done')} of {'?' if total is None else total}")
    for key, label in (("stop_reason", "stopped"), ("error", "error")):
        if row.get(key):
            lines.append(f"{label:<9}{row[key]}")
    if row.get("command"):
        lines.append(f"{'command':<9}{shlex.join(['minidl', *row['command'][1:]])}")
    lines.append("settings:")
    lines += [f"  {key} = {value}" for key, value in settings.items()]
    for key in ("final", "best"):
        values = {k: v for k, v in (row.get(key) or {}).items() if k != "epoch"}
        lines.append(f"{key}:{'' if values else ' -'}")
        lines += [f"  {name} = {value:.6g}" if isinstance(value, float) else f"  {name} = {value}"
                  for name, value in values.items()]
    versions = row.get("versions") or {}
    packages = versions.get("packages", {})
    if packages:
        lines.append("versions: python " + str(versions.get("python", "?")) + ", "
                     + ", ".join(f"{name} {version}" for name, version in packages.items()))
    return lines


@runs_command.command("diff")
@click.argument("runs", metavar="ID ID...", nargs=-1, required=True)
@runs_root_option
def diff_command(runs: tuple[str, ...]) -> None:
    """The settings that differ between runs, then their metrics side by side."""
    from minidl.experiments.compare import diff_table, format_rows
    from minidl.experiments.index import RunIndex
    from minidl.experiments.lookup import find_runs
    from minidl.experiments.table import mark_killed, mark_missing

    if len(runs) < 2:
        raise click.UsageError(f"runs diff compares two or more runs; got one: {runs[0]}")
    with RunIndex.open(current_runs_root(), create=False) as index:
        rows = find_runs(index, runs)
    mark_killed(rows)
    for row in mark_missing(rows):
        click.echo(f"Warning: run {row['id']}'s directory {row['dir']} no longer exists; shown as the index "
                   "last recorded it", err=True)
    click.echo(format_rows(diff_table(rows)))


@runs_command.command("plot")
@click.argument("runs", metavar="ID...", nargs=-1, required=True)
@click.option("-o", "--output", required=True, metavar="FILE", help="The picture to write: .png, .svg or .pdf.")
@runs_root_option
def plot_command(runs: tuple[str, ...], output: str) -> None:
    """Loss curves of the runs on one figure, labelled by the settings that differ.

    An existing FILE is replaced (atomically), as any program that is told where to write does.
    """

    from minidl.experiments.index import RunIndex
    from minidl.experiments.lookup import find_runs
    from minidl.experiments.plot import plot_runs
    from minidl.experiments.table import mark_missing
    from minidl.plots import check_plot_path

    check_plot_path(output)
    with RunIndex.open(current_runs_root(), create=False) as index:
        rows = find_runs(index, runs)
    missing = mark_missing(rows)
    if missing:
        raise click.UsageError(f"run {missing[0]['id']}'s directory {missing[0]['dir']} no longer exists; "
                               "nothing to plot from it (`minidl runs reindex` drops it from the index)")
    click.echo(f"wrote {plot_runs(rows, output)}")


@runs_command.command("reindex")
@click.argument("dirs", metavar="[DIR]...", nargs=-1)
@runs_root_option
def reindex_command(dirs: tuple[str, ...]) -> None:
    """Rebuild the index from the run directories (also recovers a corrupt index).

    Indexed: every run under the runs root, those the old index named elsewhere that
    still exist, and every run under each DIR given.
    """
    from minidl.errors import counted
    from minidl.experiments.index import runs_root
    from minidl.experiments.reindex import reindex

    root = runs_root(current_runs_root())
    result = reindex(root, dirs)
    if result.moved_aside:
        click.echo(f"Warning: the unreadable index was moved aside to {result.moved_aside}", err=True)
    for line in (*result.skipped, *result.renamed):
        click.echo(f"Warning: {line}", err=True)
    for run_id, directory in result.dropped:
        click.echo(f"dropped {run_id}: its directory {directory} no longer exists")
    click.echo(f"indexed {counted(result.runs, 'run')} and {counted(result.sweeps, 'sweep')} in {root / 'minidl.db'}")
