"""``minidl train``: build a run from defaults, a config file and flags, then train it."""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Any

import click

from minidl.cli.params import ComponentName
from minidl.errors import MinidlError
from minidl.hookspecs import hookimpl
from minidl.plugins import Plugins

if TYPE_CHECKING:
    from minidl.config import RunConfig

DEVICE_PATTERN = re.compile(r"^(cpu|auto|cuda(:\d+)?)$")


@click.command("train")
@click.option("--config", "config_path", metavar="FILE", help="Read the run's configuration from a TOML file.")
@click.option("--dataset", type=ComponentName("dataset"), help="Dataset by name (see `minidl list dataset`).")
@click.option("--model", type=ComponentName("model"), help="Model by name.")
@click.option("--loss", type=ComponentName("loss"), help="Loss by name.")
@click.option("--optimizer", type=ComponentName("optimizer"), help="Optimizer by name.")
@click.option("--epochs", type=int, help="Total number of epochs (default 3).")
@click.option("--batch-size", type=int, help="Examples per minibatch (default 10).")
@click.option("--lr", type=float, help="Learning rate (the optimizer's lr option; default 0.03).")
@click.option("--seed", type=int, help="Seed for data, initial parameters and order (default 0).")
@click.option("--device", help="cpu, cuda, cuda:N or auto (default cpu).")
@click.option("--set", "assignments", multiple=True, metavar="KIND.OPTION=VALUE",
              help="Set a component option, e.g. dataset.num_examples=5000 (repeatable).")
@click.option("--metric", "metrics", multiple=True, type=ComponentName("metric"),
              help="Also compute this metric on every split each epoch (repeatable).")
@click.option("--callback", "callbacks", multiple=True, type=ComponentName("callback"),
              help="Enable a callback; options via --set callback.NAME.OPTION=VALUE (repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the final summary.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object with history and parameters.")
@click.option("--print-config", is_flag=True, help="Print the resolved configuration as TOML and exit.")
@click.option("--out", metavar="DIR", help="Write config, metrics, versions and checkpoints to DIR.")
@click.option("--overwrite", is_flag=True, help="Replace the records of an earlier run in --out DIR.")
@click.option("--resume", metavar="DIR", help="Continue the run saved in DIR; --epochs is the new total.")
@click.option("--plot", is_flag=True, help="With --out: also draw data.png and loss.png there.")
@click.option("--strategy", type=click.Choice(["single", "ddp"]), default="single", show_default=True,
              help="ddp: data-parallel on torch.distributed (under torchrun, or use --nproc).")
@click.option("--nproc", type=int, help="Launch N data-parallel processes on this machine (torchrun).")
@click.pass_obj
def train_command(plugins: Plugins, config_path: str | None, assignments: tuple[str, ...], quiet: bool,
                  as_json: bool, print_config: bool, out: str | None, overwrite: bool, resume: str | None,
                  plot: bool, strategy: str, nproc: int | None, **flags: Any) -> None:
    """Train: the notebook's linear regression by default; swap any part by name.

    \b
    Flags override the config file; --set overrides both for component options:
      minidl train --model linreg --set model.grad=analytic --epochs 5
      minidl train --set dataset.num_inputs=3 --set dataset.true_w=1,2,3
      minidl train --epochs 3 --out runs/a && minidl train --resume runs/a --epochs 6
    """
    from minidl.config import RunConfig, load_config  # deferred: `minidl --help` stays instant

    state = None
    if resume is not None:
        from minidl.records import load_run

        if out is not None or config_path is not None:
            raise click.UsageError("--resume continues the run in its own directory, with its own "
                                   "configuration: leave out --out and --config")
        base, state = load_run(resume)
        config = configure(base.copy(), assignments, **flags)
        _check_resume(plugins, base, config, state, resume)
    else:
        base = load_config(config_path) if config_path else RunConfig()
        config = configure(base, assignments, **flags)
    if print_config:
        click.echo(config.resolve(plugins.registry).to_toml(), nl=False)
        return
    if plot and not (out or resume):
        raise click.UsageError("--plot writes into the run directory: give --out DIR")
    if nproc is not None:
        _launch(plugins, config, nproc, out=out, overwrite=overwrite)
    options: dict[str, Any] = {"quiet": quiet, "as_json": as_json, "out": out or resume, "overwrite": overwrite,
               "resume": state, "plot": plot}
    if strategy == "ddp":
        from minidl.distributed import process_group

        with process_group(config.train.device) as ctx:
            run_training(plugins, config, **options, parallel=ctx)
    else:
        run_training(plugins, config, **options)


def _check_resume(plugins: Plugins, saved: RunConfig, config: RunConfig, state: dict[str, Any], where: str) -> None:
    """Only --epochs and --device may change on resume; --epochs not below what is done."""
    import tomllib

    def settings(run_config: RunConfig) -> dict[str, Any]:
        resolved = run_config.resolve(plugins.registry)
        resolved.train.epochs, resolved.train.device = 0, "cpu"
        return _flatten(tomllib.loads(resolved.to_toml()))

    before, after = settings(saved), settings(config)
    changed = sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))
    if changed:
        raise click.UsageError(f"--resume continues the saved run: only --epochs and --device may change, "
                               f"not {', '.join(changed)}")
    done = int(state["epoch"])
    if config.train.epochs < done:
        raise click.UsageError(f"the run in {where!r} has already trained {done} epochs; "
                               f"--epochs is the new total: give {done} or more")


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[prefix + key] = value
    return flat


def _launch(plugins: Plugins, config: RunConfig, nproc: int, *, out: str | None, overwrite: bool) -> None:
    """Check everything once here, then run this command in ``nproc`` processes; exit with their code."""
    from minidl.distributed import check_nproc, launch, worker_argv

    check_nproc(nproc)
    config.resolve(plugins.registry)
    _recorder(out, overwrite=overwrite, resume=False)
    root = click.get_current_context().find_root().command
    sys.exit(launch(nproc, worker_argv(root.invoked_args)))  # type: ignore[attr-defined]


def configure(config: RunConfig, assignments: tuple[str, ...], *, metrics: tuple[str, ...] = (),
              callbacks: tuple[str, ...] = (), **flags: Any) -> RunConfig:
    """Layer flags over ``config``: component names, then ``--set``, then hyperparameters."""
    from minidl.config import COMPONENT_KINDS

    for kind in COMPONENT_KINDS:
        if flags.get(kind):
            config.set_name(kind, flags[kind])
    for name in callbacks:
        config.callbacks.setdefault(name, {})
    for metric in metrics:
        if metric not in config.train.metrics:
            config.train.metrics.append(metric)
    for assignment in assignments:
        config.apply(assignment)
    if flags.get("lr") is not None:
        config.optimizer.options["lr"] = flags["lr"]
    for key in ("epochs", "batch_size", "seed", "device"):
        if flags.get(key) is not None:
            config.set_train(key, flags[key])
    if not DEVICE_PATTERN.match(config.train.device):
        raise MinidlError(f"unknown device {config.train.device!r}; accepted: cpu, cuda, cuda:N, auto")
    return config


def run_training(plugins: Plugins, config: RunConfig, *, quiet: bool, as_json: bool, out: str | None = None,
                 overwrite: bool = False, resume: dict[str, Any] | None = None, plot: bool = False,
                 parallel: Any = None) -> None:
    """Build and train; print epoch lines, or the summary only, or JSON; keep records in ``out``.

    ``parallel`` is a :class:`minidl.distributed.DistContext`: then only rank 0 prints and writes.
    """
    from minidl.run import build

    rank_zero = parallel is None or parallel.is_rank_zero
    recorder = _recorder(out, overwrite=overwrite, resume=resume is not None) if rank_zero else None
    run = build(config, plugins, verbose=rank_zero and not (quiet or as_json), echo=click.echo)
    if parallel is not None:
        from minidl.distributed import make_data_parallel

        run = make_data_parallel(run, parallel)
    if resume is not None:
        from minidl.checkpoint import check_compatible

        check_compatible(run.model, resume, str(recorder.checkpoint_path if recorder else "checkpoint"))
    if recorder is not None:
        recorder.start(run)
    history = _fit(run, resume, recorder, progress=rank_zero and not (quiet or as_json) and sys.stderr.isatty())
    if not rank_zero:
        return
    if plot and recorder is not None:
        from minidl.plots import plot_run

        plot_run(recorder.out, run.dataset)
    if as_json:
        click.echo(json.dumps(summary_json(run, history.records), indent=2))
        return
    if quiet and history.records:
        from minidl.trainer import format_epoch

        click.echo(format_epoch(history.records[-1], run.trainer.metrics))
    for line in summary_lines(run):
        click.echo(line)


def _recorder(out: str | None, *, overwrite: bool, resume: bool) -> Any:
    if out is None:
        return None
    from minidl.records import RunRecorder

    return RunRecorder(out, overwrite=overwrite, resume=resume)


def _fit(run: Any, resume: dict[str, Any] | None, recorder: Any, *, progress: bool) -> Any:
    bar = _progress_bar(run, int(resume["epoch"]) if resume else 0) if progress else None
    if bar is not None:
        run.trainer.callbacks.append(bar)
    try:
        return run.fit(resume=resume)
    except KeyboardInterrupt:
        saved = recorder.saved_epoch if recorder is not None else None
        if saved is not None:
            where = f"epoch {saved} is saved in {recorder.checkpoint_path}; continue with: " \
                    f"minidl train --resume {recorder.out}"
        else:
            where = "no epoch was completed, nothing saved" if recorder else "nothing saved (use --out DIR)"
        click.echo(f"Interrupted during epoch {run.trainer.epoch + 1}: {where}", err=True)
        sys.exit(130)
    finally:
        if bar is not None:
            bar.close()


def summary_lines(run: Any) -> list[str]:
    """Why training stopped early, and learned parameters beside the true ones."""
    lines = [run.trainer.stop_reason] if run.trainer.stop_reason else []
    true_params = getattr(run.dataset, "true_params", None) or {}
    learned = run.parameters()
    for name, true in true_params.items():
        if name in learned:
            lines.append(f"{name}: {_fmt(learned[name])}  true: {true}")
    return lines


def summary_json(run: Any, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything a script compares between runs; nothing that varies with the clock."""
    result = {"config": json.loads(json.dumps(_config_dict(run.config))), "history": records,
              "parameters": run.parameters()}
    true_params = getattr(run.dataset, "true_params", None)
    if true_params:
        result["true_parameters"] = true_params
    if run.trainer.stop_reason:
        result["stopped"] = run.trainer.stop_reason
    return result


def _config_dict(config: RunConfig) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(config.to_toml())


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:.4f}" for v in value) + "]"
    return f"{value:.4f}"


class _ProgressBar:
    """Shows a click progress bar on stderr, advanced after every step."""

    def __init__(self, bar: Any) -> None:
        self.bar = bar

    @hookimpl
    def on_batch_end(self, trainer: Any, epoch: int, step: int, loss: float) -> None:
        """Advance by one step."""
        self.bar.update(1)

    @hookimpl
    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
        """Clear the bar's line: the epoch line goes to the same terminal; the next step redraws it."""
        click.echo("\r\033[K", file=sys.stderr, nl=False)

    def close(self) -> None:
        """Clear the bar's line for good and show the cursor again (the bar hides it)."""
        click.echo("\r\033[K\033[?25h", file=sys.stderr, nl=False)


def _progress_bar(run: Any, done_epochs: int) -> _ProgressBar:
    n = len(run.dataset.tensors("train")[0])
    steps = -(-n // run.config.train.batch_size) * max(run.config.train.epochs - done_epochs, 0)
    bar = click.progressbar(length=steps, label="training", file=sys.stderr)
    return _ProgressBar(bar)
