"""minidl-sequence found through its entry point: the corpus, sampling, models, loss, metric,
conformance, training from a configuration and resuming it bit for bit."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import pytest
import torch
from torch.nn import functional as F

from minidl.config import ComponentConfig, RunConfig, TrainSettings
from minidl.errors import MinidlError, OptionError
from minidl.run import build
from minidl.testing import check_plugin

COMPONENTS = {
    "dataset": ["jay-lyrics"],
    "model": ["gru", "gru-scratch", "lstm", "lstm-scratch", "rnn", "rnn-scratch"],
    "loss": ["sequence-cross-entropy"],
    "metric": ["perplexity"],
}
SMALL = {"num_chars": 400, "num_steps": 5}  # a few hundred characters: tests stay cheap


def config(sampling="consecutive", model="gru-scratch", epochs=2, seed=0, batch_size=4, lr=1.0,
           num_hiddens=8, clip=0.5):
    return RunConfig(
        dataset=ComponentConfig("jay-lyrics", {**SMALL, "sampling": sampling}),
        model=ComponentConfig(model, {"num_hiddens": num_hiddens}),
        loss=ComponentConfig("sequence-cross-entropy"),
        optimizer=ComponentConfig("sgd", {"lr": lr}),
        train=TrainSettings(epochs=epochs, batch_size=batch_size, seed=seed, metrics=["perplexity"]),
        callbacks={"grad-clip": {"max_norm": clip}},
    )


def test_registered_through_the_entry_point(plugins, registry):
    info = {p.name: p for p in plugins.info()}
    assert info["sequence"].distribution == "minidl-sequence"
    assert set(info["sequence"].hooks) == {"register_datasets", "register_models", "register_losses",
                                           "register_metrics", "register_commands"}
    for kind, names in COMPONENTS.items():
        for name in names:
            component = registry.get(kind, name)
            assert component.plugin == "sequence" and component.summary
            assert all(option.help for option in component.options), (kind, name)
    for name in COMPONENTS["model"]:  # the loss to use is in every model's summary line
        assert "loss sequence-cross-entropy" in registry.get("model", name).summary


def test_registration_does_not_import_torch():
    code = ("import sys, minidl; r = minidl.load_plugins().registry; r.get('model', 'gru-scratch'); "
            "[o.help for c in r for o in c.options]; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_conforms(data_env):
    """Every component passes minidl.testing's checks (the dataset with random sampling:
    consecutive sampling is deliberately unshuffled, and its windows depend on the batch size)."""
    options = {"jay-lyrics": {**SMALL, "sampling": "random"}, **{m: {"num_hiddens": 8} for m in COMPONENTS["model"]}}
    results = check_plugin("sequence", options=options, data=("jay-lyrics", SMALL))
    assert set(results) == {f"{kind} {name!r}" for kind, names in COMPONENTS.items() for name in names}


# -- the corpus ----------------------------------------------------------------------------------
def book_corpus(path):
    """The book's load_data_jay_lyrics, reading from ``path`` (its vocabulary order is the set's)."""
    with zipfile.ZipFile(path) as zin, zin.open("jaychou_lyrics.txt") as f:
        corpus_chars = f.read().decode("utf-8")
    corpus_chars = corpus_chars.replace("\n", " ").replace("\r", " ")
    corpus_chars = corpus_chars[0:10000]
    idx_to_char = list(set(corpus_chars))
    char_to_idx = dict([(char, i) for i, char in enumerate(idx_to_char)])
    vocab_size = len(char_to_idx)
    corpus_indices = [char_to_idx[char] for char in corpus_chars]
    return corpus_indices, char_to_idx, idx_to_char, vocab_size


def test_dataset_is_the_books_corpus(registry, lyrics):
    data = registry.build("dataset", "jay-lyrics", {"path": str(lyrics)})
    indices, _, idx_to_char, vocab_size = book_corpus(lyrics)
    assert data.vocab_size == vocab_size == 1027 == data.num_outputs
    assert sorted(data.idx_to_char) == sorted(idx_to_char) == list(data.idx_to_char)
    text = "".join(idx_to_char[i] for i in indices)
    assert "".join(data.idx_to_char[i] for i in data.corpus.tolist()) == text
    assert data.label_kind == "class" and not data.carries_state and data.splits == ("train",)
    X, Y = data.tensors("train")
    assert X.shape == Y.shape == ((10000 - 1) // 35, 35) and X.dtype == torch.int64
    assert torch.equal(X.reshape(-1)[1:], Y.reshape(-1)[:-1])  # Y is X one character later


def test_dataset_path_may_be_the_folder_or_the_text_file(registry, lyrics, tmp_path):
    from_folder = registry.build("dataset", "jay-lyrics", {"path": str(lyrics.parent), "num_chars": 50})
    text_file = tmp_path / "jaychou_lyrics.txt"
    with zipfile.ZipFile(lyrics) as archive:
        text_file.write_bytes(archive.read("jaychou_lyrics.txt")[:400])
    from_text = registry.build("dataset", "jay-lyrics", {"path": str(text_file), "num_chars": 50})
    assert torch.equal(from_folder.corpus, from_text.corpus) and from_text.idx_to_char == from_folder.idx_to_char


def test_missing_corpus_says_where_it_looked_and_how_to_point_at_it(registry, tmp_path, monkeypatch):
    with pytest.raises(MinidlError, match=r"not found at .*nope\.zip \(the path given\).*--set dataset\.path="
                                          r".*MINIDL_DATA"):
        registry.build("dataset", "jay-lyrics", {"path": str(tmp_path / "nope.zip")})
    monkeypatch.setenv("MINIDL_DATA", str(tmp_path))
    with pytest.raises(MinidlError, match=r"jaychou_lyrics\.txt\.zip \(\$MINIDL_DATA\)"):
        registry.build("dataset", "jay-lyrics")
    monkeypatch.delenv("MINIDL_DATA")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(MinidlError, match=r"\.\./\.\./data/jaychou_lyrics\.txt\.zip \(the book's default folder\)"):
        registry.build("dataset", "jay-lyrics")
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(MinidlError, match="is not a zip file"):
        registry.build("dataset", "jay-lyrics", {"path": str(tmp_path / "bad.zip")})


def test_options_are_checked(registry, data_env):
    with pytest.raises(OptionError, match="num_steps=500 needs at least 501 characters; the corpus has 400"):
        registry.build("dataset", "jay-lyrics", {"num_chars": 400, "num_steps": 500})
    with pytest.raises(OptionError, match="num_steps"):
        registry.build("dataset", "jay-lyrics", {"num_steps": 0})
    with pytest.raises(OptionError, match="sampling"):
        registry.build("dataset", "jay-lyrics", {"sampling": "sideways"})


# -- sampling, against the book's iterators --------------------------------------------------------
def book_data_iter_random(corpus_indices, batch_size, num_steps, order):
    """The book's data_iter_random, with its shuffled ``example_indices`` given."""
    num_examples = (len(corpus_indices) - 1) // num_steps
    epoch_size = num_examples // batch_size
    example_indices = list(order)

    def _data(pos):
        return corpus_indices[pos: pos + num_steps]

    for i in range(epoch_size):
        i = i * batch_size
        batch_indices = example_indices[i: i + batch_size]
        X = [_data(j * num_steps) for j in batch_indices]
        Y = [_data(j * num_steps + 1) for j in batch_indices]
        yield torch.tensor(X, dtype=torch.float32), torch.tensor(Y, dtype=torch.float32)


def book_data_iter_consecutive(corpus_indices, batch_size, num_steps):
    """The book's data_iter_consecutive (on the cpu)."""
    corpus_indices = torch.tensor(corpus_indices, dtype=torch.float32)
    data_len = len(corpus_indices)
    batch_len = data_len // batch_size
    indices = corpus_indices[0: batch_size * batch_len].view(batch_size, batch_len)
    epoch_size = (batch_len - 1) // num_steps
    for i in range(epoch_size):
        i = i * num_steps
        X = indices[:, i: i + num_steps]
        Y = indices[:, i + 1: i + num_steps + 1]
        yield X, Y


def test_random_sampling_is_the_books_in_the_generators_order(registry, data_env):
    data = registry.build("dataset", "jay-lyrics", {**SMALL, "sampling": "random"})
    corpus = data.corpus.tolist()
    order = torch.randperm(len(data.tensors()[0]), generator=torch.Generator().manual_seed(3)).tolist()
    ours = list(data.batches(8, torch.Generator().manual_seed(3)))
    book = list(book_data_iter_random(corpus, 8, 5, order))
    assert len(ours) == len(book) + 1 and len(ours[-1][0]) == len(order) % 8  # ours keeps the short last batch
    for (X, Y), (bX, bY) in zip(ours, book):
        assert torch.equal(X.float(), bX) and torch.equal(Y.float(), bY)


@pytest.mark.parametrize("batch_size, num_steps", [(4, 5), (3, 7), (2, 35)])
def test_consecutive_sampling_is_the_books(registry, data_env, batch_size, num_steps):
    data = registry.build("dataset", "jay-lyrics", {"num_chars": 400, "num_steps": num_steps,
                                                    "sampling": "consecutive"})
    assert data.carries_state
    ours = list(data.batches(batch_size, torch.Generator().manual_seed(0)))
    book = list(book_data_iter_consecutive(data.corpus.tolist(), batch_size, num_steps))
    assert len(ours) == len(book) > 0
    for (X, Y), (bX, bY) in zip(ours, book):
        assert torch.equal(X.float(), bX) and torch.equal(Y.float(), bY)


def test_consecutive_sampling_refuses_a_batch_size_that_leaves_no_step(registry, data_env):
    data = registry.build("dataset", "jay-lyrics", {**SMALL, "sampling": "consecutive"})
    with pytest.raises(MinidlError, match="too few for num_steps=5 plus one; use a batch size of at most 66"):
        list(data.batches(100, torch.Generator()))


# -- models ------------------------------------------------------------------------------------------
def book_params(model):
    return [p for p in model.params()]


@pytest.mark.parametrize("name", ["rnn-scratch", "gru-scratch", "lstm-scratch"])
def test_scratch_models_are_the_books_cells(registry, name):
    from minidl_sequence.models import to_onehot

    torch.manual_seed(0)
    model = registry.build("model", name, {"num_hiddens": 16}, num_outputs=30)
    names = {"rnn-scratch": ["W_xh", "W_hh", "b_h"], "gru-scratch": ["W_xz", "W_hz", "b_z", "W_xr", "W_hr", "b_r",
                                                                       "W_xh", "W_hh", "b_h"],
             "lstm-scratch": ["W_xi", "W_hi", "b_i", "W_xf", "W_hf", "b_f", "W_xo", "W_ho", "b_o",
                              "W_xc", "W_hc", "b_c"]}[name] + ["W_hq", "b_q"]
    assert [n for n, _ in model.named_parameters()] == names  # the book's get_params() order
    assert model.W_hq.shape == (16, 30) and model.b_q.abs().sum() == 0
    X = torch.randint(0, 30, (3, 7))
    state = model.begin_state(3, "cpu")
    assert len(state) == (2 if name == "lstm-scratch" else 1) and state[0].shape == (3, 16)
    outputs, new_state = model.step(to_onehot(X, 30), state, model.params())  # the book's cell function
    y_hat = model(X)
    assert y_hat.shape == (3, 7, 30)
    assert torch.equal(y_hat, torch.stack(outputs, dim=1))
    continued, _ = model.forward_with_state(X, new_state)
    assert not torch.allclose(continued, y_hat)  # the state matters


def book_gru(inputs, state, params):
    """6.7's gru, copied from the book."""
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    for X in inputs:
        Z = torch.sigmoid(torch.matmul(X, W_xz) + torch.matmul(H, W_hz) + b_z)
        R = torch.sigmoid(torch.matmul(X, W_xr) + torch.matmul(H, W_hr) + b_r)
        H_tilda = torch.tanh(torch.matmul(X, W_xh) + torch.matmul(R * H, W_hh) + b_h)
        H = Z * H + (1 - Z) * H_tilda
        Y = torch.matmul(H, W_hq) + b_q
        outputs.append(Y)
    return outputs, (H,)


def test_gru_scratch_matches_the_books_gru(registry):
    from minidl_sequence.models import to_onehot

    model = registry.build("model", "gru-scratch", {"num_hiddens": 16}, num_outputs=30)
    X = torch.randint(0, 30, (4, 6))
    state = (torch.randn(4, 16),)
    outputs, (H,) = book_gru(to_onehot(X, 30), state, list(model.parameters()))
    y_hat, (ours,) = model.forward_with_state(X, state)
    assert torch.equal(y_hat, torch.stack(outputs, dim=1)) and torch.equal(ours, H)


@pytest.mark.parametrize("name, layer", [("rnn", torch.nn.RNN), ("gru", torch.nn.GRU), ("lstm", torch.nn.LSTM)])
def test_layer_models_are_the_books_rnn_model(registry, name, layer):
    model = registry.build("model", name, {"num_hiddens": 16}, num_outputs=30)
    assert isinstance(model.rnn, layer) and model.rnn.input_size == 30 and model.dense.out_features == 30
    X = torch.randint(0, 30, (3, 7))
    inputs = torch.stack([F.one_hot(X[:, i], 30).float() for i in range(7)])  # the book: (num_steps, batch, vocab)
    Y, _ = model.rnn(inputs, None)
    book_output = model.dense(Y.view(-1, Y.shape[-1]))  # (num_steps * batch, vocab)
    y_hat = model(X)
    assert y_hat.shape == (3, 7, 30)
    torch.testing.assert_close(y_hat.transpose(0, 1).reshape(-1, 30), book_output, rtol=0, atol=0)


def test_models_default_to_the_books_sizes_and_check_input(registry):
    model = registry.build("model", "rnn-scratch")
    assert model.W_xh.shape == (1027, 256)
    with pytest.raises(OptionError, match="model 'gru-scratch': option 'num_hiddens' must be >= 1, got 0"):
        registry.build("model", "gru-scratch", {"num_hiddens": 0})
    with pytest.raises(MinidlError, match=r"model 'gru-scratch' takes character indices of shape \(batch, num_steps\)"):
        registry.build("model", "gru-scratch", {"num_hiddens": 4})(torch.zeros(2, 3, 4))


# -- loss and metric -------------------------------------------------------------------------------
def test_loss_is_the_books_mean_over_every_step(registry):
    loss = registry.build("loss", "sequence-cross-entropy")
    y_hat, Y = torch.randn(4, 6, 10), torch.randint(0, 10, (4, 6))
    losses = loss(y_hat, Y)
    assert losses.shape == (4,)
    outputs = y_hat.transpose(0, 1).reshape(-1, 10)  # the book: torch.cat(outputs, dim=0)
    y = torch.transpose(Y, 0, 1).contiguous().view(-1)
    torch.testing.assert_close(losses.mean(), torch.nn.CrossEntropyLoss()(outputs, y.long()))
    with pytest.raises(MinidlError, match=r"needs scores .* got \(4, 6, 10\) and \(4, 5\)"):
        loss(y_hat, Y[:, :5])


def test_perplexity_is_exp_of_the_mean_cross_entropy(registry):
    metric = registry.build("metric", "perplexity")
    y_hat, Y = torch.randn(4, 6, 10), torch.randint(0, 10, (4, 6))
    expected = torch.nn.CrossEntropyLoss()(y_hat.reshape(-1, 10), Y.reshape(-1)).exp().item()
    assert metric(y_hat, Y) == pytest.approx(expected, rel=1e-6)
    assert metric(torch.zeros(2, 3, 10), torch.zeros(2, 3, dtype=torch.long)) == pytest.approx(10.0)  # uniform
    assert metric.from_mean(1e6) == float("inf") and metric.label == "perplexity"


# -- training ------------------------------------------------------------------------------------------
def parameters(run):
    return {k: v.clone() for k, v in run.model.state_dict().items()}


@pytest.mark.parametrize("sampling", ["random", "consecutive"])
def test_training_lowers_perplexity_and_prints_it(plugins, data_env, sampling):
    lines = []
    run = build(config(sampling, epochs=3, num_hiddens=16, lr=2.0), plugins, verbose=True, echo=lines.append)
    history = run.fit()
    assert history[-1]["perplexity"] < history[0]["perplexity"] < run.dataset.vocab_size
    assert "train perplexity" in lines[0]
    assert len(run.trainer.epoch_seconds) == 3


def test_resume_is_bit_identical_with_consecutive_sampling(plugins, data_env):
    straight = build(config("consecutive", epochs=4), plugins)
    straight.fit()
    first = build(config("consecutive", epochs=2), plugins)
    first.fit()
    state = first.trainer.state_dict()
    torch.rand(10)  # disturb the global generator: the checkpoint's state must rule
    second = build(config("consecutive", epochs=4), plugins)
    second.fit(resume=state)
    a, b = parameters(straight), parameters(second)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert straight.trainer.history.records == second.trainer.history.records


def test_consecutive_sampling_carries_the_state_across_batches(plugins, data_env):
    """The same run with the state carried and with a fresh state per batch differ."""
    carried = build(config("consecutive"), plugins)
    carried.fit()
    fresh = build(config("consecutive"), plugins)
    fresh.dataset.carries_state = False
    fresh.fit()
    a, b = parameters(carried), parameters(fresh)
    assert not all(torch.equal(a[k], b[k]) for k in a)


def test_a_changed_corpus_is_refused_on_resume(plugins, data_env):
    run = build(config("consecutive", epochs=1), plugins)
    run.fit()
    state = run.trainer.state_dict()
    state["dataset"]["vocab"] = "abc"
    with pytest.raises(MinidlError, match="the corpus read now differs from the saved run's"):
        build(config("consecutive", epochs=2), plugins).fit(resume=state)


def test_memory_estimate_follows_the_file_not_the_option(registry, lyrics):
    estimate = registry.get("dataset", "jay-lyrics").factory.estimate_bytes
    whole = estimate({"path": str(lyrics), "num_chars": 10**8})  # "all of it": no more than the file holds
    assert 64 * 10_000 == estimate({"path": str(lyrics), "num_chars": 10_000}) < whole < 64 * 300_000
    assert estimate({"path": str(lyrics.parent / "missing.zip"), "num_chars": 10}) == 0
    data = registry.build("dataset", "jay-lyrics", {"path": str(lyrics), "num_chars": 10**8})
    assert 60_000 < len(data.corpus) < 70_000  # the whole corpus, about 63,000 characters
