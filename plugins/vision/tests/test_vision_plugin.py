"""minidl-vision through minidl's front doors: the conformance kit, the Trainer, the command line."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner

import minidl
from minidl.testing import check_component, check_plugin


@pytest.mark.slow
def test_the_plugin_conforms(plugins, images):
    """Every network passes the kit's model checks on shapes resized to 96x96 (a size all of them take)."""
    data = ("shapes", {"num_examples": 16, "num_test": 8, "resize": 96})
    results = check_plugin("vision", plugins, data=data, loss="cross-entropy")
    assert set(results) == {f"model {name!r}" for name in ("lenet", "alexnet", "vgg", "nin", "googlenet",
                                                            "lenet-bn", "resnet18", "densenet")}
    assert all("trains" in checks and "state_dict" in checks for checks in results.values())


@pytest.mark.parametrize("name, options", [("lenet", {}), ("lenet-bn", {}), ("lenet-bn", {"batch_norm": "concise"})])
def test_the_small_networks_conform_at_28x28(plugins, images, name, options):
    checks = check_component("model", name, plugins, options, data=images(16, 28, num_test=8), loss="cross-entropy")
    assert {"output", "gradients", "deterministic_init", "trains"} <= set(checks)


def test_scratch_batch_norm_state_survives_a_checkpoint(registry):
    model = registry.build("model", "lenet-bn", num_inputs=784, num_outputs=10)
    model(torch.rand(8, 1, 28, 28))  # a training-mode step moves the averages
    other = registry.build("model", "lenet-bn", num_inputs=784, num_outputs=10)
    other.load_state_dict(model.state_dict())
    assert torch.equal(other[1].moving_var, model[1].moving_var) and model[1].moving_var.abs().sum() > 0


def train(*args):
    from minidl.cli import create_cli

    return CliRunner().invoke(create_cli(), ["train", "--dataset", "shapes", *args])


def test_cli_trains_lenet_on_shapes(monkeypatch):
    """The issue's command, on a smaller shapes set."""
    monkeypatch.delenv("MINIDL_LOAD_PLUGINS", raising=False)
    result = train("--set", "dataset.num_examples=100", "--set", "dataset.num_test=20", "--model", "lenet",
                   "--loss", "cross-entropy", "--optimizer", "torch-adam", "--metric", "accuracy", "--epochs", "1")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("epoch 1, loss ") and ", train acc 0." in lines[0]


@pytest.mark.parametrize("model, message", [
    ("alexnet", "Error: model 'alexnet': input 1x28x28 shrinks to 0x0 at layer 'conv.5' (MaxPool2d); "
                "use --set dataset.resize=224 (the book's size) or any size from 67"),
    ("vgg", "Error: model 'vgg': input 1x28x28 shrinks to 0x0 at layer 'vgg_block_5.4' (MaxPool2d); "
            "use --set dataset.resize=224 (the book's size) or any size from 32"),
])
def test_cli_an_input_too_small_is_one_line(monkeypatch, model, message):
    monkeypatch.delenv("MINIDL_LOAD_PLUGINS", raising=False)
    result = train("--set", "dataset.num_examples=20", "--model", model, "--loss", "cross-entropy", "--epochs", "1")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [message]


@pytest.mark.slow
@pytest.mark.parametrize("model, resize", [("alexnet", 224), ("vgg", 224), ("nin", 224), ("googlenet", 96),
                                           ("lenet-bn", None), ("resnet18", 96), ("densenet", 96)])
def test_cli_trains_each_network_at_the_books_size(monkeypatch, model, resize):
    monkeypatch.delenv("MINIDL_LOAD_PLUGINS", raising=False)
    size = ["--set", f"dataset.resize={resize}"] if resize else []
    result = train("--set", "dataset.num_examples=4", "--set", "dataset.num_test=2", *size, "--model", model,
                   "--loss", "cross-entropy", "--optimizer", "torch-adam", "--metric", "accuracy",
                   "--batch-size", "2", "--epochs", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("epoch 1, loss ") and ", test acc " in result.stdout


def test_a_model_learns_with_the_trainer(plugins, images):
    """Trainer.fit with the registered model, loss and optimizer: the loss goes down."""
    data = images(64, 28, num_test=16)
    torch.manual_seed(0)
    registry = plugins.registry
    model = registry.build("model", "lenet-bn", num_inputs=784, num_outputs=10)
    optimizer = registry.build("optimizer", "torch-adam", {"lr": 0.01}, params=model.parameters())
    trainer = minidl.Trainer(max_epochs=3, batch_size=16, seed=0, plugins=plugins, metrics=["accuracy"])
    history = trainer.fit(model, data, registry.build("loss", "cross-entropy"), optimizer)
    assert history["loss"][-1] < history["loss"][0]
    assert len(trainer.epoch_seconds) == 3
