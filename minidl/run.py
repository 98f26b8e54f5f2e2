"""From a configuration to trained components: what ``minidl train`` does, as a library.

``build(config)`` seeds torch, builds the four components, the metrics, the callbacks
and a :class:`~minidl.Trainer`; ``run.fit()`` trains.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from minidl.config import RunConfig
from minidl.errors import OptionError
from minidl.plugins import Plugins, get_plugins
from minidl.trainer import History, Trainer


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
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
    resolved = (config or RunConfig()).resolve(registry)
    dataset = build_dataset(resolved, plugins)
    _check_inputs(resolved, dataset)
    model = registry.build("model", resolved.model.name, resolved.model.options,
                           num_inputs=getattr(dataset, "num_inputs", None),
                           num_outputs=getattr(dataset, "num_outputs", None))
    loss = registry.build("loss", resolved.loss.name, resolved.loss.options)
    optimizer = registry.build("optimizer", resolved.optimizer.name, resolved.optimizer.options,
                               params=list(model.parameters()))
    callbacks = [registry.build("callback", name, options) for name, options in resolved.callbacks.items()]
    trainer = Trainer(
        max_epochs=resolved.train.epochs, batch_size=resolved.train.batch_size,
        seed=resolved.train.seed, device=resolved.train.device,
        metrics=resolved.train.metrics, callbacks=callbacks, plugins=plugins,
        verbose=verbose, echo=echo,
    )
    from minidl.compat import check_components  # components that do not fit: one line, before training

    trainer.checked = check_components(model, dataset, loss, trainer.metrics, registry=registry, names={
        "dataset": resolved.dataset.name, "model": resolved.model.name, "loss": resolved.loss.name})
    return Run(resolved, dataset, model, loss, optimizer, trainer)


def build_dataset(config: RunConfig, plugins: Plugins | None = None) -> Any:
    """Seed torch and build only the dataset of ``config`` (as :func:`build` does first)."""
    plugins = plugins or get_plugins()
    resolved = config.resolve(plugins.registry)
    seed_everything(resolved.train.seed)
    return plugins.registry.build("dataset", resolved.dataset.name, resolved.dataset.options)


def _check_inputs(config: RunConfig, dataset: Any) -> None:
    """A model's explicit ``num_inputs`` must be the dataset's (outputs are checked by the losses)."""
    given, known = config.model.options.get("num_inputs"), getattr(dataset, "num_inputs", None)
    if given is not None and known is not None and given != known:
        raise OptionError(f"model {config.model.name!r}: num_inputs={given} but dataset "
                          f"{config.dataset.name!r} has {known}; leave it unset to follow the dataset")
