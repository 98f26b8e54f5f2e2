"""The hook specifications: every way a plugin can extend minidl.

A plugin is a module (or object) whose functions are decorated with
:data:`hookimpl` and named after one of the specs below. Registry hooks receive a
``register`` callback, so minidl knows which plugin registered which name.
Training-event hooks receive the running :class:`~minidl.Trainer`; a plugin may read
its state, add metrics to the epoch's record or set ``trainer.should_stop``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

if TYPE_CHECKING:
    import click

    from minidl.trainer import History, Trainer

PROJECT_NAME = "minidl"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
#: Decorate a plugin's hook functions with this marker.
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


class Register(Protocol):
    """The callback a registry hook receives: ``register(name, factory)``."""

    def __call__(self, name: str, factory: Callable[..., Any]) -> None:
        """Record ``factory`` under ``name`` for the hook's kind (a name taken twice is an error)."""


@hookspec
def register_datasets(register: Register) -> None:
    """Register dataset factories: ``register(name, factory)``.

    A factory's keyword parameters (type hints, defaults, one ``Args:`` docstring line
    each) become the dataset's options; it returns a :class:`~minidl.Dataset`.
    """


@hookspec
def register_models(register: Register) -> None:
    """Register model factories: ``register(name, factory)``.

    Parameters named ``num_inputs`` / ``num_outputs`` that the user leaves unset are
    filled from the dataset. The factory returns a :class:`~minidl.Model`
    (any ``torch.nn.Module`` is one).
    """


@hookspec
def register_losses(register: Register) -> None:
    """Register loss factories: ``register(name, factory)``.

    The factory returns a :class:`~minidl.Loss`: a callable giving per-example losses.
    """


@hookspec
def register_optimizers(register: Register) -> None:
    """Register optimizer factories: ``register(name, factory)``.

    The factory's first parameter, ``params``, receives the model's parameters; its
    other parameters (``lr`` among them) are options. It returns a
    :class:`~minidl.Optimizer` (any ``torch.optim.Optimizer`` is one).
    """


@hookspec
def register_metrics(register: Register) -> None:
    """Register metric factories: ``register(name, factory)``.

    The factory returns a :class:`~minidl.Metric`, computed on each split every epoch.
    """


@hookspec
def register_callbacks(register: Register) -> None:
    """Register callback factories: ``register(name, factory)``.

    The factory returns an object whose methods implement training-event hooks
    (decorated with :data:`hookimpl`); the Trainer registers it for one ``fit``.
    """


@hookspec
def register_commands(cli: click.Group) -> None:
    """Add subcommands to the ``minidl`` command line: ``cli.add_command(...)``."""


@hookspec
def on_fit_start(trainer: Trainer) -> None:
    """Training is about to start (after a resume, at the first epoch still to run)."""


@hookspec
def on_epoch_start(trainer: Trainer, epoch: int) -> None:
    """Epoch ``epoch`` (counted from 1) is about to start."""


@hookspec
def on_before_optimizer_step(trainer: Trainer, epoch: int, step: int) -> None:
    """Gradients of step ``step`` are computed; the optimizer has not used them yet.

    The place to clip or inspect gradients. Called only when a plugin implements it.
    """


@hookspec
def on_batch_end(trainer: Trainer, epoch: int, step: int, loss: float) -> None:
    """Step ``step`` (counted from 1 within the epoch) ended with mean batch loss ``loss``.

    Called only when a plugin implements it, so the inner loop stays lean.
    """


@hookspec
def on_epoch_end(trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
    """Epoch ``epoch`` ended; ``metrics`` holds its record (``loss``, ``test_loss``, ...).

    A plugin may add entries to ``metrics`` or set ``trainer.should_stop = True``.
    """


@hookspec
def on_fit_end(trainer: Trainer, history: History) -> None:
    """Training ended, normally or by a stop request; ``history`` is final."""


class Hooks(Protocol):
    """The hook relay, typed: what :attr:`minidl.Plugins.hook` returns.

    One method per hookspec above, keyword arguments only (as pluggy calls them), each
    returning the list of the implementations' results. tests/test_hookspecs.py checks
    that it mirrors the specs.
    """

    def register_datasets(self, *, register: Register) -> list[None]: ...
    def register_models(self, *, register: Register) -> list[None]: ...
    def register_losses(self, *, register: Register) -> list[None]: ...
    def register_optimizers(self, *, register: Register) -> list[None]: ...
    def register_metrics(self, *, register: Register) -> list[None]: ...
    def register_callbacks(self, *, register: Register) -> list[None]: ...
    def register_commands(self, *, cli: click.Group) -> list[None]: ...
    def on_fit_start(self, *, trainer: Trainer) -> list[None]: ...
    def on_epoch_start(self, *, trainer: Trainer, epoch: int) -> list[None]: ...
    def on_before_optimizer_step(self, *, trainer: Trainer, epoch: int, step: int) -> list[None]: ...
    def on_batch_end(self, *, trainer: Trainer, epoch: int, step: int, loss: float) -> list[None]: ...
    def on_epoch_end(self, *, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> list[None]: ...
    def on_fit_end(self, *, trainer: Trainer, history: History) -> list[None]: ...


#: The names of every hook, in the order of the specs above.
HOOK_NAMES: tuple[str, ...] = tuple(name for name, value in list(globals().items())
                                    if hasattr(value, f"{PROJECT_NAME}_spec"))
