"""Registration for book chapters 3.11 (under- and overfitting) and 3.12 (weight decay).

Entry point ``fitting``: datasets ``polynomial`` (3.11's cubic data, with polynomial
features of a chosen degree) and ``high-dim-linear`` (3.12's 200 inputs, 20 training
examples), and the callback ``l2-penalty``, weight decay for any loss and optimizer.
Nothing here imports torch: the classes live in :mod:`minidl_concise.fitting_impl`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from minidl.hookspecs import Register, hookimpl
from minidl.options import Ge, Le

#: The old option names (before one vocabulary for every dataset), refused with a did-you-mean.
RENAMED = {"n_train": "num_examples", "n_test": "num_test"}
MAX_EXAMPLES = 10**8


def polynomial(
    num_examples: Annotated[int, Ge(1), Le(MAX_EXAMPLES)] = 100,
    num_test: Annotated[int, Ge(0), Le(MAX_EXAMPLES)] = 100,
    true_w: list[float] = [1.2, -3.4, 5.6],  # noqa: B006 - never mutated; shown as the default
    true_b: float = 5.0,
    degree: Annotated[int, Ge(1), Le(100)] = 3,
    noise_std: Annotated[float, Ge(0)] = 0.01,
) -> Any:
    """Book 3.11: y = 1.2x - 3.4x^2 + 5.6x^3 + 5 + noise, x from N(0, 1); features x .. x^degree.

    Args:
        num_examples: training examples (2 shows overfitting)
        num_test: test examples (0: no test split)
        true_w: coefficients of x, x^2, x^3, ... in the labels
        true_b: the constant term of the labels
        degree: features x, x^2, ..., x^degree (1: linear features, which underfit)
        noise_std: standard deviation of the label noise
    """
    from minidl_concise.fitting_impl import PolynomialData

    return PolynomialData(num_examples, num_test, true_w, true_b, degree, noise_std)


def high_dim_linear(
    num_examples: Annotated[int, Ge(1), Le(MAX_EXAMPLES)] = 20,
    num_test: Annotated[int, Ge(0), Le(MAX_EXAMPLES)] = 100,
    num_inputs: Annotated[int, Ge(1), Le(10**6)] = 200,
    true_w: float = 0.01,
    true_b: float = 0.05,
    noise_std: Annotated[float, Ge(0)] = 0.01,
) -> Any:
    """Book 3.12: y = 0.01 * sum(x) + 0.05 + noise with 200 inputs and 20 training examples.

    Args:
        num_examples: training examples (few, so that the model overfits)
        num_test: test examples (0: no test split)
        num_inputs: features per example, each from N(0, 1)
        true_w: the value of every true weight
        true_b: the true bias
        noise_std: standard deviation of the label noise
    """
    from minidl_concise.fitting_impl import HighDimLinearData

    return HighDimLinearData(num_examples, num_test, num_inputs, true_w, true_b, noise_std)


def _polynomial_bytes(options: Mapping[str, Any]) -> int:
    """float32 x, its powers up to max(degree, len(true_w)), labels and noise."""
    rows = options["num_examples"] + options["num_test"]
    return rows * (max(options["degree"], len(options["true_w"])) + 4) * 4 * 2


def _high_dim_linear_bytes(options: Mapping[str, Any]) -> int:
    """float32 features, labels and noise."""
    return (options["num_examples"] + options["num_test"]) * (options["num_inputs"] + 3) * 4


for _factory, _estimate in ((polynomial, _polynomial_bytes), (high_dim_linear, _high_dim_linear_bytes)):
    _factory.renamed_options = RENAMED  # type: ignore[attr-defined]
    _factory.estimate_bytes = _estimate  # type: ignore[attr-defined]


def l2_penalty(lambd: Annotated[float, Ge(0)] = 3.0) -> Any:
    """Weight decay (3.12): adds lambd * w to the gradient of every weight before each step.

    That is the gradient of lambd/2 * ||w||^2 added to the mean loss, for weights only
    (parameters with 2 or more dimensions), not biases, as the book penalises w alone.

    Args:
        lambd: the penalty's strength (0: none)
    """
    from minidl_concise.fitting_impl import L2Penalty

    return L2Penalty(lambd)


@hookimpl
def register_datasets(register: Register) -> None:
    """Register ``polynomial`` and ``high-dim-linear``."""
    register("polynomial", polynomial)
    register("high-dim-linear", high_dim_linear)


@hookimpl
def register_callbacks(register: Register) -> None:
    """Register ``l2-penalty``."""
    register("l2-penalty", l2_penalty)
