"""Data-parallel training on ``torch.distributed``: the unchanged Trainer, in N processes.

Each process (a *rank*) builds the same run from the same configuration and seed, then
:func:`make_data_parallel` rewraps its parts:

* the dataset as a :class:`ShardedDataset`: every rank draws the same shuffled order
  from the same generator, forms global batches of ``world_size * batch_size`` examples
  and keeps its own share of each (``global[rank::world_size]``, the examples
  ``DistributedSampler`` gives that rank);
* gradients averaged across ranks before each optimizer step, weighted by each rank's
  share of the global batch: by ``DistributedDataParallel`` (a comm hook) for
  ``nn.Module`` models that back-propagate, by an explicit all-reduce
  (:class:`GradientAllReduce`) for models that set their own gradients
  (``compute_gradients``, like ``linreg`` with ``grad='analytic'``);
* a stateful model (``begin_state``) as a :class:`StatefulDataParallelModule`, whose
  state methods stay visible: with consecutive sampling each rank carries the state of
  its rows as one process carries the whole batch's;
* epoch metrics averaged across ranks before anyone reads them, a stop asked by one rank
  stopping all, and epoch lines printed by rank 0 only.

So N processes with per-process batch B take the steps one process takes with batch
N*B, to float rounding. ``--batch-size`` is per process, so the global batch N*B always
divides evenly; only the epoch's last global batch may be short, and it is split as
evenly as possible (shares differ by at most one example; a rank left with none
computes on a stand-in example whose gradient weight is 0).

Launch with ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``) or, on one machine, with :func:`launch`.

One module per concern: :mod:`~minidl.distributed.group` (the process group),
``sharding`` (the data), ``gradients`` (their averaging), ``parallel`` (a built run
rewrapped, epoch metrics and stops kept in step), ``launch`` (N local processes).
"""

from __future__ import annotations

from minidl.distributed.gradients import (
    IMPLS,
    DataParallelModule,
    GradientAllReduce,
    GradientSync,
    Impl,
    StatefulDataParallelModule,
    choose_impl,
)
from minidl.distributed.group import (
    DEFAULT_TIMEOUT,
    LAUNCHER_VARS,
    TIMEOUT_VAR,
    DistContext,
    cleanup,
    is_rank_zero,
    process_group,
    setup,
    timeout_seconds,
)
from minidl.distributed.launch import (
    check_nproc,
    debug_requested,
    describe_failure,
    launch,
    worker_argv,
    worker_command,
)
from minidl.distributed.parallel import EpochSync, all_reduce_mean, make_data_parallel, train_worker
from minidl.distributed.sharding import ShardedDataset, share_sizes

__all__ = [
    "DEFAULT_TIMEOUT",
    "IMPLS",
    "LAUNCHER_VARS",
    "TIMEOUT_VAR",
    "DataParallelModule",
    "DistContext",
    "EpochSync",
    "GradientAllReduce",
    "GradientSync",
    "Impl",
    "ShardedDataset",
    "StatefulDataParallelModule",
    "all_reduce_mean",
    "check_nproc",
    "choose_impl",
    "cleanup",
    "debug_requested",
    "describe_failure",
    "is_rank_zero",
    "launch",
    "make_data_parallel",
    "process_group",
    "setup",
    "share_sizes",
    "timeout_seconds",
    "train_worker",
    "worker_argv",
    "worker_command",
]
