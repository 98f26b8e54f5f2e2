"""Registration of the concise components (entry point ``concise``).

Models ``linear`` and ``mlp``, losses ``mse`` and ``cross-entropy``, the dataset
``torch-synthetic-linear`` and the ``torch.optim`` optimizers ``torch-sgd``,
``torch-adam``, ``torch-adamw``, ``torch-rmsprop``, ``torch-adagrad``,
``torch-adadelta``. Nothing here imports torch: each factory imports it when called.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

from minidl.default_plugins.notebook import MAX_INPUTS, synthetic_linear
from minidl.hookspecs import Register, hookimpl
from minidl.options import Ge, Gt, Le, Lt

#: The most outputs (classes, regression targets) and hidden units of one layer.
MAX_WIDTH = 10**6
Inputs = Annotated[int, Ge(1), Le(MAX_INPUTS)]
Width = Annotated[int, Ge(1), Le(MAX_WIDTH)]
LearningRate = Annotated[float, Gt(0)]
Rate = Annotated[float, Ge(0), Lt(1)]  # a momentum factor or a moving average's decay rate
NonNegative = Annotated[float, Ge(0)]  # eps, weight decay (torch accepts 0 for each)
Betas = Annotated[list[float], Ge(0), Lt(1)]  # each beta in [0, 1); two of them (build_torch_optimizer)


# -- models ------------------------------------------------------------------------------
def linear(num_inputs: Inputs | None = None, num_outputs: Width | None = None) -> Any:
    """nn.Linear after a Flatten (book 3.3, 3.7); weight from N(0, 0.01), bias 0.

    Args:
        num_inputs: input features (default: the dataset's)
        num_outputs: outputs, 1 for regression or the number of classes (default: the dataset's, else 1)
    """
    from minidl_concise.components import linear_net, need_size

    inputs = need_size("model 'linear'", "num_inputs", num_inputs)
    outputs = need_size("model 'linear'", "num_outputs", 1 if num_outputs is None else num_outputs)
    return linear_net(inputs, outputs)


def mlp(
    hidden: list[Width] = [256],  # noqa: B006 - never mutated; shown as the default
    activation: Literal["relu", "sigmoid", "tanh"] = "relu",
    num_inputs: Inputs | None = None,
    num_outputs: Width | None = None,
) -> Any:
    """Multilayer perceptron (book 3.10): Flatten, hidden Linear layers, Linear; params N(0, 0.01).

    Args:
        hidden: sizes of the hidden layers, e.g. [256] or [256, 128]
        activation: the nonlinearity after each hidden layer
        num_inputs: input features (default: the dataset's)
        num_outputs: outputs (default: the dataset's)
    """
    from minidl.errors import OptionError
    from minidl_concise.components import mlp_net, need_size

    if not hidden:  # each size's range is declared (Width)
        raise OptionError(f"model 'mlp': hidden must list one or more sizes, got {hidden!r}")
    inputs = need_size("model 'mlp'", "num_inputs", num_inputs)
    outputs = need_size("model 'mlp'", "num_outputs", num_outputs)
    return mlp_net(inputs, outputs, hidden, activation)


# -- losses ------------------------------------------------------------------------------
def mse() -> Any:
    """Per-example mean squared error (nn.MSELoss, reduction='none'), mean over outputs; no 1/2."""
    from minidl_concise.components import MSELoss

    return MSELoss()


def cross_entropy() -> Any:
    """Per-example softmax cross-entropy (nn.CrossEntropyLoss, reduction='none'); labels are class indices."""
    from minidl_concise.components import CrossEntropyLoss

    return CrossEntropyLoss()


# -- datasets ----------------------------------------------------------------------------
def torch_synthetic_linear(**options: Any) -> Any:
    """Book 3.3's data through TensorDataset and DataLoader (synthetic-linear's options and draws)."""
    from minidl_concise.components import SyntheticLinearLoader

    bound = inspect.signature(synthetic_linear).bind(**options)
    bound.apply_defaults()
    return SyntheticLinearLoader(**bound.arguments)


def _share_options(factory: Callable[..., Any], source: Callable[..., Any]) -> None:
    """Give ``factory`` the options of ``source``: its signature and hints (through
    ``__wrapped__``), its docstring's ``Args:`` and its memory estimate."""
    functools.update_wrapper(factory, source, assigned=("__annotations__",), updated=())
    args = (source.__doc__ or "").partition("Args:")[2]
    factory.__doc__ = f"{inspect.getdoc(factory)}\n\nArgs:{args}"
    if hasattr(source, "estimate_bytes"):  # the same tensors, in TensorDatasets
        factory.estimate_bytes = source.estimate_bytes  # type: ignore[attr-defined]


_share_options(torch_synthetic_linear, synthetic_linear)


# -- optimizers --------------------------------------------------------------------------
def _torch(name: str, params: Iterable[Any], **options: Any) -> Any:
    from minidl_concise.optimizers import build_torch_optimizer

    return build_torch_optimizer(name, params, **options)


def torch_sgd(params: Iterable[Any], lr: LearningRate = 0.03, momentum: Rate = 0.0, dampening: Rate = 0.0,
              weight_decay: NonNegative = 0.0, nesterov: bool = False) -> Any:
    """torch.optim.SGD: minibatch SGD, optionally with momentum (book 3.3, 7.4).

    Args:
        lr: learning rate
        momentum: momentum factor, in [0, 1)
        dampening: dampening of the momentum, in [0, 1)
        weight_decay: L2 penalty coefficient
        nesterov: use Nesterov momentum (needs momentum > 0 and dampening 0)
    """
    return _torch("torch-sgd", params, lr=lr, momentum=momentum, dampening=dampening,
                  weight_decay=weight_decay, nesterov=nesterov)


def torch_adam(params: Iterable[Any], lr: LearningRate = 0.001,
               betas: Betas = [0.9, 0.999],  # noqa: B006 - never mutated
               eps: NonNegative = 1e-8, weight_decay: NonNegative = 0.0, amsgrad: bool = False) -> Any:
    """torch.optim.Adam (book 7.8).

    Args:
        lr: learning rate
        betas: decay rates [beta1, beta2] of the gradient's and the squared gradient's moving averages, each in [0, 1)
        eps: added to the denominator's square root
        weight_decay: L2 penalty coefficient
        amsgrad: use the AMSGrad variant
    """
    return _torch("torch-adam", params, lr=lr, betas=list(betas), eps=eps,
                  weight_decay=weight_decay, amsgrad=amsgrad)


def torch_adamw(params: Iterable[Any], lr: LearningRate = 0.001,
                betas: Betas = [0.9, 0.999],  # noqa: B006 - never mutated
                eps: NonNegative = 1e-8, weight_decay: NonNegative = 0.01, amsgrad: bool = False) -> Any:
    """torch.optim.AdamW: Adam with decoupled weight decay.

    Args:
        lr: learning rate
        betas: decay rates [beta1, beta2] of the gradient's and the squared gradient's moving averages, each in [0, 1)
        eps: added to the denominator's square root
        weight_decay: decoupled weight decay coefficient
        amsgrad: use the AMSGrad variant
    """
    return _torch("torch-adamw", params, lr=lr, betas=list(betas), eps=eps,
                  weight_decay=weight_decay, amsgrad=amsgrad)


def torch_rmsprop(params: Iterable[Any], lr: LearningRate = 0.01, alpha: Rate = 0.99, eps: NonNegative = 1e-8,
                  weight_decay: NonNegative = 0.0, momentum: Rate = 0.0, centered: bool = False) -> Any:
    """torch.optim.RMSprop (book 7.6; torch's alpha is the book's gamma).

    Args:
        lr: learning rate
        alpha: decay rate of the squared gradient's moving average, in [0, 1) (the book's gamma)
        eps: added to the square root (torch adds it outside the root, the book inside)
        weight_decay: L2 penalty coefficient
        momentum: momentum factor, in [0, 1)
        centered: normalise by the gradient's estimated variance
    """
    return _torch("torch-rmsprop", params, lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                  momentum=momentum, centered=centered)


def torch_adagrad(params: Iterable[Any], lr: LearningRate = 0.01, lr_decay: NonNegative = 0.0,
                  weight_decay: NonNegative = 0.0, initial_accumulator_value: NonNegative = 0.0,
                  eps: NonNegative = 1e-10) -> Any:
    """torch.optim.Adagrad (book 7.5).

    Args:
        lr: learning rate
        lr_decay: learning-rate decay per step
        weight_decay: L2 penalty coefficient
        initial_accumulator_value: starting value of the squared-gradient sum
        eps: added to the square root (torch adds it outside the root, the book inside)
    """
    return _torch("torch-adagrad", params, lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                  initial_accumulator_value=initial_accumulator_value, eps=eps)


def torch_adadelta(params: Iterable[Any], lr: LearningRate = 1.0, rho: Rate = 0.9, eps: NonNegative = 1e-6,
                   weight_decay: NonNegative = 0.0) -> Any:
    """torch.optim.Adadelta (book 7.7).

    Args:
        lr: factor on the update (1.0 is the book's AdaDelta, which has no learning rate)
        rho: decay rate of the moving averages, in [0, 1)
        eps: added inside the square roots
        weight_decay: L2 penalty coefficient
    """
    return _torch("torch-adadelta", params, lr=lr, rho=rho, eps=eps, weight_decay=weight_decay)


# -- registration ------------------------------------------------------------------------
@hookimpl
def register_datasets(register: Register) -> None:
    """Register ``torch-synthetic-linear``."""
    register("torch-synthetic-linear", torch_synthetic_linear)


@hookimpl
def register_models(register: Register) -> None:
    """Register ``linear`` and ``mlp``."""
    register("linear", linear)
    register("mlp", mlp)


@hookimpl
def register_losses(register: Register) -> None:
    """Register ``mse`` and ``cross-entropy``."""
    register("mse", mse)
    register("cross-entropy", cross_entropy)


@hookimpl
def register_optimizers(register: Register) -> None:
    """Register the torch.optim optimizers under ``torch-*`` names."""
    register("torch-sgd", torch_sgd)
    register("torch-adam", torch_adam)
    register("torch-adamw", torch_adamw)
    register("torch-rmsprop", torch_rmsprop)
    register("torch-adagrad", torch_adagrad)
    register("torch-adadelta", torch_adadelta)
