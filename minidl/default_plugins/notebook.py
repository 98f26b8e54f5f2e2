"""The notebook's components (d2l section 3.2) as plugins.

``synthetic-linear`` data, the ``linreg`` model, the ``squared`` loss and the ``sgd``
optimizer. The factories import torch only when called.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

from minidl.hookspecs import Register, hookimpl
from minidl.options import Ge, Gt, Le

#: The largest num_inputs a model takes (a 224x224 RGB image has 150,528): 400 MB of float32 weights per output.
MAX_INPUTS = 10**8


def synthetic_linear(
    num_examples: Annotated[int, Ge(1), Le(10**8)] = 1000,
    num_inputs: Annotated[int, Ge(1), Le(10**6)] = 2,
    true_w: list[float] = [2.0, -3.4],  # noqa: B006 - never mutated; shown as the default
    true_b: float = 4.2,
    noise_std: Annotated[float, Ge(0)] = 0.01,
    num_test: Annotated[int, Ge(0), Le(10**8)] = 0,
) -> Any:
    """Synthetic linear data y = Xw + b + noise, as in the notebook.

    Args:
        num_examples: training examples
        num_inputs: features per example (must match the length of true_w)
        true_w: the true weights
        true_b: the true bias
        noise_std: standard deviation of the label noise
        num_test: held-out test examples drawn the same way (0: no test split)
    """
    from minidl.default_plugins.notebook_components import SyntheticLinear

    return SyntheticLinear(num_examples, num_inputs, true_w, true_b, noise_std, num_test)


def linreg(
    num_inputs: Annotated[int, Ge(1), Le(MAX_INPUTS)] | None = None,
    grad: Literal["autograd", "analytic"] = "autograd",
    init_std: Annotated[float, Ge(0)] = 0.01,
) -> Any:
    """Linear regression X @ w + b; w from N(0, 0.01), b = 0.

    Args:
        num_inputs: input features (default: the dataset's)
        grad: 'autograd', or 'analytic' for the closed-form gradient (needs a loss with one)
        init_std: standard deviation of w's initial values (the book's 3.12 uses 1)
    """
    from minidl.default_plugins.notebook_components import AnalyticLinReg, LinReg

    cls = AnalyticLinReg if grad == "analytic" else LinReg
    return cls(2 if num_inputs is None else num_inputs, init_std)


def squared() -> Any:
    """Per-example squared loss (y_hat - y)**2 / 2."""
    from minidl.default_plugins.notebook_components import SquaredLoss

    return SquaredLoss()


def synthetic_linear_bytes(options: Mapping[str, Any]) -> int:
    """Bytes synthetic-linear allocates: float32 X, y and noise, the int64 shuffling order."""
    rows = options["num_examples"] + options["num_test"]
    return rows * (options["num_inputs"] + 2) * 4 + options["num_examples"] * 8


synthetic_linear.estimate_bytes = synthetic_linear_bytes  # type: ignore[attr-defined]


def sgd(params: Iterable[Any], lr: Annotated[float, Gt(0)] = 0.03) -> Any:
    """Minibatch SGD from scratch: param -= lr * grad / size of the batch just seen.

    Args:
        lr: learning rate
    """
    from minidl.default_plugins.notebook_components import SGD

    return SGD(params, lr=lr)


@hookimpl
def register_datasets(register: Register) -> None:
    """Register ``synthetic-linear``."""
    register("synthetic-linear", synthetic_linear)


@hookimpl
def register_models(register: Register) -> None:
    """Register ``linreg``."""
    register("linreg", linreg)


@hookimpl
def register_losses(register: Register) -> None:
    """Register ``squared``."""
    register("squared", squared)


@hookimpl
def register_optimizers(register: Register) -> None:
    """Register ``sgd``."""
    register("sgd", sgd)
