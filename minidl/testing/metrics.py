"""Metric checks: a float, ``higher_is_better``, a mean over examples, a working ``fmt``.
"""

from __future__ import annotations

import math

import torch

from minidl.testing.context import Context, predict, require


def _metric_inputs(ctx: Context) -> tuple[torch.Tensor, torch.Tensor]:
    X, y = ctx.partners.data.tensors("train")
    X, y = X[:256], y[:256]
    return predict(ctx.partners.model, X), y


def check_returns_float(ctx: Context) -> None:
    """The metric returns a finite Python float."""
    value = ctx.built(*_metric_inputs(ctx))
    require(isinstance(value, float), f"returned {type(value).__name__}; return a float (float(...))")
    require(math.isfinite(value), f"returned {value} for sane input")


def check_higher_is_better(ctx: Context) -> None:
    """``higher_is_better`` is a bool, so callbacks know which way to watch it."""
    flag = getattr(ctx.built, "higher_is_better", None)
    require(isinstance(flag, bool), f"higher_is_better is {flag!r}; set it to True or False")


def check_mean_over_examples(ctx: Context) -> None:
    """The metric of a split is the size-weighted mean of its chunks' (evaluation is chunked).

    A metric with ``chunk_mean`` / ``from_mean`` (a function of a mean, e.g. perplexity):
    ``chunk_mean`` is such a mean, and ``from_mean(chunk_mean(...))`` is the metric.
    """
    y_hat, y = _metric_inputs(ctx)
    n, k = len(y), max(1, len(y) // 3)
    mean = getattr(ctx.built, "chunk_mean", ctx.built)
    whole = mean(y_hat, y)
    parts = (k * mean(y_hat[:k], y[:k]) + (n - k) * mean(y_hat[k:], y[k:])) / n
    require(math.isclose(whole, parts, rel_tol=1e-4, abs_tol=1e-6),
            f"on the whole split {whole:g}, from two chunks {parts:g}; return a mean over examples "
            "(or give chunk_mean and from_mean)")
    if mean is not ctx.built:
        value, via_mean = ctx.built(y_hat, y), ctx.built.from_mean(whole)
        require(math.isclose(value, via_mean, rel_tol=1e-6, abs_tol=1e-9),
                f"metric(y_hat, y) is {value:g} but from_mean(chunk_mean(y_hat, y)) is {via_mean:g}")


def check_fmt(ctx: Context) -> None:
    """An optional ``fmt`` formats the value and an optional ``label`` is a string."""
    value = ctx.built(*_metric_inputs(ctx))
    fmt, label = getattr(ctx.built, "fmt", "{:f}"), getattr(ctx.built, "label", "")
    require(isinstance(label, str), f"label is {label!r}; it must be a string")
    try:
        fmt.format(value)
    except Exception as exc:
        raise AssertionError(f"fmt {fmt!r} cannot format {value!r}: {exc}") from None


METRIC_CHECKS = (check_returns_float, check_higher_is_better, check_mean_over_examples, check_fmt)
