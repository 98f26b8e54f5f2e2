"""Data-parallel training (minidl.distributed): 2 processes on the CPU with gloo.

The oracle: one process with batch 2B. Jobs run through :func:`minidl.distributed.launch`
(torch's elastic launcher); the workers are this file run as a script (see the bottom),
or the ``minidl`` console script. Faults are injected by the test-only plugin
``tests/fixtures/ddp_faults.py``, never by minidl itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import minidl
from minidl import distributed
from minidl.adapters import TensorData
from minidl.config import ComponentConfig, RunConfig
from minidl.hookspecs import hookimpl
from minidl.run import build

B = 10  # per-process batch size
WORKER = [sys.executable, str(Path(__file__).resolve())]
MINIDL = str(Path(sys.executable).with_name("minidl"))
FAULTS = Path(__file__).resolve().parent / "fixtures" / "ddp_faults.py"  # the test-only fault plugin
FAIL_RANK_VAR, FAIL_STEP_VAR, FAIL_MODE_VAR = "MINIDL_DDP_FAIL_RANK", "MINIDL_DDP_FAIL_STEP", "MINIDL_DDP_FAIL_MODE"


# -- components used by the jobs (registered in the workers and in this process) ----------
def tiny_linear(num_inputs: int | None = None) -> Any:
    """torch's nn.Linear with one output.

    Args:
        num_inputs: input features (default: the dataset's)
    """
    return torch.nn.Linear(num_inputs or 2, 1)


class TinyRecurrent(torch.nn.Module):
    """A linear model with a hidden state of 2 carried from batch to batch (a StatefulModel)."""

    def __init__(self, num_inputs: int) -> None:
        super().__init__()
        self.cell = torch.nn.Linear(num_inputs + 2, 2)
        self.out = torch.nn.Linear(num_inputs + 2, 1)

    def begin_state(self, batch_size: int, device: Any) -> torch.Tensor:
        return torch.zeros(batch_size, 2, device=device)

    def forward_with_state(self, X: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        state = torch.tanh(self.cell(torch.cat([X, state], dim=1)))
        return self.out(torch.cat([X, state], dim=1)), state

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.forward_with_state(X, self.begin_state(len(X), X.device))[0]


def tiny_recurrent(num_inputs: int | None = None) -> Any:
    """A tiny stateful model.

    Args:
        num_inputs: input features (default: the dataset's)
    """
    return TinyRecurrent(num_inputs or 3)


def torch_sgd(params: Any, lr: float = 0.05, momentum: float = 0.0) -> Any:
    """torch.optim.SGD.

    Args:
        lr: learning rate
        momentum: momentum factor
    """
    return torch.optim.SGD(params, lr=lr, momentum=momentum)


class SaveEachEpoch:
    """Writes the trainer's state to ``path`` at each epoch end, on rank 0 only."""

    def __init__(self, path: str) -> None:
        self.path = path

    @hookimpl
    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
        """Save (rank 0 only), atomically."""
        if distributed.is_rank_zero():
            state = trainer.state_dict()  # taken before the trainer counts this epoch: add it
            state.update(epoch=epoch, history=[*state["history"], dict(metrics)])
            torch.save(state, self.path + ".tmp")
            Path(self.path + ".tmp").replace(self.path)


def save_each_epoch(path: str = "ckpt.pt") -> SaveEachEpoch:
    """Save a checkpoint at every epoch end.

    Args:
        path: where
    """
    return SaveEachEpoch(path)


class TestComponents:
    """Registers the components above."""

    @hookimpl
    def register_models(self, register: Any) -> None:
        """tiny-linear."""
        register("tiny-linear", tiny_linear)
        register("tiny-recurrent", tiny_recurrent)

    @hookimpl
    def register_optimizers(self, register: Any) -> None:
        """torch-sgd."""
        register("torch-sgd", torch_sgd)

    @hookimpl
    def register_callbacks(self, register: Any) -> None:
        """save-each-epoch."""
        register("save-each-epoch", save_each_epoch)


def test_plugins() -> minidl.Plugins:
    """Default plugins plus this file's components (no installed plugin leaks in)."""
    plugins = minidl.load_plugins(entry_points=False)
    plugins.register(TestComponents(), "ddp-test")
    return plugins


test_plugins.__test__ = False  # type: ignore[attr-defined]


def make_config(model: str, model_options: dict[str, Any], optimizer: str, optimizer_options: dict[str, Any],
                num_examples: int, batch_size: int = B, epochs: int = 3) -> RunConfig:
    """A small regression run: 3 inputs, a test split, the mse metric."""
    config = RunConfig()
    config.dataset = ComponentConfig("synthetic-linear", {
        "num_examples": num_examples, "num_inputs": 3, "true_w": [2.0, -3.4, 1.5], "num_test": 17})
    config.model = ComponentConfig(model, dict(model_options))
    config.optimizer = ComponentConfig(optimizer, dict(optimizer_options))
    config.train.batch_size, config.train.epochs, config.train.seed = batch_size, epochs, 7
    config.train.metrics = ["mse"]
    return config


# name -> (model, model options, optimizer, optimizer options, examples, impl). 101 examples
# leave a last global batch of 1 (rank 1 gets a stand-in of weight 0); 107 leave 7 (4 + 3).
SCENARIOS: dict[str, tuple[Any, ...]] = {
    "analytic-sgd": ("linreg", {"grad": "analytic"}, "sgd", {"lr": 0.05}, 101, "auto"),
    "autograd-sgd-allreduce": ("linreg", {}, "sgd", {"lr": 0.05}, 107, "allreduce"),
    "autograd-sgd-ddp": ("linreg", {}, "sgd", {"lr": 0.05}, 101, "auto"),
    "linear-torchsgd-ddp": ("tiny-linear", {}, "torch-sgd", {"lr": 0.05, "momentum": 0.9}, 107, "auto"),
}


def scenario_config(name: str, batch_size: int = B, epochs: int = 3) -> RunConfig:
    """The configuration of a scenario, at a batch size."""
    model, model_options, optimizer, optimizer_options, n, _ = SCENARIOS[name]
    return make_config(model, model_options, optimizer, optimizer_options, n, batch_size, epochs)


def single_process(config: RunConfig) -> minidl.run.Run:
    """Train ``config`` here, in one process."""
    run = build(config, test_plugins())
    run.fit()
    return run


def close(a: Any, b: Any) -> bool:
    """Nested lists / dicts of numbers equal to float tolerance."""
    return torch.allclose(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64),
                          rtol=1e-5, atol=1e-6)


# -- the equivalence job, run once for all the tests that read it ---------------------------
@pytest.fixture(scope="module")
def equivalence_job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Runs every scenario (and a resume) in one 2-process job; returns its output folder."""
    out = tmp_path_factory.mktemp("ddp")
    messages: list[str] = []
    code = distributed.launch(2, ["equivalence", str(out)], program=WORKER, echo=messages.append)
    assert code == 0, messages
    return out


def read(out: Path, name: str, rank: int) -> dict[str, Any]:
    """What rank ``rank`` wrote for scenario ``name``."""
    return json.loads((out / f"{name}-rank{rank}.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_two_processes_match_one_process_with_twice_the_batch(equivalence_job: Path, name: str) -> None:
    reference = single_process(scenario_config(name, batch_size=2 * B))
    for rank in (0, 1):
        result = read(equivalence_job, name, rank)
        assert result["params"].keys() == reference.parameters().keys()  # no "module." prefix
        for key, value in reference.parameters().items():
            assert close(result["params"][key], value), (name, rank, key)
        for record, expected in zip(result["history"], reference.trainer.history, strict=True):
            assert record.keys() == expected.keys()
            assert close([record[k] for k in expected], [expected[k] for k in expected])


@pytest.mark.slow
def test_the_implementation_follows_the_rule(equivalence_job: Path) -> None:
    impls = {name: read(equivalence_job, name, 0)["impl"] for name in SCENARIOS}
    assert impls == {"analytic-sgd": "allreduce", "autograd-sgd-allreduce": "allreduce",
                     "autograd-sgd-ddp": "ddp", "linear-torchsgd-ddp": "ddp"}


@pytest.mark.slow
def test_only_rank_zero_prints_epoch_lines(equivalence_job: Path) -> None:
    lines = read(equivalence_job, "analytic-sgd", 0)["lines"]
    assert [line.split(",")[0] for line in lines] == ["epoch 1", "epoch 2", "epoch 3"]
    assert read(equivalence_job, "analytic-sgd", 1)["lines"] == []


@pytest.mark.slow
def test_resume_from_rank_zeros_state_continues_like_one_process(equivalence_job: Path) -> None:
    reference = single_process(scenario_config("analytic-sgd", batch_size=2 * B))
    for rank in (0, 1):
        result = read(equivalence_job, "resume", rank)
        assert [r["epoch"] for r in result["history"]] == [1, 2, 3]
        for key, value in reference.parameters().items():
            assert close(result["params"][key], value), (rank, key)


# -- sharding, in this process ------------------------------------------------------------
def shares(n: int, world_size: int, batch_size: int, seed: int = 3) -> list[list[list[int]]]:
    """Per rank, the example indices of each of its batches (X holds the indices)."""
    X = torch.arange(n).reshape(n, 1)
    data = TensorData(X, X.float())
    result = []
    for rank in range(world_size):
        sharded = distributed.ShardedDataset(data, rank, world_size)
        generator = torch.Generator().manual_seed(seed)
        result.append([Xb.reshape(-1).tolist() for Xb, _ in sharded.batches(batch_size, generator)])
    return result


def test_every_rank_draws_the_same_order_and_takes_a_disjoint_share() -> None:
    n, world_size = 103, 3
    order = torch.randperm(n, generator=torch.Generator().manual_seed(3)).tolist()  # the Trainer's draw
    per_rank = shares(n, world_size, B)
    assert len({len(batches) for batches in per_rank}) == 1  # same number of steps everywhere
    for step, start in enumerate(range(0, n, world_size * B)):
        global_batch = order[start : start + world_size * B]
        taken = [per_rank[rank][step] for rank in range(world_size)]
        assert sorted(x for t in taken for x in t) == sorted(global_batch)  # disjoint, covering it
        assert [len(t) for t in taken] == distributed.share_sizes(len(global_batch), world_size)


def test_full_global_batches_are_distributed_samplers_shares() -> None:
    n, world_size = 120, 2
    order = torch.randperm(n, generator=torch.Generator().manual_seed(3))
    per_rank = shares(n, world_size, B)
    permuted = TensorDataset(order)
    for rank in range(world_size):
        sampler = DistributedSampler(permuted, num_replicas=world_size, rank=rank, shuffle=False)
        loader = DataLoader(permuted, batch_size=B, sampler=sampler)
        assert [batch.tolist() for (batch,) in loader] == per_rank[rank]


def test_a_last_batch_smaller_than_the_world_gives_a_stand_in_of_weight_zero() -> None:
    X = torch.arange(21).reshape(21, 1).float()
    sharded = distributed.ShardedDataset(TensorData(X, X), 1, 2)
    weights = [sharded.weight for _ in sharded.batches(10, torch.Generator().manual_seed(0))]
    assert weights == [0.5, 0.0]
    assert distributed.share_sizes(7, 2) == [4, 3] and distributed.share_sizes(1, 3) == [1, 0, 0]


def test_the_sharded_dataset_passes_evaluation_and_state_through() -> None:
    X = torch.arange(8).reshape(8, 1).float()
    inner = TensorData(X, X, test=(X[:3], X[:3]))
    sharded = distributed.ShardedDataset(inner, 0, 2)
    assert sharded.tensors("test")[0].shape == (3, 1) and sharded.splits == ("train", "test")
    assert sharded.state_dict() == inner.state_dict() and sharded.num_inputs == 1
    assert sharded.to("cpu") is sharded


# -- bad input ---------------------------------------------------------------------------
DDP_GARBAGE = """
import atexit, gc, os, sys
import torch
from torch.nn.parallel import DistributedDataParallel
from minidl import distributed

def left() -> None:  # runs after minidl's own exit handler (last registered, first run)
    print(sum(isinstance(o, DistributedDataParallel) for o in gc.get_objects()))

atexit.register(left)
os.environ.update(RANK="0", WORLD_SIZE="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=sys.argv[1])

def train() -> list[object]:
    models = [DistributedDataParallel(torch.nn.Linear(2, 1)) for _ in range(2)]
    for model in models:
        model(torch.randn(4, 2)).sum().backward()
    held: list[object] = [*models]
    held.append(held)  # a reference cycle, as a run's trainer and callbacks make: freed only by gc
    return held

with distributed.process_group():
    train()  # garbage (wrappers hold reference cycles) while the group is there
    kept = train()
print(sum(isinstance(o, DistributedDataParallel) for o in gc.get_objects()))
kept.clear()  # garbage after the group is gone, as a finished train_worker's wrapper is
"""


def test_no_ddp_wrapper_lives_on_into_the_interpreters_teardown(tmp_path: Path) -> None:
    # one that does aborts the process there (SIGABRT) in about one 2-rank job in four
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    script = tmp_path / "garbage.py"
    script.write_text(DDP_GARBAGE)
    done = subprocess.run([sys.executable, str(script), str(port)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "0"]  # the garbage collected on leaving, the rest before teardown


def test_ddp_without_a_launcher_says_how_to_launch(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*distributed.LAUNCHER_VARS, "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(minidl.MinidlError, match=r"needs a launcher.*torchrun.*--nproc"):
        distributed.setup()


@pytest.mark.parametrize("value", ["0", "-3", "soon", "nan"])
def test_a_bad_timeout_is_named(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(distributed.TIMEOUT_VAR, value)
    with pytest.raises(minidl.MinidlError, match=f"MINIDL_DDP_TIMEOUT={value!r}"):
        distributed.timeout_seconds()


@pytest.mark.parametrize("nproc", [0, -1, 1.5, True])
def test_nproc_below_one_is_refused(nproc: Any) -> None:
    with pytest.raises(minidl.MinidlError, match=r"--nproc must be an integer >= 1"):
        distributed.launch(nproc, ["train"])


@pytest.mark.parametrize("extra", [1, 10**20])
def test_nproc_beyond_the_machine_is_refused_before_any_process_starts(extra: int,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    import torch.distributed.launcher.api as launcher_api
    from click.testing import CliRunner

    from minidl.cli import create_cli
    launching = importlib.import_module("minidl.distributed.launch")  # the module (the package exports launch())
    started: list[object] = []
    monkeypatch.setattr(launcher_api, "elastic_launch", lambda *args, **kwargs: started.append(args))
    nproc = launching.max_nproc() + extra
    with pytest.raises(minidl.MinidlError, match=rf"^--nproc {nproc} is more processes than this machine runs at "
                                                 rf"once \(\d+ CPU cores\): give 1 to {launching.max_nproc()}$"):
        distributed.launch(nproc, ["train"])
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "")
    result = CliRunner().invoke(create_cli(), ["train", "--nproc", str(nproc)])
    assert result.exit_code == 2 and result.stderr.startswith(f"Error: --nproc {nproc} is more processes"), \
        result.stderr
    assert started == []


def test_worker_argv_drops_nproc_and_sets_the_strategy() -> None:
    argv = ["-p", "x.py", "train", "--nproc", "2", "--epochs", "3", "--strategy=single", "--nproc=4"]
    assert distributed.worker_argv(argv) == ["-p", "x.py", "train", "--strategy", "ddp", "--epochs", "3"]


def test_ddp_is_refused_for_a_model_that_computes_its_own_gradients() -> None:
    model = build(scenario_config("analytic-sgd"), test_plugins()).model
    assert distributed.choose_impl(model) == "allreduce"
    with pytest.raises(minidl.MinidlError, match="computes its own gradients"):
        distributed.choose_impl(model, "ddp")
    with pytest.raises(minidl.MinidlError, match="accepted: auto, ddp, allreduce"):
        distributed.choose_impl(model, "nccl")


# -- faults ------------------------------------------------------------------------------
def fault_config(path: Path) -> RunConfig:
    """DDP run, 100 examples: 5 steps an epoch at 2 x 10, a checkpoint each epoch."""
    config = make_config("tiny-linear", {}, "torch-sgd", {"lr": 0.05}, 100)
    config.callbacks = {"save-each-epoch": {"path": str(path)}}
    return config


def seconds_since_written(path: Path) -> float:
    """How long ago ``path`` was last written."""
    return time.time() - path.stat().st_mtime


@pytest.mark.slow
def test_a_rank_that_crashes_ends_the_job_naming_it_and_the_checkpoint_survives(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAIL_RANK_VAR, "1")
    monkeypatch.setenv(FAIL_STEP_VAR, "7")  # epoch 2, step 2
    monkeypatch.setenv(distributed.TIMEOUT_VAR, "120")  # what ends the job is not the timeout
    messages: list[str] = []
    code = distributed.launch(2, ["fault", str(tmp_path)], program=WORKER, echo=messages.append)
    assert seconds_since_written(tmp_path / "ckpt.pt") < 15  # the epoch-1 checkpoint: just before the crash
    assert code == 1
    assert len(messages) == 1 and messages[0].startswith("Error: rank 1 failed (exit code 1)")
    assert "injected fault on rank 1 at epoch 2, step 2" in messages[0]
    state = torch.load(tmp_path / "ckpt.pt", weights_only=True)
    assert state["epoch"] == 1 and set(state["model"]) == {"weight", "bias"}
    run = build(fault_config(tmp_path / "again.pt"), test_plugins())
    assert [r["epoch"] for r in run.fit(resume=state)] == [1, 2, 3]


@pytest.mark.slow
def test_a_rank_that_hangs_ends_the_job_within_the_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAIL_RANK_VAR, "1")
    monkeypatch.setenv(FAIL_STEP_VAR, "7")
    monkeypatch.setenv(FAIL_MODE_VAR, "hang")
    monkeypatch.setenv(distributed.TIMEOUT_VAR, "3")
    messages: list[str] = []
    code = distributed.launch(2, ["fault", str(tmp_path)], program=WORKER, echo=messages.append)
    assert seconds_since_written(tmp_path / "ckpt.pt") < 3 + 12
    assert code != 0 and messages[0].startswith("Error: rank 0 failed")  # rank 0 timed out waiting


def minidl_train(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """``minidl ARGS`` in a real process with the built-in plugins only (plus ``env``)."""
    full_env = {k: v for k, v in os.environ.items() if k != "MINIDL_DEBUG"} | {"MINIDL_LOAD_PLUGINS": "", **env}
    return subprocess.run([MINIDL, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=300)


@pytest.mark.slow
def test_a_failed_rank_is_one_line_naming_it_and_its_own_error(tmp_path: Path) -> None:
    args = ("-p", str(FAULTS), "train", "--nproc", "2", "--epochs", "3", "--batch-size", "5")
    fault = {FAIL_RANK_VAR: "1", FAIL_STEP_VAR: "3"}
    result = minidl_train(*args, **fault)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1, result.stderr  # the other rank's gloo traceback: not here
    assert result.stderr.startswith("Error: rank 1 failed (exit code 1): "), result.stderr
    assert "RuntimeError: injected fault on rank 1 at epoch 1, step 3" in result.stderr
    assert "the job stopped the other ranks (0)" in result.stderr
    for noise in ("Traceback", "Connection", "To enable traceback"):
        assert noise not in result.stderr
    debug = minidl_train("--debug", *args, **fault)  # everything, for --debug
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and debug.stderr.rstrip().splitlines()[-1].startswith("Error: rank 1 failed")


def test_debug_is_asked_by_the_flag_before_the_subcommand_or_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MINIDL_DEBUG", raising=False)
    assert distributed.debug_requested(["--debug", "-p", "x.py", "train", "--epochs", "2"])
    assert not distributed.debug_requested(["train", "--set", "callback.x.debug=1", "--debug"])
    assert not distributed.debug_requested(["train"])
    monkeypatch.setenv("MINIDL_DEBUG", "0")
    assert not distributed.debug_requested(["train"])
    monkeypatch.setenv("MINIDL_DEBUG", "1")
    assert distributed.debug_requested(["train"])


def test_the_rank_named_is_the_one_that_failed_of_its_own_accord() -> None:
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError, ProcessFailure

    def failure(rank: int, timestamp: int, exitcode: int = 1) -> ProcessFailure:
        found = ProcessFailure(local_rank=rank, pid=100 + rank, exitcode=exitcode, error_file="/nonexistent")
        found.timestamp = timestamp  # no error file: torch's placeholder message
        return found

    error = ChildFailedError("minidl", {0: failure(0, 1), 1: failure(1, 2)})
    stderr = {0: "[rank0]: Traceback (most recent call last):\n[rank0]: RuntimeError: [pair.cc:553] Connection "
                 "reset by peer [127.0.0.1]:585\n",
              1: "Traceback (most recent call last):\n  File ...\nAttributeError: module 'tomllib' has no "
                 "attribute 'loads'\n"}
    code, message = distributed.describe_failure(error, stderr)
    assert (code, message) == (1, "rank 1 failed (exit code 1): AttributeError: module 'tomllib' has no attribute "
                                  "'loads'; the job stopped the other ranks (0)")
    stderr[1] = "Warning: something\nError: callback 'x' from plugin 'y' raised ValueError: no\n"
    assert distributed.describe_failure(error, stderr)[1].startswith(
        "rank 1 failed (exit code 1): callback 'x' from plugin 'y' raised ValueError: no;")
    code, message = distributed.describe_failure(error, {})  # nothing known but the exit codes
    assert message == "rank 0 failed (exit code 1); the job stopped the other ranks (1)"
    assert "To enable traceback" not in message


# -- the working directory is never on a worker's path (issue 14.1) ---------------------------
PLANTED_MODULE = "import pathlib; pathlib.Path(__file__).with_name('PWNED-' + __name__).write_text('ran')\n"


def plant(folder: Path) -> Path:
    """A hostile working directory: a ``tomllib.py`` shadowing the standard module and a
    ``*.dist-info`` whose ``minidl`` entry point is a plugin module there; each, if ever
    imported, writes ``PWNED-<module>`` beside itself. Returns a TOML config to train with."""
    (folder / "tomllib.py").write_text(PLANTED_MODULE)
    (folder / "evil_plugin.py").write_text(PLANTED_MODULE)
    info = folder / "evil-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n\n")
    (info / "entry_points.txt").write_text("[minidl]\nevil = evil_plugin\n")
    config = folder / "run.toml"  # reading it imports tomllib in every process
    config.write_text("[train]\nepochs = 1\nbatch_size = 5\n")
    return config


def test_the_planted_files_do_run_where_the_working_directory_is_on_the_path(tmp_path: Path) -> None:
    plant(tmp_path)  # the control: `python -m minidl.cli` (the old worker command) imports both
    subprocess.run([sys.executable, "-m", "minidl.cli", "plugins"], cwd=tmp_path, capture_output=True,
                   env={**os.environ, "MINIDL_LOAD_PLUGINS": "evil"}, timeout=120)
    subprocess.run([sys.executable, "-c", "import tomllib"], cwd=tmp_path, timeout=60)
    assert {p.name for p in tmp_path.glob("PWNED-*")} == {"PWNED-evil_plugin", "PWNED-tomllib"}


@pytest.mark.slow
@pytest.mark.parametrize("nproc", [None, "2"], ids=["single-process", "nproc-2"])
def test_nothing_in_the_working_directory_runs(tmp_path: Path, nproc: str | None) -> None:
    config = plant(tmp_path)
    result = subprocess.run([MINIDL, "train", "--config", str(config), *(["--nproc", nproc] if nproc else [])],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={k: v for k, v in os.environ.items() if not k.startswith("MINIDL_")})
    assert result.returncode == 0, result.stderr
    assert "epoch 1" in result.stdout
    assert not list(tmp_path.glob("PWNED-*")), result.stderr


def test_workers_start_with_the_working_directory_off_their_path() -> None:
    command = distributed.worker_command()
    assert command[:2] == [sys.executable, "-P"] and command[-2:] == ["-m", "minidl.cli"]


@pytest.mark.slow
def test_ddp_carries_a_stateful_models_state_like_one_process(tmp_path: Path) -> None:
    """Under DDP the state methods stay visible (state carried) and gradients still synchronise."""
    messages: list[str] = []
    assert distributed.launch(2, ["stateful", str(tmp_path)], program=WORKER, echo=messages.append) == 0, messages
    ranks = [read(tmp_path, "stateful", rank) for rank in (0, 1)]
    assert ranks[0]["impl"] == "StatefulDataParallelModule"
    carried, fresh = stateful_run(2 * B, carried=True), stateful_run(2 * B, carried=False)
    carried.fit()
    fresh.fit()
    expected = carried.parameters()
    assert not all(close(fresh.parameters()[name], value) for name, value in expected.items())  # the state counts
    for rank in ranks:
        assert rank["params"].keys() == expected.keys()
        assert all(close(rank["params"][name], value) for name, value in expected.items())
        assert close([r["loss"] for r in rank["history"]], [r["loss"] for r in carried.trainer.history])


# -- the workers -----------------------------------------------------------------------------
def _write(out: Path, name: str, rank: int, run: Any, impl: str, lines: list[str]) -> None:
    result = {"params": run.parameters(), "history": run.trainer.history.records, "impl": impl, "lines": lines}
    (out / f"{name}-rank{rank}.json").write_text(json.dumps(result))


def _equivalence_worker(out: Path) -> None:
    plugins = test_plugins()
    with distributed.process_group() as ctx:
        for name in SCENARIOS:
            lines: list[str] = []
            impl = SCENARIOS[name][-1]
            run = build(scenario_config(name), plugins, verbose=True, echo=lines.append)
            chosen = distributed.choose_impl(run.model, impl)
            run = distributed.make_data_parallel(run, ctx, impl=impl)
            run.fit()
            _write(out, name, ctx.rank, run, chosen, lines)
        first = distributed.make_data_parallel(build(scenario_config("analytic-sgd", epochs=1), plugins), ctx)
        first.fit()
        state = first.trainer.state_dict() if ctx.is_rank_zero else None  # rank 0 only
        run = distributed.make_data_parallel(build(scenario_config("analytic-sgd"), plugins), ctx)
        run.fit(resume=ctx.broadcast(state))
        _write(out, "resume", ctx.rank, run, "allreduce", [])


def stateful_run(batch_size: int, carried: bool, plugins: minidl.Plugins | None = None) -> minidl.run.Run:
    """A 100-example regression (full batches only) for TinyRecurrent, its state carried or not."""
    config = make_config("tiny-recurrent", {}, "torch-sgd", {"lr": 0.1}, 100, batch_size, epochs=2)
    run = build(config, plugins or test_plugins())
    run.dataset.carries_state = carried  # as consecutive sampling declares it
    return run


def _stateful_worker(out: Path) -> None:
    with distributed.process_group() as ctx:
        run = distributed.make_data_parallel(stateful_run(B, carried=True), ctx)
        run.fit()
        _write(out, "stateful", ctx.rank, run, type(run.model).__name__, [])


def _fault_worker(out: Path) -> None:
    plugins = test_plugins()
    plugins.load_named([str(FAULTS)])  # what MINIDL_DDP_FAIL_* ask for
    distributed.train_worker(fault_config(out / "ckpt.pt"), plugins, verbose=False)


if __name__ == "__main__":
    mode, folder = sys.argv[1], Path(sys.argv[2])
    {"equivalence": _equivalence_worker, "fault": _fault_worker, "stateful": _stateful_worker}[mode](folder)
