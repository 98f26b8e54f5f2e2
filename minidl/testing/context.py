"""What every check needs: the error it raises, the component's context, its partners.

A :class:`Context` holds the component under check, its options and the registry it comes
from; its :attr:`~Context.partners` are the first dataset, model and loss that run with it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import torch

from minidl.plugins import Plugins
from minidl.registry import Component, Registry

if TYPE_CHECKING:
    from minidl.interfaces import Dataset, Loss, Model

#: The partners used when neither the caller nor the plugin supplies a compatible one.
FALLBACK = {"dataset": ("synthetic-linear", {"num_examples": 64, "num_test": 16}),
            "model": ("linreg", {}), "loss": ("squared", {})}


MAX_PARTNER_TRIES = 12


SEED = 0


class ConformanceError(AssertionError):
    """A component broke a contract: ``component`` (e.g. ``loss 'l1'``) failed ``check``.

    Raised by :func:`check_plugin` for several components at once, it lists each in its
    message and keeps them in ``failures``.
    """

    def __init__(self, component: str, check: str, message: str,
                 failures: Sequence[ConformanceError] = ()) -> None:
        self.component, self.check, self.failures = component, check, list(failures)
        super().__init__(message if failures else f"{component} fails check {check!r}: {message}")


def require(condition: object, message: str) -> None:
    """Fail the running check with ``message`` unless ``condition`` holds."""
    if not condition:
        raise AssertionError(message)


def predict(model: Model, X: torch.Tensor) -> torch.Tensor:
    """``model(X)`` in eval mode, without gradients."""
    with torch.no_grad():
        if hasattr(model, "eval"):
            model.eval()
        return model(X)


def quadratic_params(seed: int = SEED) -> list[torch.Tensor]:
    """A weight matrix and a bias, the parameters of the quadratic test problem."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(3, 2, generator=generator).requires_grad_(),
            torch.randn(2, generator=generator).requires_grad_()]


# -- partners: the dataset, model and loss a component is checked with ----------------------
PartnerSpec = str | tuple[str, Mapping[str, Any]] | Any


@dataclass


class Partners:
    """A dataset, a model and a loss that run together, and one batch drawn from them."""

    data: Dataset
    model: Model
    loss: Loss
    description: str
    X: torch.Tensor = field(init=False)
    y: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        generator = torch.Generator().manual_seed(SEED)
        self.X, self.y = next(iter(self.data.batches(8, generator)))
        self.loss(self.model(self.X), self.y)  # raises when they do not fit together


@dataclass


class Context:
    """What a check needs: the component, its options, the registry and the partners."""

    component: Component
    plugins: Plugins
    options: dict[str, Any]
    given: dict[str, PartnerSpec | None]

    @property
    def registry(self) -> Registry:
        """The registry the component comes from."""
        return self.plugins.registry

    @cached_property
    def partners(self) -> Partners:
        """The first combination of dataset, model and loss that runs."""
        return _find_partners(self)

    def make(self, seed: int = SEED, **injected: Any) -> Any:
        """Build the component under ``seed`` (models get the dataset's sizes)."""
        if self.component.kind == "model":
            injected = {"num_inputs": getattr(self.partners.data, "num_inputs", None),
                        "num_outputs": getattr(self.partners.data, "num_outputs", None), **injected}
        seed_all(seed)
        return self.registry.build(self.component.kind, self.component.name, self.options, **injected)

    @cached_property
    def twin(self) -> Any:
        """A second build under the same seed (datasets are costly: built twice at most)."""
        return self.make()

    @cached_property
    def built(self) -> Any:
        """The component built once with its options (defaults unless given)."""
        if self.component.kind == "optimizer":
            return self.make(params=quadratic_params())
        return self.make()


def seed_all(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _candidates(ctx: Context, kind: str) -> list[PartnerSpec]:
    if kind == ctx.component.kind:
        return [None]  # the component itself
    if ctx.given.get(kind) is not None:
        return [ctx.given[kind]]
    own = [c.name for c in ctx.registry if c.kind == kind and c.plugin == ctx.component.plugin]
    fallback = FALLBACK[kind]
    return [*own, *([] if fallback[0] in own else [fallback])]


def _build_partner(ctx: Context, kind: str, spec: PartnerSpec, data: Dataset | None = None) -> Any:
    if spec is None:
        return ctx.make() if kind != "model" else _build_model_for(ctx, data)
    if not isinstance(spec, (str, tuple)):
        return spec
    name, options = (spec, {}) if isinstance(spec, str) else spec
    injected = {}
    if kind == "model":
        injected = {"num_inputs": getattr(data, "num_inputs", None),
                    "num_outputs": getattr(data, "num_outputs", None)}
    seed_all(SEED)
    return ctx.registry.build(kind, name, options, **injected)


def _build_model_for(ctx: Context, data: Dataset | None) -> Any:
    seed_all(SEED)
    return ctx.registry.build("model", ctx.component.name, ctx.options,
                              num_inputs=getattr(data, "num_inputs", None),
                              num_outputs=getattr(data, "num_outputs", None))


def _describe(spec: PartnerSpec, kind: str) -> str:
    if spec is None:
        return f"{kind} (this one)"
    if isinstance(spec, (str, tuple)):
        return f"{kind} {spec if isinstance(spec, str) else spec[0]!r}"
    return f"{kind} {type(spec).__name__}"


def _find_partners(ctx: Context) -> Partners:
    kinds = ("dataset", "model", "loss")
    combos = itertools.islice(itertools.product(*(_candidates(ctx, k) for k in kinds)), MAX_PARTNER_TRIES)
    datasets: dict[str, Any] = {}  # built once each: some take seconds
    errors = []
    for combo in combos:
        description = ", ".join(_describe(spec, kind) for kind, spec in zip(kinds, combo))
        try:
            key = repr(combo[0])
            if key not in datasets:
                datasets[key] = _Failed(combo[0])
                datasets[key] = _build_partner(ctx, "dataset", combo[0])
            data = datasets[key].reraise() if isinstance(datasets[key], _Failed) else datasets[key]
            model = _build_partner(ctx, "model", combo[1], data)
            loss = _build_partner(ctx, "loss", combo[2])
            return Partners(data, model, loss, description)
        except Exception as exc:
            errors.append(f"[{description}] {type(exc).__name__}: {exc}".splitlines()[0])
    raise AssertionError(
        "found no dataset, model and loss that run with it; tried: " + "; ".join(errors)
        + ". Name compatible ones with data=, model=, loss="
    )


@dataclass


class _Failed:
    """A partner dataset that failed to build, tried again only to repeat its error."""

    spec: PartnerSpec

    def reraise(self) -> NoReturn:
        raise RuntimeError(f"{_describe(self.spec, 'dataset')} failed to build (see above)")

