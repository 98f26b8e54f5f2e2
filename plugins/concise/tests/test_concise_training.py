"""Book 3.3 on minidl: linear + mse + torch-sgd converges as the book's does; the DataLoader data."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import minidl
from minidl.config import ComponentConfig, RunConfig, TrainSettings

REPO = Path(__file__).resolve().parents[3]


def _config(dataset: str = "synthetic-linear") -> RunConfig:
    return RunConfig(dataset=ComponentConfig(dataset), model=ComponentConfig("linear"),
                     loss=ComponentConfig("mse"), optimizer=ComponentConfig("torch-sgd"),
                     train=TrainSettings(epochs=3, batch_size=10, seed=0))


@pytest.mark.parametrize("dataset", ["synthetic-linear", "torch-synthetic-linear"])
def test_linear_mse_torch_sgd_converges_like_the_book(plugins: minidl.Plugins, dataset: str) -> None:
    run = minidl.build(_config(dataset), plugins)
    history = run.fit()
    assert history[-1]["loss"] < 2e-4  # the book's epoch 3: loss 0.000101 (MSE of noise 0.01 is 1e-4)
    params = run.parameters()
    assert params["linear.weight"] == pytest.approx([2.0, -3.4], abs=2e-3)
    assert params["linear.bias"] == pytest.approx(4.2, abs=2e-3)


def test_torch_synthetic_linear_draws_the_same_data_as_synthetic_linear(registry: minidl.Registry) -> None:
    torch.manual_seed(5)
    ours = registry.build("dataset", "torch-synthetic-linear", {"num_test": 20})
    torch.manual_seed(5)
    theirs = registry.build("dataset", "synthetic-linear", {"num_test": 20})
    for split in ("train", "test"):
        for a, b in zip(ours.tensors(split), theirs.tensors(split)):
            assert torch.equal(a, b)
    assert (ours.num_inputs, ours.num_outputs, ours.splits) == (2, 1, ("train", "test"))


def test_torch_synthetic_linear_rejects_mismatched_weights(registry: minidl.Registry) -> None:
    with pytest.raises(minidl.OptionError, match="'torch-synthetic-linear': true_w has 3 values"):
        registry.build("dataset", "torch-synthetic-linear", {"true_w": [1.0, 2.0, 3.0]})


def test_torch_synthetic_linear_checks_its_noise_and_shares_the_options(registry: minidl.Registry) -> None:
    """One implementation: the concise copy had drifted (no noise_std check); now the
    range synthetic-linear declares is torch-synthetic-linear's too."""
    with pytest.raises(minidl.OptionError,
                       match=r"^dataset 'torch-synthetic-linear': option 'noise_std' must be >= 0, got -1\.0$"):
        registry.build("dataset", "torch-synthetic-linear", {"noise_std": -1.0})
    ours, theirs = registry.get("dataset", "torch-synthetic-linear"), registry.get("dataset", "synthetic-linear")
    assert ours.options == theirs.options and [o.help for o in ours.options] == [o.help for o in theirs.options]
    with pytest.raises(TypeError):
        ours.factory(n_train=3)


def test_the_plugin_conforms(plugins: minidl.Plugins) -> None:
    testing = pytest.importorskip("minidl.testing")
    testing.check_plugin("concise", plugins, skip=["cross-entropy"])  # needs class labels: below


def test_cross_entropy_conforms_on_class_labels(plugins: minidl.Plugins) -> None:
    testing = pytest.importorskip("minidl.testing")
    g = torch.Generator().manual_seed(0)
    X = torch.randn(60, 4, generator=g)
    data = minidl.TensorData(X, (X @ torch.randn(4, 3, generator=g)).argmax(dim=1))  # classes 0..2
    data.num_outputs = 3
    testing.check_component("loss", "cross-entropy", plugins, data=data, model="linear")


@pytest.mark.slow  # a fresh interpreter imports torch
def test_the_3_3_example_runs() -> None:
    result = subprocess.run([sys.executable, str(REPO / "examples" / "concise_3_3.py"), "--epochs", "2"],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "MINIDL_LOAD_PLUGINS": "concise"})
    assert result.returncode == 0, result.stderr
    losses = [float(x) for x in re.findall(r"^epoch 2, loss (\S+)$", result.stdout, re.M)]
    assert len(losses) == 2 and all(loss < 2e-4 for loss in losses)
    assert "'linear.weight': [1.99" in result.stdout


def _minidl_cli() -> str:
    exe = shutil.which("minidl") or str(Path(sys.executable).parent / "minidl")
    try:
        import minidl.cli  # noqa: F401
    except ImportError:
        pytest.skip("the minidl command line is not there yet")
    return exe


@pytest.mark.slow  # a fresh interpreter imports torch
def test_minidl_train_with_concise_components() -> None:
    result = subprocess.run([_minidl_cli(), "train", "--model", "linear", "--loss", "mse",
                             "--optimizer", "torch-sgd"], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "MINIDL_LOAD_PLUGINS": "concise"})
    assert result.returncode == 0, result.stderr
    (loss,) = re.findall(r"epoch 3, loss (\S+)", result.stdout)
    assert float(loss.rstrip(",")) < 2e-4


@pytest.mark.slow  # a fresh interpreter imports torch
def test_minidl_train_reports_a_torch_rejection_in_one_line() -> None:
    result = subprocess.run([_minidl_cli(), "train", "--model", "linear", "--loss", "mse",
                             "--optimizer", "torch-sgd", "--set", "optimizer.nesterov=true"],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "MINIDL_LOAD_PLUGINS": "concise"})
    assert result.returncode == 2
    # nesterov needs momentum > 0: a rule between two options that torch itself enforces
    assert "optimizer 'torch-sgd'" in result.stderr and "Nesterov momentum requires" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
