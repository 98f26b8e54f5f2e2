"""From a configuration to trained components: what ``minidl train`` does, as a library.

``build(config)`` seeds torch, builds the four components, the metrics, the callbacks
and a :class:`~minidl.Trainer`; ``run.fit()`` trains.
"""

from __future__ import annotations

import random
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from minidl.config import RunConfig
from minidl.errors import ComponentFailedError, MinidlError, OptionError
from minidl.memory import allocation_failure
from minidl.plugins import Plugins, get_plugins
from minidl.registry import Registry
from minidl.trainer import History, Trainer


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators.

    Call it before building anything: ``Trainer(seed=...)`` seeds torch only when ``fit``
    starts, so a model built before (its initial weights drawn from torch's generator)
    is covered by ``minidl.seed_everything(0)`` alone; with it, two identical runs give
    identical results. :func:`build` (and ``minidl train``) call it with the run's seed.
    """
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class Run:
    """A built run: its resolved configuration, components and trainer."""

    config: RunConfig
    dataset: Any
    model: Any
    loss: Any
    optimizer: Any
    trainer: Trainer

    def fit(self, resume: dict[str, Any] | None = None) -> History:
        """Train (continuing from ``resume``, a trainer state, when given)."""
        return self.trainer.fit(self.model, self.dataset, self.loss, self.optimizer, resume=resume)

    def blame(self, exc: BaseException) -> str:
        """One line naming the component or callback that raised ``exc`` during training:
        ``model 'x' from plugin 'y' raised ValueError: ...``.

        Found from the traceback, innermost frame first: a frame whose ``self`` is one of
        the run's components, else a frame in the module that defines one of their classes.
        Costs nothing until something raises.
        """
        error = f"{type(exc).__name__}: {exc}".rstrip(": ")
        suspects = self._suspects()
        by_id = {id(obj): label for obj, label in suspects}
        culprit = getattr(exc, "culprit", None)  # an error that knows the component at fault (BadBatchError)
        if culprit is not None and id(culprit) in by_id:
            return f"{by_id[id(culprit)]}: {exc}"
        modules: dict[str, set[str]] = {}
        for obj, name in suspects:
            modules.setdefault(type(obj).__module__, set()).add(name)
        by_module = {module: next(iter(labels)) for module, labels in modules.items()
                     if len(labels) == 1 and not module.startswith(("torch.", "builtins"))}  # unambiguous only
        frames = list(traceback.walk_tb(exc.__traceback__))
        for frame, _ in reversed(frames):
            label: str | None = by_id.get(id(frame.f_locals.get("self")))
            if label is None:
                label = by_module.get(frame.f_globals.get("__name__", ""))
            if label is not None:
                return f"{label} raised {error}"
        return f"training raised {error}"

    def _suspects(self) -> list[tuple[Any, str]]:
        """The run's components and callbacks with ``kind 'name' from plugin 'p'``."""
        registry = self.trainer.plugins.registry
        config = self.config
        named: list[tuple[Any, str, str]] = [
            (self.model, "model", config.model.name), (self.loss, "loss", config.loss.name),
            (self.optimizer, "optimizer", config.optimizer.name), (self.dataset, "dataset", config.dataset.name),
            (getattr(self.trainer, "data", None), "dataset", config.dataset.name),
            *((metric, "metric", name) for name, metric in self.trainer.metrics.items()),
            *((callback, "callback", name) for name, callback in zip(config.callbacks, self.trainer.callbacks)),
        ]
        suspects: list[tuple[Any, str]] = []
        for obj, kind, name in named:
            try:
                plugin = registry.get(kind, name).plugin
            except MinidlError:
                continue
            if obj is not None:
                suspects.append((obj, f"{kind} {name!r} from plugin {plugin!r}"))
        return suspects

    def parameters(self) -> dict[str, list[float] | float]:
        """The learned parameters by name, as plain numbers (scalars for 1-element ones)."""
        result: dict[str, list[float] | float] = {}
        for name, tensor in self.model.state_dict().items():
            values = tensor.detach().cpu().reshape(-1).tolist()
            result[name] = values[0] if len(values) == 1 else values
        return result


def build(config: RunConfig | None = None, plugins: Plugins | None = None, *,
          verbose: bool = False, echo: Callable[[str], Any] = print) -> Run:
    """Resolve ``config`` against the plugins' registry and build everything, seeded.

    Raises :class:`~minidl.errors.MinidlError` for any bad name, option or value, before
    anything is trained.
    """
    plugins = plugins or get_plugins()
    registry = plugins.registry
    resolved = (config or RunConfig()).resolve(registry)  # the one check of every value
    dataset = build_dataset(resolved, plugins)
    _check_inputs(resolved, dataset)
    model = build_component(registry, "model", resolved.model.name, resolved.model.options,
                            num_inputs=getattr(dataset, "num_inputs", None),
                            num_outputs=getattr(dataset, "num_outputs", None))
    loss = build_component(registry, "loss", resolved.loss.name, resolved.loss.options)
    optimizer = build_component(registry, "optimizer", resolved.optimizer.name, resolved.optimizer.options,
                                params=list(model.parameters()))
    callbacks = [build_component(registry, "callback", name, options)
                 for name, options in resolved.callbacks.items()]
    metrics = {name: build_component(registry, "metric", name, registry.get("metric", name).resolve({}))
               for name in resolved.train.metrics}  # a factory that raises is named, as the others are
    trainer = Trainer(
        max_epochs=resolved.train.epochs, batch_size=resolved.train.batch_size,
        seed=resolved.train.seed, device=resolved.train.device,
        metrics=metrics, callbacks=callbacks, plugins=plugins,
        verbose=verbose, echo=echo,
    )
    from minidl.compat import check_components  # components that do not fit: one line, before training

    trainer.checked = check_components(model, dataset, loss, trainer.metrics, registry=registry, names={
        "dataset": resolved.dataset.name, "model": resolved.model.name, "loss": resolved.loss.name})
    return Run(resolved, dataset, model, loss, optimizer, trainer)


def build_dataset(config: RunConfig, plugins: Plugins | None = None) -> Any:
    """Seed torch and build only the dataset of ``config`` (as :func:`build` does first)."""
    plugins = plugins or get_plugins()
    resolved = config.resolve(plugins.registry)  # a resolved config (from build) is not checked again
    seed_everything(resolved.train.seed)
    return build_component(plugins.registry, "dataset", resolved.dataset.name, resolved.dataset.options)


def build_component(registry: Registry, kind: str, name: str, values: Mapping[str, Any], **injected: Any) -> Any:
    """:meth:`Registry.build_resolved`, with a factory that raises named in one line.

    A factory that runs out of memory (options too big for the machine) is a
    :class:`MinidlError` saying what it tried to allocate and what the machine has; any
    other exception a :class:`ComponentFailedError` naming the component and its plugin
    (the original is its ``__cause__``, shown by ``minidl --debug``), as is a factory that
    returns something that is not a component of its kind (``None``, a model without ``parameters``).
    """
    label = f"{kind} {name!r} from plugin {registry.get(kind, name).plugin!r}"
    try:
        built = registry.build_resolved(kind, name, values, **injected)
    except MinidlError:
        raise
    except Exception as exc:
        too_big = allocation_failure(exc)
        if too_big is not None:
            raise MinidlError(f"{label} cannot be built with these options: {too_big}; choose smaller sizes") from None
        raise ComponentFailedError(f"building {label} raised {type(exc).__name__}: {exc}".rstrip(": ")) from exc
    missing = [method for method in _REQUIRED_METHODS.get(kind, ()) if not callable(getattr(built, method, None))]
    if kind in ("model", "loss") and not callable(built):
        missing.insert(0, "__call__")
    if missing:
        article = "an" if kind[0] in "aeiou" else "a"
        raise ComponentFailedError(f"{label} returned {type(built).__name__}, which is not {article} {kind}: it lacks "
                                   f"{', '.join(missing)} (see minidl.interfaces.{kind.capitalize()})")
    return built


#: What a built component must offer, by kind (the rest of :mod:`minidl.interfaces` is optional or checked later).
_REQUIRED_METHODS: dict[str, tuple[str, ...]] = {
    "dataset": ("batches", "tensors"), "model": ("parameters",), "optimizer": ("step", "zero_grad"),
}


def _check_inputs(config: RunConfig, dataset: Any) -> None:
    """A model's explicit ``num_inputs`` must be the dataset's (outputs are checked by the losses)."""
    given, known = config.model.options.get("num_inputs"), getattr(dataset, "num_inputs", None)
    if given is not None and known is not None and given != known:
        raise OptionError(f"model {config.model.name!r}: num_inputs={given} but dataset "
                          f"{config.dataset.name!r} has {known}; leave it unset to follow the dataset")
