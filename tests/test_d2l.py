"""minidl.d2l: the book's chapter-3 helpers, the very functions the default plugins use."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import minidl
import minidl.d2l as d2l
from minidl import functional, metrics
from minidl.d2l import linear


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    """Only the built-in plugins: these tests are about the core, whatever else is installed."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    return minidl.load_plugins(entry_points=False)


def test_the_books_names_are_there():
    for name in ("use_svg_display", "set_figsize", "data_iter", "linreg", "squared_loss", "sgd",
                 "semilogy", "plt", "synthetic_data"):
        assert name in d2l.__all__
        assert getattr(d2l, name) is not None


# -- the helpers against the book's formulas ----------------------------------------------------------
def test_data_iter_shapes_short_last_batch_and_coverage():
    features, labels = torch.randn(23, 2), torch.randn(23)
    batches = list(d2l.data_iter(10, features, labels))
    assert [tuple(X.shape) for X, _ in batches] == [(10, 2), (10, 2), (3, 2)]
    assert [tuple(y.shape) for _, y in batches] == [(10,), (10,), (3,)]
    seen = torch.cat([X for X, _ in batches])
    assert sorted(map(tuple, seen.tolist())) == sorted(map(tuple, features.tolist()))
    for X, y in batches:  # each label stays with its features
        for row, label in zip(X, y):
            assert label in labels[(features == row).all(1)]


def test_data_iter_order_from_a_generator_or_the_global_rng():
    features, labels = torch.arange(50.0).reshape(25, 2), torch.arange(25.0)

    def order(**kwargs):
        return torch.cat([y for _, y in d2l.data_iter(4, features, labels, **kwargs)]).tolist()

    assert order(generator=torch.Generator().manual_seed(3)) == order(generator=torch.Generator().manual_seed(3))
    torch.manual_seed(0)
    first = order()
    torch.manual_seed(0)
    assert order() == first and sorted(first) == list(range(25)) and first != list(range(25))


def test_linreg_is_x_w_plus_b():
    X, w, b = torch.randn(5, 3), torch.randn(3, 1), torch.randn(1)
    assert torch.allclose(d2l.linreg(X, w, b), X @ w + b)
    assert d2l.linreg(X, w, b).shape == (5, 1)


def test_squared_loss_is_the_books_formula():
    y_hat, y = torch.randn(6, 1), torch.randn(6)
    losses = d2l.squared_loss(y_hat, y)
    assert losses.shape == (6, 1)
    assert torch.allclose(losses, (y_hat - y.reshape(6, 1)) ** 2 / 2)
    assert torch.allclose(losses.mean(), torch.nn.functional.mse_loss(y_hat, y.reshape(6, 1)) / 2)


def test_sgd_update_is_param_minus_lr_grad_over_batch_size():
    w = torch.randn(3, 1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    w.grad, b.grad = torch.randn(3, 1), torch.randn(1)
    expected = [w.detach() - 0.03 * w.grad / 10, b.detach() - 0.03 * b.grad / 10]
    d2l.sgd([w, b], 0.03, 10)
    assert torch.allclose(w.detach(), expected[0]) and torch.allclose(b.detach(), expected[1])
    assert w.requires_grad and w.is_leaf  # updated in place, still a parameter


def test_synthetic_data_statistics():
    generator = torch.Generator().manual_seed(0)
    X, y = d2l.synthetic_data([2, -3.4], 4.2, 20_000, generator=generator)
    assert X.shape == (20_000, 2) and y.shape == (20_000, 1)
    assert X.mean(0).tolist() == pytest.approx([0.0, 0.0], abs=0.03)
    assert X.std(0).tolist() == pytest.approx([1.0, 1.0], abs=0.03)
    noise = y - (X @ torch.tensor([[2.0], [-3.4]]) + 4.2)
    assert noise.mean().item() == pytest.approx(0.0, abs=1e-3)
    assert noise.std().item() == pytest.approx(0.01, rel=0.05)
    # Least squares recovers the true parameters (an oracle independent of minidl).
    design = torch.cat([X, torch.ones(len(X), 1)], 1).double()
    solution = torch.linalg.lstsq(design, y.double()).solution.reshape(-1).tolist()
    assert solution == pytest.approx([2.0, -3.4, 4.2], abs=1e-3)


def test_synthetic_data_is_reproducible_and_takes_noise_std():
    one = d2l.synthetic_data([1.0], 0.0, 50, generator=torch.Generator().manual_seed(4))
    two = d2l.synthetic_data([1.0], 0.0, 50, generator=torch.Generator().manual_seed(4))
    assert torch.equal(one[0], two[0]) and torch.equal(one[1], two[1])
    X, y = d2l.synthetic_data(torch.tensor([1.0]), 0.0, 50, noise_std=0.0)
    assert torch.equal(y, X)


# -- the plugins use these very functions -------------------------------------------------------------
def test_helpers_are_the_same_objects_in_both_modules():
    for name in linear.__all__:
        assert getattr(d2l, name) is getattr(linear, name), name
    for name in functional.__all__:  # the core's functions, under the book's names
        assert getattr(d2l, name, getattr(functional, name)) is getattr(functional, name), name
    assert d2l.Accuracy is metrics.Accuracy


@pytest.mark.parametrize("name", ["linreg", "squared_loss", "sgd", "data_iter", "synthetic_data"])
def test_default_plugins_call_the_d2l_functions(plugins, monkeypatch, name):
    calls: list[str] = []
    original = getattr(d2l, name)
    assert original is getattr(functional, name)  # the book's name is the core function the plugins call

    def spy(*args, **kwargs):
        calls.append(name)
        return original(*args, **kwargs)

    monkeypatch.setattr(functional, name, spy)
    from minidl.config import RunConfig
    from minidl.run import build

    cfg = RunConfig()
    cfg.dataset.options["num_examples"] = 20
    cfg.train.epochs = 1
    build(cfg, plugins).fit()
    assert calls, f"the default plugins did not call minidl.d2l.{name}"


# -- without the plot extra -----------------------------------------------------------------------
WITHOUT_PLOTTING = """
import sys
for blocked in ("matplotlib", "matplotlib.pyplot", "matplotlib_inline", "IPython"):
    sys.modules[blocked] = None  # makes any import of it fail, as when not installed
import minidl
import minidl.d2l as d2l
from minidl.d2l import data_iter, linreg, sgd, squared_loss
d2l.use_svg_display()  # a no-op outside a notebook
for call in (lambda: d2l.plt, d2l.set_figsize, lambda: d2l.semilogy([1], [1], "x", "y")):
    try:
        call()
    except ImportError as exc:
        assert "minidl[plot]" in str(exc), exc
    else:
        raise AssertionError("plotting worked without matplotlib")
print("ok")
"""


def test_import_works_without_matplotlib_or_ipython_and_plotting_names_the_extra():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIDL_")}
    result = subprocess.run([sys.executable, "-c", WITHOUT_PLOTTING], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"


# -- the book's code, with only its import line changed ---------------------------------------------
def test_the_books_section_3_2_runs_with_minidl_d2l(monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    torch.manual_seed(0)
    np.random.seed(0)
    import minidl.d2l as d2l  # the book: import d2lzh_pytorch as d2l

    num_inputs = 2
    num_examples = 1000
    true_w = [2, -3.4]
    true_b = 4.2
    features = torch.randn(num_examples, num_inputs, dtype=torch.float32)
    labels = true_w[0] * features[:, 0] + true_w[1] * features[:, 1] + true_b
    labels += torch.tensor(np.random.normal(0, 0.01, size=labels.size()), dtype=torch.float32)

    d2l.set_figsize()
    d2l.plt.scatter(features[:, 1].numpy(), labels.numpy(), 1)

    batch_size = 10
    w = torch.tensor(np.random.normal(0, 0.01, (num_inputs, 1)), dtype=torch.float32)
    b = torch.zeros(1, dtype=torch.float32)
    w.requires_grad_(requires_grad=True)
    b.requires_grad_(requires_grad=True)

    lr = 0.03
    num_epochs = 3
    net = d2l.linreg
    loss = d2l.squared_loss
    train_losses = []
    for epoch in range(num_epochs):
        for X, y in d2l.data_iter(batch_size, features, labels):
            l = loss(net(X, w, b), y).sum()  # noqa: E741 - the book's name
            l.backward()
            d2l.sgd([w, b], lr, batch_size)
            w.grad.data.zero_()
            b.grad.data.zero_()
        train_l = loss(net(features, w, b), labels)
        train_losses.append(train_l.mean().item())
        print("epoch %d, loss %f" % (epoch + 1, train_l.mean().item()))  # noqa: UP031 - the book's line

    d2l.semilogy(range(1, num_epochs + 1), train_losses, "epochs", "loss", legend=["train"])
    d2l.plt.close("all")
    assert capsys.readouterr().out.startswith("epoch 1, loss ")
    assert train_losses[-1] < 1e-4
    assert w.detach().reshape(-1).tolist() == pytest.approx(true_w, abs=0.01)
    assert b.item() == pytest.approx(true_b, abs=0.01)


# -- helpers built on a first-party plugin ---------------------------------------------------------
@pytest.mark.parametrize(("call", "distribution"), [
    (lambda: d2l.load_data_fashion_mnist(256), "minidl-classify plugin, which is not installed: "
                                               "pip install ./plugins/classify"),
    (lambda: d2l.read_idx, "minidl-classify plugin"),
    (lambda: d2l.get_data_ch7(), "minidl-optim plugin, which is not installed: pip install ./plugins/optim"),
])
def test_without_the_plugin_the_helper_names_the_distribution(monkeypatch, call, distribution):
    for name in [m for m in sys.modules if m.startswith(("minidl_classify", "minidl_optim"))]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    monkeypatch.setitem(sys.modules, "minidl_classify", None)
    monkeypatch.setitem(sys.modules, "minidl_optim", None)
    with pytest.raises(ImportError, match=distribution) as info:
        call()
    assert "\n" not in str(info.value)


WITHOUT_PLUGINS = """
import sys
for blocked in ("minidl_classify", "minidl_optim", "minidl_concise", "minidl_vision", "minidl_sequence"):
    sys.modules[blocked] = None  # as if not installed
import minidl.d2l as d2l
X, y = d2l.synthetic_data([2.0, -3.4], 4.2, 10)
assert d2l.squared_loss(d2l.linreg(X, torch.zeros(2, 1), torch.zeros(1)), y).shape == (10, 1)
try:
    d2l.load_data_fashion_mnist(256)
except ImportError as exc:
    print(exc)
"""


@pytest.mark.slow  # a fresh interpreter imports torch
def test_import_works_without_the_first_party_plugins():
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIDL_")}
    result = subprocess.run([sys.executable, "-c", "import torch\n" + WITHOUT_PLUGINS], capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("pip install ./plugins/classify")


def test_a_broken_plugin_is_not_reported_as_missing(monkeypatch):
    import importlib

    from minidl.d2l import lazy

    def broken(name):  # the plugin is there, a library it imports is not
        raise ModuleNotFoundError("No module named 'some_dependency'", name="some_dependency")

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="some_dependency"):
        lazy.first_party("minidl_classify.fashion_mnist", "x")
