"""Plugin discovery and loading: defaults, entry points, named plugins, failures.

In-process tests build throwaway distributions (a ``.dist-info`` with entry points next
to a module) on ``sys.path``; the ``slow`` tests pip-install the fixture distributions in
``tests/fixtures/`` and use them from a subprocess, as a user would.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import uuid
import warnings
from pathlib import Path
from typing import Any

import click
import pytest

import minidl
from minidl import hookimpl
from minidl.errors import PluginError
from minidl.plugins import DEFAULT_PLUGINS, PluginFailure, PluginLoadWarning, load_plugins

FIXTURES = Path(__file__).resolve().parent / "fixtures"

REGISTERS_A_MODEL = '''
from minidl import hookimpl


def {factory}(width: int = 3):
    """A model from a test plugin.

    Args:
        width: a number
    """
    return ("{name}", width)


@hookimpl
def register_models(register):
    register("{name}", {factory})
'''


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No MINIDL_* variables from outside."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    monkeypatch.delenv("MINIDL_LOAD_PLUGINS", raising=False)
    return monkeypatch


@pytest.fixture
def make_module(tmp_path: Path, clean_env: pytest.MonkeyPatch):
    """Write a uniquely named module on sys.path; return its name. Removed afterwards."""
    made: list[str] = []
    clean_env.syspath_prepend(str(tmp_path))

    def make(source: str, prefix: str = "plugin") -> str:
        name = f"minidl_test_{prefix}_{uuid.uuid4().hex[:8]}"
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source), encoding="utf-8")
        made.append(name)
        return name

    yield make
    for name in made:
        sys.modules.pop(name, None)


@pytest.fixture
def make_distribution(tmp_path: Path, make_module):
    """An installed distribution: a module plus a dist-info naming it as a ``minidl`` entry point."""

    def make(entry_point: str, source: str, dist: str = "minidl-test-dist", version: str = "1.2.3") -> str:
        module = make_module(source, prefix=entry_point)
        info = tmp_path / f"{dist.replace('-', '_')}_{module[-8:]}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[minidl]\n{entry_point} = {module}\n")
        return module

    return make


def model_plugin(name: str) -> str:
    return REGISTERS_A_MODEL.format(name=name, factory=name.replace("-", "_"))


# -- discovery order ----------------------------------------------------------------------------
def test_discovery_order_defaults_then_entry_points_then_explicit(make_distribution, make_module,
                                                                  tmp_path, clean_env):
    make_distribution("installed", model_plugin("installed-model"))
    from_env = make_module(model_plugin("env-model"))
    local = tmp_path / "local_plugin.py"
    local.write_text(model_plugin("local-model"))
    clean_env.setenv("MINIDL_LOAD_PLUGINS", "installed")
    clean_env.setenv("MINIDL_PLUGINS", from_env)
    plugins = load_plugins(extra=[str(local)])
    names = [info.name for info in plugins.info()]
    assert names == [*DEFAULT_PLUGINS, "installed", from_env, str(local)]
    registry = plugins.registry
    assert registry.get("model", "installed-model").plugin == "installed"
    assert registry.get("model", "env-model").plugin == from_env
    assert registry.get("model", "local-model").plugin == str(local)
    assert registry.build("model", "local-model", {"width": "5"}) == ("local-model", 5)


def test_info_reports_distributions_versions_and_hooks(make_distribution, clean_env):
    make_distribution("installed", model_plugin("installed-model"), dist="minidl-thing", version="0.4")
    clean_env.setenv("MINIDL_LOAD_PLUGINS", "installed")
    plugins = load_plugins()
    infos = {info.name: info for info in plugins.info()}
    assert (infos["installed"].distribution, infos["installed"].version) == ("minidl-thing", "0.4")
    assert infos["installed"].hooks == ("register_models",)
    notebook = infos["minidl.default_plugins.notebook"]
    assert (notebook.distribution, notebook.version) == ("minidl", minidl.__version__)
    assert {"register_datasets", "register_models", "register_losses", "register_optimizers"} <= set(
        notebook.hooks
    )
    assert plugins.distribution("installed") == "minidl-thing"
    assert plugins.distribution("minidl.default_plugins.notebook") is None


# -- named plugins ------------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["extra", "MINIDL_PLUGINS"])
def test_local_file_plugin(tmp_path, clean_env, how):
    path = tmp_path / "my_models.py"
    path.write_text(model_plugin("file-model"))
    if how == "extra":
        plugins = load_plugins(extra=[str(path)], entry_points=False)
    else:
        clean_env.setenv("MINIDL_PLUGINS", f" {path} ,")
        plugins = load_plugins(entry_points=False)
    assert plugins.registry.build("model", "file-model") == ("file-model", 3)


@pytest.mark.parametrize("how", ["extra", "MINIDL_PLUGINS"])
def test_module_name_plugin(make_module, clean_env, how):
    first, second = make_module(model_plugin("first-model")), make_module(model_plugin("second-model"))
    if how == "extra":
        plugins = load_plugins(extra=[first, second, first], entry_points=False)
    else:
        clean_env.setenv("MINIDL_PLUGINS", f"{first},{second}")
        plugins = load_plugins(entry_points=False)
    assert {"first-model", "second-model"} <= set(plugins.registry.names("model"))


@pytest.mark.parametrize("spec", ["minidl_no_such_module_xyz", "no/such/file.py", "missing.py"])
def test_named_plugin_that_cannot_load_raises_naming_it(clean_env, spec):
    with pytest.raises(PluginError, match=f"plugin '{spec}' failed to load"):
        load_plugins(extra=[spec], entry_points=False)


def test_named_plugin_that_raises_at_import(tmp_path, clean_env):
    path = tmp_path / "bad.py"
    path.write_text("raise RuntimeError('boom at import')\n")
    with pytest.raises(PluginError, match=r"bad\.py' failed to load: RuntimeError: boom at import"):
        load_plugins(extra=[str(path)], entry_points=False)


# -- MINIDL_LOAD_PLUGINS -----------------------------------------------------------------------------
def _two_installed(make_distribution) -> None:
    make_distribution("alpha", model_plugin("alpha-model"))
    make_distribution("beta", model_plugin("beta-model"))


def test_load_plugins_allowlist(make_distribution, clean_env):
    _two_installed(make_distribution)
    clean_env.setenv("MINIDL_LOAD_PLUGINS", "beta, nothing-called-this")
    with pytest.warns(PluginLoadWarning, match="'nothing-called-this'.*no installed distribution provides it"):
        plugins = load_plugins()
    names = plugins.registry.names("model")
    assert "beta-model" in names and "alpha-model" not in names
    assert [info.name for info in plugins.info()] == [*DEFAULT_PLUGINS, "beta"]


def test_load_plugins_empty_loads_none(make_distribution, clean_env):
    _two_installed(make_distribution)
    clean_env.setenv("MINIDL_LOAD_PLUGINS", "")
    plugins = load_plugins()
    assert [info.name for info in plugins.info()] == list(DEFAULT_PLUGINS)


def test_load_plugins_unset_loads_every_installed_plugin(make_distribution, clean_env):
    _two_installed(make_distribution)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginLoadWarning)  # other installed plugins are not ours to judge
        plugins = load_plugins()
    names = [info.name for info in plugins.info()]
    assert {"alpha", "beta"} <= set(names)
    assert names[: len(DEFAULT_PLUGINS)] == list(DEFAULT_PLUGINS)


def test_entry_points_false_loads_none(make_distribution, clean_env):
    _two_installed(make_distribution)
    assert [info.name for info in load_plugins(entry_points=False).info()] == list(DEFAULT_PLUGINS)


# -- invalid and failing plugins ----------------------------------------------------------------------
MISSPELLED = '''
from minidl import hookimpl

@hookimpl
def register_model(register):
    register("never", lambda: None)
'''


def test_misspelled_hook_in_a_named_plugin_is_an_error(tmp_path, clean_env):
    path = tmp_path / "misspelled.py"
    path.write_text(MISSPELLED)
    with pytest.raises(PluginError, match=r"plugin '.*misspelled\.py' is invalid.*register_model"):
        load_plugins(extra=[str(path)], entry_points=False)


def test_misspelled_or_misdeclared_hook_on_register_is_an_error():
    class Misspelled:
        @hookimpl
        def on_epoch_ends(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
            """Not a hook."""

    class WrongArguments:
        @hookimpl
        def on_epoch_end(self, trainer: Any, epoch: int, record: dict[str, Any]) -> None:
            """``record`` is not an argument of the spec."""

    plugins = load_plugins(entry_points=False)
    for plugin, word in ((Misspelled(), "on_epoch_ends"), (WrongArguments(), "record")):
        with pytest.raises(PluginError, match=word):
            plugins.register(plugin, name="bad")
        assert not plugins.manager.is_registered(plugin)
    assert plugins.registry.names("model") == ["linreg"]


def test_a_misspelled_hook_suggests_the_right_name_and_shows_no_object_repr(tmp_path, clean_env):
    path = tmp_path / "misspelled.py"
    path.write_text(MISSPELLED)
    with pytest.raises(PluginError) as caught:
        load_plugins(extra=[str(path)], entry_points=False)
    assert "'register_model' is not a minidl hook; did you mean 'register_models'?" in str(caught.value)
    assert "<module" not in str(caught.value) and " at 0x" not in str(caught.value)

    class Callback:
        @hookimpl
        def on_epoch_ends(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
            """Not a hook."""

    with pytest.raises(PluginError) as caught:
        load_plugins(entry_points=False).register(Callback())
    assert str(caught.value) == ("plugin 'Callback' is invalid: 'on_epoch_ends' is not a minidl hook; "
                                 "did you mean 'on_epoch_end'?")


def test_an_invalid_callback_is_named_by_its_class_never_an_object_repr():
    from minidl.config import RunConfig
    from minidl.run import build

    class LogsRecords:
        @hookimpl
        def on_epoch_end(self, trainer: Any, epoch: int, record: dict[str, Any]) -> None:
            """``record`` is not an argument of the spec."""

    run = build(RunConfig(), load_plugins(entry_points=False))
    run.trainer.callbacks.append(LogsRecords())
    with pytest.raises(PluginError) as caught:
        run.fit()
    message = str(caught.value)
    assert message.startswith("callback 'LogsRecords' is invalid: hook 'on_epoch_end': ")
    assert "'record'" in message and " at 0x" not in message and "<" not in message


def test_an_object_plugin_is_named_by_its_class():
    class Clipper:
        @hookimpl
        def on_fit_start(self, trainer: Any) -> None:
            """Anything."""

    plugins = load_plugins(entry_points=False)
    assert [plugins.register(Clipper()), plugins.register(Clipper())] == ["Clipper", "Clipper-2"]


UNDECORATED = '''
def register_losses(register):
    register("never", lambda: None)

def register_model(register):
    register("never", lambda: None)
'''


def test_hook_problems_name_undecorated_and_misspelled_hooks(make_module):
    import importlib

    from minidl.plugins import hook_problems

    module = importlib.import_module(make_module(UNDECORATED))
    assert hook_problems(module) == [
        "'register_losses' lacks the @hookimpl decorator, so minidl never calls it",
        "'register_model' is not a minidl hook; did you mean 'register_models'?",
    ]
    from minidl.default_plugins import callbacks

    assert hook_problems(callbacks) == []


def test_minidl_plugins_marks_a_plugin_that_registers_nothing(tmp_path, clean_env):
    from click.testing import CliRunner

    from minidl.cli import create_cli

    path = tmp_path / "undecorated.py"
    path.write_text(UNDECORATED)
    clean_env.setenv("MINIDL_LOAD_PLUGINS", "")
    result = CliRunner().invoke(create_cli(), ["-p", str(path), "plugins"])
    assert result.exit_code == 0, result.output
    block = result.stdout.split(str(path))[1]
    assert "registers nothing: 'register_losses' lacks the @hookimpl decorator" in block
    assert "did you mean 'register_models'?" in block
    assert "registers nothing" not in result.stdout.split(str(path))[0]  # the defaults register things
    rows = json.loads(CliRunner().invoke(create_cli(), ["-p", str(path), "plugins", "--json"]).stdout)
    assert [row["registers_nothing"] for row in rows] == [False] * (len(rows) - 1) + [True]


def test_misspelled_hook_in_an_installed_plugin_is_recorded(make_distribution, clean_env):
    make_distribution("typo", MISSPELLED, dist="minidl-typo")
    clean_env.setenv("MINIDL_LOAD_PLUGINS", "typo")
    with pytest.warns(PluginLoadWarning, match="typo"):
        plugins = load_plugins()
    (failure,) = plugins.failures
    assert failure.name == "typo" and "register_model" in str(failure.error)


class RaisesInRegister:
    @hookimpl
    def register_models(self, register: Any) -> None:
        raise RuntimeError("cannot reach the model zoo")

    @hookimpl
    def register_losses(self, register: Any) -> None:
        register("from-broken", lambda: None)


def test_plugin_whose_register_hook_raises_is_recorded_and_the_rest_load(clean_env):
    plugins = load_plugins(entry_points=False)
    plugins.register(RaisesInRegister(), name="zoo")
    with pytest.warns(PluginLoadWarning, match="plugin 'zoo' failed to load: RuntimeError: cannot reach"):
        registry = plugins.registry
    (failure,) = plugins.failures
    assert failure.name == "zoo" and isinstance(failure.error, RuntimeError)
    assert "linreg" in registry.names("model") and "sgd" in registry.names("optimizer")
    assert "from-broken" not in registry.names("loss")  # a broken plugin registers nothing more


def test_installed_plugin_that_fails_to_import_is_recorded(make_distribution, clean_env):
    make_distribution("broken", "raise ImportError('needs the package not_installed_dep')\n",
                      dist="minidl-broken", version="0.9")
    make_distribution("fine", model_plugin("fine-model"))
    clean_env.setenv("MINIDL_LOAD_PLUGINS", "broken,fine")
    with pytest.warns(PluginLoadWarning) as caught:
        plugins = load_plugins()
    message = str(caught[0].message)
    assert message == ("plugin 'broken' (from minidl-broken) failed to load: "
                       "ImportError: needs the package not_installed_dep")
    assert plugins.failures == [plugins.failures[0]]
    failure = plugins.failures[0]
    assert isinstance(failure, PluginFailure) and isinstance(failure.error, ImportError)
    assert (failure.name, failure.distribution) == ("broken", "minidl-broken")
    assert "fine-model" in plugins.registry.names("model")
    assert "broken" not in [info.name for info in plugins.info()]
    from minidl.config import RunConfig
    from minidl.run import build

    run = build(RunConfig(), plugins)
    run.trainer.max_epochs = 1
    assert run.fit()[-1]["loss"] < 1


# -- a plugin providing every kind of component ----------------------------------------------------
class EveryKind:
    """A plugin registering one component of each kind, all used by name below."""

    def __init__(self) -> None:
        self.epochs_seen: list[int] = []

    @hookimpl
    def register_datasets(self, register: Any) -> None:
        def line(num_examples: int = 40) -> Any:
            """Points on y = 3x + 1.

            Args:
                num_examples: how many
            """
            import torch

            from minidl.adapters import TensorData

            X = torch.linspace(-1, 1, num_examples).reshape(-1, 1)
            data = TensorData(X, 3 * X + 1)
            data.num_outputs = 1
            return data

        register("line", line)

    @hookimpl
    def register_models(self, register: Any) -> None:
        def affine(num_inputs: int | None = None, num_outputs: int | None = None) -> Any:
            """An affine map."""
            from torch import nn

            return nn.Linear(num_inputs, num_outputs)

        register("affine", affine)

    @hookimpl
    def register_losses(self, register: Any) -> None:
        def half_squared() -> Any:
            """(y_hat - y)**2 / 2 per example."""
            from minidl.d2l import squared_loss

            return squared_loss

        register("half-squared", half_squared)

    @hookimpl
    def register_optimizers(self, register: Any) -> None:
        def plain_sgd(params: Any, lr: float = 0.1) -> Any:
            """torch's SGD.

            Args:
                lr: learning rate
            """
            import torch

            return torch.optim.SGD(params, lr=lr)

        register("plain-sgd", plain_sgd)

    @hookimpl
    def register_metrics(self, register: Any) -> None:
        class MaxError:
            higher_is_better = False

            def __call__(self, y_hat: Any, y: Any) -> float:
                return float((y_hat - y.reshape(y_hat.shape)).abs().max())

        register("max-error", MaxError)

    @hookimpl
    def register_callbacks(self, register: Any) -> None:
        plugin = self

        class Counter:
            @hookimpl
            def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
                plugin.epochs_seen.append(epoch)

        def count_epochs() -> Counter:
            """Count the epochs."""
            return Counter()

        register("count-epochs", count_epochs)


def test_a_plugin_can_provide_every_kind_of_component(clean_env):
    from minidl.config import ComponentConfig, RunConfig
    from minidl.run import build

    plugins = load_plugins(entry_points=False)
    plugin = EveryKind()
    plugins.register(plugin, name="every-kind")
    cfg = RunConfig()
    cfg.dataset, cfg.model = ComponentConfig("line", {"num_examples": 30}), ComponentConfig("affine")
    cfg.loss, cfg.optimizer = ComponentConfig("half-squared"), ComponentConfig("plain-sgd", {"lr": 0.5})
    cfg.train.epochs, cfg.train.metrics = 20, ["max-error"]
    cfg.callbacks = {"count-epochs": {}}
    run = build(cfg, plugins)
    history = run.fit()
    assert plugin.epochs_seen == list(range(1, 21))
    assert history[-1]["max-error"] < 0.05 and history[-1]["max-error"] < history[0]["max-error"]
    assert {c.plugin for c in plugins.registry if c.name in {"line", "affine", "plain-sgd"}} == {"every-kind"}


# -- register_commands ------------------------------------------------------------------------------
class AddsCommand:
    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        @cli.command()
        def hello() -> None:
            """Say hello."""
            click.echo("hello from a plugin")


class FailsToAddCommand:
    @hookimpl
    def register_commands(self, cli: click.Group) -> None:
        raise RuntimeError("no commands today")


def test_register_commands_adds_subcommands_and_records_failures(clean_env):
    from click.testing import CliRunner

    plugins = load_plugins(entry_points=False)
    plugins.register(AddsCommand(), name="adds")
    plugins.register(FailsToAddCommand(), name="fails")
    group = click.Group("minidl")
    with pytest.warns(PluginLoadWarning, match="plugin 'fails' failed to load: RuntimeError: no commands"):
        plugins.add_commands(group)
    assert "hello" in group.commands
    result = CliRunner().invoke(group, ["hello"])
    assert result.exit_code == 0 and result.output == "hello from a plugin\n"
    assert [f.name for f in plugins.failures] == ["fails"]


def test_implemented_tells_which_hooks_have_implementations(clean_env):
    plugins = load_plugins(entry_points=False)
    assert plugins.implemented("register_models")
    assert not plugins.implemented("on_batch_end")
    plugins.register(AddsCommand(), name="adds")
    assert plugins.implemented("register_commands")


# -- real distributions, pip-installed -----------------------------------------------------------------
@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture distributions, pip-installed into a folder to put on PYTHONPATH."""
    root = tmp_path_factory.mktemp("dists")
    target = root / "site"
    sources = []
    for name in ("minidl-tiny-plugin", "minidl-broken-plugin"):
        shutil.copytree(FIXTURES / name, root / name)  # builds write into the source tree
        sources.append(str(root / name))
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--no-compile", "--target", str(target), *sources],
        check=True, capture_output=True, text=True, timeout=300,
    )
    return target


TRAIN_TINY = """
import json
import re
import minidl
from minidl.config import ComponentConfig, RunConfig
from minidl.run import build

plugins = minidl.load_plugins()
cfg = RunConfig()
cfg.model = ComponentConfig("tiny-linear", {"bias": "true"})
run = build(cfg, plugins)
history = run.fit()
print(json.dumps({
    "models": plugins.registry.names("model"),
    "plugin": plugins.registry.get("model", "tiny-linear").plugin,
    "distribution": plugins.distribution("tiny"),
    "failures": [str(f) for f in plugins.failures],
    "loss": history[-1]["loss"],
    "params": run.parameters(),
}))
"""


def _run_with(target: Path, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MINIDL_")}
    environment.update(PYTHONPATH=str(target), **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          env=environment, cwd=target)


@pytest.mark.slow
def test_pip_installed_plugin_is_found_and_trained_by_name(installed):
    result = _run_with(installed, TRAIN_TINY, MINIDL_LOAD_PLUGINS="tiny")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert "tiny-linear" in out["models"] and out["plugin"] == "tiny"
    assert out["distribution"] == "minidl-tiny-plugin" and out["failures"] == []
    assert out["loss"] < 1e-4
    assert out["params"]["weight"] == pytest.approx([2.0, -3.4], abs=0.01)
    assert out["params"]["bias"] == pytest.approx(4.2, abs=0.01)


BROKEN = """
import json
import re
import warnings
import minidl
from minidl.config import RunConfig
from minidl.plugins import PluginLoadWarning
from minidl.run import build

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    plugins = minidl.load_plugins()
run = build(RunConfig(), plugins)
print(json.dumps({
    "failures": [[f.name, f.distribution, type(f.error).__name__, str(f.error)] for f in plugins.failures],
    "warnings": [str(w.message) for w in caught if issubclass(w.category, PluginLoadWarning)],
    "models": plugins.registry.names("model"),
    "loss": run.fit()[-1]["loss"],
}))
"""


@pytest.mark.slow
def test_pip_installed_plugin_failing_at_import_is_named_and_the_rest_work(installed):
    result = _run_with(installed, BROKEN, MINIDL_LOAD_PLUGINS="broken,tiny")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["failures"] == [["broken", "minidl-broken-plugin", "ImportError",
                                "minidl_broken_plugin needs the package 'not_installed_dependency'"]]
    assert out["warnings"] == [
        "plugin 'broken' (from minidl-broken-plugin) failed to load: ImportError: "
        "minidl_broken_plugin needs the package 'not_installed_dependency'"
    ]
    assert {"linreg", "tiny-linear"} <= set(out["models"])
    assert out["loss"] < 1e-4


# -- what a plugin does wrong, found by sweeping hostile plugins ------------------------------------
def test_a_named_plugin_that_calls_sys_exit_at_import_is_named(tmp_path, clean_env):
    """SystemExit is no Exception: minidl ended with the plugin's exit code and no word."""
    path = tmp_path / "exits.py"
    path.write_text("import sys\nsys.exit(3)\n")
    with pytest.raises(PluginError, match=r"exits\.py' failed to load: SystemExit: 3$"):
        load_plugins(extra=[str(path)], entry_points=False)


def test_an_installed_plugin_that_calls_sys_exit_is_recorded_and_the_rest_load(make_distribution, clean_env):
    make_distribution("exits", "import sys\nsys.exit(3)\n", dist="minidl-exits")
    clean_env.setenv("MINIDL_LOAD_PLUGINS", "exits")
    with pytest.warns(PluginLoadWarning, match=r"^plugin 'exits' \(from minidl-exits\) failed to load: SystemExit: 3$"):
        plugins = load_plugins()
    assert "linreg" in plugins.registry.names("model")


@pytest.mark.parametrize("spec, message", [
    ("", "failed to load: ValueError: an empty name; give a module name or the path of a .py file"),
    ("{tmp}", "failed to load: IsADirectoryError: {tmp} is a directory; give a .py file, or the package's module"),
])
def test_a_named_plugin_that_is_empty_or_a_directory_says_so(tmp_path, clean_env, spec, message):
    """'' was 'ValueError: Empty module name'; a directory 'no such file'."""
    spec, message = spec.format(tmp=tmp_path), message.format(tmp=tmp_path)
    with pytest.raises(PluginError, match=re.escape(message)):
        load_plugins(extra=[spec], entry_points=False)


@pytest.mark.parametrize("registration, message", [
    ('register_models(register):\n    register(3, lambda: None)',
     "failed to register its models: ValueError: a model name must be a string, got int 3"),
    ('register_models(register):\n    register("", lambda: None)',
     "failed to register its models: ValueError: model name '' cannot be typed on the command line"),
    ('register_models(register):\n    register("two words", lambda: None)',
     "model name 'two words' cannot be typed on the command line: give a non-empty name without spaces, '=' or ','"),
    ('register_callbacks(register):\n    register("my.callback", lambda: None)',
     "callback name 'my.callback' cannot be typed on the command line: give a non-empty name without spaces, "
     "'=', ',' or '.'"),
    ('register_models(register):\n    register("forty-two", 42)',
     "failed to register its models: TypeError: model 'forty-two': the factory must be a function or class that "
     "builds the model, got int 42"),
])
def test_a_name_or_factory_that_cannot_be_used_is_named_with_its_plugin(tmp_path, clean_env, registration, message):
    """register(3, ...) was a TypeError traceback from sorting the names, in every command."""
    path = tmp_path / "badnames.py"
    path.write_text(f"from minidl import hookimpl\n\n@hookimpl\ndef {registration}\n")
    plugins = load_plugins(extra=[str(path)], entry_points=False)
    with pytest.raises(PluginError, match=f"^plugin '{re.escape(str(path))}' .*{re.escape(message)}"):
        plugins.registry  # noqa: B018  # the registry is filled on first use


def test_an_installed_plugin_taking_a_name_another_has_is_left_out_with_a_warning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One installed duplicate stopped every command, `minidl plugins` and `list` too."""
    from click.testing import CliRunner

    from minidl import plugins as plugins_module
    from minidl.cli import create_cli
    from minidl.entry_points import EntryPoint

    source = ("from minidl import hookimpl\n\ndef net(width: int = {width}):\n    '''A net.'''\n\n"
              "@hookimpl\ndef register_datasets(register):\n    register('data-{width}', net)\n\n"
              "@hookimpl\ndef register_models(register):\n    register('small-net', net)\n")
    for module, width in (("dupe_first", 1), ("dupe_second", 2)):
        (tmp_path / f"{module}.py").write_text(source.format(width=width))
    monkeypatch.syspath_prepend(str(tmp_path))
    found = [EntryPoint("first", "dupe_first", "minidl-first", "1.0"),
             EntryPoint("second", "dupe_second", "minidl-second", "1.0")]
    monkeypatch.setattr(plugins_module, "entry_points", lambda group: found)
    monkeypatch.delenv("MINIDL_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    with pytest.warns(PluginLoadWarning, match=r"plugin 'second' \(from minidl-second\) failed to load: PluginError: "
                      r"model 'small-net' is registered twice: by plugin 'first' and by plugin 'second'; the first "
                      r"keeps it \(uninstall one, or load only some with MINIDL_LOAD_PLUGINS=NAME,\.\.\.\)"):
        registry = load_plugins().registry
    assert registry.get("model", "small-net").plugin == "first"
    assert "data-1" in registry.names("dataset") and "data-2" not in registry.names("dataset")  # none of its stay
    result = CliRunner().invoke(create_cli(), ["list", "model"])
    assert result.exit_code == 0 and "small-net" in result.stdout
    assert result.stderr.count("Warning: plugin 'second'") == 1
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "second")  # the way out the warning names
    assert load_plugins().registry.get("model", "small-net").plugin == "second"
