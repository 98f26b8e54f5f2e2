"""Registration of minidl-optim (entry point ``optim``).

Optimizers ``momentum``, ``adagrad``, ``rmsprop``, ``adadelta``, ``adam`` (chapter 7,
from scratch), the dataset ``airfoil`` and the ``minidl optim`` commands. Nothing here
imports torch: each factory imports it when called.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from minidl.hookspecs import Register, hookimpl
from minidl.options import Ge, Gt, Lt

LearningRate = Annotated[float, Gt(0)]
Rate = Annotated[float, Ge(0), Lt(1)]  # a momentum factor or a moving average's decay rate


def momentum(params: Iterable[Any], lr: LearningRate = 0.02, momentum: Rate = 0.5) -> Any:
    """Momentum from scratch (book 7.4): v = momentum * v + lr * g; p -= v.

    Args:
        lr: learning rate
        momentum: momentum factor gamma, in [0, 1)
    """
    from minidl_optim.optimizers import Momentum

    return Momentum(params, lr=lr, momentum=momentum)


def adagrad(params: Iterable[Any], lr: LearningRate = 0.1, eps: Annotated[float, Ge(0)] = 1e-6) -> Any:
    """AdaGrad from scratch (book 7.5): s += g * g; p -= lr * g / sqrt(s + eps).

    Args:
        lr: learning rate
        eps: added inside the square root (torch.optim.Adagrad adds it outside)
    """
    from minidl_optim.optimizers import Adagrad

    return Adagrad(params, lr=lr, eps=eps)


def rmsprop(params: Iterable[Any], lr: LearningRate = 0.01, gamma: Rate = 0.9,
            eps: Annotated[float, Ge(0)] = 1e-6) -> Any:
    """RMSProp from scratch (book 7.6): s = gamma*s + (1-gamma)*g*g; p -= lr * g / sqrt(s + eps).

    Args:
        lr: learning rate
        gamma: decay rate of the squared gradient's moving average, in [0, 1) (torch's alpha)
        eps: added inside the square root (torch.optim.RMSprop adds it outside)
    """
    from minidl_optim.optimizers import RMSProp

    return RMSProp(params, lr=lr, gamma=gamma, eps=eps)


def adadelta(params: Iterable[Any], rho: Rate = 0.9, eps: Annotated[float, Gt(0)] = 1e-5,
             lr: LearningRate = 1.0) -> Any:
    """AdaDelta from scratch (book 7.7): no learning rate, sqrt(delta + eps) takes its place.

    Args:
        rho: decay rate of both moving averages, in [0, 1)
        eps: added inside both square roots
        lr: factor on the update; 1.0 is the book's algorithm
    """
    from minidl_optim.optimizers import AdaDelta

    return AdaDelta(params, rho=rho, eps=eps, lr=lr)


def adam(params: Iterable[Any], lr: LearningRate = 0.01,
         betas: list[Rate] = [0.9, 0.999],  # noqa: B006 - never mutated; shown as the default
         eps: Annotated[float, Ge(0)] = 1e-6) -> Any:
    """Adam from scratch (book 7.8): bias-corrected moving averages of g and g*g.

    Args:
        lr: learning rate
        betas: decay rates [beta1, beta2] of the moving averages of g and g*g, each in [0, 1)
        eps: added to the denominator's square root (the book's code uses 1e-6)
    """
    from minidl_optim.optimizers import Adam

    return Adam(params, lr=lr, betas=betas, eps=eps)


def airfoil(path: str | None = None) -> Any:
    """NASA airfoil self-noise (book 7.3): 1500 examples, 5 standardised features, 1 label.

    Args:
        path: the airfoil_self_noise.dat file (default: $MINIDL_DATA/airfoil_self_noise.dat, else ../../data/)
    """
    from minidl_optim.data import Airfoil

    return Airfoil(path)


@hookimpl
def register_optimizers(register: Register) -> None:
    """Register the chapter 7 optimizers."""
    register("momentum", momentum)
    register("adagrad", adagrad)
    register("rmsprop", rmsprop)
    register("adadelta", adadelta)
    register("adam", adam)


@hookimpl
def register_datasets(register: Register) -> None:
    """Register ``airfoil``."""
    register("airfoil", airfoil)


@hookimpl
def register_commands(cli: Any) -> None:
    """Add ``minidl optim compare``."""
    from minidl_optim.commands import optim

    cli.add_command(optim)
