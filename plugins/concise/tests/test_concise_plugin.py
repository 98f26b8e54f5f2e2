"""minidl-concise is found through its entry point, registers its names, and stays light."""

from __future__ import annotations

import subprocess
import sys
import warnings

import pytest

import minidl

MODELS = {"linear", "mlp"}
LOSSES = {"mse", "cross-entropy"}
OPTIMIZERS = {"torch-sgd", "torch-adam", "torch-adamw", "torch-rmsprop", "torch-adagrad", "torch-adadelta"}
DATASETS = {"torch-synthetic-linear"}


def test_components_come_from_the_concise_entry_point(plugins: minidl.Plugins) -> None:
    registry = plugins.registry
    for kind, names in (("model", MODELS), ("loss", LOSSES), ("optimizer", OPTIMIZERS),
                        ("dataset", DATASETS)):
        for name in names:
            assert registry.get(kind, name).plugin == "concise"
    assert plugins.distribution("concise") == "minidl-concise"


def test_every_option_is_typed_and_documented(registry: minidl.Registry) -> None:
    for component in registry:
        if component.plugin != "concise":
            continue
        assert component.summary, component.label
        for option in component.options:
            assert option.help, f"{component.label} option {option.name} has no help line"


def test_registration_module_does_not_import_torch() -> None:
    code = ("import sys, minidl_concise.plugin as p, minidl; minidl.load_plugins();"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True,
                         check=True, env={"MINIDL_LOAD_PLUGINS": "concise"})
    assert out.stdout.strip() == "False"


def test_loads_beside_every_installed_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MINIDL_LOAD_PLUGINS", raising=False)
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # another distribution's broken plugin is not this test's subject
        plugins = minidl.load_plugins()
        registry = plugins.registry  # a name registered twice raises PluginError here
    assert not [f for f in plugins.failures if f.name in ("concise", "optim")]
    assert set(registry.names("optimizer")) >= OPTIMIZERS
