"""minidl.testing: the defaults conform, broken components are caught by name, the guide's plugin works."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import minidl
from minidl.plugins import DEFAULT_PLUGINS
from minidl.testing import (
    ConformanceError,
    check_component,
    check_plugin,
    parametrize_components,
    plugin_components,
)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
CHECKED_ON_SHARED_DATA = {"sequence"}  # its models' partner dataset reads the lyrics corpus
DEFAULT_COMPONENTS = [
    ("dataset", "synthetic-linear"), ("model", "linreg"), ("loss", "squared"), ("optimizer", "sgd"),
    ("metric", "mse"), ("metric", "mae"), ("callback", "early-stopping"), ("callback", "stop-at"),
    ("callback", "lr-schedule"), ("callback", "grad-clip"),
]


@pytest.fixture
def defaults() -> minidl.Plugins:
    """minidl's default plugins alone."""
    return minidl.load_plugins(entry_points=False)


# -- the defaults conform ----------------------------------------------------------------
@pytest.mark.parametrize(("kind", "name"), DEFAULT_COMPONENTS, ids=[f"{k}-{n}" for k, n in DEFAULT_COMPONENTS])
def test_every_default_component_conforms(defaults: minidl.Plugins, kind: str, name: str) -> None:
    passed = check_component(kind, name, defaults)
    assert {"summary", "documented", "typed", "builds"} <= set(passed)


def test_linreg_conforms_in_both_grad_modes(defaults: minidl.Plugins) -> None:
    for grad in ("autograd", "analytic"):
        passed = check_component("model", "linreg", defaults, {"grad": grad})
        assert {"gradients", "compute_gradients", "state_dict", "trains"} <= set(passed)


def test_every_default_plugin_conforms_as_a_whole(defaults: minidl.Plugins) -> None:
    checked = {}
    for plugin in DEFAULT_PLUGINS:
        checked |= check_plugin(plugin, defaults)
    assert {f"{kind} {name!r}" for kind, name in DEFAULT_COMPONENTS} <= set(checked)


def test_checks_leave_the_callers_random_state_alone(defaults: minidl.Plugins) -> None:
    torch.manual_seed(123)
    state = torch.get_rng_state()
    check_component("model", "linreg", defaults)
    assert torch.equal(torch.get_rng_state(), state)


@parametrize_components("minidl.default_plugins.metrics")
def test_parametrize_components_gives_kind_and_name(kind: str, name: str) -> None:
    assert (kind, name) in {("metric", "mse"), ("metric", "mae")}


# -- broken components are caught, naming the check ---------------------------------------
def undocumented(num_examples: int = 20) -> Any:
    """Data whose option has no help line."""
    return minidl.TensorData(torch.randn(num_examples, 2), torch.randn(num_examples, 1))


def untyped(num_examples=20) -> Any:  # deliberately untyped
    """Data whose option has no type hint.

    Args:
        num_examples: training examples
    """
    return minidl.TensorData(torch.randn(num_examples, 2), torch.randn(num_examples, 1))


class DroppingData(minidl.TensorData):
    """Leaves out the short last batch, so some examples are never seen."""

    def batches(self, batch_size: int, generator: torch.Generator) -> Any:
        for X, y in super().batches(batch_size, generator):
            if len(X) == batch_size:
                yield X, y


class UnshuffledData(minidl.TensorData):
    """Always the same order, whatever the generator."""

    def batches(self, batch_size: int, generator: torch.Generator) -> Any:
        X, y = self.tensors("train")
        for i in range(0, len(X), batch_size):
            yield X[i : i + batch_size], y[i : i + batch_size]


def dropping() -> Any:
    """Data that drops examples."""
    return DroppingData(torch.randn(30, 2), torch.randn(30, 1))


def unshuffled() -> Any:
    """Data that ignores the generator."""
    return UnshuffledData(torch.randn(30, 2), torch.randn(30, 1))


class UnusedParameter(nn.Module):
    """A linear model with a parameter that forward never uses."""

    def __init__(self, num_inputs: int) -> None:
        super().__init__()
        self.linear = nn.Linear(num_inputs, 1)
        self.unused = nn.Parameter(torch.zeros(3))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Uses only the linear layer."""
        return self.linear(X)


class NoisyForward(nn.Linear):
    """Adds fresh noise to every output, even in eval mode."""

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Linear plus noise."""
        return super().forward(X) + torch.rand(len(X), 1)


def no_gradient(num_inputs: int | None = None) -> Any:
    """A model with a parameter that gets no gradient.

    Args:
        num_inputs: input features
    """
    return UnusedParameter(num_inputs or 2)


def noisy(num_inputs: int | None = None) -> Any:
    """A model whose output changes from call to call.

    Args:
        num_inputs: input features
    """
    return NoisyForward(num_inputs or 2, 1)


def unseeded(num_inputs: int | None = None) -> Any:
    """A model initialised from a generator nobody seeds.

    Args:
        num_inputs: input features
    """
    model = nn.Linear(num_inputs or 2, 1)
    with torch.no_grad():
        model.weight.normal_(generator=torch.Generator().manual_seed(torch.seed()))
    return model


def scalar_mean() -> Any:
    """A loss returning the batch mean instead of one value per example."""
    return lambda y_hat, y: ((y_hat - y.reshape(y_hat.shape)) ** 2).mean()


def batch_normalised() -> Any:
    """A loss whose per-example values depend on the rest of the batch."""
    return lambda y_hat, y: (y_hat - y.reshape(y_hat.shape)) ** 2 / len(y)


class CachedLR(minidl.ManualOptimizer):
    """SGD that reads lr once, so schedules have no effect."""

    def __init__(self, params: Any, lr: float) -> None:
        super().__init__(params, {"lr": lr})
        self.lr = lr

    def step(self) -> None:
        """param -= lr * grad with the lr of construction time."""
        with torch.no_grad():
            for param in self.param_groups[0]["params"]:
                param -= self.lr * param.grad


def cached_lr(params: Any, lr: float = 0.1) -> Any:
    """An optimizer ignoring param_groups' lr.

    Args:
        lr: learning rate
    """
    return CachedLR(params, lr)


class TensorMetric:
    """A metric returning a tensor."""

    higher_is_better = False

    def __call__(self, y_hat: torch.Tensor, y: torch.Tensor) -> Any:
        return (y_hat - y.reshape(y_hat.shape)).abs().mean()


def tensor_metric() -> Any:
    """A metric returning a tensor, not a float."""
    return TensorMetric()


class Forgetful:
    """A callback whose hook lacks @hookimpl."""

    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
        """Never called."""


def forgetful() -> Any:
    """A callback without the hookimpl marker."""
    return Forgetful()


class Misspelled:
    """A callback whose hook's name is one letter off."""

    def on_epoch_ends(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
        """Never called."""

    @minidl.hookimpl
    def on_fit_start(self, trainer: Any) -> None:
        """Called."""


def misspelled() -> Any:
    """A callback with a misspelled hook."""
    return Misspelled()


class Broken:
    """A plugin registering one broken component of each kind."""

    @minidl.hookimpl
    def register_datasets(self, register: Any) -> None:
        for name, factory in [("undocumented", undocumented), ("untyped", untyped),
                              ("dropping", dropping), ("unshuffled", unshuffled)]:
            register(name, factory)

    @minidl.hookimpl
    def register_models(self, register: Any) -> None:
        for name, factory in [("no-gradient", no_gradient), ("noisy", noisy), ("unseeded", unseeded)]:
            register(name, factory)

    @minidl.hookimpl
    def register_losses(self, register: Any) -> None:
        register("scalar-mean", scalar_mean)
        register("batch-normalised", batch_normalised)

    @minidl.hookimpl
    def register_optimizers(self, register: Any) -> None:
        register("cached-lr", cached_lr)

    @minidl.hookimpl
    def register_metrics(self, register: Any) -> None:
        register("tensor-metric", tensor_metric)

    @minidl.hookimpl
    def register_callbacks(self, register: Any) -> None:
        register("forgetful", forgetful)
        register("misspelled", misspelled)


BROKEN = [
    ("dataset", "undocumented", "documented", "num_examples"),
    ("dataset", "untyped", "typed", "num_examples"),
    ("dataset", "dropping", "covers_epoch", "exactly once"),
    ("dataset", "unshuffled", "seeded_order", "shuffled"),
    ("model", "no-gradient", "gradients", "'unused' gets no gradient"),
    ("model", "noisy", "deterministic_forward", "different outputs"),
    ("model", "unseeded", "deterministic_init", "weight"),
    ("loss", "scalar-mean", "per_example", "one value per example"),
    ("loss", "batch-normalised", "per_example", "rest of the batch"),
    ("optimizer", "cached-lr", "lr_in_param_groups", "lr 0"),
    ("metric", "tensor-metric", "returns_float", "Tensor"),
    ("callback", "forgetful", "implements_hook", "on_epoch_end lack the @hookimpl"),
    ("callback", "misspelled", "implements_hook", "did you mean 'on_epoch_end' for 'on_epoch_ends'?"),
]


@pytest.fixture
def broken(defaults: minidl.Plugins) -> minidl.Plugins:
    """The defaults plus the broken plugin."""
    defaults.register(Broken(), name="broken")
    return defaults


@pytest.mark.parametrize(("kind", "name", "check", "detail"), BROKEN, ids=[b[1] for b in BROKEN])
def test_a_broken_component_fails_the_check_it_breaks(broken: minidl.Plugins, kind: str, name: str,
                                                      check: str, detail: str) -> None:
    with pytest.raises(ConformanceError) as error:
        check_component(kind, name, broken)
    assert error.value.check == check and error.value.component == f"{kind} {name!r}"
    message = str(error.value)
    assert message.startswith(f"{kind} {name!r} fails check {check!r}: ") and detail in message


def test_check_plugin_lists_every_broken_component(broken: minidl.Plugins) -> None:
    with pytest.raises(ConformanceError) as error:
        check_plugin("broken", broken)
    assert sorted((f.component, f.check) for f in error.value.failures) == sorted(
        (f"{kind} {name!r}", check) for kind, name, check, _ in BROKEN)
    assert f"{len(BROKEN)} failure(s)" in str(error.value)


@pytest.mark.slow  # the check imports torch in a fresh interpreter
def test_a_registration_module_importing_torch_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "eager.py"
    path.write_text('"""Imports torch too early."""\nimport torch\nimport minidl\n\n\n'
                    "def mse() -> object:\n    \"\"\"Mean squared error.\"\"\"\n"
                    "    from minidl.default_plugins.metrics import mse\n\n    return mse()\n\n\n"
                    "@minidl.hookimpl\ndef register_metrics(register):\n    register('eager-mse', mse)\n")
    with pytest.raises(ConformanceError, match="imports torch"):
        check_plugin(str(path), minidl.load_plugins(extra=[str(path)], entry_points=False))


def test_partners_can_be_named(defaults: minidl.Plugins) -> None:
    passed = check_component("loss", "squared", defaults, data=("synthetic-linear", {"num_examples": 30}),
                             model="linreg")
    assert "per_example" in passed
    with pytest.raises(ConformanceError, match="found no dataset, model and loss"):
        check_component("metric", "mse", defaults, data="synthetic-linear", model="no-such-model")


def test_a_factory_names_its_partners_with_check_with(defaults: minidl.Plugins) -> None:
    def absolute() -> Any:
        """Absolute error per example."""
        return lambda y_hat, y: (y_hat - y.reshape(y_hat.shape)).abs().reshape(-1)

    class Declares:
        @minidl.hookimpl
        def register_losses(self, register: Any) -> None:
            register("abs", absolute)

    defaults.register(Declares(), name="declares")
    absolute.check_with = {"data": ("synthetic-linear", {"num_examples": 30}), "model": "linreg"}  # type: ignore[attr-defined]
    assert "per_example" in check_component("loss", "abs", defaults)
    absolute.check_with = {"data": "no-such-dataset"}  # type: ignore[attr-defined]
    with pytest.raises(ConformanceError, match=r"tried: \[dataset 'no-such-dataset'"):
        check_component("loss", "abs", defaults)
    assert "per_example" in check_component("loss", "abs", defaults, data="synthetic-linear")  # the caller's win
    absolute.check_with = {"dataset": "synthetic-linear"}  # type: ignore[attr-defined]
    with pytest.raises(ConformanceError, match=r"check_with is .*data, model, loss"):
        check_component("loss", "abs", defaults)


# -- plugin authors' first day (issue 13) ------------------------------------------------------
MY_LOSS = '''"""mystuff: one loss."""
import minidl


def absolute() -> object:
    """Absolute error per example."""
    return lambda y_hat, y: (y_hat - y.reshape(y_hat.shape)).abs().reshape(-1)


@minidl.hookimpl
def register_losses(register):
    register("abs", absolute)
'''


def install(folder: Path, monkeypatch: pytest.MonkeyPatch, entry_point: str, module: str, source: str) -> None:
    """An installed distribution on ``sys.path``: ``entry_point = module`` in group ``minidl``."""
    (folder / f"{module}.py").write_text(source, encoding="utf-8")
    info = folder / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n\n")
    (info / "entry_points.txt").write_text(f"[minidl]\n{entry_point} = {module}\n")
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", entry_point)


def test_check_component_accepts_the_entry_point_name_check_plugin_accepts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    install(tmp_path, monkeypatch, "mystuff", "mystuff_losses_impl", MY_LOSS)
    assert "per_example" in check_component("loss", "abs", plugins=["mystuff"])
    assert "loss 'abs'" in check_plugin("mystuff")
    assert "per_example" in check_component("loss", "abs", plugins=["mystuff_losses_impl"])  # the module too


def test_a_plugin_that_registers_nothing_fails(tmp_path: Path) -> None:
    path = tmp_path / "forgot.py"
    path.write_text("def register_losses(register):\n    register('never', lambda: None)\n")
    with pytest.raises(ConformanceError, match="registers_something") as caught:
        check_plugin(str(path), minidl.load_plugins(extra=[str(path)], entry_points=False))
    assert "'register_losses' lacks the @hookimpl decorator" in str(caught.value)
    path = tmp_path / "empty.py"
    path.write_text('"""Nothing at all."""\n')
    with pytest.raises(ConformanceError, match="it registers nothing"):
        check_plugin(str(path), minidl.load_plugins(extra=[str(path)], entry_points=False))


@pytest.mark.parametrize("decorated", [True, False])
def test_a_misspelled_hook_suggests_the_right_name(tmp_path: Path, decorated: bool) -> None:
    path = tmp_path / "typo.py"
    path.write_text(("import minidl\n@minidl.hookimpl\n" if decorated else "")
                    + "def register_model(register):\n    pass\n")
    with pytest.raises((ConformanceError, minidl.PluginError), match="did you mean 'register_models'\\?"):
        check_plugin(str(path))


def test_a_plugin_with_event_hooks_only_registers_something(tmp_path: Path) -> None:
    path = tmp_path / "events.py"
    path.write_text("import minidl\n\n\n@minidl.hookimpl\ndef on_fit_start(trainer):\n    pass\n")
    assert check_plugin(str(path), minidl.load_plugins(extra=[str(path)], entry_points=False)) == {}


def test_the_shipped_fixtures_give_fresh_plugins(plugins: minidl.Plugins, registry: minidl.Registry) -> None:
    import os

    assert registry is plugins.registry and "linreg" in registry.names("model")
    assert not {"MINIDL_PLUGINS", "MINIDL_LOAD_PLUGINS", "MINIDL_DATA"} & set(os.environ)


def test_the_kit_and_distributed_modules_are_small_rooms() -> None:
    for package in ("testing", "distributed"):
        for path in (REPO / "minidl" / package).glob("*.py"):
            assert len(path.read_text(encoding="utf-8").splitlines()) < 400, path
    assert not (REPO / "minidl" / "testing.py").exists() and not (REPO / "minidl" / "distributed.py").exists()
    assert not (REPO / "tests" / "conftest.py").exists()  # the fixtures come from minidl.testing.fixtures


# -- the plugin guide's example ------------------------------------------------------------
def guide_plugin(tmp_path: Path) -> Path:
    """Write the guide's complete plugin (plugins/README.md) to a file."""
    text = (REPO / "plugins" / "README.md").read_text(encoding="utf-8")
    code = re.search(r"<!-- plugin-example[^>]*-->\n```python\n(.*?)```", text, re.S)
    assert code, "plugins/README.md lost its marked plugin example"
    path = tmp_path / "minidl_quadratic.py"
    path.write_text(code.group(1), encoding="utf-8")
    return path


def test_the_guides_plugin_loads_and_conforms(tmp_path: Path) -> None:
    path = guide_plugin(tmp_path)
    plugins = minidl.load_plugins(extra=[str(path)], entry_points=False)
    assert plugin_components(str(path), plugins) == [("dataset", "quadratic"), ("model", "tiny-mlp")]
    results = check_plugin(str(path), plugins)
    assert {"trains", "gradients"} <= set(results["model 'tiny-mlp'"])


def test_the_guides_manual_optimizer_conforms_and_steps_like_its_formula(tmp_path: Path) -> None:
    text = (REPO / "plugins" / "README.md").read_text(encoding="utf-8")
    code = re.search(r"<!-- optimizer-example[^>]*-->\n```python\n(.*?)```", text, re.S)
    assert code, "plugins/README.md lost its marked ManualOptimizer example"
    path = tmp_path / "minidl_signsgd.py"
    path.write_text(code.group(1), encoding="utf-8")
    plugins = minidl.load_plugins(extra=[str(path)], entry_points=False)
    results = check_plugin(str(path), plugins)
    assert {"decreases_quadratic", "lr_in_param_groups", "state_dict"} <= set(results["optimizer 'sign-sgd'"])
    w = torch.tensor([1.0, -2.0, 0.5], requires_grad=True)
    optimizer = plugins.registry.build("optimizer", "sign-sgd", {"lr": 0.1}, params=[w])
    assert isinstance(optimizer, minidl.ManualOptimizer)
    (w * torch.tensor([3.0, -1.0, 0.0]) + w**2).sum().backward()  # gradient 3 + 2w, -1 + 2w, 2w
    optimizer.step()
    assert torch.allclose(w.detach(), torch.tensor([1.0 - 0.1, -2.0 + 0.1, 0.5 - 0.1]))


# -- every installed first-party plugin conforms -----------------------------------------------
def installed_components() -> list[tuple[str, str, str]]:
    """``(plugin, kind, name)`` of components registered by installed, non-default plugins."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plugins = minidl.load_plugins()
        return [(c.plugin, c.kind, c.name) for c in plugins.registry if c.plugin not in DEFAULT_PLUGINS]


INSTALLED = installed_components()
#: Losses on class labels are checked on the offline classification data (minidl-classify).
CLASSIFICATION_LOSSES = {"cross-entropy", "softmax-cross-entropy"}
CLASSIFICATION = {"data": ("shapes", {}), "model": ("softmax-regression", {})}


def test_installed_plugins_load_without_failures() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plugins = minidl.load_plugins()
        plugins.registry  # noqa: B018 - registration failures are recorded on first use
    assert not plugins.failures, "\n".join(map(str, plugins.failures))


@pytest.mark.slow  # some build 60,000-example datasets several times
@pytest.mark.skipif(not INSTALLED, reason="no first-party plugin installed")
@pytest.mark.parametrize(("plugin", "kind", "name"), INSTALLED or [("", "", "")],
                         ids=[f"{p}-{k}-{n}" for p, k, n in INSTALLED] or ["none"])
def test_installed_component_conforms(plugin: str, kind: str, name: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if SHARED_DATA.is_dir():
        monkeypatch.setenv("MINIDL_DATA", str(SHARED_DATA))  # airfoil's file, never copied in
    elif plugin in CHECKED_ON_SHARED_DATA:
        pytest.skip(f"{plugin}'s components are checked on a corpus in {SHARED_DATA}, missing here")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plugins = minidl.load_plugins()
    if kind == "dataset":
        try:
            plugins.registry.build(kind, name)
        except minidl.MinidlError as exc:  # its data files are not on this machine
            pytest.skip(str(exc).splitlines()[0])
    partners = CLASSIFICATION if kind == "loss" and name in CLASSIFICATION_LOSSES else {}
    check_component(kind, name, plugins, **partners)
