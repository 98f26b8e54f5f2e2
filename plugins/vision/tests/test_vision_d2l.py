"""minidl.d2l's chapter-5 helpers against the book's own (book_cnn.py) on the same data and seed."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import minidl.d2l as d2l
from minidl.d2l import cnn

LINE = re.compile(r"^epoch (\d+), loss (\d+\.\d{4}), train acc (\d\.\d{3}), test acc (\d\.\d{3}), "
                  r"time (\d+\.\d) sec$")


def test_corr2d_is_the_books(book):
    X = torch.tensor([[0, 1, 2], [3, 4, 5], [6, 7, 8]])
    K = torch.tensor([[0, 1], [2, 3]])
    assert torch.equal(d2l.corr2d(X, K), book.corr2d(X, K))  # 5.1's example: [[19, 25], [37, 43]], floats
    g = torch.Generator().manual_seed(0)
    X, K = torch.randn(9, 7, generator=g), torch.randn(3, 2, generator=g)
    torch.testing.assert_close(d2l.corr2d(X, K), book.corr2d(X, K))
    K.requires_grad_(True)  # 5.1.3 learns a kernel through corr2d
    d2l.corr2d(X, K).sum().backward()
    expected = K.detach().clone().requires_grad_(True)
    book.corr2d(X, expected).sum().backward()
    torch.testing.assert_close(K.grad, expected.grad)


def test_blocks_are_the_books(book):
    X = torch.rand(4, 3, 6, 6)
    for ours, theirs in [((3, 3), (3, 3)), ((3, 6, True, 2), (3, 6, True, 2))]:
        torch.manual_seed(0)
        a = d2l.Residual(*ours)
        torch.manual_seed(0)
        b = book.Residual(*theirs)
        assert list(a.state_dict()) == list(b.state_dict())
        torch.testing.assert_close(a(X), b(X))
    assert d2l.Residual(3, 6, use_1x1conv=True, stride=2)(X).shape == (4, 6, 3, 3)  # as 5.11 prints
    torch.testing.assert_close(d2l.GlobalAvgPool2d()(X), book.GlobalAvgPool2d()(X))
    torch.manual_seed(0)
    a = d2l.resnet_block(3, 8, 2)
    torch.manual_seed(0)
    b = book.resnet_block(3, 8, 2)
    torch.testing.assert_close(a(X), b(X))
    with pytest.raises(ValueError, match="must equal out_channels"):
        d2l.resnet_block(3, 8, 2, first_block=True)


def test_resnet18_is_the_books(book):
    torch.manual_seed(0)
    ours = d2l.resnet18(output=5, in_channels=1)
    torch.manual_seed(0)
    theirs = book.resnet18(output=5, in_channels=1)
    expected = theirs.state_dict()
    assert list(ours.state_dict()) == list(expected)
    ours.eval(), theirs.eval()
    X = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(X), theirs(X))
    assert d2l.resnet18().eval()(torch.rand(1, 3, 32, 32)).shape == (1, 10)  # defaults: 10 outputs, 3 channels


def test_names_are_exported():
    for name in ("corr2d", "train_ch5", "GlobalAvgPool2d", "Residual", "resnet_block", "resnet18"):
        assert name in d2l.__all__ and getattr(d2l, name) is getattr(cnn, name)
    with pytest.raises(AttributeError):
        _ = cnn.nonesuch


def test_without_the_plugin_the_layers_name_it():
    code = ("import sys; sys.modules['minidl_vision'] = None; import minidl.d2l as d2l; d2l.corr2d\n"
            "try:\n    d2l.Residual\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ("Residual (the book's chapter-5 layers) come from the minidl-vision plugin, "
                           "which is not installed: pip install ./plugins/vision")


# -- train_ch5 against the book's loop ------------------------------------------------------
class Replay:
    """Batches in the order minidl's Trainer draws them: one randperm per epoch from a
    generator seeded as the Trainer seeds its own (a seed drawn from torch's RNG)."""

    def __init__(self, X, y, batch_size, seed):
        self.X, self.y, self.batch_size = X, y, batch_size
        self.generator = torch.Generator().manual_seed(seed)

    def __iter__(self):
        order = torch.randperm(len(self.X), generator=self.generator)
        for i in range(0, len(self.X), self.batch_size):
            j = order[i: i + self.batch_size]
            yield self.X[j], self.y[j]


def lenet_data(n=90, n_test=40):
    g = torch.Generator().manual_seed(0)
    X, Xt = torch.rand(n, 1, 28, 28, generator=g), torch.rand(n_test, 1, 28, 28, generator=g)
    y, yt = torch.randint(0, 10, (n,), generator=g), torch.randint(0, 10, (n_test,), generator=g)
    return (X, y), (Xt, yt)


def parse(output):
    lines = [line for line in output.splitlines() if line.startswith("epoch")]
    return [tuple(float(v) for v in LINE.match(line).groups()[1:4]) for line in lines]


@pytest.mark.parametrize("model", ["lenet", "lenet-bn"])
def test_train_ch5_is_the_books_loop(book, registry, capsys, model):
    """Same net, same batches in the same order, same Adam steps: same weights and lines."""
    (X, y), (Xt, yt) = lenet_data()
    batch_size, lr, num_epochs = 32, 0.01, 3
    test_iter = DataLoader(TensorDataset(Xt, yt), batch_size=batch_size)
    results = []
    for run in ("book", "minidl"):
        torch.manual_seed(0)
        net = registry.build("model", model, num_inputs=784, num_outputs=10)
        optimizer = torch.optim.Adam(net.parameters(), lr=lr)
        torch.manual_seed(1)
        if run == "book":
            seed = int(torch.randint(2**31 - 1, ()).item())  # what minidl's Trainer draws first
            torch.manual_seed(seed)  # and then seeds torch with
            book.train_ch5(net, Replay(X, y, batch_size, seed), test_iter, batch_size, optimizer, "cpu", num_epochs)
        else:
            train_iter = DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=True)
            history = d2l.train_ch5(net, train_iter, test_iter, batch_size, optimizer, torch.device("cpu"),
                                    num_epochs)
        results.append((capsys.readouterr().out, net.state_dict()))
    (book_out, book_state), (out, state) = results
    for key in book_state:
        torch.testing.assert_close(state[key], book_state[key], msg=key)
    assert out.splitlines()[0] == book_out.splitlines()[0] == "training on  cpu"
    assert all(LINE.match(line) for line in out.splitlines()[1:])
    assert parse(out) == parse(book_out) and len(parse(out)) == num_epochs
    assert len(history) == num_epochs and set(history[0]) == {"epoch", "loss", "acc", "test_acc"}
    assert history["test_acc"] == pytest.approx([line[2] for line in parse(out)], abs=5e-4)
    assert net.training  # left in train mode, as the book's evaluate_accuracy leaves it


def test_train_ch5_history_and_the_books_divisor(registry, capsys):
    (X, y), (Xt, yt) = lenet_data(64, 16)
    torch.manual_seed(0)
    net = registry.build("model", "lenet", num_inputs=784, num_outputs=10)
    train_iter = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)
    test_iter = DataLoader(TensorDataset(Xt, yt), batch_size=16)
    history = d2l.train_ch5(net, train_iter, test_iter, 16, torch.optim.Adam(net.parameters(), 0.001), "cpu", 2)
    printed = parse(capsys.readouterr().out)
    assert printed[0][0] == pytest.approx(history["loss"][0], abs=5e-5)  # epoch 1: 4 batches, 4 counted
    assert printed[1][0] == pytest.approx(history["loss"][1] / 2, abs=5e-5)  # epoch 2: 4 batches, 8 counted
    assert history["test_acc"][-1] == pytest.approx(d2l.evaluate_accuracy(test_iter, net))
