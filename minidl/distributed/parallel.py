"""Putting it together: metrics averaged each epoch, a shared stop, a built run rewrapped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import torch
import torch.distributed as dist

from minidl.config import RunConfig
from minidl.distributed.gradients import (
    DataParallelModule,
    GradientAllReduce,
    GradientSync,
    Impl,
    StatefulDataParallelModule,
    choose_impl,
    weighted_allreduce,
)
from minidl.distributed.group import DistContext, process_group
from minidl.distributed.sharding import ShardedDataset
from minidl.errors import MinidlError
from minidl.hookspecs import hookimpl
from minidl.plugins import Plugins
from minidl.run import Run, build
from minidl.stateful import is_stateful

if TYPE_CHECKING:
    from minidl.trainer import Trainer


def _all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    tensor = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return tensor.tolist()


def all_reduce_mean(record: dict[str, Any], device: torch.device | str = "cpu") -> dict[str, Any]:
    """Average the numbers in ``record`` (not ``epoch``) across ranks, in place; return it."""
    keys = [k for k, v in record.items()
            if k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)]
    if keys:
        sums = _all_reduce_sum([float(record[k]) for k in keys], torch.device(device))
        world_size = dist.get_world_size()
        record.update({k: total / world_size for k, total in zip(keys, sums)})
    return record


class EpochSync:
    """Hooks that keep the ranks' epochs identical: reduced metrics, a shared stop."""

    def __init__(self, device: torch.device) -> None:
        self.device = device

    @hookimpl(wrapper=True)
    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> Generator[None, object, object]:
        """Average the record before any callback reads it; after them, stop if any rank stops."""
        all_reduce_mean(metrics, self.device)
        result = yield
        (stops,) = _all_reduce_sum([1.0 if trainer.should_stop else 0.0], self.device)
        if stops and not trainer.should_stop:
            trainer.should_stop = True
            trainer.stop_reason = f"stopped at epoch {epoch}: another rank asked to stop"
        return result


def _check_same_everywhere(run: Run, ctx: DistContext) -> None:
    trainer = run.trainer
    mine = {"seed": trainer.seed, "batch_size": trainer.batch_size, "epochs": trainer.max_epochs,
            "dataset": run.dataset.state_dict()}
    everyone: list[object] = [None] * ctx.world_size
    dist.all_gather_object(everyone, mine)
    for rank, theirs in enumerate(everyone):
        if theirs != everyone[0]:
            raise MinidlError(f"ranks disagree on the run: rank 0 has {everyone[0]}, rank {rank} has {theirs}; "
                              "launch every rank with the same configuration")


def make_data_parallel(run: Run, ctx: DistContext, *, impl: Impl = "auto") -> Run:
    """Rewrap a built run's dataset, model or optimizer and trainer for data parallelism.

    Returns a new :class:`~minidl.run.Run` to ``fit``; the trainer is changed in place
    (device, rank-0-only printing, the synchronizing hooks). ``impl`` is as in
    :func:`~minidl.distributed.gradients.choose_impl`.
    """
    chosen = choose_impl(run.model, impl)
    _check_same_everywhere(run, ctx)
    dataset = ShardedDataset(run.dataset, ctx.rank, ctx.world_size)
    model, optimizer = run.model.to(ctx.device), run.optimizer
    trainer = run.trainer
    if chosen == "ddp":
        wrapper = StatefulDataParallelModule if is_stateful(model) else DataParallelModule  # state methods seen
        model = wrapper(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
        model.register_comm_hook(lambda: dataset.weight, weighted_allreduce)
    else:
        for tensor in model.state_dict().values():  # same start everywhere, as DDP does
            dist.broadcast(tensor, src=0)
        optimizer = GradientAllReduce(optimizer, weight=lambda: dataset.weight)
        trainer.callbacks.append(GradientSync())
    # appended, so the user's callbacks keep their places in checkpoints (their order
    # among the hooks comes from wrapper / tryfirst, not from the list)
    trainer.callbacks.append(EpochSync(ctx.device))
    trainer.device_name = str(ctx.device)
    trainer.verbose = trainer.verbose and ctx.is_rank_zero
    return dataclasses.replace(run, dataset=dataset, model=model, optimizer=optimizer)


def train_worker(config: RunConfig, plugins: Plugins | None = None, *, verbose: bool = True,
                 echo: Callable[[str], object] = print, resume: dict[str, Any] | None = None,
                 impl: Impl = "auto") -> Run:
    """One rank of ``minidl train --strategy ddp``: join, build, wrap, fit, leave.

    ``resume`` (a trainer state) is needed on rank 0 only: every rank continues from
    rank 0's. Returns the trained run (its model unwrapped from DDP).
    """
    with process_group(config.train.device) as ctx:
        run = make_data_parallel(build(config, plugins, verbose=verbose, echo=echo), ctx, impl=impl)
        run.fit(resume=ctx.broadcast(resume))
        model = run.model.unwrapped if isinstance(run.model, DataParallelModule) else run.model
        return dataclasses.replace(run, model=model)
