"""minidl-classify found through its entry point: components, errors, training."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from click.testing import CliRunner
from minidl_classify.datasets import fashion_mnist_bytes, shapes_bytes
from torch.nn import functional as F

import minidl
from minidl.config import ComponentConfig, RunConfig, TrainSettings
from minidl.errors import MinidlError, OptionError

COMPONENTS = {
    "dataset": ["fashion-mnist", "shapes"],
    "model": ["mlp-scratch", "softmax-regression"],
    "loss": ["softmax-cross-entropy"],
    "metric": ["accuracy"],
}


EASY_SHAPES = {"num_examples": 2000, "num_test": 500, "jitter": 1.5}  # softmax regression: ~0.95


def config(dataset="shapes", model="softmax-regression", loss="softmax-cross-entropy", lr=0.1,
           epochs=3, dataset_options=None, model_options=None, loss_options=None, seed=0, batch_size=64):
    return RunConfig(
        dataset=ComponentConfig(dataset, dataset_options or EASY_SHAPES),
        model=ComponentConfig(model, model_options or {}),
        loss=ComponentConfig(loss, loss_options or {}),
        optimizer=ComponentConfig("sgd", {"lr": lr}),
        train=TrainSettings(epochs=epochs, batch_size=batch_size, seed=seed, metrics=["accuracy"]),
    )


def test_registered_through_the_entry_point(plugins, registry):
    info = {p.name: p for p in plugins.info()}
    assert info["classify"].distribution == "minidl-classify"
    assert info["classify"].hooks == ("register_datasets", "register_losses", "register_metrics",
                                      "register_models")
    for kind, names in COMPONENTS.items():
        for name in names:
            assert registry.get(kind, name).plugin == "classify"
            assert registry.get(kind, name).summary


def test_registration_does_not_import_torch():
    code = ("import sys, minidl; r = minidl.load_plugins().registry; r.get('model', 'mlp-scratch'); "
            "[o.help for c in r for o in c.options]; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_every_option_is_documented(registry):
    for kind, names in COMPONENTS.items():
        for name in names:
            for option in registry.get(kind, name).options:
                assert option.help, (kind, name, option.name)


def test_shapes_dataset(registry):
    torch.manual_seed(0)
    data = registry.build("dataset", "shapes", {"num_examples": 500, "num_test": 100})
    X, y = data.tensors("train")
    assert X.shape == (500, 1, 28, 28) and y.dtype == torch.int64
    assert data.splits == ("train", "test") and len(data.tensors("test")[0]) == 100
    assert (data.num_inputs, data.num_outputs) == (784, 10) and len(data.text_labels) == 10
    assert float(X.min()) >= 0 and float(X.max()) <= 1
    assert torch.bincount(y).tolist() == [50] * 10  # balanced
    torch.manual_seed(0)
    again = registry.build("dataset", "shapes", {"num_examples": 500, "num_test": 100})
    assert torch.equal(again.tensors("train")[0], X)  # the seed decides everything
    assert registry.build("dataset", "shapes", {"num_test": 0, "num_examples": 10}).splits == ("train",)


@pytest.mark.parametrize("options, message", [  # the ranges declared in the signature
    ({"num_examples": 0}, "option 'num_examples' must be >= 1, got 0"),
    ({"jitter": 11.0}, "option 'jitter' must be <= 10, got 11.0"),
    ({"noise": -0.1}, "option 'noise' must be >= 0, got -0.1"),
    ({"resize": 0}, "option 'resize' must be >= 1, got 0"),
    ({"resize": 1025}, "option 'resize' must be <= 1024, got 1025"),
])
def test_shapes_options_checked(registry, options, message):
    with pytest.raises(OptionError, match=f"^dataset 'shapes': {message}$"):
        registry.build("dataset", "shapes", options)


@pytest.mark.parametrize("options", [{"num_examples": 0}, {"jitter": 11.0}, {"noise": -0.1}, {"resize": 0}])
def test_shapes_options_are_checked_once_before_the_drawing(registry, monkeypatch, options):
    """The declared ranges are the only check: a bad value never reaches shapes_data."""
    import minidl_classify.datasets

    calls = []
    monkeypatch.setattr(minidl_classify.datasets, "shapes_data", lambda *args: calls.append(args))
    with pytest.raises(OptionError, match=f"^dataset 'shapes': option '{next(iter(options))}' must be "):
        registry.build("dataset", "shapes", options)
    assert calls == []
    registry.build("dataset", "shapes", {"num_examples": 3, "num_test": 0})
    assert calls == [(3, 0, 2.5, 0.2, None)]


def test_fashion_mnist_dataset_from_root(registry, fashion_folder):
    folder, arrays = fashion_folder
    data = registry.build("dataset", "fashion-mnist", {"root": str(folder)})
    X, y = data.tensors("test")
    assert X.shape == (20, 1, 28, 28) and (data.num_inputs, data.num_outputs) == (784, 10)
    torch.testing.assert_close(X[:, 0], torch.from_numpy(arrays["test"][0]).float() / 255)
    assert y.tolist() == arrays["test"][1].tolist()
    assert data.text_labels[9] == "ankle boot"


# -- resize: (N, 1, resize, resize) images, torch's interpolate, memory declared ----------------
def test_shapes_resize_is_the_28x28_draw_resized(registry):
    torch.manual_seed(3)
    small = registry.build("dataset", "shapes", {"num_examples": 30, "num_test": 10})
    torch.manual_seed(3)
    big = registry.build("dataset", "shapes", {"num_examples": 30, "num_test": 10, "resize": 56})
    for split in ("train", "test"):
        (X, y), (X_big, y_big) = small.tensors(split), big.tensors(split)
        assert X_big.shape == (len(X), 1, 56, 56) and torch.equal(y, y_big)
        expected = F.interpolate(X, size=(56, 56), mode="bilinear", antialias=True).clamp(0, 1)
        torch.testing.assert_close(X_big, expected)
    assert (big.num_inputs, big.num_outputs) == (56 * 56, 10)


def test_fashion_mnist_resize_serves_what_the_books_loader_serves(registry, fashion_folder):
    import minidl.d2l as d2l

    folder, _ = fashion_folder
    data = registry.build("dataset", "fashion-mnist", {"root": str(folder), "resize": 14})
    _, test_iter = d2l.load_data_fashion_mnist(20, resize=14, root=folder)
    X_book, y_book = next(iter(test_iter))
    X, y = data.tensors("test")
    assert X.shape == (20, 1, 14, 14) and data.num_inputs == 196
    torch.testing.assert_close(X, X_book)
    assert torch.equal(y, y_book)


def test_resized_images_are_declared_and_a_size_that_cannot_fit_is_refused(registry, monkeypatch):
    base = {"num_examples": 6000, "num_test": 1000, "resize": None}
    assert shapes_bytes({**base, "resize": 224}) - shapes_bytes(base) == 7000 * 224 * 224 * 4
    assert fashion_mnist_bytes({"root": None, "resize": 224}) - fashion_mnist_bytes({"root": None}) \
        == 70_000 * 224 * 224 * 4
    assert fashion_mnist_bytes({"root": "shapes", "resize": 32}) == shapes_bytes({**base, "resize": 32})
    monkeypatch.setattr("minidl.memory.available_memory", lambda: 10**9)
    with pytest.raises(MinidlError, match=r"^dataset 'shapes' needs about 1\.7 GB of memory .*resize=224.* "
                                          r"has 1\.0 GB available"):
        registry.build("dataset", "shapes", {"resize": 224})
    with pytest.raises(MinidlError, match=r"^dataset 'fashion-mnist' needs about"):
        registry.build("dataset", "fashion-mnist", {"resize": 128})


def test_fashion_mnist_offline_stand_in_is_shapes(registry, monkeypatch):
    torch.manual_seed(0)
    stand_in = registry.build("dataset", "fashion-mnist", {"root": "shapes", "resize": 32})
    torch.manual_seed(0)
    shapes = registry.build("dataset", "shapes", {"resize": 32})
    assert torch.equal(stand_in.tensors("test")[0], shapes.tensors("test")[0])
    assert stand_in.text_labels == shapes.text_labels and stand_in.splits == ("train", "test")
    monkeypatch.setenv("MINIDL_DATA", "shapes")
    assert registry.build("dataset", "fashion-mnist").tensors("train")[0].shape == (6000, 1, 28, 28)


def test_fashion_mnist_missing_names_files(registry, tmp_path):
    with pytest.raises(MinidlError, match=r"Fashion-MNIST not found in .*train-images-idx3-ubyte"):
        registry.build("dataset", "fashion-mnist", {"root": str(tmp_path)})


def test_models_follow_the_book(registry):
    torch.manual_seed(0)
    model = registry.build("model", "softmax-regression", {}, num_inputs=784, num_outputs=10)
    assert model.W.shape == (784, 10) and model.b.abs().sum() == 0
    assert model.W.std().item() == pytest.approx(0.01, rel=0.05)
    X = torch.rand(5, 1, 28, 28)
    torch.testing.assert_close(model(X), torch.softmax(X.view(-1, 784) @ model.W + model.b, dim=1))
    mlp = registry.build("model", "mlp-scratch", {"num_hiddens": 32}, num_inputs=784, num_outputs=10)
    assert [tuple(p.shape) for p in mlp.parameters()] == [(784, 32), (32,), (32, 10), (10,)]
    expected = torch.relu(X.view(-1, 784) @ mlp.W1 + mlp.b1) @ mlp.W2 + mlp.b2
    torch.testing.assert_close(mlp(X), expected)


def test_model_sizes_default_to_the_books_and_are_checked(registry):
    assert registry.build("model", "mlp-scratch").W2.shape == (256, 10)
    model = registry.build("model", "softmax-regression", {"num_outputs": 3}, num_inputs=4, num_outputs=10)
    assert model.W.shape == (4, 3)  # a value the user set wins over the dataset's
    with pytest.raises(OptionError, match="model 'mlp-scratch': option 'num_hiddens' must be >= 1, got 0"):
        registry.build("model", "mlp-scratch", {"num_hiddens": 0})
    with pytest.raises(MinidlError, match="model 'softmax-regression' takes 4 inputs per example, got 6"):
        model(torch.zeros(2, 6))


def test_loss_matches_torch_cross_entropy(registry):
    logits, y = torch.randn(8, 5), torch.randint(0, 5, (8,))
    expected = F.cross_entropy(logits, y, reduction="none")
    on_probs = registry.build("loss", "softmax-cross-entropy")(torch.softmax(logits, dim=1), y)
    assert on_probs.shape == (8, 1)
    torch.testing.assert_close(on_probs.view(-1), expected)
    on_logits = registry.build("loss", "softmax-cross-entropy", {"from_logits": True})(logits * 1e3, y)
    torch.testing.assert_close(on_logits.view(-1), F.cross_entropy(logits * 1e3, y, reduction="none"))
    assert torch.isfinite(on_logits).all()


@pytest.mark.parametrize("labels, message", [
    ([0, 5], r"^loss 'softmax-cross-entropy': label 5 is out of range for 5 classes; labels must be .* 0\.\.4$"),
    ([-2, 1], "label -2 is out of range for 5 classes"),
    ([0.0, 1.0], "needs integer class labels"),
])
def test_loss_rejects_bad_labels(registry, labels, message):
    loss = registry.build("loss", "softmax-cross-entropy")
    with pytest.raises(MinidlError, match=message):
        loss(torch.full((2, 5), 0.2), torch.tensor(labels))


def test_loss_rejects_logits_without_from_logits(registry):
    loss = registry.build("loss", "softmax-cross-entropy")
    with pytest.raises(MinidlError, match=r"expects probabilities.*set loss\.from_logits=true"):
        loss(torch.tensor([[-1.0, 2.0]]), torch.tensor([1]))


def test_accuracy_metric(registry):
    metric = registry.build("metric", "accuracy")
    assert metric(torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 1])) == 0.5
    assert (metric.label, metric.fmt, metric.higher_is_better) == ("acc", "{:.3f}", True)


def test_softmax_regression_learns_shapes(plugins):
    lines = []
    history = minidl.build(config(epochs=3), plugins, verbose=True, echo=lines.append).fit()
    assert history["test_accuracy"][-1] > 0.85
    assert history["loss"][0] > history["loss"][-1]
    assert lines[-1].startswith("epoch 3, loss ") and ", train acc 0." in lines[-1]
    assert ", test acc 0." in lines[-1]


def test_mlp_scratch_learns_shapes_from_logits(plugins):
    run = minidl.build(config(model="mlp-scratch", lr=0.5, epochs=3, loss_options={"from_logits": True},
                              model_options={"num_hiddens": 64}), plugins)
    assert run.fit()["test_accuracy"][-1] > 0.85


def test_too_few_outputs_for_the_labels_is_one_error(plugins):
    with pytest.raises(MinidlError, match=r"^dataset 'shapes' has class labels up to 9, but model "
                       r"'softmax-regression' outputs 5 scores per example; give it 10 outputs$"):
        minidl.build(config(model_options={"num_outputs": 5}, epochs=1), plugins)  # checked before training


def test_cli_out_of_range_labels_give_one_line(monkeypatch):
    from minidl.cli import create_cli

    monkeypatch.delenv("MINIDL_LOAD_PLUGINS", raising=False)
    result = CliRunner().invoke(create_cli(), [
        "train", "--dataset", "shapes", "--set", "dataset.num_examples=100", "--model", "softmax-regression",
        "--set", "model.num_outputs=3", "--loss", "softmax-cross-entropy", "--epochs", "1"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert lines == ["Error: dataset 'shapes' has class labels up to 9, but model 'softmax-regression' "
                     "outputs 3 scores per example; give it 10 outputs"]
    assert "Traceback" not in result.stderr


def test_cli_prints_accuracy_in_epoch_lines(monkeypatch):
    from minidl.cli import create_cli

    monkeypatch.delenv("MINIDL_LOAD_PLUGINS", raising=False)
    result = CliRunner().invoke(create_cli(), [
        "train", "--dataset", "shapes", "--set", "dataset.num_examples=500", "--set", "dataset.num_test=100",
        "--model", "softmax-regression", "--loss", "softmax-cross-entropy", "--lr", "0.1",
        "--batch-size", "256", "--epochs", "1", "--metric", "accuracy"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("epoch 1, loss ")
    assert ", train acc 0." in result.stdout and ", test acc 0." in result.stdout
