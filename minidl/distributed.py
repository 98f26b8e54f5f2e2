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
* epoch metrics averaged across ranks before anyone reads them, a stop asked by one rank
  stopping all, and epoch lines printed by rank 0 only.

So N processes with per-process batch B take the steps one process takes with batch
N*B, to float rounding. ``--batch-size`` is per process, so the global batch N*B always
divides evenly; only the epoch's last global batch may be short, and it is split as
evenly as possible (shares differ by at most one example; a rank left with none
computes on a stand-in example whose gradient weight is 0).

Launch with ``torchrun`` (which sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``) or, on one machine, with :func:`launch`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from minidl.adapters import DatasetWrapper
from minidl.config import RunConfig
from minidl.errors import MinidlError
from minidl.hookspecs import hookimpl
from minidl.interfaces import Batch
from minidl.plugins import Plugins
from minidl.run import Run, build
from minidl.trainer import resolve_device

Impl = Literal["auto", "ddp", "allreduce"]
IMPLS = ("auto", "ddp", "allreduce")
LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
TIMEOUT_VAR = "MINIDL_DDP_TIMEOUT"  # seconds a collective may wait for the other ranks
DEFAULT_TIMEOUT = 60.0
FAIL_RANK_VAR, FAIL_STEP_VAR, FAIL_MODE_VAR = "MINIDL_DDP_FAIL_RANK", "MINIDL_DDP_FAIL_STEP", "MINIDL_DDP_FAIL_MODE"


# -- the process group -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DistContext:
    """Where this process stands in the job: its rank, the job's size, its device."""

    rank: int  # 0 .. world_size - 1, across all machines
    world_size: int  # processes in the job
    local_rank: int  # rank on this machine (picks the GPU)
    device: torch.device  # cpu, or cuda:<local_rank>
    backend: str  # gloo or nccl

    @property
    def is_rank_zero(self) -> bool:
        """True on the rank that prints, writes records and checkpoints."""
        return self.rank == 0

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` (any picklable value), on every rank; e.g. a resume state."""
        holder = [obj if self.is_rank_zero else None]
        dist.broadcast_object_list(holder, src=0, device=self.device if self.backend == "nccl" else None)
        return holder[0]


def is_rank_zero() -> bool:
    """True unless this process is a rank other than 0 of an initialized process group."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def timeout_seconds() -> float:
    """The collective timeout: ``MINIDL_DDP_TIMEOUT`` seconds, 60 by default."""
    text = os.environ.get(TIMEOUT_VAR)
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise MinidlError(f"{TIMEOUT_VAR}={text!r} is not a valid timeout; give a positive number of seconds")
    return value


def _launcher_env() -> tuple[int, int, int]:
    missing = [name for name in LAUNCHER_VARS if name not in os.environ]
    if missing:
        raise MinidlError(
            f"--strategy ddp needs a launcher, but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set; run it under torchrun "
            "(torchrun --nproc-per-node N \"$(which minidl)\" train --strategy ddp ...) "
            "or use minidl train --nproc N"
        )
    values = {}
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        text = os.environ.get(name, os.environ["RANK"] if name == "LOCAL_RANK" else "")
        try:
            values[name] = int(text)
        except ValueError:
            raise MinidlError(f"launcher variable {name}={text!r} is not an integer") from None
    rank, world_size, local_rank = values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"]
    if not 0 <= rank < world_size:
        raise MinidlError(f"launcher variables RANK={rank} and WORLD_SIZE={world_size} do not fit")
    return rank, world_size, local_rank


def setup(backend: str | None = None, device: str = "cpu") -> DistContext:
    """Join the job that torchrun launched; gloo on the CPU, nccl on cuda by default.

    ``device`` is the run's device (``cpu``, ``cuda``, ``cuda:N``, ``auto``); under
    cuda each rank takes the GPU numbered by its ``LOCAL_RANK``. Raises
    :class:`MinidlError` when the launcher's variables are missing.
    """
    rank, world_size, local_rank = _launcher_env()
    torch_device = resolve_device(device)
    if torch_device.type == "cuda":
        torch_device = torch.device("cuda", local_rank)
        torch.cuda.set_device(torch_device)
    backend = backend or ("nccl" if torch_device.type == "cuda" else "gloo")
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_seconds()))
    return DistContext(rank, world_size, local_rank, torch_device, dist.get_backend())


def cleanup() -> None:
    """Leave the process group, if one is initialized."""
    if dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def process_group(device: str = "cpu", backend: str | None = None) -> Iterator[DistContext]:
    """:func:`setup` on entry, :func:`cleanup` on exit.

    An exception leaving the block is recorded for torchrun (``TORCHELASTIC_ERROR_FILE``),
    so the launcher's report, and :func:`launch`'s message, name the rank and the error.
    """
    ctx = setup(backend, device)
    try:
        yield ctx
    except Exception as exc:
        from torch.distributed.elastic.multiprocessing.errors import get_error_handler

        get_error_handler().record_exception(exc)
        raise
    finally:
        cleanup()


# -- the data ------------------------------------------------------------------------------
def share_sizes(batch: int, world_size: int) -> list[int]:
    """Examples each rank takes from a global batch of ``batch``: as even as possible."""
    return [len(range(rank, batch, world_size)) for rank in range(world_size)]


class ShardedDataset(DatasetWrapper):
    """A dataset whose training batches are this rank's share of each global batch.

    ``batches(batch_size, generator)`` asks the wrapped dataset for batches of
    ``world_size * batch_size`` (the same ones on every rank, since every rank's
    generator has the same seed) and yields rows ``rank::world_size`` of each.
    ``weight`` is this rank's fraction of the current global batch, by which its
    gradient counts in the average. Evaluation (``tensors``) sees the whole split on
    every rank; everything else is the wrapped dataset's.
    """

    def __init__(self, data: Any, rank: int, world_size: int) -> None:
        if not 0 <= rank < world_size:
            raise MinidlError(f"rank {rank} is not in 0..{world_size - 1}")
        super().__init__(data)
        self.rank, self.world_size = rank, world_size
        self.weight = 1.0 / world_size

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        """This rank's share of each global batch of ``world_size * batch_size``."""
        for X, y in self.data.batches(batch_size * self.world_size, generator):
            m = len(X)
            if self.rank < m:
                self.weight = share_sizes(m, self.world_size)[self.rank] / m
                yield X[self.rank :: self.world_size], y[self.rank :: self.world_size]
            else:  # a short last batch with fewer examples than ranks: a stand-in that counts 0
                self.weight = 0.0
                yield X[:1], y[:1]


# -- the gradients --------------------------------------------------------------------------
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

    def __init__(self, optimizer: Any, weight: Callable[[], float] | None = None) -> None:
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

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Synchronize the gradients, then take the wrapped optimizer's step."""
        self.synchronize()
        self._synced = False
        return self.optimizer.step() if closure is None else self.optimizer.step(closure)

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


def _weighted_allreduce(weight, bucket):  # type: ignore[no-untyped-def]
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

    def forward(self, *inputs: Any, **kwargs: Any) -> Any:
        """DDP's forward when training, the model's own under ``torch.no_grad``."""
        if not torch.is_grad_enabled():
            return self.module(*inputs, **kwargs)
        return super().forward(*inputs, **kwargs)

    def state_dict(self, *args: Any, **kwargs: Any) -> Any:
        """The wrapped model's ``state_dict``."""
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """The wrapped model's ``load_state_dict``."""
        return self.module.load_state_dict(state_dict, strict=strict, assign=assign)


def choose_impl(model: Any, impl: str = "auto") -> Literal["ddp", "allreduce"]:
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


# -- hooks ------------------------------------------------------------------------------------
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
    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> Any:
        """Average the record before any callback reads it; after them, stop if any rank stops."""
        all_reduce_mean(metrics, self.device)
        result = yield
        (stops,) = _all_reduce_sum([1.0 if trainer.should_stop else 0.0], self.device)
        if stops and not trainer.should_stop:
            trainer.should_stop = True
            trainer.stop_reason = f"stopped at epoch {epoch}: another rank asked to stop"
        return result


class GradientSync:
    """Averages gradients before other ``on_before_optimizer_step`` hooks (grad-clip) run."""

    @hookimpl(tryfirst=True)
    def on_before_optimizer_step(self, trainer: Any, epoch: int, step: int) -> None:
        """Run the optimizer's all-reduce now rather than inside its step."""
        trainer.optimizer.synchronize()


class FaultInjection:
    """For tests: rank ``rank`` fails at its ``step``-th step (counted over all epochs).

    ``mode`` ``raise`` raises an error, ``exit`` ends the process at once (as a kill
    would), ``hang`` sleeps (the others time out).
    """

    def __init__(self, rank: int, step: int, mode: str = "raise") -> None:
        self.rank, self.step, self.mode = rank, step, mode
        self.steps = 0

    @hookimpl
    def on_batch_end(self, trainer: Any, epoch: int, step: int, loss: float) -> None:
        """Fail when the step count is reached."""
        self.steps += 1
        if self.steps != self.step:
            return
        if self.mode == "exit":
            os._exit(3)
        if self.mode == "hang":
            time.sleep(3600)
        raise RuntimeError(f"injected fault on rank {self.rank} at epoch {epoch}, step {step} "
                           f"({FAIL_RANK_VAR}={self.rank}, {FAIL_STEP_VAR}={self.step})")


def fault_from_env(rank: int) -> FaultInjection | None:
    """The :class:`FaultInjection` that ``MINIDL_DDP_FAIL_RANK``/``_STEP``/``_MODE`` ask for on ``rank``."""
    text = os.environ.get(FAIL_RANK_VAR)
    if text is None:
        return None
    try:
        fail_rank, step = int(text), int(os.environ.get(FAIL_STEP_VAR, "1"))
    except ValueError:
        raise MinidlError(f"{FAIL_RANK_VAR} and {FAIL_STEP_VAR} must be integers") from None
    mode = os.environ.get(FAIL_MODE_VAR, "raise")
    if mode not in ("raise", "exit", "hang"):
        raise MinidlError(f"{FAIL_MODE_VAR}={mode!r}; accepted: raise, exit, hang")
    return FaultInjection(rank, step, mode) if fail_rank == rank else None


# -- putting it together --------------------------------------------------------------------
def _check_same_everywhere(run: Run, ctx: DistContext) -> None:
    trainer = run.trainer
    mine = {"seed": trainer.seed, "batch_size": trainer.batch_size, "epochs": trainer.max_epochs,
            "dataset": run.dataset.state_dict()}
    everyone: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(everyone, mine)
    for rank, theirs in enumerate(everyone):
        if theirs != everyone[0]:
            raise MinidlError(f"ranks disagree on the run: rank 0 has {everyone[0]}, rank {rank} has {theirs}; "
                              "launch every rank with the same configuration")


def make_data_parallel(run: Run, ctx: DistContext, *, impl: Impl = "auto") -> Run:
    """Rewrap a built run's dataset, model or optimizer and trainer for data parallelism.

    Returns a new :class:`~minidl.run.Run` to ``fit``; the trainer is changed in place
    (device, rank-0-only printing, the synchronizing hooks, a fault injected by the
    ``MINIDL_DDP_FAIL_*`` variables). ``impl`` is as in :func:`choose_impl`.
    """
    chosen = choose_impl(run.model, impl)
    _check_same_everywhere(run, ctx)
    dataset = ShardedDataset(run.dataset, ctx.rank, ctx.world_size)
    model, optimizer = run.model.to(ctx.device), run.optimizer
    trainer = run.trainer
    if chosen == "ddp":
        model = DataParallelModule(model, device_ids=[ctx.device.index] if ctx.device.type == "cuda" else None)
        model.register_comm_hook(lambda: dataset.weight, _weighted_allreduce)
    else:
        for tensor in model.state_dict().values():  # same start everywhere, as DDP does
            dist.broadcast(tensor, src=0)
        optimizer = GradientAllReduce(optimizer, weight=lambda: dataset.weight)
        trainer.callbacks.append(GradientSync())
    # appended, so the user's callbacks keep their places in checkpoints (their order
    # among the hooks comes from wrapper / tryfirst, not from the list)
    trainer.callbacks.append(EpochSync(ctx.device))
    fault = fault_from_env(ctx.rank)
    if fault is not None:
        trainer.callbacks.append(fault)
    trainer.device_name = str(ctx.device)
    trainer.verbose = trainer.verbose and ctx.is_rank_zero
    return dataclasses.replace(run, dataset=dataset, model=model, optimizer=optimizer)


def train_worker(config: RunConfig, plugins: Plugins | None = None, *, verbose: bool = True,
                 echo: Callable[[str], Any] = print, resume: Mapping[str, Any] | None = None,
                 impl: Impl = "auto") -> Run:
    """One rank of ``minidl train --strategy ddp``: join, build, wrap, fit, leave.

    ``resume`` (a trainer state) is needed on rank 0 only: every rank continues from
    rank 0's. Returns the trained run (its model unwrapped from DDP).
    """
    with process_group(config.train.device) as ctx:
        run = make_data_parallel(build(config, plugins, verbose=verbose, echo=echo), ctx, impl=impl)
        run.fit(resume=ctx.broadcast(resume))
        model = run.model.module if isinstance(run.model, DistributedDataParallel) else run.model
        return dataclasses.replace(run, model=model)


# -- launching --------------------------------------------------------------------------------
def worker_argv(argv: Sequence[str]) -> list[str]:
    """``minidl`` arguments for the workers: ``--nproc N`` removed, ``--strategy ddp`` set."""
    out: list[str] = []
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg in ("--nproc", "--strategy"):
            skip = i + 1 < len(argv)
            continue
        if arg.startswith(("--nproc=", "--strategy=")):
            continue
        out.append(arg)
    at = out.index("train") + 1 if "train" in out else len(out)
    return [*out[:at], "--strategy", "ddp", *out[at:]]


def check_nproc(nproc: Any) -> int:
    """``nproc`` if it is an integer >= 1, else :class:`MinidlError`."""
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise MinidlError(f"--nproc must be an integer >= 1, got {nproc!r}")
    return nproc


def describe_failure(error: Any) -> tuple[int, str]:
    """The exit code and a one-line message for torch's ``ChildFailedError``: the first rank to fail."""
    rank, failure = error.get_first_failure()
    message = failure.message
    if isinstance(message, dict):
        message = message.get("message", "")
    first_line = str(message).strip().splitlines()[-1] if str(message).strip() else ""
    code = failure.exitcode
    detail = f"killed by signal {failure.signal_name()}" if code < 0 else f"exit code {code}"
    others = sorted(r for r in error.failures if r != rank)
    text = f"rank {rank} failed ({detail})" + (f": {first_line}" if first_line and "<N/A>" not in first_line else "")
    if others:
        text += f"; the job stopped the other ranks ({', '.join(map(str, others))})"
    return (failure.exitcode if failure.exitcode > 0 else 1), text


def launch(nproc: int, argv: Sequence[str], *, program: Sequence[str] | None = None,
           echo: Callable[[str], Any] = lambda line: print(line, file=sys.stderr)) -> int:
    """Run ``program argv`` in ``nproc`` processes on this machine through torch's launcher.

    What ``torchrun --standalone --nproc-per-node nproc`` does: the workers get the
    launcher's variables and report errors to it. ``program`` defaults to
    ``python -m minidl.cli``; ``argv`` are its arguments (see :func:`worker_argv`).
    Returns 0, or the failed rank's exit code after ``echo``-ing ``Error: rank R failed ...``.
    """
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    check_nproc(nproc)
    command = list(program or (sys.executable, "-m", "minidl.cli"))
    config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"minidl-{uuid.uuid4()}",
                          rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0)
    with _worker_threads(nproc), _quiet_launcher():
        try:
            elastic_launch(config, command[0])(*command[1:], *argv)
        except ChildFailedError as exc:
            code, message = describe_failure(exc)
            echo(f"Error: {message}")
            return code
    return 0


@contextlib.contextmanager
def _worker_threads(nproc: int) -> Iterator[None]:
    """Share the cores among the workers (``OMP_NUM_THREADS``), unless the user set it."""
    if "OMP_NUM_THREADS" in os.environ:
        yield
        return
    os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    try:
        yield
    finally:
        del os.environ["OMP_NUM_THREADS"]


@contextlib.contextmanager
def _quiet_launcher() -> Iterator[None]:
    """The launcher's own log lines repeat what :func:`launch` reports; keep only critical ones."""
    import logging

    logger = logging.getLogger("torch.distributed.elastic")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
