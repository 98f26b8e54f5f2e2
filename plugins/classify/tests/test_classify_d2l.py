"""minidl.d2l's chapter 3 classification helpers against torch's equivalents and the book's own loop."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from minidl_classify.fashion_mnist import fashion_mnist_root, read_fashion_mnist
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

import minidl.d2l as d2l
from minidl.d2l.plotting import pyplot
from minidl.errors import MinidlError
from minidl.functional import check_labels

BOOK_LINE = re.compile(r"^epoch (\d+), loss (\d+\.\d{4}), train acc (\d\.\d{3}), test acc (\d\.\d{3})$")


def test_softmax_matches_torch_and_survives_large_inputs():
    X = torch.randn(5, 7) * 3
    torch.testing.assert_close(d2l.softmax(X), torch.softmax(X, dim=1))
    big = torch.tensor([[1000.0, 0.0], [-1000.0, 1000.0]])
    torch.testing.assert_close(d2l.softmax(big), torch.softmax(big, dim=1))


def test_softmax_gradient_matches_torch():
    X = torch.randn(4, 3, requires_grad=True)
    (d2l.softmax(X) * torch.arange(3.0)).sum().backward()
    X2 = X.detach().clone().requires_grad_()
    (torch.softmax(X2, dim=1) * torch.arange(3.0)).sum().backward()
    torch.testing.assert_close(X.grad, X2.grad)


def test_cross_entropy_is_per_example_and_matches_torch():
    logits, y = torch.randn(6, 4), torch.tensor([0, 3, 1, 2, 3, 0])
    losses = d2l.cross_entropy(torch.softmax(logits, dim=1), y)
    assert losses.shape == (6, 1)
    torch.testing.assert_close(losses.view(-1), F.cross_entropy(logits, y, reduction="none"))


def test_book_example_values():
    y_hat = torch.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    y = torch.LongTensor([0, 2])
    torch.testing.assert_close(d2l.cross_entropy(y_hat, y).view(-1), -torch.log(torch.tensor([0.1, 0.5])))
    assert d2l.Accuracy()(y_hat, y) == 0.5


def test_accuracy_metric_attributes_and_label_shapes():
    metric = d2l.Accuracy()
    assert (metric.higher_is_better, metric.label, metric.fmt) == (True, "acc", "{:.3f}")
    y_hat = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    assert metric(y_hat, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    assert metric(y_hat, torch.tensor([[0], [1], [1]])) == pytest.approx(2 / 3)
    assert metric(torch.tensor([2, 1]), torch.tensor([2, 0])) == 0.5  # labels already predicted
    with pytest.raises(MinidlError, match="3 predictions but 2 labels"):
        metric(y_hat, torch.tensor([0, 1]))


def test_check_labels():
    check_labels(torch.tensor([0, 9]), 10, "x")
    with pytest.raises(MinidlError, match=r"^model 'm': label 10 is out of range for 10 classes; .* 0\.\.9$"):
        check_labels(torch.tensor([0, 10]), 10, "model 'm'")
    with pytest.raises(MinidlError, match="label -1 is out of range"):
        check_labels(torch.tensor([-1, 3]), 10, "x")
    with pytest.raises(MinidlError, match=r"needs integer class labels, got torch\.float32"):
        check_labels(torch.tensor([0.0]), 10, "x")


def test_flatten_layer():
    assert d2l.FlattenLayer()(torch.zeros(3, 1, 28, 28)).shape == (3, 784)


def test_evaluate_accuracy_module_mode_restored_and_is_training_function():
    net = nn.Sequential(d2l.FlattenLayer(), nn.Dropout(0.99), nn.Linear(4, 2))
    X, y = torch.randn(10, 4), torch.randint(0, 2, (10,))
    loader = DataLoader(TensorDataset(X, y), batch_size=3)
    with torch.no_grad():
        expected = (net[2](X).argmax(1) == y).float().mean().item()
    assert d2l.evaluate_accuracy(loader, net) == pytest.approx(expected)  # eval mode: no dropout
    assert net.training
    seen = []

    def fn(X, is_training=True):
        seen.append(is_training)
        return torch.nn.functional.one_hot(torch.ones(len(X), dtype=torch.long), 2).float()

    assert d2l.evaluate_accuracy(loader, fn) == pytest.approx((y == 1).float().mean().item())
    assert seen and not any(seen)
    with pytest.raises(MinidlError, match="no examples"):
        d2l.evaluate_accuracy([], fn)


def test_evaluate_accuracy_takes_the_books_device_argument():
    net = nn.Sequential(nn.Linear(4, 2))
    X, y = torch.randn(10, 4), torch.randint(0, 2, (10,))
    loader = DataLoader(TensorDataset(X, y), batch_size=4)
    expected = d2l.evaluate_accuracy(loader, net)
    assert d2l.evaluate_accuracy(loader, net, "cpu") == expected
    assert d2l.evaluate_accuracy(loader, net, device=torch.device("cpu")) == expected
    with pytest.raises(RuntimeError):  # a device that is not there is torch's error, as in the book
        d2l.evaluate_accuracy(loader, net, "meta")


def test_fashion_mnist_labels():
    assert d2l.get_fashion_mnist_labels(torch.tensor([0, 9, 5])) == ["t-shirt", "ankle boot", "sandal"]


@pytest.mark.parametrize("layout", ["", "FashionMNIST", "FashionMNIST/raw"])
@pytest.mark.parametrize("compress", [False, True])
def test_load_data_fashion_mnist_reads_local_files(tmp_path, fashion_maker, layout, compress):
    arrays = fashion_maker(tmp_path / layout if layout else tmp_path, 40, 20, compress=compress)
    train_iter, test_iter = d2l.load_data_fashion_mnist(16, root=tmp_path)
    X, y = next(iter(test_iter))  # not shuffled: the file's first images
    assert X.shape == (16, 1, 28, 28) and X.dtype == torch.float32 and y.dtype == torch.int64
    np.testing.assert_allclose(X[:, 0].numpy(), arrays["test"][0][:16] / 255, rtol=1e-6)
    np.testing.assert_array_equal(y.numpy(), arrays["test"][1][:16])
    assert len(train_iter.dataset) == 40 and len(test_iter.dataset) == 20
    assert float(X.min()) >= 0 and float(X.max()) <= 1


def test_fashion_root_from_env_and_book_default(tmp_path, fashion_maker, monkeypatch):
    fashion_maker(tmp_path / "FashionMNIST", 8, 4)
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path))
    assert fashion_mnist_root() == tmp_path
    assert len(read_fashion_mnist()["test"][0]) == 4
    monkeypatch.delenv("MINIDL_DATA")
    assert str(fashion_mnist_root()).endswith("Datasets/FashionMNIST")


def test_missing_files_error_names_files_and_folder(tmp_path, fashion_maker):
    fashion_maker(tmp_path, 8, 4)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(MinidlError) as info:
        d2l.load_data_fashion_mnist(4, root=tmp_path)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path) in message
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte"):
        assert name in message
    assert message.endswith("missing there: t10k-labels-idx1-ubyte. Download them from "
                            "https://github.com/zalandoresearch/fashion-mnist and put them there, "
                            "or point root / $MINIDL_DATA at their folder; offline, root=\"shapes\" "
                            "(or $MINIDL_DATA=shapes) serves the generated shapes images instead, in the same form")


@pytest.mark.parametrize("how", ["root", "env"])
def test_the_offline_stand_in_through_the_same_call(monkeypatch, how):
    """The book's code runs unchanged offline: the shapes images, in Fashion-MNIST's loaders."""
    from minidl_classify.shapes import SHAPES_LABELS

    if how == "env":
        monkeypatch.setenv("MINIDL_DATA", "shapes")
    torch.manual_seed(0)
    train_iter, test_iter = d2l.load_data_fashion_mnist(256, **({"root": "shapes"} if how == "root" else {}))
    assert (len(train_iter.dataset), len(test_iter.dataset)) == (6000, 1000)
    X, y = next(iter(test_iter))
    assert X.shape == (256, 1, 28, 28) and X.dtype == torch.float32 and y.dtype == torch.int64
    assert float(X.min()) >= 0 and float(X.max()) <= 1 and set(y.tolist()) == set(range(10))
    expected = SHAPES_LABELS if how == "env" else ("t-shirt", "trouser")
    assert d2l.get_fashion_mnist_labels([0, 1]) == list(expected[:2])
    _, resized = d2l.load_data_fashion_mnist(8, resize=32, root="shapes")
    assert next(iter(resized))[0].shape == (8, 1, 32, 32)


def test_mismatched_split_and_bad_labels(tmp_path, fashion_maker, idx_writer):
    fashion_maker(tmp_path, 8, 4, compress=False)
    idx_writer(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(3, np.uint8))
    with pytest.raises(MinidlError, match=r"holds 4 images but .* holds 3 labels"):
        read_fashion_mnist(tmp_path)
    idx_writer(tmp_path / "t10k-labels-idx1-ubyte", np.array([0, 1, 12, 3], np.uint8))
    with pytest.raises(MinidlError, match=r"t10k-labels-idx1-ubyte: label 12 is out of range for 10 classes"):
        read_fashion_mnist(tmp_path)


@pytest.mark.parametrize("size", [14, 20, 56])
def test_resize_matches_pil_bilinear(tmp_path, fashion_maker, size):
    """The book resized PIL images through torchvision; PIL's bilinear filter is the oracle."""
    image_module = pytest.importorskip("PIL.Image")
    arrays = fashion_maker(tmp_path, 8, 4)
    _, test_iter = d2l.load_data_fashion_mnist(4, resize=size, root=tmp_path)
    X, _ = next(iter(test_iter))
    assert X.shape == (4, 1, size, size)
    for got, image in zip(X, arrays["test"][0]):
        pil = image_module.fromarray(image.astype(np.float32) / 255)  # mode F: 32-bit floats
        expected = np.asarray(pil.resize((size, size), image_module.BILINEAR))
        np.testing.assert_allclose(got[0].numpy(), expected.clip(0, 1), atol=1e-5)


def test_show_fashion_mnist(monkeypatch):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    images = [torch.rand(1, 28, 28), torch.rand(784)]
    d2l.show_fashion_mnist(images, d2l.get_fashion_mnist_labels([0, 1]))
    axes = pyplot().gcf().axes
    assert [a.get_title() for a in axes] == ["t-shirt", "trouser"]
    pyplot().close("all")


# -- train_ch3 against the book's loop ------------------------------------------------------
def book_train_ch3(net, train_iter, test_iter, loss, num_epochs, batch_size, params=None, lr=None,
                   optimizer=None):
    """The book's train_ch3 (d2lzh_pytorch, section 3.6), returning its printed numbers."""
    lines = []
    for _ in range(num_epochs):
        train_l_sum, train_acc_sum, n = 0.0, 0.0, 0
        for X, y in train_iter:
            y_hat = net(X)
            l = loss(y_hat, y).sum()  # noqa: E741 - the book's name
            if optimizer is not None:
                optimizer.zero_grad()
            elif params is not None and params[0].grad is not None:
                for param in params:
                    param.grad.data.zero_()
            l.backward()
            if optimizer is None:
                for param in params:
                    param.data -= lr * param.grad / batch_size
            else:
                optimizer.step()
            train_l_sum += l.item()
            train_acc_sum += (y_hat.argmax(dim=1) == y).sum().item()
            n += y.shape[0]
        lines.append((train_l_sum / n, train_acc_sum / n, d2l.evaluate_accuracy(test_iter, net)))
    return lines


def blobs(n, generator):
    """Three well separated Gaussian classes in 2-D."""
    y = torch.arange(n) % 3
    centres = torch.tensor([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    return centres[y] + torch.randn(n, 2, generator=generator), y


def softmax_net(num_inputs=2, num_outputs=3):
    W = torch.normal(0, 0.01, (num_inputs, num_outputs), requires_grad=True)
    b = torch.zeros(num_outputs, requires_grad=True)
    return (lambda X: d2l.softmax(torch.mm(X.view(-1, num_inputs), W) + b)), [W, b]


def parse(output):
    return [tuple(float(v) for v in BOOK_LINE.match(line).groups()[1:]) for line in output.splitlines()]


@pytest.mark.parametrize("case", ["scratch", "mean-loss-book-sgd", "torch-optimizer"])
def test_train_ch3_is_the_books_loop(capsys, case):
    """One full batch per epoch, so the shuffling order cannot matter: every number matches."""
    g = torch.Generator().manual_seed(0)
    (X, y), (Xt, yt) = blobs(60, g), blobs(30, g)
    train_iter = DataLoader(TensorDataset(X, y), batch_size=60, shuffle=True)
    test_iter = DataLoader(TensorDataset(Xt, yt), batch_size=60)
    results = []
    for runner in (book_train_ch3, d2l.train_ch3):
        torch.manual_seed(1)
        net, params = softmax_net()
        if case == "scratch":
            args = (d2l.cross_entropy, 4, 60, params, 0.1)
        elif case == "mean-loss-book-sgd":  # section 3.9: a mean loss with the book's sgd
            net = nn.Sequential(nn.Linear(2, 3))
            params = list(net.parameters())
            args = (nn.CrossEntropyLoss(), 4, 60, params, 3.0)
        else:  # section 3.7: nn.CrossEntropyLoss with torch.optim.SGD
            net = nn.Sequential(nn.Linear(2, 3))
            params = list(net.parameters())
            args = (nn.CrossEntropyLoss(), 4, 60, None, None, torch.optim.SGD(net.parameters(), lr=0.1))
        lines = runner(net, train_iter, test_iter, *args)
        results.append((lines, [p.detach().clone() for p in params]))
    (book_lines, book_params), (_, params) = results
    for got, expected in zip(params, book_params):
        torch.testing.assert_close(got, expected)
    printed = parse(capsys.readouterr().out)
    assert len(printed) == 4
    for (loss, acc, test_acc), (b_loss, b_acc, b_test) in zip(printed, book_lines):
        if case != "scratch":
            b_loss *= 60  # the book divides a batch mean by n; minidl reports it per example
        assert loss == pytest.approx(b_loss, abs=5e-5)
        assert (acc, test_acc) == (pytest.approx(b_acc, abs=5e-4), pytest.approx(b_test, abs=5e-4))


def test_train_ch3_history_short_batches_and_learning(capsys):
    g = torch.Generator().manual_seed(0)
    (X, y), (Xt, yt) = blobs(300, g), blobs(90, g)
    train_iter = DataLoader(TensorDataset(X, y), batch_size=32, shuffle=True)
    test_iter = DataLoader(TensorDataset(Xt, yt), batch_size=32)
    torch.manual_seed(0)
    net, params = softmax_net()
    history = d2l.train_ch3(net, train_iter, test_iter, d2l.cross_entropy, 3, 32, params, 0.1)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and all(BOOK_LINE.match(line) for line in lines)
    assert history["test_acc"][-1] == pytest.approx(d2l.evaluate_accuracy(test_iter, net))
    assert history["test_acc"][-1] > 0.9
    assert history["loss"][0] > history["loss"][-1]
    assert set(history[0]) == {"epoch", "loss", "acc", "test_loss", "test_acc"}


def test_train_ch3_tests_as_the_book_batch_by_batch_with_is_training_false(capsys):
    """Section 3.13's scratch net with dropout: tested by evaluate_accuracy, dropout off."""
    g = torch.Generator().manual_seed(0)
    (X, y), (Xt, yt) = blobs(60, g), blobs(30, g)
    train_iter = DataLoader(TensorDataset(X, y), batch_size=20, shuffle=True)
    test_iter = DataLoader(TensorDataset(Xt, yt), batch_size=7)
    inner, params = softmax_net()
    calls = []

    def net(X, is_training=True):
        calls.append((is_training, len(X)))
        return inner(X)

    torch.manual_seed(0)
    history = d2l.train_ch3(net, train_iter, test_iter, d2l.cross_entropy, 2, 20, params, 0.1)
    tests = [size for training, size in calls if not training]
    assert tests and max(tests) == 7 and sum(tests) == 2 * 30  # every test batch, per epoch, as served
    assert [size for training, size in calls if training].count(20) == 6  # 3 steps a epoch, the default
    assert history["test_acc"][-1] == pytest.approx(d2l.evaluate_accuracy(test_iter, net))
    assert len(history["test_loss"]) == 2 and history["test_loss"][-1] > 0
    capsys.readouterr()


def test_train_ch3_leaves_a_module_in_train_mode_and_dropout_off_in_tests(capsys):
    g = torch.Generator().manual_seed(0)
    (X, y), (Xt, yt) = blobs(60, g), blobs(30, g)
    net = nn.Sequential(nn.Linear(2, 3), nn.Dropout(0.999))
    net.eval()
    train_iter = DataLoader(TensorDataset(X, y), batch_size=60)
    test_iter = DataLoader(TensorDataset(Xt, yt), batch_size=30)
    torch.manual_seed(0)
    history = d2l.train_ch3(net, train_iter, test_iter, nn.CrossEntropyLoss(), 1, 60,
                            optimizer=torch.optim.SGD(net.parameters(), lr=1e-9))
    assert net.training  # the book's evaluate_accuracy ends with net.train()
    with torch.no_grad():
        expected = (net[0](Xt).argmax(1) == yt).float().mean().item()  # no dropout when testing
    assert history["test_acc"][-1] == pytest.approx(expected)
    capsys.readouterr()


def test_train_ch3_needs_params_and_lr_without_optimizer():
    loader = DataLoader(TensorDataset(torch.zeros(2, 2), torch.zeros(2, dtype=torch.long)))
    with pytest.raises(MinidlError, match="needs params and lr"):
        d2l.train_ch3(lambda X: X, loader, loader, d2l.cross_entropy, 1, 1)


@pytest.mark.slow  # 7,000 generated images and two epochs
def test_the_books_section_3_6_runs_offline_unchanged(monkeypatch, capsys):
    """$MINIDL_DATA=shapes: the book's own 3.6 code, only its import line changed."""
    monkeypatch.setenv("MINIDL_DATA", "shapes")
    torch.manual_seed(0)
    batch_size = 256
    train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size)
    num_inputs, num_outputs = 784, 10
    W = torch.tensor(np.random.normal(0, 0.01, (num_inputs, num_outputs)), dtype=torch.float)
    b = torch.zeros(num_outputs, dtype=torch.float)
    W.requires_grad_(requires_grad=True)
    b.requires_grad_(requires_grad=True)

    def net(X):
        return d2l.softmax(torch.mm(X.view((-1, num_inputs)), W) + b)

    num_epochs, lr = 2, 0.1
    d2l.train_ch3(net, train_iter, test_iter, d2l.cross_entropy, num_epochs, batch_size, [W, b], lr)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(BOOK_LINE.match(line) for line in lines)
    assert float(BOOK_LINE.match(lines[-1]).group(4)) > 0.5
    _, y = next(iter(test_iter))
    true_labels = d2l.get_fashion_mnist_labels(y.numpy())
    assert set(true_labels) <= {"hline", "vline", "diagonal", "antidiagonal", "plus",
                                "x-cross", "square", "circle", "disk", "triangle"}
