"""The GRU row (issue 10.6): the book's character-level GRU (6.7) two ways, same data and order.

Each loop has the signature of :mod:`benchmarks.loops` (so :func:`benchmarks.timing.measure`
times it as it times the others): ``loop(corpus, vocab, state0, *, batch_size, epochs, lr,
seed, max_steps) -> loss``. ``corpus`` is the lyrics as character indices (int64), ``vocab``
a one-element tensor holding the vocabulary size, ``state0`` the GRU's initial weights. Each
trains the ``gru-scratch`` model (6.7 from scratch) with 6.7's settings: 256 hidden units,
35 time steps, batch 32, consecutive sampling (the hidden state carried across batches,
detached), gradients clipped to a norm of 0.01, SGD at 100 (the ``lr`` argument, the linear
workloads' rate, is not used). Every loop ends each epoch with one pass over every window
of the corpus from a fresh state (the loss minidl's Trainer reports) and returns that loss
after the last epoch.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch.nn import functional as F

from benchmarks.loops import _plugins
from benchmarks.timing import Measurement, Workload, measure, paired_ratio

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"  # ../shared/data from the repository
NUM_HIDDENS, NUM_STEPS, BATCH, LR, THETA = 256, 35, 32, 1e2, 1e-2  # the book's 6.7 settings
LABELS = {
    "bare": "bare PyTorch (consecutive slices, the GRU, F.cross_entropy, clip_grad_norm_, in-place SGD)",
    "minidl": "minidl Trainer (jay-lyrics consecutive, gru-scratch, sequence-cross-entropy, sgd, grad-clip)",
}


def gru(vocab_size: int, state0: dict[str, torch.Tensor] | None = None) -> Any:
    """The plugin's ``gru-scratch`` (tested to be the book's 6.7 GRU), from ``state0``."""
    model = _plugins().registry.build("model", "gru-scratch", {"num_hiddens": NUM_HIDDENS}, num_outputs=vocab_size)
    if state0 is not None:
        model.load_state_dict(state0)
    return model


def make_data(work: Workload, seed: int, device: str = "cpu", path: str | None = None) -> tuple[Any, ...]:
    """The book's corpus (its first ``work.num_inputs`` characters), the vocabulary size and
    the GRU's initial weights drawn from ``seed``."""
    from minidl_sequence.corpus import Vocabulary, read_corpus

    if path is None and not os.environ.get("MINIDL_DATA"):
        path = str(SHARED_DATA)
    text = read_corpus(path, work.num_inputs)
    vocab = Vocabulary.of(text)
    corpus = torch.tensor(vocab.encode(text), dtype=torch.int64)
    torch.manual_seed(seed)
    state0 = {k: v.clone() for k, v in gru(len(vocab)).state_dict().items()}
    return corpus.to(device), torch.tensor([len(vocab)]), {k: v.to(device) for k, v in state0.items()}


def _full_loss(model: Any, corpus: torch.Tensor) -> float:
    from minidl_sequence.data import windows

    X, Y = windows(corpus, NUM_STEPS)
    with torch.no_grad():
        y_hat = model(X)  # (n, num_steps, vocab), from a fresh state
        return F.cross_entropy(y_hat.reshape(-1, y_hat.shape[-1]), Y.reshape(-1)).item()


def bare_loop(corpus: torch.Tensor, vocab: torch.Tensor, state0: dict[str, torch.Tensor], *, batch_size: int,
              epochs: int, lr: float, seed: int, max_steps: int | None = None) -> float:
    """A bare loop: the book's consecutive slices, state carried and detached, clipping, SGD."""
    model = gru(int(vocab), state0).to(corpus.device)
    params = list(model.parameters())
    batch_len = len(corpus) // batch_size
    rows = corpus[: batch_size * batch_len].view(batch_size, batch_len)
    steps = (batch_len - 1) // NUM_STEPS
    if max_steps is not None:
        steps = min(steps, max_steps)
    loss = float("nan")
    for _epoch in range(epochs):
        state = model.begin_state(batch_size, corpus.device)
        for i in range(0, steps * NUM_STEPS, NUM_STEPS):
            X, Y = rows[:, i: i + NUM_STEPS], rows[:, i + 1: i + NUM_STEPS + 1]
            state = tuple(s.detach() for s in state)
            y_hat, state = model.forward_with_state(X, state)
            l = F.cross_entropy(y_hat.reshape(-1, y_hat.shape[-1]), Y.reshape(-1))  # noqa: E741
            l.backward()
            torch.nn.utils.clip_grad_norm_(params, THETA)
            with torch.no_grad():
                for p in params:
                    p.sub_(p.grad, alpha=LR)
                    p.grad = None
        loss = _full_loss(model, corpus)  # the epoch's pass over every window
    return loss


def minidl_loop(corpus: torch.Tensor, vocab: torch.Tensor, state0: dict[str, torch.Tensor], *, batch_size: int,
                epochs: int, lr: float, seed: int, max_steps: int | None = None) -> float:
    """minidl's Trainer with the components ``minidl train`` would build for 6.7."""
    from minidl_sequence.corpus import Vocabulary
    from minidl_sequence.data import LyricsData

    import minidl
    from benchmarks.loops import _Truncated

    plugins = _plugins()
    registry = plugins.registry
    model = gru(int(vocab), state0)
    names = tuple(str(i) for i in range(int(vocab)))  # the vocabulary's size is what matters here
    data: Any = LyricsData(corpus, Vocabulary(names), NUM_STEPS, "consecutive")
    if max_steps is not None:
        data = _Truncated(data, max_steps)
    loss = registry.build("loss", "sequence-cross-entropy")
    optimizer = registry.build("optimizer", "sgd", {"lr": LR}, params=model.parameters())
    clip = registry.build("callback", "grad-clip", {"max_norm": THETA})
    trainer = minidl.Trainer(max_epochs=epochs, batch_size=batch_size, seed=seed, plugins=plugins,
                             callbacks=[clip], device=str(corpus.device.type))
    return float(trainer.fit(model, data, loss, optimizer)[-1]["loss"])  # its own pass over every window


LOOPS: dict[str, Callable[..., float]] = {"bare": bare_loop, "minidl": minidl_loop}


def workload(num_chars: int, epochs: int = 3) -> Workload:
    """6.7's GRU on the first ``num_chars`` characters; a short run of one epoch, a long one of
    ``epochs``. ``num_examples`` is the steps per epoch times the batch (consecutive sampling)."""
    steps = (num_chars // BATCH - 1) // NUM_STEPS
    if steps < 1:
        raise ValueError(f"{num_chars} characters give no batch of {BATCH} x {NUM_STEPS}; use at least "
                         f"{BATCH * (NUM_STEPS + 1)}")
    return Workload(f"GRU 6.7 from scratch, {num_chars:,} characters, batch {BATCH}, {NUM_STEPS} steps, "
                    f"{steps} batches per epoch, {epochs} epochs", steps * BATCH, num_chars, BATCH, epochs)


def time_gru(work: Workload, *, repeats: int, seed: int, clock: Callable[[], float],
             loops: dict[str, Callable[..., float]] | None = None, path: str | None = None) -> dict[str, Measurement]:
    """Time the GRU loops on ``work``, interleaved, ``repeats`` times."""
    return measure(loops or LOOPS, work, make_data(work, seed, path=path), repeats=repeats, seed=seed, clock=clock)


def target(results: dict[str, Measurement]) -> tuple[str, float, float]:
    """The issue's target: minidl's Trainer within 1.05x the bare loop, per step."""
    return "minidl Trainer / bare loop, GRU 6.7 char-level", paired_ratio(results, "minidl", "bare"), 1.05


def section(args: Any) -> tuple[list[str], list[Any]]:
    """The GRU table and target for ``python -m benchmarks.run`` (its ``args``); raises
    :class:`~benchmarks.timing.LossMismatchError` before any time is shown."""
    import time

    from benchmarks.report import Target, timing_table
    from benchmarks.timing import check_losses
    from minidl.errors import MinidlError

    work = workload(args.gru_chars)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(f"timing {work.name} ...", flush=True)
    try:
        results = time_gru(work, repeats=args.repeats, seed=args.seed, clock=clock)
    except (MinidlError, ImportError) as exc:  # no corpus, or no minidl-sequence: say so, time the rest
        return [f"### {work.name}", "", f"Not measured: {exc}", ""], []
    check_losses(results, "bare", args.rtol)
    table = timing_table(work.name, results, LABELS)
    what, ratio, limit = target(results)
    return table, [Target(what, ratio, limit)]
