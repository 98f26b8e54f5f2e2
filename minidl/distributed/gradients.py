"""Gradient averaging: DDP with a weighted comm hook, or an explicit all-reduce; which one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from minidl.errors import MinidlError
from minidl.hookspecs import hookimpl
from minidl.interfaces import Optimizer
from minidl.stateful import detach_state

if TYPE_CHECKING:
    from minidl.trainer import Trainer

Impl = Literal["auto", "ddp", "allreduce"]
IMPLS = ("auto", "ddp", "allreduce")


def _weight_of(weight: Callable[[], float] | None) -> float:
    return (1.0 / dist.get_world_size()) if weight is None else weight()


class GradientAllReduce:
    """An optimizer whose ``step`` first sums ``weight * grad`` over the ranks.

    With ``weight`` each rank's share of the global batch (default ``1/world_size``),
    the sum is the gradient of the global batch mean. :meth:`synchronize` may run
    earlier in the step (so gradient clipping sees the averaged gradient); it runs once
    per step. Everything else is the wrapped optimizer's, so checkpoints are the same as
    a single process's.
    """

    def __init__(self, optimizer: Optimizer, weight: Callable[[], float] | None = None) -> None:
        self.optimizer, self.weight = optimizer, weight
        self._synced = False

    @property
    def param_groups(self) -> list[dict[str, Any]]:
        """The wrapped optimizer's groups (learning-rate schedules change them in place)."""
        return self.optimizer.param_groups

    def synchronize(self) -> None:
        """Replace every gradient by its weighted sum over the ranks (once per step)."""
        if self._synced:
            return
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
        for grad in grads:
            by_dtype.setdefault(grad.dtype, []).append(grad)
        weight = _weight_of(self.weight)
        for same in by_dtype.values():  # one collective per dtype, not per parameter
            flat = torch.cat([g.reshape(-1) for g in same]).mul_(weight)
            dist.all_reduce(flat)
            for grad, reduced in zip(same, flat.split([g.numel() for g in same])):
                grad.copy_(reduced.view_as(grad))
        self._synced = True

    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        """Synchronize the gradients, then take the wrapped optimizer's step."""
        self.synchronize()
        self._synced = False
        if closure is None:
            return self.optimizer.step()
        return self.optimizer.step(closure)  # type: ignore[call-arg]  # torch optimizers take one

    def zero_grad(self, set_to_none: bool = True) -> None:
        """The wrapped optimizer's ``zero_grad``."""
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict[str, Any]:
        """The wrapped optimizer's state."""
        return self.optimizer.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the wrapped optimizer's state."""
        self.optimizer.load_state_dict(state_dict)

    def __getattr__(self, name: str) -> Any:
        if name == "optimizer":
            raise AttributeError(name)
        return getattr(self.optimizer, name)


def weighted_allreduce(weight, bucket):  # type: ignore[no-untyped-def]
    """DDP comm hook: sum ``weight() * grad`` over the ranks (instead of the plain mean).

    Unannotated: DDP compares ``bucket``'s annotation with ``dist.GradBucket`` itself,
    which the string annotations of this module would fail.
    """
    buffer = bucket.buffer().mul_(weight())
    future = dist.all_reduce(buffer, async_op=True).get_future()  # type: ignore[union-attr]
    return future.then(lambda fut: fut.value()[0])


class DataParallelModule(DistributedDataParallel):
    """``DistributedDataParallel`` whose state dict is the wrapped model's.

    Checkpoints have the keys a single process writes (no ``module.`` prefix), so
    they load with any number of processes. Forward passes without gradients (the
    Trainer's evaluation) call the model directly: no collective, nothing to keep in step.
    """

    @property
    def unwrapped(self) -> nn.Module:
        """The model itself (what ``module`` holds)."""
        return self.module

    def forward(self, *inputs: torch.Tensor, **kwargs: object) -> torch.Tensor:
        """DDP's forward when training, the model's own under ``torch.no_grad``."""
        if not torch.is_grad_enabled():
            return self.module(*inputs, **kwargs)
        return super().forward(*inputs, **kwargs)

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        """The wrapped model's ``state_dict``."""
        return self.unwrapped.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> object:
        """The wrapped model's ``load_state_dict``."""
        return self.unwrapped.load_state_dict(state_dict, strict=strict, assign=assign)


class _StateCall(nn.Module):
    """A stateful model as DDP calls it: ``(X)`` is the model's own call, ``(X, state)``
    its ``forward_with_state``; so both go through DDP's forward."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, X: torch.Tensor, *state: Any) -> Any:
        """``model(X)``, or ``model.forward_with_state(X, state)`` when a state is given."""
        if state:
            return self.model.forward_with_state(X, state[0])  # type: ignore[operator]
        return self.model(X)


class StatefulDataParallelModule(DataParallelModule):
    """:class:`DataParallelModule` for a :class:`~minidl.interfaces.StatefulModel`.

    ``begin_state``, ``detach_state`` and ``forward_with_state`` are the model's, so the
    Trainer carries the state across consecutive batches as in one process; the last
    goes through DDP's forward, so the gradients still synchronise. Each rank carries
    the state of its own rows (``ShardedDataset`` gives it rows ``rank::world_size`` of
    every global batch, and row ``i`` continues row ``i``).
    """

    def __init__(self, model: nn.Module, **kwargs: Any) -> None:
        super().__init__(_StateCall(model), **kwargs)

    @property
    def unwrapped(self) -> nn.Module:
        """The model itself (inside the call adapter)."""
        call = self.module
        assert isinstance(call, _StateCall)
        return call.model

    def begin_state(self, batch_size: int, device: torch.device | str) -> Any:
        """The model's fresh state."""
        return self.unwrapped.begin_state(batch_size, device)  # type: ignore[operator]

    def detach_state(self, state: Any) -> Any:
        """The model's ``detach_state``, else :func:`minidl.stateful.detach_state`."""
        return getattr(self.unwrapped, "detach_state", detach_state)(state)

    def forward_with_state(self, X: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """The model's ``forward_with_state``, through DDP's forward."""
        output: tuple[torch.Tensor, Any] = self(X, state)
        return output


def choose_impl(model: object, impl: str = "auto") -> Literal["ddp", "allreduce"]:
    """How gradients are averaged for ``model``.

    ``auto``: the explicit all-reduce when the model sets its own gradients
    (``compute_gradients``: there is no ``backward`` for DDP to hook into) or is not an
    ``nn.Module`` with trainable parameters; ``DistributedDataParallel`` otherwise.
    """
    if impl not in IMPLS:
        raise MinidlError(f"unknown data-parallel implementation {impl!r}; accepted: {', '.join(IMPLS)}")
    own_gradients = hasattr(model, "compute_gradients")
    trainable = isinstance(model, nn.Module) and any(p.requires_grad for p in model.parameters())
    if impl == "ddp" and (own_gradients or not trainable):
        raise MinidlError(
            f"{type(model).__name__} cannot use DistributedDataParallel: it "
            f"{'computes its own gradients' if own_gradients else 'has no trainable nn.Module parameters'}; "
            "use the explicit all-reduce (impl 'allreduce' or 'auto')"
        )
    if impl == "auto":
        return "ddp" if trainable and not own_gradients else "allreduce"
    return impl  # type: ignore[return-value]


class GradientSync:
    """Averages gradients before other ``on_before_optimizer_step`` hooks (grad-clip) run."""

    @hookimpl(tryfirst=True)
    def on_before_optimizer_step(self, trainer: Trainer, epoch: int, step: int) -> None:
        """Run the optimizer's all-reduce now rather than inside its step."""
        optimizer = trainer.optimizer
        assert isinstance(optimizer, GradientAllReduce), "GradientSync goes with GradientAllReduce"
        optimizer.synchronize()
