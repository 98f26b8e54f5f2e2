"""Callback checks: decorated training-event hooks, a short Trainer run, ``state_dict``.
"""

from __future__ import annotations

from minidl.hookspecs import PROJECT_NAME
from minidl.plugins import suggest_hook
from minidl.testing.common import check_stateful
from minidl.testing.context import SEED, Context, require

TRAINING_EVENTS = ("on_fit_start", "on_epoch_start", "on_before_optimizer_step", "on_batch_end",
                   "on_epoch_end", "on_fit_end")


def _hook_methods(callback: object) -> tuple[list[str], list[str]]:
    """The training-event methods with and without the ``@hookimpl`` marker."""
    marker = f"{PROJECT_NAME}_impl"
    marked: list[str] = []
    unmarked: list[str] = []
    for name in dir(callback):
        method = getattr(callback, name, None)
        if name.startswith("on_") and callable(method):
            (marked if hasattr(method, marker) else unmarked).append(name)
    return marked, unmarked


def _did_you_mean(names: list[str]) -> str:
    pairs = [(name, suggest_hook(name)) for name in names]
    hints = [f"{suggestion!r} for {name!r}" for name, suggestion in pairs if suggestion]
    return f" (did you mean {', '.join(hints)}?)" if hints else ""


def check_implements_hook(ctx: Context) -> None:
    """At least one ``@hookimpl`` training-event method; none named like one but undecorated."""
    marked, unmarked = _hook_methods(ctx.built)
    forgotten = [name for name in unmarked if name in TRAINING_EVENTS]
    require(not forgotten, f"method(s) {', '.join(forgotten)} lack the @hookimpl decorator, so they "
                           "are never called")
    unknown = [name for name in marked if name not in TRAINING_EVENTS]
    require(not unknown, f"hook(s) {', '.join(unknown)} are not training events{_did_you_mean(unknown)}; "
                         f"known: {', '.join(TRAINING_EVENTS)}")
    misspelled = [name for name in unmarked if name not in TRAINING_EVENTS and suggest_hook(name) in TRAINING_EVENTS]
    require(not misspelled, f"method(s) {', '.join(misspelled)} are named like no training event, so they are "
                            f"never called{_did_you_mean(misspelled)}")
    require(marked, f"implements no training-event hook; decorate one of {', '.join(TRAINING_EVENTS)} "
                    "with @minidl.hookimpl")


def check_trainer_run(ctx: Context) -> None:
    """A two-epoch Trainer run with the callback completes; a stop request gives a reason."""
    from minidl.trainer import Trainer

    model = ctx.partners.model
    optimizer = ctx.registry.build("optimizer", "sgd", params=list(model.parameters()))
    trainer = Trainer(max_epochs=2, batch_size=8, seed=SEED, callbacks=[ctx.built], plugins=ctx.plugins)
    history = trainer.fit(model, ctx.partners.data, ctx.partners.loss, optimizer)
    require(1 <= len(history) <= 2, f"a two-epoch run recorded {len(history)} epochs")
    if trainer.should_stop:
        require(trainer.stop_reason, "the callback set should_stop without a stop_reason")


CALLBACK_CHECKS = (check_implements_hook, check_trainer_run, check_stateful)
