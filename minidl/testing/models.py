"""Model checks (against partner data): output, deterministic init and forward, ``state_dict``,
gradients for every parameter, a model's own ``compute_gradients``, ``to("cpu")``, one epoch.
"""

from __future__ import annotations

import copy
import math

import torch

from minidl.interfaces import Model
from minidl.testing.context import SEED, Context, predict, require


def named_parameters(model: Model) -> list[tuple[str, torch.Tensor]]:
    """``named_parameters()``, or the parameters numbered when the model has no names."""
    if hasattr(model, "named_parameters"):
        return list(model.named_parameters())
    return [(str(i), p) for i, p in enumerate(model.parameters())]


def check_model_output(ctx: Context) -> None:
    """The output is a floating tensor with one row per example and no nan or inf."""
    X = ctx.partners.X
    y_hat = predict(ctx.built, X)
    require(torch.is_tensor(y_hat), f"model(X) returned {type(y_hat).__name__}, not a tensor")
    require(y_hat.dim() >= 1 and y_hat.shape[0] == len(X),
            f"model(X) has shape {tuple(y_hat.shape)} for a batch of {len(X)}; one row per example")
    require(y_hat.is_floating_point(), f"model(X) has dtype {y_hat.dtype}; it must be floating point")
    require(torch.isfinite(y_hat).all(), "model(X) has nan or inf on data from " + ctx.partners.description)


def check_deterministic_init(ctx: Context) -> None:
    """Built twice under one seed, the model has the same parameters."""
    a, b = ctx.make().state_dict(), ctx.make().state_dict()
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    require(not differ, f"built twice under the same seed, {', '.join(differ)} differ; draw initial "
                        "values from torch's seeded generator")


def check_deterministic_forward(ctx: Context) -> None:
    """In eval mode the model gives the same output twice for the same input."""
    model = ctx.make()
    first, second = predict(model, ctx.partners.X), predict(model, ctx.partners.X)
    require(torch.equal(first, second), "two calls on the same batch give different outputs in eval "
                                        "mode; keep randomness (dropout, noise) to training mode")


def check_model_state_dict(ctx: Context) -> None:
    """Loading one model's ``state_dict`` into another makes their outputs identical."""
    source, target = ctx.make(seed=SEED), ctx.make(seed=SEED + 1)
    target.load_state_dict(copy.deepcopy(source.state_dict()))
    require(torch.equal(predict(source, ctx.partners.X), predict(target, ctx.partners.X)),
            "after load_state_dict(other.state_dict()) the outputs differ from the other model's")


def check_gradients(ctx: Context) -> None:
    """``loss(model(X), y).mean().backward()`` gives every parameter a finite gradient."""
    model = ctx.make()
    if hasattr(model, "train"):
        model.train()
    ctx.partners.loss(model(ctx.partners.X), ctx.partners.y).mean().backward()
    params = [(name, p) for name, p in named_parameters(model) if p.requires_grad]
    require(params, "the model has no trainable parameters")
    for name, param in params:
        require(param.grad is not None, f"parameter {name!r} gets no gradient from "
                                        "loss(model(X), y).mean().backward(); is it used in forward?")
        require(param.grad is not None and torch.isfinite(param.grad).all(),
                f"parameter {name!r} gets a nan or inf gradient")


def check_compute_gradients(ctx: Context) -> None:
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
    require(math.isclose(value, expected_value, rel_tol=1e-4, abs_tol=1e-6),
            f"compute_gradients returned loss {value}; autograd's mean loss is {expected_value}")
    for (name, param), (_, ref) in zip(named_parameters(model), named_parameters(reference)):
        require(param.grad is not None and ref.grad is not None
                and torch.allclose(param.grad, ref.grad, rtol=1e-4, atol=1e-6),
                f"compute_gradients sets the gradient of {name!r} unlike autograd on the mean loss")


def check_model_to_cpu(ctx: Context) -> None:
    """``to("cpu")`` works and keeps the parameters on the cpu."""
    model = ctx.make()
    model.to("cpu")
    require(all(p.device.type == "cpu" for p in model.parameters()), "to('cpu') left parameters elsewhere")


def check_trains(ctx: Context) -> None:
    """One epoch of the Trainer with ``sgd`` runs and gives a finite loss."""
    from minidl.trainer import Trainer

    model = ctx.make()
    optimizer = ctx.registry.build("optimizer", "sgd", params=list(model.parameters()))
    trainer = Trainer(max_epochs=1, batch_size=8, seed=SEED, plugins=ctx.plugins)
    history = trainer.fit(model, ctx.partners.data, ctx.partners.loss, optimizer)
    require(len(history) == 1 and math.isfinite(history[0]["loss"]), f"one epoch gave {history!r}")


MODEL_CHECKS = (check_model_output, check_deterministic_init, check_deterministic_forward,
                check_model_state_dict, check_gradients, check_compute_gradients, check_model_to_cpu,
                check_trains)
