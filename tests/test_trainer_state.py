"""The Trainer's optional support for recurrent models, chunk-averaged metrics and epoch timing.

A toy stateful model (its "state" counts the batches it has seen) shows when the Trainer
begins, carries and detaches a state; the sequence plugin's own tests train real RNNs.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import nn

import minidl
from minidl import evaluation as evaluation_module  # where the chunk sizes are read
from minidl.adapters import TensorData
from minidl.trainer import CarriedState, Trainer, detach_state


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    """Only the built-in plugins."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    return minidl.load_plugins(entry_points=False)


class Counting(nn.Module):
    """``y_hat = X @ w + state``; the state after a batch is the state before plus one.

    ``seen`` records the state each training call (autograd on) started from, and whether
    it was detached; ``fresh`` the states of the calls without autograd (evaluation, checks).
    """

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2, 1))
        self.seen: list[tuple[float, bool]] = []
        self.fresh: list[float] = []
        self.detached = 0

    def begin_state(self, batch_size: int, device: Any) -> torch.Tensor:
        return torch.zeros(batch_size, 1, device=device)

    def forward_with_state(self, X: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if torch.is_grad_enabled():
            self.seen.append((float(state[0, 0].detach()), state.grad_fn is None))
        else:
            self.fresh.append(float(state[0, 0]))
        y_hat = X @ self.w + state
        return y_hat, y_hat * 0 + state + 1  # the new state depends on w: it must be detached

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.forward_with_state(X, self.begin_state(len(X), X.device))[0]


class CustomDetach(Counting):
    def detach_state(self, state: torch.Tensor) -> torch.Tensor:
        self.detached += 1
        return state.detach()


class Consecutive(TensorData):
    """Batches in order, never shuffled, declared as continuing each other."""

    carries_state = True

    def batches(self, batch_size: int, generator: torch.Generator) -> Any:
        X, y = self.tensors("train")
        for i in range(0, len(X) - batch_size + 1, batch_size):
            yield X[i : i + batch_size], y[i : i + batch_size]


def squared_loss(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (y_hat - y.view_as(y_hat)) ** 2 / 2


def data(cls: type = TensorData) -> Any:
    X = torch.arange(24, dtype=torch.float32).reshape(12, 2) / 24
    return cls(X, X.sum(1, keepdim=True))


def fit(model: nn.Module, dataset: Any, plugins: minidl.Plugins, epochs: int = 2, **kwargs: Any) -> Trainer:
    trainer = Trainer(max_epochs=epochs, batch_size=4, seed=0, plugins=plugins, **kwargs)
    trainer.fit(model, dataset, squared_loss, torch.optim.SGD(model.parameters(), lr=0.1))
    return trainer


def test_consecutive_batches_carry_the_state_and_every_epoch_begins_afresh(plugins):
    model = Counting()
    fit(model, data(Consecutive), plugins)
    assert [state for state, _ in model.seen] == [0.0, 1.0, 2.0] * 2  # 3 batches per epoch
    assert all(detached for _, detached in model.seen)  # no graph reaches into the previous batch
    assert len(model.fresh) >= 2 and set(model.fresh) == {0.0}  # evaluation starts afresh


def test_random_batches_start_from_a_fresh_state(plugins):
    model = Counting()
    fit(model, data(), plugins)
    assert [state for state, _ in model.seen] == [0.0] * 6


def test_a_models_own_detach_state_is_used(plugins):
    model = CustomDetach()
    fit(model, data(Consecutive), plugins)
    assert model.detached == 2 * 2  # before batches 2 and 3 of each epoch


def test_without_detaching_the_second_backward_fails():
    """What the detach protects against: backward through the previous batch's freed graph."""
    model = Counting()
    X = torch.ones(4, 2)
    y_hat, state = model.forward_with_state(X, model.begin_state(4, "cpu"))
    y_hat.sum().backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        model.forward_with_state(X, state)[0].sum().backward()
    model.forward_with_state(X, detach_state(state))[0].sum().backward()  # fine once detached


def test_detach_state_handles_tensors_and_tuples():
    h = torch.ones(2, requires_grad=True) * 2
    c = torch.ones(2, requires_grad=True) * 3
    assert detach_state(h).grad_fn is None
    pair = detach_state((h, c))
    assert isinstance(pair, tuple) and all(t.grad_fn is None for t in pair)
    assert detach_state([h])[0].grad_fn is None and detach_state(None) is None


def test_the_default_path_calls_the_model_itself(plugins):
    """No state, no wrapper: the per-step path of ordinary models is unchanged."""
    model = nn.Linear(2, 1)
    trainer = fit(model, data(), plugins, epochs=1)
    assert trainer._forward_for_epoch(model) is model
    stateful = Counting()
    trainer.data = data()  # random sampling: nothing to carry
    assert trainer._forward_for_epoch(stateful) is stateful
    trainer.data = data(Consecutive)
    assert isinstance(trainer._forward_for_epoch(stateful), CarriedState)
    assert trainer._forward_for_epoch(model) is model  # a stateless model on consecutive data


# -- epoch timing ------------------------------------------------------------------------------
def test_epoch_seconds_one_per_epoch_outside_the_history(plugins):
    seen = []

    class Reader:
        @minidl.hookimpl
        def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
            seen.append(len(trainer.epoch_seconds))  # this epoch's time is there already

    trainer = fit(nn.Linear(2, 1), data(), plugins, epochs=3, callbacks=[Reader()])
    assert len(trainer.epoch_seconds) == 3 and all(s > 0 for s in trainer.epoch_seconds)
    assert seen == [1, 2, 3]
    assert all(set(record) == {"epoch", "loss"} for record in trainer.history)
    state = trainer.state_dict()
    assert state["epoch_seconds"] == trainer.epoch_seconds


def test_epoch_seconds_continue_after_a_resume_and_restart_with_a_new_fit(plugins):
    model = nn.Linear(2, 1)
    first = fit(model, data(), plugins, epochs=2)
    state = first.state_dict()
    resumed = Trainer(max_epochs=3, batch_size=4, seed=0, plugins=plugins)
    resumed.fit(model, data(), squared_loss, torch.optim.SGD(model.parameters(), lr=0.1), resume=state)
    assert resumed.epoch_seconds[:2] == first.epoch_seconds and len(resumed.epoch_seconds) == 3
    resumed.fit(model, data(), squared_loss, torch.optim.SGD(model.parameters(), lr=0.1))
    assert len(resumed.epoch_seconds) == 3  # a second fit starts afresh


# -- metrics that are functions of a mean ------------------------------------------------------
class ExpOfMeanSquare:
    """exp(mean squared error): not a mean over examples, so it declares the mean it uses."""

    higher_is_better = False

    def chunk_mean(self, y_hat: torch.Tensor, y: torch.Tensor) -> float:
        return float(((y_hat - y) ** 2).mean())

    def from_mean(self, mean: float) -> float:
        return math.exp(mean)

    def __call__(self, y_hat: torch.Tensor, y: torch.Tensor) -> float:
        return self.from_mean(self.chunk_mean(y_hat, y))


def test_a_metric_of_a_mean_is_averaged_through_its_mean(plugins, monkeypatch):
    monkeypatch.setattr(evaluation_module, "EVAL_CHUNK", 5)  # 12 examples: chunks of 5, 5 and 2
    model = nn.Linear(2, 1)
    trainer = fit(model, data(), plugins, epochs=1, metrics={"e": ExpOfMeanSquare()})
    X, y = data().tensors("train")
    with torch.no_grad():
        expected = math.exp(float(((model(X) - y) ** 2).mean()))
    assert trainer.history[0]["e"] == pytest.approx(expected, rel=1e-6)


def test_the_stateful_protocols_are_public_and_recognise_their_components() -> None:
    from minidl import interfaces

    assert minidl.StatefulModel is interfaces.StatefulModel and minidl.SequenceDataset is interfaces.SequenceDataset
    assert {"StatefulModel", "SequenceDataset"} <= set(minidl.__all__)
    assert isinstance(Counting(), minidl.StatefulModel) and not isinstance(nn.Linear(2, 1), minidl.StatefulModel)
    assert isinstance(data(Consecutive), minidl.SequenceDataset) and not isinstance(data(), minidl.SequenceDataset)
