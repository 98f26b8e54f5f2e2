"""minidl.d2l's chapter-6 helpers against the book's own code (d2lzh_pytorch, copied here as
the oracle): same data, same seeds, same results."""
# ruff: noqa: SIM108, SIM117, UP008, UP031  (the book's code is kept as the book writes it)

from __future__ import annotations

import math
import random
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import minidl.d2l as d2l
from minidl.errors import MinidlError

SHARED = Path(__file__).resolve().parents[2] / "shared"  # ../shared from the repository root
LYRICS = SHARED / "data" / "jaychou_lyrics.txt.zip"
DEVICE = torch.device("cpu")
pytestmark = pytest.mark.skipif(not LYRICS.is_file(), reason=f"shared data file {LYRICS} is missing")


# -- the book's code (d2lzh_pytorch), verbatim but for the data path and the device ------------------
def book_load_data_jay_lyrics():
    with zipfile.ZipFile(LYRICS) as zin:
        with zin.open('jaychou_lyrics.txt') as f:
            corpus_chars = f.read().decode('utf-8')
    corpus_chars = corpus_chars.replace('\n', ' ').replace('\r', ' ')
    corpus_chars = corpus_chars[0:10000]
    idx_to_char = list(set(corpus_chars))
    char_to_idx = dict([(char, i) for i, char in enumerate(idx_to_char)])
    vocab_size = len(char_to_idx)
    corpus_indices = [char_to_idx[char] for char in corpus_chars]
    return corpus_indices, char_to_idx, idx_to_char, vocab_size


def book_data_iter_random(corpus_indices, batch_size, num_steps, device=None):
    num_examples = (len(corpus_indices) - 1) // num_steps
    epoch_size = num_examples // batch_size
    example_indices = list(range(num_examples))
    random.shuffle(example_indices)

    def _data(pos):
        return corpus_indices[pos: pos + num_steps]
    if device is None:
        device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')

    for i in range(epoch_size):
        i = i * batch_size
        batch_indices = example_indices[i: i + batch_size]
        X = [_data(j * num_steps) for j in batch_indices]
        Y = [_data(j * num_steps + 1) for j in batch_indices]
        yield torch.tensor(X, dtype=torch.float32, device=device), torch.tensor(Y, dtype=torch.float32, device=device)


def book_data_iter_consecutive(corpus_indices, batch_size, num_steps, device=None):
    if device is None:
        device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    corpus_indices = torch.tensor(corpus_indices, dtype=torch.float32, device=device)
    data_len = len(corpus_indices)
    batch_len = data_len // batch_size
    indices = corpus_indices[0: batch_size * batch_len].view(batch_size, batch_len)
    epoch_size = (batch_len - 1) // num_steps
    for i in range(epoch_size):
        i = i * num_steps
        X = indices[:, i: i + num_steps]
        Y = indices[:, i + 1: i + num_steps + 1]
        yield X, Y


def book_one_hot(x, n_class, dtype=torch.float32):
    x = x.long()
    res = torch.zeros(x.shape[0], n_class, dtype=dtype, device=x.device)
    res.scatter_(1, x.view(-1, 1), 1)
    return res


def book_to_onehot(X, n_class):
    return [book_one_hot(X[:, i], n_class) for i in range(X.shape[1])]


def book_predict_rnn(prefix, num_chars, rnn, params, init_rnn_state,
                     num_hiddens, vocab_size, device, idx_to_char, char_to_idx):
    state = init_rnn_state(1, num_hiddens, device)
    output = [char_to_idx[prefix[0]]]
    for t in range(num_chars + len(prefix) - 1):
        X = book_to_onehot(torch.tensor([[output[-1]]], device=device), vocab_size)
        (Y, state) = rnn(X, state, params)
        if t < len(prefix) - 1:
            output.append(char_to_idx[prefix[t + 1]])
        else:
            output.append(int(Y[0].argmax(dim=1).item()))
    return ''.join([idx_to_char[i] for i in output])


def book_grad_clipping(params, theta, device):
    norm = torch.tensor([0.0], device=device)
    for param in params:
        norm += (param.grad.data ** 2).sum()
    norm = norm.sqrt().item()
    if norm > theta:
        for param in params:
            param.grad.data *= (theta / norm)


def book_sgd(params, lr, batch_size):
    for param in params:
        param.data -= lr * param.grad / batch_size


def book_train_and_predict_rnn(rnn, get_params, init_rnn_state, num_hiddens,
                               vocab_size, device, corpus_indices, idx_to_char,
                               char_to_idx, is_random_iter, num_epochs, num_steps,
                               lr, clipping_theta, batch_size, pred_period,
                               pred_len, prefixes):
    if is_random_iter:
        data_iter_fn = book_data_iter_random
    else:
        data_iter_fn = book_data_iter_consecutive
    params = get_params()
    loss = nn.CrossEntropyLoss()

    for epoch in range(num_epochs):
        if not is_random_iter:
            state = init_rnn_state(batch_size, num_hiddens, device)
        l_sum, n, start = 0.0, 0, time.time()
        data_iter = data_iter_fn(corpus_indices, batch_size, num_steps, device)
        for X, Y in data_iter:
            if is_random_iter:
                state = init_rnn_state(batch_size, num_hiddens, device)
            else:
                for s in state:
                    s.detach_()

            inputs = book_to_onehot(X, vocab_size)
            (outputs, state) = rnn(inputs, state, params)
            outputs = torch.cat(outputs, dim=0)
            y = torch.transpose(Y, 0, 1).contiguous().view(-1)
            l = loss(outputs, y.long())  # noqa: E741

            if params[0].grad is not None:
                for param in params:
                    param.grad.data.zero_()
            l.backward()
            book_grad_clipping(params, clipping_theta, device)
            book_sgd(params, lr, 1)

            l_sum += l.item() * y.shape[0]
            n += y.shape[0]

        if (epoch + 1) % pred_period == 0:
            print('epoch %d, perplexity %f, time %.2f sec' % (
                epoch + 1, math.exp(l_sum / n), time.time() - start))
            for prefix in prefixes:
                print(' -', book_predict_rnn(prefix, pred_len, rnn, params, init_rnn_state,
                                             num_hiddens, vocab_size, device, idx_to_char, char_to_idx))
    return params


class BookRNNModel(nn.Module):
    def __init__(self, rnn_layer, vocab_size):
        super(BookRNNModel, self).__init__()
        self.rnn = rnn_layer
        self.hidden_size = rnn_layer.hidden_size * (2 if rnn_layer.bidirectional else 1)
        self.vocab_size = vocab_size
        self.dense = nn.Linear(self.hidden_size, vocab_size)
        self.state = None

    def forward(self, inputs, state):  # inputs: (batch, seq_len)
        X = book_to_onehot(inputs, self.vocab_size)
        Y, self.state = self.rnn(torch.stack(X), state)
        output = self.dense(Y.view(-1, Y.shape[-1]))
        return output, self.state


def book_predict_rnn_pytorch(prefix, num_chars, model, vocab_size, device, idx_to_char, char_to_idx):
    state = None
    output = [char_to_idx[prefix[0]]]
    for t in range(num_chars + len(prefix) - 1):
        X = torch.tensor([output[-1]], device=device).view(1, 1)
        if state is not None:
            if isinstance(state, tuple):
                state = (state[0].to(device), state[1].to(device))
            else:
                state = state.to(device)
        (Y, state) = model(X, state)
        if t < len(prefix) - 1:
            output.append(char_to_idx[prefix[t + 1]])
        else:
            output.append(int(Y.argmax(dim=1).item()))
    return ''.join([idx_to_char[i] for i in output])


def book_train_and_predict_rnn_pytorch(model, num_hiddens, vocab_size, device,
                                       corpus_indices, idx_to_char, char_to_idx,
                                       num_epochs, num_steps, lr, clipping_theta,
                                       batch_size, pred_period, pred_len, prefixes,
                                       fixed=False):
    """The book's loop; ``fixed``: minidl's two documented changes (clip a list of the
    parameters, not an exhausted generator; a fresh state every epoch)."""
    loss = nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.to(device)
    state = None
    for epoch in range(num_epochs):
        if fixed:
            state = None
        l_sum, n, start = 0.0, 0, time.time()
        data_iter = book_data_iter_consecutive(corpus_indices, batch_size, num_steps, device)
        for X, Y in data_iter:
            if state is not None:
                if isinstance(state, tuple):
                    state = (state[0].detach(), state[1].detach())
                else:
                    state = state.detach()
            (output, state) = model(X, state)
            y = torch.transpose(Y, 0, 1).contiguous().view(-1)
            l = loss(output, y.long())  # noqa: E741
            optimizer.zero_grad()
            l.backward()
            book_grad_clipping(list(model.parameters()) if fixed else model.parameters(), clipping_theta, device)
            optimizer.step()
            l_sum += l.item() * y.shape[0]
            n += y.shape[0]
        try:
            perplexity = math.exp(l_sum / n)
        except OverflowError:
            perplexity = float('inf')
        if (epoch + 1) % pred_period == 0:
            print('epoch %d, perplexity %f, time %.2f sec' % (epoch + 1, perplexity, time.time() - start))
            for prefix in prefixes:
                print(' -', book_predict_rnn_pytorch(prefix, pred_len, model, vocab_size, device, idx_to_char,
                                                     char_to_idx))


# -- the notebook's model (6.4's rnn, get_params, init_rnn_state) on a small corpus ------------------
NUM_HIDDENS, NUM_CHARS = 16, 400


@pytest.fixture(scope="module")
def corpus():
    return d2l.load_data_jay_lyrics(str(LYRICS))


def make_rnn(vocab_size):
    num_inputs, num_outputs = vocab_size, vocab_size

    def get_params():
        def _one(shape):
            ts = torch.tensor(np.random.normal(0, 0.01, size=shape), device=DEVICE, dtype=torch.float32)
            return torch.nn.Parameter(ts, requires_grad=True)
        W_xh = _one((num_inputs, NUM_HIDDENS))
        W_hh = _one((NUM_HIDDENS, NUM_HIDDENS))
        b_h = torch.nn.Parameter(torch.zeros(NUM_HIDDENS, device=DEVICE, requires_grad=True))
        W_hq = _one((NUM_HIDDENS, num_outputs))
        b_q = torch.nn.Parameter(torch.zeros(num_outputs, device=DEVICE, requires_grad=True))
        return nn.ParameterList([W_xh, W_hh, b_h, W_hq, b_q])

    def init_rnn_state(batch_size, num_hiddens, device):
        return (torch.zeros((batch_size, num_hiddens), device=device),)

    def rnn(inputs, state, params):
        W_xh, W_hh, b_h, W_hq, b_q = params
        H, = state
        outputs = []
        for X in inputs:
            H = torch.tanh(torch.matmul(X, W_xh) + torch.matmul(H, W_hh) + b_h)
            Y = torch.matmul(H, W_hq) + b_q
            outputs.append(Y)
        return outputs, (H,)

    return rnn, get_params, init_rnn_state


def seed(s=0):
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)


def book_lines(text):
    """Printed lines, the times taken out."""
    return [line.split(", time ")[0] for line in text.splitlines()]


# -- the tests --------------------------------------------------------------------------------------
def test_load_data_jay_lyrics_is_the_books_corpus(corpus):
    indices, char_to_idx, idx_to_char, vocab_size = corpus
    b_indices, _, b_idx_to_char, b_vocab_size = book_load_data_jay_lyrics()
    assert vocab_size == b_vocab_size == len(idx_to_char) == 1027 and len(indices) == 10000
    assert sorted(idx_to_char) == sorted(b_idx_to_char) and idx_to_char == sorted(idx_to_char)
    assert [idx_to_char[i] for i in indices] == [b_idx_to_char[i] for i in b_indices]  # the same text
    assert all(idx_to_char[i] == char for char, i in char_to_idx.items())


def test_load_data_jay_lyrics_finds_minidl_data_and_names_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIDL_DATA", str(LYRICS.parent))
    assert d2l.load_data_jay_lyrics()[3] == 1027
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path))
    with pytest.raises(MinidlError, match=r"not found at .*jaychou_lyrics\.txt\.zip \(\$MINIDL_DATA\); .*"
                                          r"load_data_jay_lyrics\(path\)"):
        d2l.load_data_jay_lyrics()


@pytest.mark.parametrize("batch_size, num_steps", [(2, 6), (3, 5)])
def test_data_iter_random_is_the_books_element_for_element(batch_size, num_steps):
    my_seq = list(range(30))
    random.seed(4)
    book = list(book_data_iter_random(my_seq, batch_size, num_steps, DEVICE))
    book_after = random.getstate()
    random.seed(4)
    ours = list(d2l.data_iter_random(my_seq, batch_size, num_steps, DEVICE))
    assert len(ours) == len(book) > 0
    for (X, Y), (bX, bY) in zip(ours, book):
        assert X.dtype == bX.dtype == torch.float32 and torch.equal(X, bX) and torch.equal(Y, bY)
    assert random.getstate() == book_after  # the same draws from Python's generator


@pytest.mark.parametrize("batch_size, num_steps", [(2, 6), (3, 4)])
def test_data_iter_consecutive_is_the_books_element_for_element(batch_size, num_steps):
    my_seq = list(range(30))
    book = list(book_data_iter_consecutive(my_seq, batch_size, num_steps, DEVICE))
    ours = list(d2l.data_iter_consecutive(my_seq, batch_size, num_steps, DEVICE))
    assert len(ours) == len(book) > 0
    for (X, Y), (bX, bY) in zip(ours, book):
        assert torch.equal(X, bX) and torch.equal(Y, bY)


def test_one_hot_and_to_onehot_are_the_books():
    x = torch.tensor([0, 2])
    assert torch.equal(d2l.one_hot(x, 5), book_one_hot(x, 5))
    X = torch.arange(10).view(2, 5)
    ours, book = d2l.to_onehot(X, 12), book_to_onehot(X, 12)
    assert len(ours) == len(book) == 5 and all(torch.equal(a, b) for a, b in zip(ours, book))


def test_predict_rnn_is_the_books(corpus):
    _, char_to_idx, idx_to_char, vocab_size = corpus
    rnn, get_params, init_rnn_state = make_rnn(vocab_size)
    seed(1)
    params = get_params()
    with torch.no_grad():
        for p in params:
            p.mul_(100)  # large weights: a continuation that is not one character repeated
    args = (rnn, params, init_rnn_state, NUM_HIDDENS, vocab_size, DEVICE, idx_to_char, char_to_idx)
    ours = d2l.predict_rnn('分开', 10, *args)
    assert ours == book_predict_rnn('分开', 10, *args) and len(ours) == 12 and len(set(ours[2:])) > 1
    with pytest.raises(MinidlError, match=r"not in the vocabulary .*'@'"):
        d2l.predict_rnn('分@', 3, *args)


def test_grad_clipping_is_the_books_and_also_clips_a_generator():
    torch.manual_seed(0)
    a = [torch.randn(3, 4, requires_grad=True), torch.randn(4, requires_grad=True)]
    b = [p.detach().clone().requires_grad_() for p in a]
    for params in (a, b):
        (params[0].sum() * 3 + (params[1] ** 2).sum()).backward()
    book_grad_clipping(a, 0.5, DEVICE)
    d2l.grad_clipping(iter(b), 0.5, DEVICE)  # a generator, as 6.5 passes model.parameters()
    assert all(torch.equal(p.grad, q.grad) for p, q in zip(a, b))
    norm = torch.cat([p.grad.reshape(-1) for p in b]).norm().item()
    assert norm == pytest.approx(0.5, rel=1e-5)


@pytest.mark.parametrize("is_random_iter", [True, False])
def test_train_and_predict_rnn_is_the_books_loop(corpus, capsys, is_random_iter):
    indices, char_to_idx, idx_to_char, vocab_size = corpus
    rnn, get_params, init_rnn_state = make_rnn(vocab_size)
    settings = (rnn, get_params, init_rnn_state, NUM_HIDDENS, vocab_size, DEVICE, indices[:NUM_CHARS],
                idx_to_char, char_to_idx, is_random_iter, 2, 5, 100.0, 0.01, 4, 1, 6, ['分开', '不分开'])
    seed(0)
    book_params = book_train_and_predict_rnn(*settings)
    book_out = capsys.readouterr().out
    captured: list = []
    real_get_params = settings[1]

    def get_params():
        captured.extend(real_get_params())
        return captured

    seed(0)
    history = d2l.train_and_predict_rnn(settings[0], get_params, *settings[2:])
    ours = capsys.readouterr().out
    assert book_lines(ours) == book_lines(book_out)  # the same perplexities and continuations
    assert ours.splitlines()[0].startswith("epoch 1, perplexity ") and ours.splitlines()[1].startswith(" - 分开")
    assert all(torch.equal(p, q) for p, q in zip(captured, book_params))  # the same parameters, bit for bit
    assert [round(r["perplexity"], 6) for r in history] == \
        [float(line.split("perplexity ")[1]) for line in book_lines(book_out) if line.startswith("epoch")]


def test_rnn_model_and_predict_rnn_pytorch_are_the_books(corpus):
    _, char_to_idx, idx_to_char, vocab_size = corpus
    torch.manual_seed(0)
    ours = d2l.RNNModel(nn.RNN(input_size=vocab_size, hidden_size=NUM_HIDDENS), vocab_size)
    book = BookRNNModel(nn.RNN(input_size=vocab_size, hidden_size=NUM_HIDDENS), vocab_size)
    book.load_state_dict(ours.state_dict())
    X = torch.randint(0, vocab_size, (3, 4))
    (a, sa), (b, sb) = ours(X, None), book(X, None)
    assert torch.equal(a, b) and torch.equal(sa, sb) and a.shape == (4 * 3, vocab_size)
    with torch.no_grad():
        for p in ours.parameters():
            p.mul_(30)
        book.load_state_dict(ours.state_dict())
    args = (vocab_size, DEVICE, idx_to_char, char_to_idx)
    assert d2l.predict_rnn_pytorch('分开', 10, ours, *args) == book_predict_rnn_pytorch('分开', 10, book, *args)


def _pytorch_runs(corpus, capsys, num_epochs, clipping_theta, fixed):
    indices, char_to_idx, idx_to_char, vocab_size = corpus
    torch.manual_seed(0)
    ours = d2l.RNNModel(nn.GRU(input_size=vocab_size, hidden_size=NUM_HIDDENS), vocab_size)
    book = BookRNNModel(nn.GRU(input_size=vocab_size, hidden_size=NUM_HIDDENS), vocab_size)
    book.load_state_dict(ours.state_dict())
    settings = (NUM_HIDDENS, vocab_size, DEVICE, indices[:NUM_CHARS], idx_to_char, char_to_idx,
                num_epochs, 5, 1e-2, clipping_theta, 4, 1, 6, ['分开'])
    book_train_and_predict_rnn_pytorch(book, *settings, fixed=fixed)
    book_out = capsys.readouterr().out
    d2l.train_and_predict_rnn_pytorch(ours, *settings)
    ours_out = capsys.readouterr().out
    return ours, book, ours_out, book_out


def test_train_and_predict_rnn_pytorch_is_the_books_loop_where_it_clips_nothing(corpus, capsys):
    """One epoch, a theta no norm reaches: the book's code unchanged is the oracle."""
    ours, book, ours_out, book_out = _pytorch_runs(corpus, capsys, 1, 1e9, fixed=False)
    assert book_lines(ours_out) == book_lines(book_out) and ours_out.startswith("epoch 1, perplexity ")
    assert all(torch.equal(p, q) for p, q in zip(ours.parameters(), book.parameters()))


def test_train_and_predict_rnn_pytorch_clips_and_starts_each_epoch_afresh(corpus, capsys):
    """With clipping and several epochs, the oracle is the book's loop with minidl's two
    documented changes; the book's unchanged loop (which clips nothing) differs."""
    ours, book, ours_out, book_out = _pytorch_runs(corpus, capsys, 2, 1e-2, fixed=True)
    assert book_lines(ours_out) == book_lines(book_out)
    assert all(torch.equal(p, q) for p, q in zip(ours.parameters(), book.parameters()))
    _, _, _, unchanged_out = _pytorch_runs(corpus, capsys, 2, 1e-2, fixed=False)
    assert book_lines(unchanged_out) != book_lines(ours_out)
