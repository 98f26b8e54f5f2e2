"""Launching ``minidl`` in N processes on this machine through torch's elastic launcher.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from minidl.errors import MinidlError
from minidl.settings import debug_flag_given, env_switch

if TYPE_CHECKING:
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure


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


def max_nproc() -> int:
    """The most processes ``--nproc`` starts on this machine: its CPU cores, at least 8."""
    return max(8, os.cpu_count() or 1)


def check_nproc(nproc: object) -> int:
    """``nproc`` if it is an integer from 1 to :func:`max_nproc`, else :class:`MinidlError`.

    Each process holds a copy of the model and the data: a thousand of them would fill
    the machine's memory before the first step.
    """
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise MinidlError(f"--nproc must be an integer >= 1, got {nproc!r}")
    if nproc > max_nproc():
        raise MinidlError(f"--nproc {nproc} is more processes than this machine runs at once ({os.cpu_count()} CPU "
                          f"cores): give 1 to {max_nproc()}")
    return nproc


#: What the surviving ranks say when a peer is gone: never the cause of a failure.
PEER_LOST = re.compile(r"Connection (reset|closed) by peer|Broken pipe|NCCL communicator was aborted"
                       r"|Socket Timeout|timed out|Timeout", re.IGNORECASE)
DEBUG_VAR = "MINIDL_DEBUG"
#: What torch reports for a rank that left no error file.
PLACEHOLDERS = ("<N/A>", "<NONE>", "To enable traceback see")


def _failure_text(failure: ProcessFailure) -> str:
    message = failure.message
    if isinstance(message, dict):
        message = message.get("message", "")
    text = str(message).strip()
    if not text or any(placeholder in text for placeholder in PLACEHOLDERS):
        return ""  # no error file: torch's placeholder, never the rank's own error
    return text.splitlines()[-1]


def _own_error(stderr: str, errors_only: bool = False) -> str:
    """A rank's own last word on stderr: its ``Error:`` line, else (unless ``errors_only``)
    the last line, e.g. of a traceback."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    lines = [re.sub(r"^\[(default)?rank\d+\]:\s*", "", line) for line in lines]
    errors = [line.removeprefix("Error: ") for line in lines if line.startswith("Error: ")]
    if errors or errors_only:
        return errors[-1] if errors else ""
    return lines[-1] if lines else ""


def describe_failure(error: ChildFailedError, stderr: Mapping[int, str] | None = None) -> tuple[int, str]:
    """The exit code and a one-line message for torch's ``ChildFailedError``.

    The rank named is the first to fail of its own accord: a rank that failed only
    because a peer vanished (gloo's "Connection reset by peer", a timeout) is named only
    when no other is. Its own error is the last ``Error:`` line of its ``stderr`` (what a single
    process would print), else its error file's, else the last line of its ``stderr``.
    """
    stderr = stderr or {}
    by_time = sorted(error.failures.items(), key=lambda item: item[1].timestamp)
    texts = {rank: _own_error(stderr.get(rank, ""), errors_only=True) or _failure_text(failure)
             or _own_error(stderr.get(rank, "")) for rank, failure in by_time}
    own = [rank for rank, _ in by_time if texts[rank] and not PEER_LOST.search(texts[rank])]
    rank = own[0] if own else error.get_first_failure()[0]
    failure, text = error.failures[rank], texts[rank]
    code = failure.exitcode
    detail = f"killed by signal {failure.signal_name()}" if code < 0 else f"exit code {code}"
    others = sorted(r for r in error.failures if r != rank)
    message = f"rank {rank} failed ({detail})" + (f": {text}" if text else "")
    if others:
        message += f"; the job stopped the other ranks ({', '.join(map(str, others))})"
    return (code if code > 0 else 1), message


def debug_requested(argv: Sequence[str] = ()) -> bool:
    """``--debug`` before the subcommand in ``argv``, or ``MINIDL_DEBUG`` on (:func:`minidl.settings.env_switch`)."""
    return debug_flag_given(argv) or env_switch(DEBUG_VAR)[0]


def worker_command() -> list[str]:
    """How each worker starts: this Python with ``-P``, so that the working directory is
    never on its ``sys.path`` (no module or ``*.dist-info`` there is imported), exactly as
    the ``minidl`` console script behaves; ``-m minidl.cli`` finds minidl where this
    process found it."""
    return [sys.executable, "-P", "-m", "minidl.cli"]


def launch(nproc: int, argv: Sequence[str], *, program: Sequence[str] | None = None,
           echo: Callable[[str], object] = lambda line: print(line, file=sys.stderr),
           debug: bool | None = None) -> int:
    """Run ``program argv`` in ``nproc`` processes on this machine through torch's launcher.

    What ``torchrun --standalone --nproc-per-node nproc`` does: the workers get the
    launcher's variables and report errors to it. ``program`` defaults to
    :func:`worker_command`; ``argv`` are its arguments (see :func:`worker_argv`).
    The workers' stdout is this process's; their stderr is collected: rank 0's is
    replayed when the job succeeds. Returns 0, or the failed rank's exit code after
    ``echo``-ing one line, ``Error: rank R failed ...: its own error``; with ``debug``
    (default: :func:`debug_requested`) every rank's stderr is replayed first, the other
    ranks' tracebacks included.
    """
    import tempfile

    from torch.distributed.elastic.multiprocessing import DefaultLogsSpecs, Std
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    check_nproc(nproc)
    debug = debug_requested(argv) if debug is None else debug
    command = list(program or worker_command())
    with tempfile.TemporaryDirectory(prefix="minidl-ddp-") as log_dir, _worker_threads(nproc), _quiet_launcher():
        config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=nproc, run_id=f"minidl-{uuid.uuid4()}",
                              rdzv_backend="c10d", rdzv_endpoint="localhost:0", max_restarts=0,
                              logs_specs=DefaultLogsSpecs(log_dir=log_dir, redirects=Std.ERR))
        try:
            elastic_launch(config, command[0])(*command[1:], *argv)
        except ChildFailedError as exc:
            stderr = _stderr_logs(log_dir)
            if debug:
                _replay(stderr, sorted(stderr))
            code, message = describe_failure(exc, stderr)
            echo(f"Error: {message}")
            return code
        stderr = _stderr_logs(log_dir)
        _replay(stderr, sorted(stderr) if debug else [0])
    return 0


def _stderr_logs(log_dir: str) -> dict[int, str]:
    """Each local rank's captured stderr (the launcher writes ``.../<rank>/stderr.log``)."""
    logs = {}
    for path in Path(log_dir).rglob("stderr.log"):
        with contextlib.suppress(ValueError, OSError):
            logs[int(path.parent.name)] = path.read_text(encoding="utf-8", errors="replace")
    return logs


def _replay(stderr: Mapping[int, str], ranks: Iterable[int]) -> None:
    for rank in ranks:
        sys.stderr.write(stderr.get(rank, ""))
    sys.stderr.flush()


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
