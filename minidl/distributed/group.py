"""The process group: where this process stands in the job, joining it and leaving it.

Launched by ``torchrun`` or :func:`minidl.distributed.launch`, which set ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import gc
import math
import os
from collections.abc import Iterator
from datetime import timedelta
from typing import TypeVar, cast

import torch
import torch.distributed as dist

from minidl.errors import MinidlError
from minidl.trainer import resolve_device

LAUNCHER_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
TIMEOUT_VAR = "MINIDL_DDP_TIMEOUT"  # seconds a collective may wait for the other ranks
DEFAULT_TIMEOUT = 60.0

T = TypeVar("T")


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

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` (any picklable value), on every rank; e.g. a resume state."""
        holder: list[object] = [obj if self.is_rank_zero else None]
        dist.broadcast_object_list(holder, src=0, device=self.device if self.backend == "nccl" else None)
        return cast(T, holder[0])


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
        if local_rank >= torch.cuda.device_count():  # else torch's "invalid device ordinal", deep in set_device
            raise MinidlError(f"rank {rank} (local rank {local_rank}) takes GPU cuda:{local_rank}, but this machine "
                              f"has {torch.cuda.device_count()}: start at most that many processes per machine")
        torch_device = torch.device("cuda", local_rank)
        torch.cuda.set_device(torch_device)
    backend = backend or ("nccl" if torch_device.type == "cuda" else "gloo")
    if not dist.is_initialized():
        dist.init_process_group(backend, timeout=timedelta(seconds=timeout_seconds()))
        atexit.unregister(gc.collect)  # once, however many groups this process joins
        atexit.register(gc.collect)
    return DistContext(rank, world_size, local_rank, torch_device, dist.get_backend())


def cleanup() -> None:
    """Leave the process group, if one is initialized.

    Garbage ``DistributedDataParallel`` wrappers are collected first (and, through
    :func:`setup`'s ``atexit``, once more before the interpreter shuts down): one that
    lives on into the interpreter's teardown aborts the process (``terminate called
    without an active exception``, SIGABRT) in about one run in four on a loaded machine.
    """
    gc.collect()
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
