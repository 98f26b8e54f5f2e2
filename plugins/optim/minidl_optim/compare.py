"""``minidl optim compare``: one setup, several optimizers, their loss curves on one figure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from minidl.config import RunConfig
from minidl.errors import DivergedError, MinidlError, OptionError
from minidl.plots import PLOT_EXTRA
from minidl.plugins import Plugins
from minidl.run import build
from minidl_optim.recorder import LossRecorder

FIGSIZE = (3.5, 2.5)  # inches, the book's figure size


@dataclass
class Curve:
    """One optimizer's run: losses over the training split and where (in epochs) each was taken."""

    name: str
    epochs: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    seconds_per_epoch: float = 0.0
    diverged: str | None = None  # the reason, when training blew up

    def summary(self) -> str:
        """``adam: loss 0.243512, 0.041 sec per epoch`` (or why it diverged)."""
        if self.diverged:
            return f"{self.name}: {self.diverged}"
        return f"{self.name}: loss {self.losses[-1]:f}, {self.seconds_per_epoch:f} sec per epoch"


def base_config(dataset: str | None, model: str | None, loss: str | None,
                epochs: int, batch_size: int, seed: int) -> RunConfig:
    """The shared setup; components left None keep minidl's defaults."""
    config = RunConfig()
    for kind, name in (("dataset", dataset), ("model", model), ("loss", loss)):
        if name:
            config.set_name(kind, name)
    config.set_train("epochs", epochs)
    config.set_train("batch_size", batch_size)
    config.set_train("seed", seed)
    return config


def configure(plugins: Plugins, base: RunConfig, names: Sequence[str],
              assignments: Sequence[str]) -> dict[str, RunConfig]:
    """One configuration per optimizer, with the ``--set`` assignments applied."""
    if len(set(names)) != len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise OptionError(f"optimizer {twice!r} is given twice; give each optimizer once")
    shared = base.copy()
    per_name: dict[str, dict[str, str]] = {name: {} for name in names}
    for assignment in assignments:
        target, _, option = assignment.partition("=")[0].strip().partition(".")
        value = assignment.partition("=")[2].strip()
        if target == "optimizer" or target in per_name:
            if not option or "=" not in assignment:
                raise OptionError(f"cannot read --set {assignment!r}: expected {target}.OPTION=VALUE")
            chosen = names if target == "optimizer" else [target]
            _set_optimizer_option(plugins, per_name, chosen, option, value, assignment)
        else:
            shared.apply(assignment)
    configs = {}
    for name in names:
        config = shared.copy()
        config.set_name("optimizer", name)
        config.optimizer.options = dict(per_name[name])
        configs[name] = config
    return configs


def _set_optimizer_option(plugins: Plugins, per_name: dict[str, dict[str, str]], chosen: Sequence[str],
                          option: str, value: str, assignment: str) -> None:
    takers = [name for name in chosen
              if option in {o.name for o in plugins.registry.get("optimizer", name).options}]
    if not takers:
        raise OptionError(f"--set {assignment!r}: no optimizer among {', '.join(chosen)} "
                          f"has option {option!r}")
    for name in takers:
        per_name[name][option] = value


def run_one(plugins: Plugins, name: str, config: RunConfig, every: int) -> Curve:
    """Build and train one configuration, recording the loss every ``every`` examples."""
    run = build(config, plugins)
    recorder = LossRecorder(every=every)
    run.trainer.callbacks.append(recorder)
    curve = Curve(name)
    try:
        run.fit()
    except DivergedError as exc:
        curve.diverged = str(exc)
    curve.epochs, curve.losses = recorder.epochs, recorder.losses
    if recorder.epoch_seconds:
        curve.seconds_per_epoch = sum(recorder.epoch_seconds) / len(recorder.epoch_seconds)
    return curve


def run_all(plugins: Plugins, base: RunConfig, names: Sequence[str], assignments: Sequence[str],
            every: int) -> list[Curve]:
    """Every optimizer on the same setup; all configurations are checked before any training."""
    configs = configure(plugins, base, names, assignments)
    for config in configs.values():
        config.resolve(plugins.registry)
    return [run_one(plugins, name, config, every) for name, config in configs.items()]


def plot_curves(curves: Sequence[Curve], output: str | Path) -> None:
    """Draw every curve on one log-y figure (3.5 x 2.5 in) and save it to ``output``."""
    try:  # a Figure, not pyplot: no window, no global pyplot state (as minidl.plots)
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(PLOT_EXTRA) from exc
    fig = Figure(figsize=FIGSIZE)
    ax = fig.add_subplot()
    for curve in curves:
        points = [(x, y) for x, y in zip(curve.epochs, curve.losses) if math.isfinite(y) and y > 0]
        if points:
            ax.plot(*zip(*points), label=curve.name, linewidth=1.2)
    ax.set_yscale("log")
    # Plain numbers (0.3, 0.4) rather than 3x10^-1: loss curves often span less than a decade.
    from matplotlib import ticker

    plain = ticker.FuncFormatter(lambda value, _: f"{value:g}")
    low, high = ax.get_ylim()
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain if high / low < 10 else ticker.NullFormatter())
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax.legend(fontsize="small", frameon=False)
    ax.tick_params(labelsize="small")
    fig.tight_layout()
    try:
        fig.savefig(output, dpi=200)
    except (OSError, ValueError) as exc:
        raise MinidlError(f"cannot write the figure to {str(output)!r}: {exc}") from None
