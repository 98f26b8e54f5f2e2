"""A learner's bad argument to a book helper is named where it enters minidl.d2l (its name,
its value and what is accepted), not left to an obscure error from deep inside torch, a
ZeroDivisionError or a silently wrong result. Each case failed badly before its fix."""

from __future__ import annotations

import io
import math
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import minidl.d2l as d2l
from minidl.errors import MinidlError

LYRICS = Path(__file__).resolve().parents[2] / "shared" / "data" / "jaychou_lyrics.txt.zip"
needs_lyrics = pytest.mark.skipif(not LYRICS.is_file(), reason=f"shared data file {LYRICS} is missing")


def _images(n: int = 8, side: int = 8, classes: int = 10) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.rand(n, 1, side, side, generator=g), torch.arange(n) % classes),
                      batch_size=4)


# -- 3.5: load_data_fashion_mnist, get_fashion_mnist_labels ---------------------------------------
@pytest.mark.parametrize("batch_size, error, match", [
    (0, MinidlError, r"batch_size must be an integer >= 1, got 0"),
    (-1, MinidlError, r"batch_size .* got -1"),
    (2.5, TypeError, r"batch_size .* got 2\.5 \(float\)"),
    ("256", TypeError, r"batch_size .* got '256' \(str\)"),
    (None, TypeError, r"batch_size .* got None"),
])
def test_load_data_fashion_mnist_names_a_bad_batch_size(batch_size, error, match):
    with pytest.raises(error, match="load_data_fashion_mnist: " + match):
        d2l.load_data_fashion_mnist(batch_size, root="shapes")


@pytest.mark.parametrize("resize, error, match", [
    (0, MinidlError, r"resize must be an integer >= 1, got 0"),  # was: silently no resize
    (-3, MinidlError, r"resize must be an integer >= 1, got -3"),
    ((28,), MinidlError, r"resize=\(28,\) has 1 value\(s\); accepted: None, a positive int"),
    ((28, 28, 3), MinidlError, r"has 3 value\(s\)"),
    ("x", TypeError, r"resize must be None, a positive int .* got 'x' \(str\)"),
    (2.5, TypeError, r"got 2\.5 \(float\)"),
])
def test_load_data_fashion_mnist_names_a_bad_resize(resize, error, match):
    with pytest.raises(error, match=match):
        d2l.load_data_fashion_mnist(4, resize=resize, root="shapes")


def test_load_data_fashion_mnist_still_takes_a_side_or_a_pair():
    for resize, shape in [(12, (12, 12)), ((12, 10), (12, 10)), ([12, 10], (12, 10)), (None, (28, 28))]:
        X, _ = next(iter(d2l.load_data_fashion_mnist(4, resize=resize, root="shapes")[0]))
        assert tuple(X.shape) == (4, 1, *shape)


def test_load_data_fashion_mnist_names_a_root_that_is_a_file_or_not_a_path(tmp_path):
    file = tmp_path / "train-images-idx3-ubyte"
    file.write_bytes(b"x")
    with pytest.raises(MinidlError, match=r"root='.*train-images-idx3-ubyte' is a file; give the folder"):
        d2l.load_data_fashion_mnist(4, root=file)
    with pytest.raises(TypeError, match=r"root must be a folder \(a str or a path\), got 123 \(int\)"):
        d2l.load_data_fashion_mnist(4, root=123)


@pytest.mark.parametrize("label", [10, -1, 2.7])
def test_get_fashion_mnist_labels_refuses_a_label_that_is_no_class(label):
    with pytest.raises(MinidlError, match=rf"label {label} is not a class; labels are the integers 0\.\.9"):
        d2l.get_fashion_mnist_labels([label])  # 10: IndexError, -1: 'ankle boot', 2.7: 'pullover' before


def test_get_fashion_mnist_labels_still_takes_tensors_and_whole_floats():
    assert d2l.get_fashion_mnist_labels(torch.tensor([0, 9])) == d2l.get_fashion_mnist_labels([0.0, 9.0])


# -- 3.2 and 3.6: sgd, data_iter, train_ch3, evaluate_accuracy --------------------------------------
@pytest.mark.parametrize("batch_size", [0, -1])
def test_sgd_refuses_a_batch_size_that_is_not_positive(batch_size):
    w = torch.ones(2, requires_grad=True)
    w.sum().backward()
    with pytest.raises(MinidlError, match=rf"sgd: batch_size must be a positive number .* got {batch_size}"):
        d2l.sgd([w], 0.1, batch_size)  # 0: ZeroDivisionError, -1: a step up the loss, before
    assert torch.equal(w.detach(), torch.ones(2))


def test_data_iter_names_a_bad_batch_size_and_mismatched_labels():
    with pytest.raises(MinidlError, match=r"data_iter: batch_size must be an integer >= 1, got 0"):
        list(d2l.data_iter(0, torch.ones(5, 2), torch.ones(5)))  # range() arg 3 must not be zero
    with pytest.raises(MinidlError, match=r"features have 5 examples but labels 4"):
        list(d2l.data_iter(2, torch.ones(5, 2), torch.ones(4)))  # IndexError: index out of range in self


def test_evaluate_accuracy_names_swapped_arguments_bad_batches_and_a_net_with_too_few_classes():
    data, net = _images(), nn.Sequential(d2l.FlattenLayer(), nn.Linear(64, 10))
    with pytest.raises(TypeError, match=r"net must be a model or a function, got DataLoader .*swapped"):
        d2l.evaluate_accuracy(net, data)
    with pytest.raises(TypeError, match=r"data_iter must yield \(X, y\) batches .* got int"):
        d2l.evaluate_accuracy(5, net)
    with pytest.raises(TypeError, match=r"data_iter must yield \(X, y\) pairs of tensors, got a Tensor"):
        d2l.evaluate_accuracy([torch.ones(2, 1, 8, 8)], net)
    with pytest.raises(MinidlError, match=r"the labels go up to 7, but net gives 5 scores per example; "
                                          r"build it with 8 outputs"):  # was a silent accuracy
        d2l.evaluate_accuracy(data, nn.Sequential(d2l.FlattenLayer(), nn.Linear(64, 5)))


def test_train_ch3_names_float_labels_and_a_bad_batch_size():
    W = torch.normal(0, 0.01, (64, 10), requires_grad=True)
    b = torch.zeros(10, requires_grad=True)

    def net(X):
        return d2l.softmax(torch.mm(X.view(-1, 64), W) + b)

    X, y = next(iter(_images()))
    floats = DataLoader(TensorDataset(X, y.float()), batch_size=4)
    with pytest.raises(MinidlError, match=r"loss 'cross_entropy' .* model 'net' .* dataset 'train_iter' .*"
                                          r"labels must be integer class indices .* got torch\.float32"):
        d2l.train_ch3(net, floats, floats, d2l.cross_entropy, 1, 4, [W, b], 0.1)  # gather(): Expected dtype
    with pytest.raises(MinidlError, match=r"train_ch3: batch_size must be an integer >= 1, got 0"):
        d2l.train_ch3(net, _images(), _images(), d2l.cross_entropy, 1, 0, [W, b], 0.1)


# -- chapter 5 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("X, K, error, match", [
    (torch.ones(3, 3), torch.ones(4, 4), MinidlError, r"kernel K of shape \(4, 4\) must be non-empty and no larger "
                                                      r"than X of shape \(3, 3\)"),
    (torch.ones(3, 3), torch.ones(0, 0), MinidlError, r"must be non-empty"),
    (torch.ones(5), torch.ones(2, 2), MinidlError, r"X must be 2-D \(height, width\), got shape \(5,\)"),
    (torch.ones(1, 3, 3), torch.ones(2, 2), MinidlError, r"X must be 2-D .* \(1, 3, 3\); for one channel"),
    (torch.ones(3, 3), torch.ones(2), MinidlError, r"K must be 2-D"),
    ([[1, 2], [3, 4]], torch.ones(1, 1), TypeError, r"X must be a 2-D tensor, got list"),
])
def test_corr2d_names_bad_shapes(X, K, error, match):
    with pytest.raises(error, match="corr2d: .*" + match):  # 1-D X was a silently wrong result
        d2l.corr2d(X, K)


@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4), (1, 2, 3, 4, 4)])
def test_global_avg_pool_names_an_input_that_is_not_4d(shape):
    with pytest.raises(ValueError, match=r"GlobalAvgPool2d takes feature maps of shape \(batch, channels, "
                                         rf"height, width\), got shape {re_shape(shape)}"):
        d2l.GlobalAvgPool2d()(torch.ones(shape))


def re_shape(shape):
    return str(tuple(shape)).replace("(", r"\(").replace(")", r"\)")


def test_the_resnet_blocks_name_bad_counts():
    with pytest.raises(ValueError, match=r"resnet_block: num_residuals must be an integer >= 1, got 0"):
        d2l.resnet_block(64, 128, 0)  # was an empty block, failing later on the channels
    with pytest.raises(TypeError, match=r"num_residuals must be an integer >= 1, got 2\.0 \(float\)"):
        d2l.resnet_block(64, 128, 2.0)
    with pytest.raises(ValueError, match=r"resnet18: output must be an integer >= 1, got 0"):
        d2l.resnet18(0)
    with pytest.raises(ValueError, match=r"Residual: the block's output \(2, 6, 3, 3\) and its input "
                                         r"\(2, 3, 6, 6\) cannot be added; .* use_1x1conv=True"):
        d2l.Residual(3, 6, stride=2)(torch.ones(2, 3, 6, 6))


def _book_alexnet():  # 5.6, layer for layer
    return nn.Sequential(nn.Conv2d(1, 96, 11, 4), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Conv2d(96, 256, 5, 1, 2),
                         nn.ReLU(), nn.MaxPool2d(3, 2), nn.Conv2d(256, 384, 3, 1, 1), nn.ReLU(),
                         nn.Conv2d(384, 384, 3, 1, 1), nn.ReLU(), nn.Conv2d(384, 256, 3, 1, 1), nn.ReLU(),
                         nn.MaxPool2d(3, 2), d2l.FlattenLayer(), nn.Linear(256 * 5 * 5, 4096), nn.ReLU(),
                         nn.Linear(4096, 10))


def test_train_ch5_names_the_layer_where_a_small_image_vanishes():
    net = _book_alexnet()
    with redirect_stdout(io.StringIO()), pytest.raises(
            MinidlError, match=r"train_ch5: net cannot take train_iter's images: input 1x8x8 shrinks to 0x0 at "
                               r"layer '0' \(Conv2d\); this network takes square images of a side from \d+ to "
                               r"\d+: load_data_fashion_mnist\(batch_size, resize=N\)"):
        d2l.train_ch5(net, _images(), _images(), 4, torch.optim.SGD(net.parameters(), lr=0.01), "cpu", 1)


def test_the_sizes_named_are_the_ones_that_work():
    from minidl_vision.sizing import fitting_sides

    first, last = fitting_sides(_book_alexnet(), 1)
    assert first <= 224 <= last  # the book's size
    assert last is not None
    for side, works in [(first - 1, False), (first, True), (last, True), (last + 1, False)]:
        try:
            _book_alexnet().eval()(torch.zeros(1, 1, side, side))
            ran = True
        except RuntimeError:
            ran = False
        assert ran == works, side


def test_train_ch5_names_a_linear_layer_sized_for_another_image():
    net = nn.Sequential(nn.Conv2d(1, 6, 5), nn.Sigmoid(), nn.MaxPool2d(2, 2), d2l.FlattenLayer(),
                        nn.Linear(6 * 12 * 12, 10))  # sized for 28x28; "mat1 and mat2 shapes" before
    with redirect_stdout(io.StringIO()), pytest.raises(
            MinidlError, match=r"layer '4' \(Linear\) takes 864 values per example but gets 24 \(from input "
                               r"1x8x8\); this network takes square images of a side from 28 to 29"):
        d2l.train_ch5(net, _images(), _images(), 4, torch.optim.SGD(net.parameters(), lr=0.01), "cpu", 1)


def test_train_ch5_names_a_bad_device_and_a_missing_optimizer():
    net = nn.Sequential(d2l.FlattenLayer(), nn.Linear(64, 10))
    with pytest.raises(MinidlError, match=r"train_ch5: unknown device 'gpu'; use 'cpu', 'cuda'"):
        d2l.train_ch5(net, _images(), _images(), 4, torch.optim.SGD(net.parameters(), lr=0.1), "gpu", 1)
    with pytest.raises(TypeError, match=r"train_ch5: optimizer must be a torch.optim optimizer .* got None"):
        d2l.train_ch5(net, _images(), _images(), 4, None, "cpu", 1)


def test_evaluate_accuracy_names_a_test_set_of_another_image_size():
    net = nn.Sequential(d2l.FlattenLayer(), nn.Linear(64, 10))
    with pytest.raises(MinidlError, match=r"evaluate_accuracy: net cannot take data_iter's images: layer '1' "
                                          r"\(Linear\) takes 64 values per example but gets 100"):
        d2l.evaluate_accuracy(_images(side=10), net)


# -- chapter 6 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("sampler", ["data_iter_random", "data_iter_consecutive"])
@pytest.mark.parametrize("corpus, batch_size, num_steps, error, match", [
    (list(range(30)), 2, 100, MinidlError, r"a corpus of 30 characters gives no batch of batch_size=2 sequences "
                                           r"of num_steps=100"),  # silently nothing before
    ([], 2, 5, MinidlError, r"a corpus of 0 characters gives no batch"),
    (list(range(30)), 0, 5, MinidlError, r"batch_size must be an integer >= 1, got 0"),
    (list(range(30)), -1, 5, MinidlError, r"batch_size must be an integer >= 1, got -1"),
    (list(range(30)), 2, 0, MinidlError, r"num_steps must be an integer >= 1, got 0"),
    (list(range(30)), 2.5, 5, TypeError, r"batch_size must be an integer >= 1, got 2\.5"),
    ("abcdefghijkl", 2, 2, TypeError, r"corpus_indices must be the characters' indices, got the text itself"),
])
def test_the_samplers_name_bad_arguments_when_called(sampler, corpus, batch_size, num_steps, error, match):
    with pytest.raises(error, match=f"{sampler}: {match}"):
        getattr(d2l, sampler)(corpus, batch_size, num_steps, "cpu")  # no need to iterate: checked at the call


@pytest.mark.parametrize("call, error, match", [
    (lambda: d2l.one_hot(torch.tensor([0, 5]), 3), ValueError, r"one_hot: index 5 is out of range for n_class=3; "
                                                               r"the indices must be integers in 0\.\.2"),
    (lambda: d2l.one_hot(torch.tensor([0, -1]), 3), ValueError, r"index -1 is out of range"),
    (lambda: d2l.one_hot(torch.tensor([0.0, 1.7]), 3), ValueError, r"index 1\.7\d* is not a whole number"),
    (lambda: d2l.one_hot(torch.tensor([0]), 0), ValueError, r"n_class must be an integer >= 1"),
    (lambda: d2l.one_hot(torch.tensor(1), 3), ValueError, r"indices must be of shape \(batch,\), got shape \(\)"),
    (lambda: d2l.one_hot([0, 1], 3), TypeError, r"must be a tensor of shape \(batch,\), got list"),
    (lambda: d2l.to_onehot(torch.tensor([0, 1]), 3), ValueError, r"to_onehot: the indices must be of shape "
                                                                 r"\(batch, num_steps\), got shape \(2,\)"),
    (lambda: d2l.to_onehot(torch.tensor([[0.5]]), 3), ValueError, r"to_onehot: index 0\.5 is not a whole number"),
    (lambda: d2l.to_onehot(torch.tensor([[0, 9]]), 3), ValueError, r"to_onehot: index 9 is out of range"),
])
def test_one_hot_names_bad_indices(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_one_hot_still_takes_whole_float_indices_as_the_samplers_give_them():
    assert torch.equal(d2l.one_hot(torch.tensor([2.0, 0.0]), 3), torch.tensor([[0.0, 0, 1], [1, 0, 0]]))


@pytest.mark.parametrize("theta, error", [(0, MinidlError), (-1, MinidlError), (math.nan, MinidlError),
                                          ("1", TypeError)])
def test_grad_clipping_names_a_bad_theta(theta, error):
    p = torch.ones(3, requires_grad=True)
    (p * 2).sum().backward()
    with pytest.raises(error, match=r"grad_clipping: theta must be a positive number"):
        d2l.grad_clipping([p], theta, "cpu")  # 0 and nan zeroed the gradient, -1 reversed it, before
    assert p.grad.tolist() == [2.0, 2.0, 2.0]


def test_grad_clipping_names_a_parameter_without_gradient_and_takes_inf():
    with pytest.raises(MinidlError, match=r"parameter 0 of shape \(3,\) has no gradient; call it after"):
        d2l.grad_clipping([torch.ones(3, requires_grad=True)], 1, "cpu")
    p = torch.ones(3, requires_grad=True)
    (p * 2).sum().backward()
    d2l.grad_clipping([p], math.inf, "cpu")  # clips nothing
    assert p.grad.tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("call, error, match", [
    (lambda: d2l.RNNModel(nn.RNN(5, 4), 0), ValueError, r"RNNModel: vocab_size must be an integer >= 1 .* got 0"),
    (lambda: d2l.RNNModel(nn.Linear(5, 4), 5), TypeError, r"rnn_layer must be an nn.RNN, nn.GRU or nn.LSTM, "
                                                          r"got Linear"),
    (lambda: d2l.RNNModel(nn.RNN(6, 4), 5), ValueError, r"rnn_layer takes input_size=6, but the one-hot inputs "
                                                        r"have vocab_size=5"),
    (lambda: d2l.RNNModel(nn.RNN(5, 4, batch_first=True), 5), ValueError, r"batch_first=True"),  # silently wrong
])
def test_rnn_model_names_a_bad_layer_or_vocab_size(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.fixture(scope="module")
def lyrics():
    if not LYRICS.is_file():
        pytest.skip(f"shared data file {LYRICS} is missing")
    return d2l.load_data_jay_lyrics(LYRICS)


def _scratch_rnn(vocab_size, num_hiddens=8):
    def get_params():
        def _one(shape):
            return nn.Parameter(torch.normal(0, 0.01, shape))
        return nn.ParameterList([_one((vocab_size, num_hiddens)), _one((num_hiddens, num_hiddens)),
                                 nn.Parameter(torch.zeros(num_hiddens)), _one((num_hiddens, vocab_size)),
                                 nn.Parameter(torch.zeros(vocab_size))])

    def init_rnn_state(batch_size, num_hiddens, device):
        return (torch.zeros((batch_size, num_hiddens), device=device),)

    from minidl_sequence.models import rnn  # the book's 6.4 cell, as the sequence plugin ships it

    return rnn, get_params, init_rnn_state, num_hiddens


@needs_lyrics
@pytest.mark.parametrize("change, error, match", [
    ({"is_random_iter": "False"}, TypeError, r"is_random_iter must be True or False, got 'False' \(str\)"),
    ({"pred_period": 0}, MinidlError, r"pred_period must be an integer >= 1, got 0"),  # ZeroDivisionError
    ({"pred_len": -1}, MinidlError, r"pred_len must be an integer >= 0, got -1"),
    ({"num_steps": 0}, MinidlError, r"num_steps must be an integer >= 1, got 0"),
    ({"num_steps": 3000}, MinidlError, r"a corpus of 2000 characters gives no batch of batch_size=8"),
    ({"clipping_theta": 0}, MinidlError, r"clipping_theta must be a positive number, got 0"),
    ({"prefixes": "分开"}, TypeError, r"prefixes must be a list of strings, got '分开'; for one prefix, "
                                    r"use \['分开'\]"),  # iterated as two one-character prefixes before
    ({"prefixes": ["分开xz"]}, MinidlError, r"prefix '分开xz': 2 character\(s\) not in the vocabulary .* 'x', 'z'"),
    ({"vocab_size": 10}, MinidlError, r"vocab_size=10, but idx_to_char has 1027 characters"),
])
def test_train_and_predict_rnn_checks_its_arguments_before_training(lyrics, change, error, match):
    corpus_indices, char_to_idx, idx_to_char, vocab_size = lyrics
    rnn, get_params, init_rnn_state, num_hiddens = _scratch_rnn(vocab_size)
    args = {"rnn": rnn, "get_params": get_params, "init_rnn_state": init_rnn_state, "num_hiddens": num_hiddens,
            "vocab_size": vocab_size, "device": "cpu", "corpus_indices": corpus_indices[:2000],
            "idx_to_char": idx_to_char, "char_to_idx": char_to_idx, "is_random_iter": True, "num_epochs": 1,
            "num_steps": 35, "lr": 100, "clipping_theta": 0.01, "batch_size": 8, "pred_period": 1,
            "pred_len": 5, "prefixes": ["分开"]}
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(error, match="train_and_predict_rnn: " + match):
        d2l.train_and_predict_rnn(**{**args, **change})
    assert "epoch" not in out.getvalue()  # refused before the first epoch


@needs_lyrics
def test_predict_rnn_names_a_bad_num_chars_and_vocab_size(lyrics):
    _, char_to_idx, idx_to_char, vocab_size = lyrics
    rnn, get_params, init_rnn_state, num_hiddens = _scratch_rnn(vocab_size)
    params = get_params()
    with pytest.raises(MinidlError, match=r"predict_rnn: num_chars must be an integer >= 0, got -1"):
        d2l.predict_rnn("分开", -1, rnn, params, init_rnn_state, num_hiddens, vocab_size, "cpu", idx_to_char,
                        char_to_idx)  # was the prefix's first character alone
    with pytest.raises(MinidlError, match=r"predict_rnn: vocab_size=1030, but idx_to_char has 1027"):
        d2l.predict_rnn("分开", 5, rnn, params, init_rnn_state, num_hiddens, vocab_size + 3, "cpu", idx_to_char,
                        char_to_idx)  # mat1 and mat2 shapes cannot be multiplied, before


@needs_lyrics
def test_train_and_predict_rnn_pytorch_names_a_bad_lr_and_clipping(lyrics):
    corpus_indices, char_to_idx, idx_to_char, vocab_size = lyrics
    model = d2l.RNNModel(nn.RNN(vocab_size, 8), vocab_size)
    for lr, theta, match in [(math.nan, 0.01, r"lr must be a positive number \(finite\), got nan"),
                             (1e-3, -1, r"clipping_theta must be a positive number, got -1")]:  # -1: ascent
        with pytest.raises(MinidlError, match="train_and_predict_rnn_pytorch: " + match):
            d2l.train_and_predict_rnn_pytorch(model, 8, vocab_size, "cpu", corpus_indices[:2000], idx_to_char,
                                              char_to_idx, 1, 35, lr, theta, 8, 1, 5, ["分开"])


def test_load_data_jay_lyrics_names_an_empty_corpus_and_a_path_that_is_not_one(tmp_path):
    empty = tmp_path / "jaychou_lyrics.txt"
    empty.write_text("")
    with pytest.raises(MinidlError, match=r"load_data_jay_lyrics: the corpus read from .* is empty"):
        d2l.load_data_jay_lyrics(empty)
    with pytest.raises(TypeError, match=r"path must be a file or folder .* got 123 \(int\)"):
        d2l.load_data_jay_lyrics(123)


# -- chapter 7 ----------------------------------------------------------------------------------------
def _momentum(params, states, hyperparams):
    for p, v in zip(params, states):
        v.data = hyperparams["momentum"] * v.data + hyperparams["lr"] * p.grad.data
        p.data -= v.data


def test_train_ch7_names_a_missing_hyperparameter_and_bad_data():
    features, labels = torch.randn(40, 5), torch.randn(40)
    states = (torch.zeros((5, 1)), torch.zeros(1))
    with redirect_stdout(io.StringIO()), pytest.raises(
            MinidlError, match=r"train_ch7: _momentum reads hyperparams\['momentum'\], which the hyperparams given "
                               r"\(\{'lr': 0\.05\}\) lack"):  # a bare KeyError: 'momentum' before
        d2l.train_ch7(_momentum, states, {"lr": 0.05}, features, labels, num_epochs=1)
    with pytest.raises(TypeError, match=r"train_ch7: hyperparams must be a dict such as \{'lr': 0\.05\}, got 0\.05"):
        d2l.train_ch7(_momentum, states, 0.05, features, labels)
    with pytest.raises(MinidlError, match=r"train_ch7: features must be \(n, d\), .* got shape \(40,\)"):
        d2l.train_ch7(_momentum, states, {"lr": 0.05}, features[:, 0], labels)  # IndexError before
