"""minidl.run.build: a factory that raises while building is named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import minidl
from minidl.cli import create_cli
from minidl.config import RunConfig
from minidl.errors import ComponentFailedError, MinidlError
from minidl.memory import allocation_failure
from minidl.run import build

FAILING = '''
from minidl import hookimpl

def broken(num_inputs: int | None = None, num_outputs: int | None = None):
    """A model whose factory raises."""
    raise ValueError("cannot make it")

def greedy(num_inputs: int | None = None, num_outputs: int | None = None):
    """A model too big for the machine (torch's own words)."""
    raise RuntimeError("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                       "you tried to allocate 4000000000000 bytes. Error code 12 (Cannot allocate memory)")

def badloss():
    """A loss whose factory raises."""
    raise TypeError("nope")

@hookimpl
def register_models(register):
    register("broken", broken)
    register("greedy", greedy)

@hookimpl
def register_losses(register):
    register("badloss", badloss)
'''


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "")
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    path = tmp_path / "failing.py"
    path.write_text(FAILING)
    return str(path)


def test_a_factory_that_raises_is_named_with_its_plugin(plugin: str) -> None:
    plugins = minidl.load_plugins([plugin], entry_points=False)
    config = RunConfig()
    config.model.name = "broken"
    with pytest.raises(ComponentFailedError, match=r"^building model 'broken' from plugin '.*failing\.py' raised "
                                                   r"ValueError: cannot make it$") as info:
        build(config, plugins)
    assert isinstance(info.value.__cause__, ValueError)


def test_a_factory_out_of_memory_says_what_it_tried_and_what_the_machine_has(plugin: str) -> None:
    plugins = minidl.load_plugins([plugin], entry_points=False)
    config = RunConfig()
    config.model.name = "greedy"
    with pytest.raises(MinidlError, match=r"^model 'greedy' from plugin '.*' cannot be built with these options: it "
                                          r"tried to allocate 4\.0 TB but this machine has .* available; choose "
                                          r"smaller sizes$"):
        build(config, plugins)


@pytest.mark.parametrize(("args", "code", "line"), [
    (["--model", "broken"], 1, "Error: building model 'broken' from plugin '{p}' raised ValueError: cannot make it"),
    (["--loss", "badloss"], 1, "Error: building loss 'badloss' from plugin '{p}' raised TypeError: nope"),
    (["--model", "greedy"], 2, "Error: model 'greedy' from plugin '{p}' cannot be built with these options: it "
                               "tried to allocate 4.0 TB but this machine has "),
])
def test_the_command_line_prints_one_line(plugin: str, args: list[str], code: int, line: str) -> None:
    result = CliRunner().invoke(create_cli(), ["-p", plugin, "train", *args])
    assert result.exit_code == code, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(line.format(p=plugin)), result.stderr
    debug = CliRunner().invoke(create_cli(), ["--debug", "-p", plugin, "train", *args])
    assert ("Traceback" in debug.stderr) == (code == 1)  # the original error's traceback with --debug
    assert debug.stderr.splitlines()[-1].startswith(line.format(p=plugin)) and debug.exit_code == code
    for bad in (["--lr", "abc"], ["--epochs", "-1"]):  # bad input has nothing under it: one line still
        typo = CliRunner().invoke(create_cli(), ["--debug", "train", *bad])
        assert typo.exit_code == 2 and typo.stderr.count("\n") == 1, typo.stderr


def test_allocation_failure_reads_memory_errors_only() -> None:
    assert allocation_failure(MemoryError(), available=2 * 10**9) == \
        "it ran out of memory but this machine has 2.0 GB available"
    assert allocation_failure(RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), available=10**9) == \
        "it ran out of memory but this machine has 1.0 GB available"
    assert allocation_failure(RuntimeError("shapes do not match")) is None
    assert allocation_failure(ValueError("can't allocate memory")) is None


NOT_COMPONENTS = '''
from minidl import hookimpl

def nothing(num_inputs: int | None = None, num_outputs: int | None = None):
    """Returns None."""

def no_optimizer(params):
    """Returns None."""

@hookimpl
def register_datasets(register):
    register("nothing", nothing)

@hookimpl
def register_models(register):
    register("nothing", nothing)

@hookimpl
def register_losses(register):
    register("nothing", nothing)

@hookimpl
def register_optimizers(register):
    register("nothing", no_optimizer)
'''


@pytest.mark.parametrize(("kind", "lacks"), [("dataset", "batches, tensors"), ("model", "__call__, parameters"),
                                             ("loss", "__call__"), ("optimizer", "step, zero_grad")])
def test_a_factory_returning_no_component_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str,
                                                   lacks: str) -> None:
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "")
    path = tmp_path / "nothing.py"
    path.write_text(NOT_COMPONENTS)
    result = CliRunner().invoke(create_cli(), ["-p", str(path), "train", f"--{kind}", "nothing"])
    article = "an" if kind == "optimizer" else "a"
    assert result.exit_code == 1, result.stderr
    assert result.stderr == (f"Error: {kind} 'nothing' from plugin '{path}' returned NoneType, which is not {article} "
                             f"{kind}: it lacks {lacks} (see minidl.interfaces.{kind.capitalize()})\n")
