"""``minidl train``: build a run from defaults, a config file and flags, then train it."""

from __future__ import annotations

import contextlib
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from minidl.checkpoint import WriteError
from minidl.cli.params import ComponentName
from minidl.cli.runs import current_runs_root, runs_root_option
from minidl.errors import ComponentFailedError, DivergedError, MinidlError, counted
from minidl.hookspecs import hookimpl
from minidl.plugins import Plugins
from minidl.signals import sigterm_interrupts

if TYPE_CHECKING:
    from minidl.config import RunConfig

@click.command("train")
@click.option("--config", "config_path", metavar="FILE", help="Read the run's configuration from a TOML file.")
@click.option("--dataset", type=ComponentName("dataset"), help="Dataset by name (see `minidl list dataset`).")
@click.option("--model", type=ComponentName("model"), help="Model by name.")
@click.option("--loss", type=ComponentName("loss"), help="Loss by name.")
@click.option("--optimizer", type=ComponentName("optimizer"), help="Optimizer by name.")
# the values below are checked once, with the configuration, by the options they set
@click.option("--epochs", metavar="INTEGER", help="Total number of epochs (default 3).")
@click.option("--batch-size", metavar="INTEGER", help="Examples per minibatch (default 10).")
@click.option("--lr", metavar="FLOAT", help="Learning rate (the optimizer's lr option; default 0.03).")
@click.option("--seed", metavar="INTEGER", help="Seed for data, initial parameters and order (default 0).")
@click.option("--device", help="cpu, cuda, cuda:N or auto (default cpu).")
@click.option("--set", "assignments", multiple=True, metavar="KIND.OPTION=VALUE",
              help="Set a component option, e.g. dataset.num_examples=5000 (repeatable).")
@click.option("--metric", "metrics", multiple=True, type=ComponentName("metric"),
              help="Also compute this metric on every split each epoch (repeatable).")
@click.option("--callback", "callbacks", multiple=True, type=ComponentName("callback"),
              help="Enable a callback; options via --set callback.NAME.OPTION=VALUE (repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="Print only the final summary.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object: configuration, history, parameter count and norms.")
@click.option("--json-params", is_flag=True, help="With --json: also every learned parameter value.")
@click.option("--print-config", is_flag=True, help="Print the resolved configuration as TOML and exit.")
@click.option("--out", metavar="DIR", help="Write config, metrics, versions and checkpoints to DIR.")
@click.option("--overwrite", is_flag=True, help="Replace the records of an earlier run in --out DIR.")
@click.option("--resume", metavar="DIR", help="Continue the run saved in DIR; --epochs is the new total.")
@click.option("--plot", is_flag=True, help="With --out: also draw data.png and loss.png there.")
@click.option("--strategy", type=click.Choice(["single", "ddp"]), default="single", show_default=True,
              help="ddp: data-parallel on torch.distributed (under torchrun, or use --nproc).")
@click.option("--nproc", type=int, help="Launch N data-parallel processes on this machine (torchrun).")
@runs_root_option
@click.pass_obj
def train_command(plugins: Plugins, config_path: str | None, assignments: tuple[str, ...], quiet: bool,
                  as_json: bool, json_params: bool, print_config: bool, out: str | None, overwrite: bool,
                  resume: str | None, plot: bool, strategy: str, nproc: int | None, **flags: Any) -> None:
    """Train: the notebook's linear regression by default; swap any part by name.

    \b
    Flags override the config file; --set overrides both for component options:
      minidl train --model linreg --set model.grad=analytic --epochs 5
      minidl train --set dataset.num_inputs=3 --set dataset.true_w=1,2,3
      minidl train --epochs 3 --out runs/a && minidl train --resume runs/a --epochs 6
    """
    from minidl.config import RunConfig, check_resume_compatible, load_config  # deferred: --help stays instant

    state = None
    if resume is not None:
        from minidl.saved_run import read_run

        if out is not None or config_path is not None:
            raise click.UsageError("--resume continues the run in its own directory, with its own "
                                   "configuration: leave out --out and --config")
        base, state = read_run(resume, plugins)  # with plugins: a saved value now refused names config.toml
        config = base.with_flags(assignments=assignments, **flags).resolve(plugins.registry)
        check_resume_compatible(base.resolve(plugins.registry), config, state or {"epoch": 0}, where=resume)
        if state is not None and state["epoch"] == config.train.epochs and not print_config:
            click.echo(f"{resume} has already trained {counted(state['epoch'], 'epoch')}: nothing to train; "
                       f"--epochs is the new total, give more than {state['epoch']} to train on", err=True)
        if state is None:  # interrupted before its first epoch was saved: start it again, in place
            click.echo(f"{resume} holds no finished epoch: training it from the beginning", err=True)
            overwrite = True
    else:
        base = load_config(config_path) if config_path is not None else RunConfig()  # '' is refused there
        config = base.with_flags(assignments=assignments, **flags).resolve(plugins.registry)  # checked once
    if out is not None and not out.strip():  # '' saved nothing, silently
        raise click.BadParameter(f"{out!r} names no directory; give the directory to write the run to, "
                                 "e.g. --out runs/a", param_hint="'--out'")
    if json_params and not as_json:
        raise click.UsageError("--json-params adds the parameters to --json: give --json too")
    if print_config:
        click.echo(config.to_toml(), nl=False)
        return
    if plot and not (out or resume):
        raise click.UsageError("--plot writes into the run directory: give --out DIR")
    if nproc is not None:
        _launch(plugins, config, nproc, out=out, overwrite=overwrite)
    options: dict[str, Any] = {"quiet": quiet, "as_json": as_json, "out": out or resume, "overwrite": overwrite,
               "resume": state, "plot": plot, "json_params": json_params}
    if strategy == "ddp":
        from minidl.distributed import process_group

        with process_group(config.train.device) as ctx:
            run_training(plugins, config, **options, parallel=ctx)
    else:
        run_training(plugins, config, **options)


def _launch(plugins: Plugins, config: RunConfig, nproc: int, *, out: str | None, overwrite: bool) -> None:
    """Check everything once here, then run this command in ``nproc`` processes; exit with their code."""
    from minidl.distributed import check_nproc, launch, timeout_seconds, worker_argv

    check_nproc(nproc)
    timeout_seconds()  # MINIDL_DDP_TIMEOUT=abc: one line here, not one failed rank after the start
    _check_gpus_for(nproc, config.train.device)
    config.resolve(plugins.registry)
    _recorder(out, overwrite=overwrite, resume=False)
    root = click.get_current_context().find_root().command
    sys.exit(launch(nproc, worker_argv(root.invoked_args)))  # type: ignore[attr-defined]


def _check_gpus_for(nproc: int, device: str) -> None:
    """Under cuda each of the ``nproc`` ranks takes the GPU of its local rank: refuse more ranks than GPUs."""
    import torch

    if device == "cpu" or not torch.cuda.is_available():
        return  # cuda without a GPU is refused, in one line, where the device is resolved
    count = torch.cuda.device_count()
    if nproc > count:
        raise click.UsageError(f"--nproc {nproc} with --device {device} needs {nproc} GPUs (one per process), "
                               f"but this machine has {count}; give --nproc {count} or less, or --device cpu")


def configure(config: RunConfig, assignments: tuple[str, ...], **flags: Any) -> RunConfig:
    """Layer flags over ``config`` (:meth:`minidl.config.RunConfig.with_flags`, the library's own)."""
    return config.with_flags(assignments=assignments, **flags)


def run_training(plugins: Plugins, config: RunConfig, *, quiet: bool, as_json: bool, out: str | None = None,
                 overwrite: bool = False, resume: dict[str, Any] | None = None, plot: bool = False,
                 parallel: Any = None, json_params: bool = False) -> None:
    """Build and train; print epoch lines, or the summary only, or JSON; keep records in ``out``.

    ``parallel`` is a :class:`minidl.distributed.DistContext`: then only rank 0 prints and writes.
    Under ``as_json`` whatever a plugin prints goes to stderr: stdout holds the JSON alone.
    """
    rank_zero = parallel is None or parallel.is_rank_zero
    with contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext():
        run, history, recorder = _train(plugins, config, quiet=quiet, as_json=as_json, out=out,
                                        overwrite=overwrite, resume=resume, parallel=parallel)
    if not rank_zero:
        return
    if plot and recorder is not None:
        from minidl.plots import plot_run

        try:
            plot_run(recorder.out, run.dataset)
        except WriteError as exc:  # a full disk: the run itself is saved
            click.echo(f"Error: {exc}; training finished: {recorder.saved_note()}", err=True)
            sys.exit(1)
    if as_json:
        click.echo(json.dumps(summary_json(run, history.records, params=json_params), indent=2))
        return
    if quiet and history.records:
        from minidl.trainer import format_epoch

        click.echo(format_epoch(history.records[-1], run.trainer.metrics))
    for line in summary_lines(run):
        click.echo(line)


def _train(plugins: Plugins, config: RunConfig, *, quiet: bool, as_json: bool, out: str | None,
           overwrite: bool, resume: dict[str, Any] | None, parallel: Any) -> tuple[Any, Any, Any]:
    """Build the run, attach the records, train: ``(run, history, recorder)``."""
    from minidl.experiments.tracking import IndexTracker
    from minidl.run import build

    rank_zero = parallel is None or parallel.is_rank_zero
    recorder = _recorder(out, overwrite=overwrite, resume=resume is not None) if rank_zero else None
    tracker = IndexTracker.open(recorder, current_runs_root())  # the run index; a corrupt one fails here
    run = build(config, plugins, verbose=rank_zero and not (quiet or as_json), echo=click.echo)
    if parallel is not None:
        from minidl.distributed import make_data_parallel

        run = make_data_parallel(run, parallel)
    if resume is not None:
        from minidl.checkpoint import check_compatible

        check_compatible(run.model, resume, str(recorder.checkpoint_path if recorder else "checkpoint"),
                         optimizer=run.optimizer)
    if recorder is not None:
        recorder.start(run)
        if tracker is not None:
            tracker.attach(run)
    history = _fit(run, resume, recorder, progress=rank_zero and not (quiet or as_json) and sys.stderr.isatty(),
                   tracker=tracker)
    return run, history, recorder


def _recorder(out: str | None, *, overwrite: bool, resume: bool) -> Any:
    if out is None:
        return None
    from minidl.records import RunRecorder

    return RunRecorder(out, overwrite=overwrite, resume=resume)


def _fit(run: Any, resume: dict[str, Any] | None, recorder: Any, *, progress: bool, tracker: Any = None) -> Any:
    bar = _progress_bar(run, int(resume["epoch"]) if resume else 0) if progress else None
    if bar is not None:
        run.trainer.callbacks.append(bar)
    try:
        with sigterm_interrupts(), (tracker.recording() if tracker is not None else contextlib.nullcontext()):
            return run.fit(resume=resume)
    except KeyboardInterrupt as exc:
        code = getattr(exc, "exit_code", 130)  # 143 for SIGTERM
        what = "Terminated (SIGTERM)" if code != 130 else "Interrupted"
        click.echo(f"{what} during epoch {run.trainer.epoch + 1}: {_saved_note(recorder)}", err=True)
        sys.exit(code)
    except WriteError as exc:  # a full disk, a read-only folder: the file, and what is safe
        click.echo(f"Error: {exc}; {_saved_note(recorder)}", err=True)
        sys.exit(1)
    except (MinidlError, DivergedError, BrokenPipeError):
        raise  # already one line; or the reader of stdout is gone (`minidl train | head -1`: click ends quietly)
    except Exception as exc:  # a component or callback failed: name it (the traceback with --debug)
        saved = recorder.saved_epoch if recorder is not None else None
        kept = f"; epoch {saved} is saved in {recorder.checkpoint_path}" if saved is not None else ""
        raise ComponentFailedError(run.blame(exc) + kept) from exc
    finally:
        if bar is not None:
            bar.close()


def _saved_note(recorder: Any) -> str:
    return recorder.saved_note() if recorder is not None else "nothing saved (use --out DIR)"


def summary_lines(run: Any) -> list[str]:
    """Why training stopped early, and learned parameters beside the true ones."""
    lines = [run.trainer.stop_reason] if run.trainer.stop_reason else []
    true_params = getattr(run.dataset, "true_params", None) or {}
    learned = run.parameters()
    for name, true in true_params.items():
        if name in learned:
            lines.append(f"{name}: {_fmt(learned[name])}  true: {true}")
    return lines


def summary_json(run: Any, records: list[dict[str, Any]], *, params: bool = False) -> dict[str, Any]:
    """Everything a script compares between runs; nothing that varies with the clock.

    The parameters' count and L2 norms; their values too with ``params`` (``--json-params``).
    """
    result: dict[str, Any] = {"config": run.config.to_dict(), "history": records,
                              "parameter_count": parameter_count(run.model),
                              "parameter_norms": parameter_norms(run.model)}
    if params:
        result["parameters"] = run.parameters()
    true_params = getattr(run.dataset, "true_params", None)
    if true_params:
        result["true_parameters"] = true_params
    if run.trainer.stop_reason:
        result["stopped"] = run.trainer.stop_reason
    return result


def parameter_count(model: Any) -> int:
    """The number of learned values (elements of every parameter tensor)."""
    return sum(int(tensor.numel()) for tensor in model.state_dict().values())


def parameter_norms(model: Any) -> dict[str, float]:
    """Each parameter tensor's L2 norm, by name."""
    return {name: float(tensor.detach().double().norm()) for name, tensor in model.state_dict().items()}


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
