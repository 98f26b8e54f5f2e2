"""The plugin author's kit: check that your components keep minidl's contracts, in one call.

In the spirit of scikit-learn's ``check_estimator``: :func:`check_plugin` builds every
component a plugin registers and runs the checks that apply to its kind;
:func:`check_component` checks one. A failure raises :class:`ConformanceError` (an
``AssertionError``, so pytest shows it as a failed test) naming the component and the
check, e.g. ``loss 'mean-sq' fails check 'per_example': returned shape () ...``.

What is checked, by kind (check names in brackets):

* every kind: a summary line [summary], a help line [documented] and a type hint
  [typed] for every option, and the factory builds with its defaults [builds];
* dataset: a ``train`` split [splits], batches of the right shape and dtype whose last
  one may be short [batch_shapes], every example once per epoch [covers_epoch], the same
  order for the same generator seed and another for another seed [seeded_order], the
  same data when built twice under one seed [seeded_build], every split's ``tensors``
  [split_tensors], ``num_inputs`` matching the features [num_inputs], ``state_dict``
  [state_dict] and ``to("cpu")`` [to_cpu];
* model (built against a dataset): output shape, dtype, no nan [output], the same
  parameters under one seed [deterministic_init], the same output twice
  [deterministic_forward], ``state_dict`` giving identical outputs [state_dict], a
  gradient reaching every parameter [gradients], ``compute_gradients`` agreeing with
  autograd [compute_gradients], ``to("cpu")`` [to_cpu], one epoch with ``sgd`` [trains];
* loss: one value per example, each independent of the rest of the batch
  [per_example], non-negative (unless it sets ``nonnegative = False``) [nonnegative],
  differentiable [differentiable], ``grad_output`` agreeing with autograd [grad_output];
* optimizer: ``param_groups`` with ``lr`` [param_groups], a quadratic loss decreases
  [decreases_quadratic], ``zero_grad`` clears [zero_grad], a changed ``lr`` is used
  [lr_in_param_groups], ``state_dict`` continues identically [state_dict];
* metric: a float [returns_float], ``higher_is_better`` [higher_is_better], a mean over
  examples, so chunked evaluation adds up [mean_over_examples], a working ``fmt`` [fmt];
* callback: at least one ``@hookimpl`` training-event method and no undecorated one
  [implements_hook], a short Trainer run [trainer_run], ``state_dict`` [state_dict].

Models, losses, metrics and callbacks need partners: a dataset (``data=``), a model
(``model=``) and a loss (``loss=``), each a registered name, a ``(name, options)`` pair
or a built object. Left out, the first combination that runs is used, trying the
plugin's own components first, then ``synthetic-linear``, ``linreg`` and ``squared``.

Usage, in a plugin's tests::

    from minidl.testing import check_component, check_plugin, parametrize_components

    def test_my_plugin_conforms():
        check_plugin("my_plugin")  # an entry point name, module name or .py path

    @parametrize_components("my_plugin")
    def test_each_component(kind, name):
        check_component(kind, name, plugins=["my_plugin"], data="my-dataset")
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import itertools
import math
import os
import random
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch

from minidl.hookspecs import PROJECT_NAME
from minidl.plugins import Plugins, load_plugins
from minidl.registry import INJECTED, Component, Registry

__all__ = [
    "ConformanceError",
    "check_component",
    "check_plugin",
    "parametrize_components",
    "plugin_components",
]

#: The partners used when neither the caller nor the plugin supplies a compatible one.
FALLBACK = {"dataset": ("synthetic-linear", {"num_examples": 64, "num_test": 16}),
            "model": ("linreg", {}), "loss": ("squared", {})}
TRAINING_EVENTS = ("on_fit_start", "on_epoch_start", "on_before_optimizer_step", "on_batch_end",
                   "on_epoch_end", "on_fit_end")
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


def _require(condition: Any, message: str) -> None:
    if not condition:
        raise AssertionError(message)


# -- partners: the dataset, model and loss a component is checked with ----------------------
PartnerSpec = str | tuple[str, Mapping[str, Any]] | Any


@dataclass
class _Partners:
    """A dataset, a model and a loss that run together, and one batch drawn from them."""

    data: Any
    model: Any
    loss: Any
    description: str
    X: torch.Tensor = field(init=False)
    y: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        generator = torch.Generator().manual_seed(SEED)
        self.X, self.y = next(iter(self.data.batches(8, generator)))
        self.loss(self.model(self.X), self.y)  # raises when they do not fit together


@dataclass
class _Context:
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
    def partners(self) -> _Partners:
        """The first combination of dataset, model and loss that runs."""
        return _find_partners(self)

    def make(self, seed: int = SEED, **injected: Any) -> Any:
        """Build the component under ``seed`` (models get the dataset's sizes)."""
        if self.component.kind == "model":
            injected = {"num_inputs": getattr(self.partners.data, "num_inputs", None),
                        "num_outputs": getattr(self.partners.data, "num_outputs", None), **injected}
        _seed(seed)
        return self.registry.build(self.component.kind, self.component.name, self.options, **injected)

    @cached_property
    def twin(self) -> Any:
        """A second build under the same seed (datasets are costly: built twice at most)."""
        return self.make()

    @cached_property
    def built(self) -> Any:
        """The component built once with its options (defaults unless given)."""
        if self.component.kind == "optimizer":
            return self.make(params=_quadratic_params())
        return self.make()


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _candidates(ctx: _Context, kind: str) -> list[PartnerSpec]:
    if kind == ctx.component.kind:
        return [None]  # the component itself
    if ctx.given.get(kind) is not None:
        return [ctx.given[kind]]
    own = [c.name for c in ctx.registry if c.kind == kind and c.plugin == ctx.component.plugin]
    fallback = FALLBACK[kind]
    return [*own, *([] if fallback[0] in own else [fallback])]


def _build_partner(ctx: _Context, kind: str, spec: PartnerSpec, data: Any = None) -> Any:
    if spec is None:
        return ctx.make() if kind != "model" else _build_model_for(ctx, data)
    if not isinstance(spec, (str, tuple)):
        return spec
    name, options = (spec, {}) if isinstance(spec, str) else spec
    injected = {}
    if kind == "model":
        injected = {"num_inputs": getattr(data, "num_inputs", None),
                    "num_outputs": getattr(data, "num_outputs", None)}
    _seed(SEED)
    return ctx.registry.build(kind, name, options, **injected)


def _build_model_for(ctx: _Context, data: Any) -> Any:
    _seed(SEED)
    return ctx.registry.build("model", ctx.component.name, ctx.options,
                              num_inputs=getattr(data, "num_inputs", None),
                              num_outputs=getattr(data, "num_outputs", None))


def _describe(spec: PartnerSpec, kind: str) -> str:
    if spec is None:
        return f"{kind} (this one)"
    if isinstance(spec, (str, tuple)):
        return f"{kind} {spec if isinstance(spec, str) else spec[0]!r}"
    return f"{kind} {type(spec).__name__}"


def _find_partners(ctx: _Context) -> _Partners:
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
            return _Partners(data, model, loss, description)
        except Exception as exc:
            errors.append(f"[{description}] {type(exc).__name__}: {exc}".splitlines()[0])
    raise AssertionError(
        "found no dataset, model and loss that run with it; tried: " + "; ".join(errors)
        + ". Name compatible ones with data=, model=, loss="
    )


@dataclass
class _Failed:
    """A partner dataset that failed to build, tried again only to repeat its error."""

    spec: Any

    def reraise(self) -> Any:
        raise RuntimeError(f"{_describe(self.spec, 'dataset')} failed to build (see above)")


# -- checks for every kind ---------------------------------------------------------------
def check_summary(ctx: _Context) -> None:
    """The factory's docstring starts with a summary line (shown by ``minidl list``)."""
    _require(ctx.component.summary, "the factory has no docstring; its first line is the summary "
                                    "that `minidl list` shows")


def check_documented(ctx: _Context) -> None:
    """Every option has a help line in the factory's ``Args:`` docstring section."""
    missing = [o.name for o in ctx.component.options if not o.help]
    _require(not missing, f"option(s) {', '.join(map(repr, missing))} have no help line; add one "
                          "line each under 'Args:' in the factory's docstring")


def check_typed(ctx: _Context) -> None:
    """Every option has a type hint (it decides how the command line parses it)."""
    skip = set(INJECTED.get(ctx.component.kind, ()))
    parameters = inspect.signature(ctx.component.factory).parameters.values()
    untyped = [p.name for p in parameters
               if p.name not in skip and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
               and p.annotation is inspect.Parameter.empty]
    _require(not untyped, f"option(s) {', '.join(map(repr, untyped))} have no type hint; "
                          "annotate them (int, float, bool, str, list[float], Literal[...])")


def check_builds(ctx: _Context) -> None:
    """The factory builds with its default options (or the ones given)."""
    _require(ctx.built is not None, "the factory returned None")


def check_partners(ctx: _Context) -> None:
    """A dataset, model and loss run with the component (forward pass and loss)."""
    _require(ctx.partners is not None, "no partners")


COMMON_CHECKS: tuple[Callable[[_Context], None], ...] = (
    check_summary, check_documented, check_typed,
)


# -- datasets ----------------------------------------------------------------------------
def _epoch(data: Any, batch_size: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(data.batches(batch_size, torch.Generator().manual_seed(seed)))


def _odd_batch_size(n: int) -> int:
    """A batch size that leaves a short last batch for most ``n``."""
    return max(1, min(n // 4 + 1, 512))


def check_splits(ctx: _Context) -> None:
    """``splits`` is a tuple of names that includes ``train``."""
    splits = getattr(ctx.built, "splits", None)
    _require(isinstance(splits, (tuple, list)) and "train" in splits,
             f"splits is {splits!r}; it must be a tuple of split names including 'train'")


def check_batch_shapes(ctx: _Context) -> None:
    """Batches are ``(X, y)`` tensors shaped and typed like the split; only the last is short."""
    X_all, y_all = ctx.built.tensors("train")
    size = _odd_batch_size(len(X_all))
    batches = _epoch(ctx.built, size, SEED)
    _require(batches, "batches() yielded nothing")
    for i, (X, y) in enumerate(batches):
        where = f"batch {i + 1} of {len(batches)} (batch_size={size})"
        _require(torch.is_tensor(X) and torch.is_tensor(y), f"{where} is not a pair of tensors")
        _require(len(X) == len(y), f"{where} has {len(X)} features but {len(y)} labels")
        _require(X.shape[1:] == X_all.shape[1:] and y.shape[1:] == y_all.shape[1:],
                 f"{where} has shapes {tuple(X.shape)}, {tuple(y.shape)}; tensors('train') has "
                 f"{tuple(X_all.shape)}, {tuple(y_all.shape)}")
        _require(X.dtype == X_all.dtype and y.dtype == y_all.dtype,
                 f"{where} has dtypes {X.dtype}, {y.dtype}; tensors('train') has {X_all.dtype}, {y_all.dtype}")
        last = i == len(batches) - 1
        _require(len(X) == size or (last and 0 < len(X) < size),
                 f"{where} has {len(X)} examples; only the last batch may be short")


def _fingerprints(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One number per example (a fixed random projection of its features and label), sorted."""
    flat = torch.cat([X.reshape(len(X), -1).double(), y.reshape(len(y), -1).double()], dim=1)
    weights = torch.randn(flat.shape[1], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return (flat.cpu() @ weights).sort().values


def check_covers_epoch(ctx: _Context) -> None:
    """One epoch of batches holds every training example exactly once."""
    X_all, y_all = ctx.built.tensors("train")
    batches = _epoch(ctx.built, _odd_batch_size(len(X_all)), SEED)
    seen = sum(len(X) for X, _ in batches)
    _require(seen == len(X_all), f"one epoch of batches holds {seen} examples; the train split has "
                                 f"{len(X_all)}; every example must come exactly once")
    X = torch.cat([X for X, _ in batches])
    y = torch.cat([y for _, y in batches])
    _require(torch.allclose(_fingerprints(X, y), _fingerprints(X_all, y_all)),
             "the batches of one epoch are not the examples of tensors('train'): some come twice, "
             "others never")


def check_seeded_order(ctx: _Context) -> None:
    """The same generator seed gives the same batches; another seed another order."""
    n = len(ctx.built.tensors("train")[0])
    size = _odd_batch_size(n)
    first, again = _epoch(ctx.built, size, SEED), _epoch(ctx.built, size, SEED)
    same = all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    _require(same and len(first) == len(again),
             "two epochs drawn with generators of the same seed differ; draw the order from `generator`")
    if n >= 10:
        other = _epoch(ctx.built, size, SEED + 1)
        _require(not torch.equal(torch.cat([X for X, _ in first]), torch.cat([X for X, _ in other])),
                 "generators with different seeds give the same order; batches must be shuffled")


def check_seeded_build(ctx: _Context) -> None:
    """Built twice under one seed, the dataset holds the same data."""
    for split in ctx.built.splits:
        a, b = ctx.built.tensors(split), ctx.twin.tensors(split)
        _require(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]),
                 f"built twice under the same seed, split {split!r} differs; draw random data "
                 "from torch's (or numpy's) seeded generator")


def check_split_tensors(ctx: _Context) -> None:
    """Every split's ``tensors`` are ``(X, y)`` of equal length, shaped like train's."""
    X_train, y_train = ctx.built.tensors("train")
    for split in ctx.built.splits:
        X, y = ctx.built.tensors(split)
        _require(len(X) == len(y) and len(X) > 0,
                 f"tensors({split!r}) has {len(X)} features and {len(y)} labels")
        _require(X.shape[1:] == X_train.shape[1:] and X.dtype == X_train.dtype and y.dtype == y_train.dtype,
                 f"tensors({split!r}) is {tuple(X.shape)} {X.dtype} / {y.dtype}; train is "
                 f"{tuple(X_train.shape)} {X_train.dtype} / {y_train.dtype}")


def check_num_inputs(ctx: _Context) -> None:
    """A ``num_inputs`` attribute (given to models) matches the features per example."""
    num_inputs = getattr(ctx.built, "num_inputs", None)
    if num_inputs is None:
        return
    X, _ = ctx.built.tensors("train")
    _require(num_inputs == X[0].numel(),
             f"num_inputs is {num_inputs} but each example has {X[0].numel()} features")


def check_dataset_state_dict(ctx: _Context) -> None:
    """``state_dict`` is a dict that a fresh build accepts, giving the same batches."""
    state = ctx.built.state_dict()
    _require(isinstance(state, dict), f"state_dict() returned {type(state).__name__}, not a dict")
    fresh = ctx.twin
    fresh.load_state_dict(copy.deepcopy(state))
    size = _odd_batch_size(len(fresh.tensors("train")[0]))
    a, b = _epoch(ctx.built, size, SEED), _epoch(fresh, size, SEED)
    _require(all(torch.equal(p[0], q[0]) for p, q in zip(a, b)),
             "after load_state_dict, the batches differ from the saved dataset's")


def check_dataset_to_cpu(ctx: _Context) -> None:
    """``to("cpu")`` returns a dataset that still serves batches."""
    moved = ctx.twin.to("cpu")
    _require(moved is not None and hasattr(moved, "batches"),
             f"to('cpu') returned {moved!r}; it must return the dataset")
    X, _ = next(iter(moved.batches(2, torch.Generator().manual_seed(SEED))))
    _require(X.device.type == "cpu", f"after to('cpu') batches are on {X.device}")


DATASET_CHECKS = (check_splits, check_batch_shapes, check_covers_epoch, check_seeded_order,
                  check_seeded_build, check_split_tensors, check_num_inputs, check_dataset_state_dict,
                  check_dataset_to_cpu)


# -- models ------------------------------------------------------------------------------
def _eval(model: Any) -> Any:
    if hasattr(model, "eval"):
        model.eval()
    return model


def _named_parameters(model: Any) -> list[tuple[str, torch.Tensor]]:
    if hasattr(model, "named_parameters"):
        return list(model.named_parameters())
    return [(str(i), p) for i, p in enumerate(model.parameters())]


def _predict(model: Any, X: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return _eval(model)(X)


def check_model_output(ctx: _Context) -> None:
    """The output is a floating tensor with one row per example and no nan or inf."""
    X = ctx.partners.X
    y_hat = _predict(ctx.built, X)
    _require(torch.is_tensor(y_hat), f"model(X) returned {type(y_hat).__name__}, not a tensor")
    _require(y_hat.dim() >= 1 and y_hat.shape[0] == len(X),
             f"model(X) has shape {tuple(y_hat.shape)} for a batch of {len(X)}; one row per example")
    _require(y_hat.is_floating_point(), f"model(X) has dtype {y_hat.dtype}; it must be floating point")
    _require(torch.isfinite(y_hat).all(), "model(X) has nan or inf on data from " + ctx.partners.description)


def check_deterministic_init(ctx: _Context) -> None:
    """Built twice under one seed, the model has the same parameters."""
    a, b = ctx.make().state_dict(), ctx.make().state_dict()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    _require(not differ, f"built twice under the same seed, {', '.join(differ)} differ; draw initial "
                         "values from torch's seeded generator")


def check_deterministic_forward(ctx: _Context) -> None:
    """In eval mode the model gives the same output twice for the same input."""
    model = ctx.make()
    first, second = _predict(model, ctx.partners.X), _predict(model, ctx.partners.X)
    _require(torch.equal(first, second), "two calls on the same batch give different outputs in eval "
                                         "mode; keep randomness (dropout, noise) to training mode")


def check_model_state_dict(ctx: _Context) -> None:
    """Loading one model's ``state_dict`` into another makes their outputs identical."""
    source, target = ctx.make(seed=SEED), ctx.make(seed=SEED + 1)
    target.load_state_dict(copy.deepcopy(source.state_dict()))
    _require(torch.equal(_predict(source, ctx.partners.X), _predict(target, ctx.partners.X)),
             "after load_state_dict(other.state_dict()) the outputs differ from the other model's")


def check_gradients(ctx: _Context) -> None:
    """``loss(model(X), y).mean().backward()`` gives every parameter a finite gradient."""
    model = ctx.make()
    if hasattr(model, "train"):
        model.train()
    ctx.partners.loss(model(ctx.partners.X), ctx.partners.y).mean().backward()
    params = [(name, p) for name, p in _named_parameters(model) if p.requires_grad]
    _require(params, "the model has no trainable parameters")
    for name, param in params:
        _require(param.grad is not None, f"parameter {name!r} gets no gradient from "
                                         "loss(model(X), y).mean().backward(); is it used in forward?")
        _require(param.grad is not None and torch.isfinite(param.grad).all(),
                 f"parameter {name!r} gets a nan or inf gradient")


def check_compute_gradients(ctx: _Context) -> None:
    """A model's own ``compute_gradients`` sets the gradients autograd would (if it has one)."""
    model = ctx.make()
    if not callable(getattr(model, "compute_gradients", None)):
        return
    X, y, loss = ctx.partners.X, ctx.partners.y, ctx.partners.loss
    value = model.compute_gradients(X, y, loss)
    reference = ctx.make()
    expected = loss(reference(X), y).mean()
    expected.backward()
    value, expected_value = float(torch.as_tensor(value).detach()), float(expected.detach())
    _require(math.isclose(value, expected_value, rel_tol=1e-4, abs_tol=1e-6),
             f"compute_gradients returned loss {value}; autograd's mean loss is {expected_value}")
    for (name, param), (_, ref) in zip(_named_parameters(model), _named_parameters(reference)):
        _require(param.grad is not None and ref.grad is not None
                 and torch.allclose(param.grad, ref.grad, rtol=1e-4, atol=1e-6),
                 f"compute_gradients sets the gradient of {name!r} unlike autograd on the mean loss")


def check_model_to_cpu(ctx: _Context) -> None:
    """``to("cpu")`` works and keeps the parameters on the cpu."""
    model = ctx.make()
    model.to("cpu")
    _require(all(p.device.type == "cpu" for p in model.parameters()), "to('cpu') left parameters elsewhere")


def check_trains(ctx: _Context) -> None:
    """One epoch of the Trainer with ``sgd`` runs and gives a finite loss."""
    from minidl.trainer import Trainer

    model = ctx.make()
    optimizer = ctx.registry.build("optimizer", "sgd", params=list(model.parameters()))
    trainer = Trainer(max_epochs=1, batch_size=8, seed=SEED, plugins=ctx.plugins)
    history = trainer.fit(model, ctx.partners.data, ctx.partners.loss, optimizer)
    _require(len(history) == 1 and math.isfinite(history[0]["loss"]), f"one epoch gave {history!r}")


MODEL_CHECKS = (check_model_output, check_deterministic_init, check_deterministic_forward,
                check_model_state_dict, check_gradients, check_compute_gradients, check_model_to_cpu,
                check_trains)


# -- losses ------------------------------------------------------------------------------
def _loss_inputs(ctx: _Context) -> tuple[torch.Tensor, torch.Tensor]:
    """Predictions of the partner model (a leaf that wants a gradient) and labels."""
    y_hat = _predict(ctx.partners.model, ctx.partners.X).detach().requires_grad_()
    return y_hat, ctx.partners.y


def check_per_example(ctx: _Context) -> None:
    """One loss per example, each independent of the rest of the batch (not a mean)."""
    y_hat, y = _loss_inputs(ctx)
    losses = ctx.built(y_hat, y)
    n = len(y_hat)
    _require(torch.is_tensor(losses), f"returned {type(losses).__name__}, not a tensor")
    _require(losses.dim() >= 1 and losses.shape[0] == n and losses.numel() == n,
             f"returned shape {tuple(losses.shape)} for a batch of {n}; a Loss returns one value per "
             "example (the Trainer takes the mean), not their mean or sum")
    k = max(1, n // 2)
    part = ctx.built(y_hat[:k], y[:k])
    _require(torch.allclose(part.reshape(-1), losses.reshape(-1)[:k], rtol=1e-5, atol=1e-7),
             "an example's loss changes with the rest of the batch; compute each example on its own")


def check_nonnegative(ctx: _Context) -> None:
    """Losses are finite and >= 0 (skipped when the loss sets ``nonnegative = False``)."""
    y_hat, y = _loss_inputs(ctx)
    losses = ctx.built(y_hat, y).detach()
    _require(torch.isfinite(losses).all(), "returned nan or inf for sane input")
    if getattr(ctx.built, "nonnegative", True):
        _require((losses >= 0).all(), f"returned a negative loss ({losses.min().item():g}); set "
                                      "`nonnegative = False` on the loss if that is intended")


def check_differentiable(ctx: _Context) -> None:
    """The mean loss back-propagates a finite gradient to the predictions."""
    y_hat, y = _loss_inputs(ctx)
    losses = ctx.built(y_hat, y)
    _require(losses.requires_grad, "the losses do not require grad: is the graph cut (detach, .item())?")
    losses.mean().backward()
    _require(y_hat.grad is not None and torch.isfinite(y_hat.grad).all(),
             "the mean loss gives the predictions no finite gradient")


def check_grad_output(ctx: _Context) -> None:
    """A loss's ``grad_output`` (d loss_i / d y_hat_i, if it has one) matches autograd."""
    grad_output = getattr(ctx.built, "grad_output", None)
    if not callable(grad_output):
        return
    y_hat, y = _loss_inputs(ctx)
    ctx.built(y_hat, y).sum().backward()
    with torch.no_grad():
        closed_form = grad_output(y_hat, y)
    _require(y_hat.grad is not None
             and torch.allclose(closed_form.reshape(y_hat.shape), y_hat.grad, rtol=1e-4, atol=1e-6),
             "grad_output differs from autograd's gradient of the summed losses")


def check_stateful(ctx: _Context) -> None:
    """A component with ``state_dict`` restores it into a fresh build unchanged."""
    if not callable(getattr(ctx.built, "state_dict", None)):
        return
    state = ctx.built.state_dict()
    _require(isinstance(state, dict), f"state_dict() returned {type(state).__name__}, not a dict")
    fresh = ctx.make()
    _require(callable(getattr(fresh, "load_state_dict", None)), "has state_dict but no load_state_dict")
    fresh.load_state_dict(copy.deepcopy(state))
    _require(_same(fresh.state_dict(), state), "state_dict() after load_state_dict(state) differs from state")


def _same(a: Any, b: Any) -> bool:
    if torch.is_tensor(a) or torch.is_tensor(b):
        return torch.is_tensor(a) and torch.is_tensor(b) and torch.equal(a, b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))


LOSS_CHECKS = (check_per_example, check_nonnegative, check_differentiable, check_grad_output,
               check_stateful)


# -- optimizers --------------------------------------------------------------------------
def _quadratic_params(seed: int = SEED) -> list[torch.Tensor]:
    """A weight matrix and a bias, the parameters of the quadratic test problem."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(3, 2, generator=generator).requires_grad_(),
            torch.randn(2, generator=generator).requires_grad_()]


def _quadratic(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """0.5 * ||p - 1||^2 summed over the parameters: its minimum is every entry at 1."""
    return sum((((p - 1.0) ** 2).sum() for p in params), torch.zeros(())) / 2


def _steps(optimizer: Any, params: Sequence[torch.Tensor], count: int) -> float:
    for _ in range(count):
        optimizer.zero_grad()
        _quadratic(params).backward()
        optimizer.step()
    with torch.no_grad():
        return float(_quadratic(params))


def check_param_groups(ctx: _Context) -> None:
    """``param_groups`` is a list of dicts with ``params`` (all of them) and a positive ``lr``."""
    groups: Any = getattr(ctx.built, "param_groups", None)
    _require(isinstance(groups, list) and groups and all(isinstance(g, dict) for g in groups),
             f"param_groups is {type(groups).__name__}; it must be a non-empty list of dicts")
    for group in groups:
        lr = group.get("lr")
        _require("params" in group and isinstance(lr, (int, float)) and lr > 0,
                 f"a param group has keys {sorted(group)}; each needs 'params' and a positive 'lr'")
    count = sum(len(list(g["params"])) for g in groups)
    _require(count == 2, f"param_groups hold {count} parameters; the factory was given 2")


def check_decreases_quadratic(ctx: _Context) -> None:
    """Fifty steps on ``0.5 * ||p - 1||^2`` lower it."""
    params = _quadratic_params()
    optimizer = ctx.make(params=params)
    with torch.no_grad():
        before = float(_quadratic(params))
    after = _steps(optimizer, params, 50)
    _require(after < before, f"50 steps on a quadratic took the loss from {before:g} to {after:g}")


def check_zero_grad(ctx: _Context) -> None:
    """``zero_grad`` leaves every gradient None or zero."""
    params = _quadratic_params()
    optimizer = ctx.make(params=params)
    _quadratic(params).backward()
    optimizer.zero_grad()
    _require(all(p.grad is None or not p.grad.any() for p in params), "zero_grad() left gradients")


def check_lr_in_param_groups(ctx: _Context) -> None:
    """Setting every group's ``lr`` to 0 stops updates (schedules change ``lr`` there)."""
    params = _quadratic_params()
    optimizer = ctx.make(params=params)
    for group in optimizer.param_groups:
        group["lr"] = 0.0
    before = [p.detach().clone() for p in params]
    _steps(optimizer, params, 3)
    _require(all(torch.equal(a, p) for a, p in zip(before, params)),
             "with lr 0 in every param group the parameters still moved; read lr from param_groups "
             "at each step, so that schedules work")


def check_optimizer_state_dict(ctx: _Context) -> None:
    """Saved after 5 steps and loaded into a fresh optimizer, it continues identically."""
    params = _quadratic_params()
    optimizer = ctx.make(params=params)
    _steps(optimizer, params, 5)
    copies = [p.detach().clone().requires_grad_() for p in params]
    fresh = ctx.make(params=copies)
    fresh.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    _steps(optimizer, params, 5)
    _steps(fresh, copies, 5)
    _require(all(torch.allclose(a, b, rtol=0, atol=1e-7) for a, b in zip(params, copies)),
             "after load_state_dict the fresh optimizer's steps differ from the original's")


OPTIMIZER_CHECKS = (check_param_groups, check_decreases_quadratic, check_zero_grad,
                    check_lr_in_param_groups, check_optimizer_state_dict)


# -- metrics -----------------------------------------------------------------------------
def _metric_inputs(ctx: _Context) -> tuple[torch.Tensor, torch.Tensor]:
    X, y = ctx.partners.data.tensors("train")
    X, y = X[:256], y[:256]
    return _predict(ctx.partners.model, X), y


def check_returns_float(ctx: _Context) -> None:
    """The metric returns a finite Python float."""
    value = ctx.built(*_metric_inputs(ctx))
    _require(isinstance(value, float), f"returned {type(value).__name__}; return a float (float(...))")
    _require(math.isfinite(value), f"returned {value} for sane input")


def check_higher_is_better(ctx: _Context) -> None:
    """``higher_is_better`` is a bool, so callbacks know which way to watch it."""
    flag = getattr(ctx.built, "higher_is_better", None)
    _require(isinstance(flag, bool), f"higher_is_better is {flag!r}; set it to True or False")


def check_mean_over_examples(ctx: _Context) -> None:
    """The metric of a split is the size-weighted mean of its chunks' (evaluation is chunked)."""
    y_hat, y = _metric_inputs(ctx)
    n, k = len(y), max(1, len(y) // 3)
    whole = ctx.built(y_hat, y)
    parts = (k * ctx.built(y_hat[:k], y[:k]) + (n - k) * ctx.built(y_hat[k:], y[k:])) / n
    _require(math.isclose(whole, parts, rel_tol=1e-4, abs_tol=1e-6),
             f"on the whole split {whole:g}, from two chunks {parts:g}; return a mean over examples")


def check_fmt(ctx: _Context) -> None:
    """An optional ``fmt`` formats the value and an optional ``label`` is a string."""
    value = ctx.built(*_metric_inputs(ctx))
    fmt, label = getattr(ctx.built, "fmt", "{:f}"), getattr(ctx.built, "label", "")
    _require(isinstance(label, str), f"label is {label!r}; it must be a string")
    try:
        fmt.format(value)
    except Exception as exc:
        raise AssertionError(f"fmt {fmt!r} cannot format {value!r}: {exc}") from None


METRIC_CHECKS = (check_returns_float, check_higher_is_better, check_mean_over_examples, check_fmt)


# -- callbacks ---------------------------------------------------------------------------
def _hook_methods(callback: Any) -> tuple[list[str], list[str]]:
    """The training-event methods with and without the ``@hookimpl`` marker."""
    marker = f"{PROJECT_NAME}_impl"
    marked: list[str] = []
    unmarked: list[str] = []
    for name in dir(callback):
        method = getattr(callback, name, None)
        if name.startswith("on_") and callable(method):
            (marked if hasattr(method, marker) else unmarked).append(name)
    return marked, unmarked


def check_implements_hook(ctx: _Context) -> None:
    """At least one ``@hookimpl`` training-event method; none named like one but undecorated."""
    marked, unmarked = _hook_methods(ctx.built)
    forgotten = [name for name in unmarked if name in TRAINING_EVENTS]
    _require(not forgotten, f"method(s) {', '.join(forgotten)} lack the @hookimpl decorator, so they "
                            "are never called")
    unknown = [name for name in marked if name not in TRAINING_EVENTS]
    _require(not unknown, f"hook(s) {', '.join(unknown)} are not training events; "
                          f"known: {', '.join(TRAINING_EVENTS)}")
    _require(marked, f"implements no training-event hook; decorate one of {', '.join(TRAINING_EVENTS)} "
                     "with @minidl.hookimpl")


def check_trainer_run(ctx: _Context) -> None:
    """A two-epoch Trainer run with the callback completes; a stop request gives a reason."""
    from minidl.trainer import Trainer

    model = ctx.partners.model
    optimizer = ctx.registry.build("optimizer", "sgd", params=list(model.parameters()))
    trainer = Trainer(max_epochs=2, batch_size=8, seed=SEED, callbacks=[ctx.built], plugins=ctx.plugins)
    history = trainer.fit(model, ctx.partners.data, ctx.partners.loss, optimizer)
    _require(1 <= len(history) <= 2, f"a two-epoch run recorded {len(history)} epochs")
    if trainer.should_stop:
        _require(trainer.stop_reason, "the callback set should_stop without a stop_reason")


CALLBACK_CHECKS = (check_implements_hook, check_trainer_run, check_stateful)


# -- running the checks -------------------------------------------------------------------
CHECKS: dict[str, tuple[Callable[[_Context], None], ...]] = {
    "dataset": (check_builds, *DATASET_CHECKS),
    "model": (check_partners, check_builds, *MODEL_CHECKS),
    "loss": (check_builds, check_partners, *LOSS_CHECKS),
    "optimizer": (check_builds, *OPTIMIZER_CHECKS),
    "metric": (check_builds, check_partners, *METRIC_CHECKS),
    "callback": (check_builds, check_partners, *CALLBACK_CHECKS),
}


def check_name(check: Callable[..., Any]) -> str:
    """The name a check goes by in messages: ``check_model_output`` -> ``output``."""
    name = check.__name__.removeprefix("check_")
    for kind in CHECKS:
        name = name.removeprefix(f"{kind}_")
    return name


@contextlib.contextmanager
def _preserved_rng() -> Iterator[None]:
    """Checks seed the global generators; the caller's states come back afterwards."""
    states = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


def _as_plugins(plugins: Plugins | Sequence[str] | None) -> Plugins:
    if isinstance(plugins, Plugins):
        return plugins
    return load_plugins(extra=list(plugins or ()))


def check_component(kind: str, name: str, plugins: Plugins | Sequence[str] | None = None,
                    options: Mapping[str, Any] | None = None, *, data: PartnerSpec = None,
                    model: PartnerSpec = None, loss: PartnerSpec = None) -> list[str]:
    """Run every check that applies to component ``kind``/``name``; return their names.

    ``plugins``: loaded plugins, or plugin specs (module names, ``.py`` paths) to load on
    top of the installed ones. ``options``: the options to build it with (default: its
    defaults). ``data``, ``model``, ``loss``: partners to check it with (a name, a
    ``(name, options)`` pair or a built object). Raises :class:`ConformanceError` at the
    first failed check.
    """
    loaded = _as_plugins(plugins)
    component = loaded.registry.get(kind, name)
    ctx = _Context(component, loaded, dict(options or {}), {"dataset": data, "model": model, "loss": loss})
    passed = []
    with _preserved_rng():
        for check in (*COMMON_CHECKS, *CHECKS[kind]):
            _run_check(ctx, check)
            passed.append(check_name(check))
    return passed


def _run_check(ctx: _Context, check: Callable[[_Context], None]) -> None:
    try:
        check(ctx)
    except ConformanceError:
        raise
    except AssertionError as exc:
        raise ConformanceError(ctx.component.label, check_name(check), str(exc)) from exc
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise ConformanceError(ctx.component.label, check_name(check), f"raised {error}") from exc


# -- whole plugins -----------------------------------------------------------------------
def _plugin_name(plugins: Plugins, plugin: str | ModuleType) -> str | None:
    """The name under which ``plugin`` (a name, module, module name or path) is registered."""
    names = dict(plugins.manager.list_name_plugin())
    if isinstance(plugin, str) and plugin in names:
        return plugin
    for name, obj in names.items():
        if obj is plugin or (isinstance(plugin, str) and _is_module(obj, plugin)):
            return name
    return None


def _is_module(obj: Any, spec: str) -> bool:
    if getattr(obj, "__name__", None) == spec:
        return True
    file = getattr(obj, "__file__", None)
    return bool(file and spec.endswith(".py") and Path(file).resolve() == Path(spec).resolve())


def _load_plugin(plugin: str | ModuleType, plugins: Plugins | None) -> tuple[Plugins, str]:
    for candidate in (plugins, None if plugins is not None else load_plugins()):
        if candidate is not None and (name := _plugin_name(candidate, plugin)) is not None:
            return candidate, name
    loaded = load_plugins()
    if isinstance(plugin, ModuleType):
        return loaded, loaded.register(plugin, name=plugin.__name__)
    loaded.load_named([plugin])
    name = _plugin_name(loaded, plugin)
    if name is None:
        raise ConformanceError(f"plugin {plugin!r}", "loads", "it loaded but is not registered")
    return loaded, name


def plugin_components(plugin: str | ModuleType, plugins: Plugins | None = None) -> list[tuple[str, str]]:
    """``(kind, name)`` of every component ``plugin`` registers (loading it when needed)."""
    loaded, name = _load_plugin(plugin, plugins)
    return [(c.kind, c.name) for c in loaded.registry if c.plugin == name]


def check_lazy_import(module: ModuleType) -> None:
    """Importing the plugin's registration module alone does not import torch."""
    file = getattr(module, "__file__", None)
    if not file:
        return
    importable = not module.__name__.startswith("minidl_local_plugin_")
    code = (f"import importlib; importlib.import_module({module.__name__!r})" if importable else
            f"import importlib.util as u; s = u.spec_from_file_location('plugin', {file!r}); "
            "m = u.module_from_spec(s); s.loader.exec_module(m)")
    code += "; import sys; sys.exit(3 if 'torch' in sys.modules else 0)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                            timeout=120, check=False)
    _require(result.returncode != 3, "importing it imports torch; import torch (and the implementation "
                                     "module) inside the factories, so `minidl list` stays instant")
    _require(result.returncode == 0, f"importing it alone fails: {result.stderr.strip()[-300:]}")


def check_plugin(plugin: str | ModuleType, plugins: Plugins | None = None, *,
                 options: Mapping[str, Mapping[str, Any]] | None = None, skip: Sequence[str] = (),
                 data: PartnerSpec = None, model: PartnerSpec = None,
                 loss: PartnerSpec = None) -> dict[str, list[str]]:
    """Check every component ``plugin`` registers, and that its module imports torch lazily.

    ``plugin``: a loaded plugin's name (an entry point name), a module, a module name or
    a ``.py`` path. ``options`` maps a component name to the options to build it with;
    ``skip`` names components to leave out; ``data``, ``model``, ``loss`` as in
    :func:`check_component`. Returns the checks passed by component label; raises one
    :class:`ConformanceError` listing every component that failed (its first failure).
    """
    loaded, name = _load_plugin(plugin, plugins)
    results: dict[str, list[str]] = {}
    failures: list[ConformanceError] = []
    module = dict(loaded.manager.list_name_plugin()).get(name)
    if isinstance(module, ModuleType):
        try:
            check_lazy_import(module)
        except AssertionError as exc:
            failures.append(ConformanceError(f"plugin {name!r}", "lazy_import", str(exc)))
    for kind, component in plugin_components(name, loaded):
        if component in skip:
            continue
        try:
            results[f"{kind} {component!r}"] = check_component(
                kind, component, loaded, (options or {}).get(component), data=data, model=model, loss=loss)
        except ConformanceError as exc:
            failures.append(exc)
    if failures:
        lines = "\n".join(f"  - {exc}" for exc in failures)
        raise ConformanceError(f"plugin {name!r}", failures[0].check,
                               f"plugin {name!r}: {len(failures)} failure(s):\n{lines}", failures)
    return results


def parametrize_components(plugin: str | ModuleType, plugins: Plugins | None = None) -> Any:
    """A ``pytest.mark.parametrize`` over ``(kind, name)`` of the plugin's components."""
    import pytest

    components = plugin_components(plugin, plugins)
    return pytest.mark.parametrize(("kind", "name"), components, ids=[f"{k}-{n}" for k, n in components])
