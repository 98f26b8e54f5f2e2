"""The registry: names by kind, the plugin behind each, building with injected values."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest

import minidl
from minidl import hookimpl
from minidl.errors import PluginError, UnknownComponentError
from minidl.registry import KINDS, Registry

DEFAULT_NAMES = {
    "dataset": {"synthetic-linear"},
    "model": {"linreg"},
    "loss": {"squared"},
    "optimizer": {"sgd"},
    "metric": {"mse", "mae"},
    "callback": {"early-stopping", "stop-at", "lr-schedule", "grad-clip"},
}


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    """Only the built-in plugins: these tests are about the core, whatever else is installed."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    return minidl.load_plugins(entry_points=False)


def test_defaults_are_registered_by_the_default_plugins(registry):
    for kind, names in DEFAULT_NAMES.items():
        assert names <= set(registry.names(kind)), kind
        for name in names:
            assert registry.get(kind, name).plugin.startswith("minidl.default_plugins."), name


def test_default_options_are_the_notebooks(registry):
    dataset = {o.name: o.default for o in registry.get("dataset", "synthetic-linear").options}
    assert dataset == {"num_examples": 1000, "num_inputs": 2, "true_w": [2.0, -3.4], "true_b": 4.2,
                       "noise_std": 0.01, "num_test": 0}
    assert {o.name: o.default for o in registry.get("optimizer", "sgd").options} == {"lr": 0.03}


def test_every_default_component_is_documented(registry):
    for component in registry:
        if component.plugin.startswith("minidl.default_plugins."):
            assert component.summary, component.label
            assert all(option.help for option in component.options), component.label


def test_iteration_is_by_kind_then_name(registry):
    components = list(registry)
    order = [(KINDS.index(c.kind), c.name) for c in components]
    assert order == sorted(order)


class TakesLinreg:
    @hookimpl
    def register_models(self, register: Any) -> None:
        def factory() -> None:
            """Another linreg."""

        register("linreg", factory)


def test_name_registered_twice_names_both_plugins(plugins):
    plugins.register(TakesLinreg(), name="copycat")
    with pytest.raises(PluginError) as caught:
        plugins.registry  # noqa: B018 - building the registry runs the hooks
    message = str(caught.value)
    assert "model 'linreg'" in message
    assert "'minidl.default_plugins.notebook'" in message and "'copycat'" in message


def test_same_name_under_two_kinds_is_fine():
    registry = Registry()
    registry.add("model", "thing", lambda: 1, "a")
    registry.add("loss", "thing", lambda: 2, "b")
    assert registry.build("model", "thing") == 1 and registry.build("loss", "thing") == 2
    with pytest.raises(PluginError, match="registered twice: by plugin 'a' and by plugin 'c'"):
        registry.add("model", "thing", lambda: 3, "c")


def _hidden_zero(hidden: Annotated[int, minidl.Ge(1)] = 0): ...
def _mode_c(mode: Literal["a", "b"] = "c"): ...  # type: ignore[assignment]
def _lr_text(lr: float = "fast"): ...  # type: ignore[assignment]
def _nan_rate(rate: float = float("nan")): ...


@pytest.mark.parametrize("factory, message", [
    (_hidden_zero, "option 'hidden' must be >= 1, got 0"),
    (_mode_c, "option 'mode': 'c' is not a valid 'a' | 'b'"),
    (_lr_text, "option 'lr': cannot read 'fast' as float"),
    (_nan_rate, "option 'rate' must be a finite number, got nan"),
])
def test_a_default_its_own_option_refuses_is_the_plugins_mistake_at_registration(factory, message: str) -> None:
    """Such a default trained silently, and --print-config wrote a file --config then refused."""
    with pytest.raises(ValueError, match="model 'm': its default does not fit the option's own declaration: "
                                         + re.escape(message)):
        Registry().add("model", "m", factory, "p")
    Registry().add("model", "m", lambda width: None, "p")  # required, no default: nothing to check
    Registry().add("model", "m", lambda num_inputs=None, rate=0.1, n=3: None, "p")  # None: left unset
    Registry().add("model", "m", _types_the_parser_passes_on, "p")  # int | str, Path, tuple: not its to judge


def _types_the_parser_passes_on(n: int | str = "auto", path: Path | str = "data", file: Path = "x.txt",  # type: ignore[assignment]
                                pair: tuple[int, str] = (3, "a")): ...


def test_unknown_kind():
    registry = Registry()
    with pytest.raises(PluginError, match="unknown component kind 'layer'; kinds: dataset, model"):
        registry.add("layer", "x", lambda: None, "p")
    with pytest.raises(UnknownComponentError, match=r"unknown component kind 'modle'.*'model'"):
        registry.get("modle", "linreg")


def test_unknown_name_lists_the_names_and_suggests(registry):
    with pytest.raises(UnknownComponentError) as caught:
        registry.get("callback", "earlystopping")
    error = caught.value
    assert (error.kind, error.name) == ("callback", "earlystopping")
    assert set(DEFAULT_NAMES["callback"]) <= set(error.available)
    assert "did you mean 'early-stopping'?" in str(error)


def test_unknown_name_without_a_close_one_does_not_suggest():
    registry = Registry()
    registry.add("model", "linreg", lambda: None, "p")
    with pytest.raises(UnknownComponentError) as caught:
        registry.get("model", "xyz")
    assert str(caught.value) == "unknown model 'xyz'; available: linreg"
    with pytest.raises(UnknownComponentError) as caught:
        registry.get("loss", "xyz")
    assert str(caught.value) == "unknown loss 'xyz'; available: (none)"


# -- building -----------------------------------------------------------------------------------
def test_build_injects_params_into_optimizers():
    seen: dict[str, Any] = {}

    def optimizer(params: Any, lr: float = 0.1) -> dict[str, Any]:
        """An optimizer."""
        seen.update(params=params, lr=lr)
        return seen

    registry = Registry()
    registry.add("optimizer", "opt", optimizer, "p")
    assert [o.name for o in registry.get("optimizer", "opt").options] == ["lr"]
    registry.build("optimizer", "opt", {"lr": "0.5"}, params=["w", "b"])
    assert seen == {"params": ["w", "b"], "lr": 0.5}


def test_build_fills_num_inputs_only_when_left_unset():
    def model(num_inputs: int | None = None, num_outputs: int | None = None, width: int = 3) -> tuple:
        """A model."""
        return num_inputs, num_outputs, width

    registry = Registry()
    registry.add("model", "m", model, "p")
    assert registry.build("model", "m", num_inputs=5, num_outputs=2) == (5, 2, 3)
    assert registry.build("model", "m", {"num_inputs": 7}, num_inputs=5, num_outputs=2) == (7, 2, 3)
    assert registry.build("model", "m") == (None, None, 3)
    # An injected value the factory does not take is dropped, and a set option wins.
    assert registry.build("model", "m", {"width": 4}, width=9) == (None, None, 4)


def test_build_default_linreg_with_the_datasets_inputs(registry):
    model = registry.build("model", "linreg", num_inputs=5)
    assert tuple(model.w.shape) == (5, 1) and tuple(model.b.shape) == (1,)
    assert model.b.item() == 0.0


@pytest.mark.parametrize("args, kwargs", [(("only-a-name",), {}), (("a", len, "extra"), {}), ((), {"nme": "a"})])
def test_a_bad_register_call_says_how_to_call_it(args: tuple, kwargs: dict) -> None:
    """Python's own words named the closure: Registry.registrar.<locals>.register() missing 1 required ..."""
    register = Registry().registrar("model", "p")
    with pytest.raises(TypeError, match=r"^register\(.*\): call it as register\(name, factory\), e\.g\. "
                                        r"register\('my-model', my_model\)$") as caught:
        register(*args, **kwargs)
    assert "<locals>" not in str(caught.value)
    register(name="a", factory=len)  # by keyword is fine


def test_registrar_records_the_plugin():
    registry = Registry()
    registry.registrar("metric", "my-plugin")("score", lambda: None)
    component = registry.get("metric", "score")
    assert (component.plugin, component.label) == ("my-plugin", "metric 'score'")


def test_registry_is_rebuilt_after_a_plugin_registers(plugins):
    class Extra:
        @hookimpl
        def register_losses(self, register: Any) -> None:
            def absolute() -> None:
                """Absolute loss."""

            register("absolute", absolute)

    assert "absolute" not in plugins.registry.names("loss")
    plugins.register(Extra(), name="extra")
    assert "absolute" in plugins.registry.names("loss")
    assert plugins.registry.get("loss", "absolute").plugin == "extra"


def test_get_registry_is_process_wide():
    assert minidl.get_registry() is minidl.get_plugins().registry
    assert "linreg" in minidl.get_registry().names("model")


# -- no torch -------------------------------------------------------------------------------------
LIST_WITHOUT_TORCH = """
import sys
import minidl
plugins = minidl.load_plugins()
for component in plugins.registry:
    component.summary, [(o.name, o.type_name, o.default, o.help) for o in component.options]
plugins.info()
assert 'torch' not in sys.modules, 'listing components imported torch'
print(len(list(plugins.registry)))
"""


@pytest.mark.parametrize("allow", [None, ""], ids=["installed plugins", "defaults only"])
def test_listing_and_describing_components_does_not_import_torch(allow):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIDL_")}
    if allow is not None:
        env["MINIDL_LOAD_PLUGINS"] = allow
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", LIST_WITHOUT_TORCH],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= sum(map(len, DEFAULT_NAMES.values()))


# -- memory estimates ----------------------------------------------------------------------------------
def test_a_dataset_whose_estimate_exceeds_the_memory_is_refused_before_it_is_built():
    from minidl.errors import MinidlError
    from minidl.registry import Registry

    built = []

    def huge(num_examples: int = 10) -> object:
        """Huge."""
        built.append(num_examples)
        return object()

    huge.estimate_bytes = lambda options: options["num_examples"] * 10**12  # type: ignore[attr-defined]
    registry = Registry()
    registry.add("dataset", "huge", huge, "test")
    registry.build("dataset", "huge", {"num_examples": 0})
    with pytest.raises(MinidlError, match=r"^dataset 'huge' needs about 1000\.0 PB of memory \(num_examples=1000000\) "
                                          r"but this machine has [\d.]+ [kMGTP]?B available; choose smaller sizes$"):
        registry.build("dataset", "huge", {"num_examples": 10**6})
    with pytest.raises(MinidlError, match="needs about"):
        registry.build_resolved("dataset", "huge", {"num_examples": 10**6})
    assert built == [0]


def test_check_estimate_and_available_memory():
    from minidl.errors import MinidlError
    from minidl.memory import available_memory, check_estimate, format_bytes

    free = available_memory()
    assert free is None or free > 0
    check_estimate("dataset 'x'", lambda options: 10, {"n": 1}, available=100)
    with pytest.raises(MinidlError, match=r"dataset 'x' needs about 2\.0 kB of memory \(n=5\) but this machine "
                                          r"has 1\.0 kB available"):
        check_estimate("dataset 'x'", lambda options: 2000, {"n": 5, "name": "a"}, available=1000)
    assert [format_bytes(n) for n in (999, 1500, 4 * 10**14)] == ["999 B", "1.5 kB", "400.0 TB"]


def test_synthetic_linear_estimates_its_bytes(registry):
    import torch

    factory = registry.get("dataset", "synthetic-linear").factory
    options = {"num_examples": 1000, "num_inputs": 2, "num_test": 500}
    data = factory(num_examples=1000, num_inputs=2, num_test=500)
    X, y = data.tensors("train")
    allocated = (X.numel() + y.numel()) * 1.5 * 4  # train and test X, y as float32
    assert factory.estimate_bytes(options) >= allocated
    assert factory.estimate_bytes(options) < 4 * allocated
    assert X.dtype == torch.float32


def all_installed(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    for name in ("MINIDL_PLUGINS", "MINIDL_LOAD_PLUGINS"):
        monkeypatch.delenv(name, raising=False)
    return minidl.load_plugins()


def test_every_default_is_inside_its_options_range(monkeypatch):
    """A default the option's own range refuses would make the component unusable without --set."""
    for component in all_installed(monkeypatch).registry:
        for option in component.options:
            if not option.required:
                assert option.check(option.default) == option.default, (component.label, option.name)


def test_first_party_table_names_what_those_distributions_register(monkeypatch):
    """Each entry of minidl.first_party.FIRST_PARTY is a name that distribution's plugin registers."""
    from minidl.first_party import FIRST_PARTY

    plugins = all_installed(monkeypatch)
    registry = plugins.registry
    plugins_of = {info.name: info.distribution for info in plugins.info()}
    for component in registry:
        distribution = plugins_of.get(component.plugin)
        if distribution is not None and distribution.startswith("minidl-"):  # every plugins/ distribution
            names = FIRST_PARTY.get(distribution, ("", {}))[1].get(component.kind, ())
            assert component.name in names, f"{component.label} of {distribution} is missing from FIRST_PARTY"
    registered = {(c.kind, c.name) for c in registry}
    for distribution, (_, names) in FIRST_PARTY.items():
        if distribution in plugins_of.values():
            for kind, kind_names in names.items():
                assert {(kind, name) for name in kind_names} <= registered, distribution
