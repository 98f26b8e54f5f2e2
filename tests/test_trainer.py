"""The Trainer: reproducibility, divergence, hook events, metrics, devices, bad input, state."""

from __future__ import annotations

import io
import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

import minidl
from minidl import hookimpl
from minidl.adapters import TensorData, as_dataset
from minidl.config import ComponentConfig, RunConfig
from minidl.d2l import squared_loss
from minidl.errors import DivergedError, MinidlError, OptionError, UnknownComponentError
from minidl.run import build
from minidl.trainer import format_epoch, resolve_device


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    """Only the built-in plugins: these tests are about the core, whatever else is installed."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    return minidl.load_plugins(entry_points=False)


def config(*, dataset: dict[str, Any] | None = None, lr: float | None = None, **train: Any) -> RunConfig:
    """The default configuration with some options and train settings changed."""
    cfg = RunConfig()
    cfg.dataset.options.update(dataset or {})
    if lr is not None:
        cfg.optimizer.options["lr"] = lr
    for key, value in train.items():
        setattr(cfg.train, key, value)
    return cfg


def params(model: Any) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def assert_params_equal(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    assert len(a) == len(b)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


# -- reproducibility ----------------------------------------------------------------------------
def test_same_seed_gives_bit_identical_parameters(plugins):
    first = build(config(seed=7), plugins)
    first.fit()
    torch.rand(100)  # disturb the global generators between the runs
    second = build(config(seed=7), plugins)
    second.fit()
    assert_params_equal(params(first.model), params(second.model))
    assert first.trainer.history.records == second.trainer.history.records


def test_different_seeds_give_different_parameters(plugins):
    first, second = build(config(seed=1), plugins), build(config(seed=2), plugins)
    first.fit()
    second.fit()
    assert not all(torch.equal(a, b) for a, b in zip(params(first.model), params(second.model)))


def test_trainer_seed_fixes_the_batch_order_whatever_the_global_rng(plugins):
    run = build(config(), plugins)
    start = {k: v.clone() for k, v in run.model.state_dict().items()}
    results = []
    for global_seed in (1, 2):
        run.model.load_state_dict(start)
        optimizer = plugins.registry.build("optimizer", "sgd", params=list(run.model.parameters()))
        torch.manual_seed(global_seed)
        minidl.Trainer(max_epochs=1, seed=3, plugins=plugins).fit(run.model, run.dataset, run.loss, optimizer)
        results.append(params(run.model))
    assert_params_equal(*results)


def test_seed_none_draws_one_and_keeps_it(plugins):
    trainer = minidl.Trainer(seed=None, plugins=plugins)
    assert isinstance(trainer.seed, int)


# -- divergence ---------------------------------------------------------------------------------
def test_large_learning_rate_raises_diverged_error_naming_epoch_and_step(plugins):
    run = build(config(lr=5.0), plugins)
    with pytest.raises(DivergedError) as caught:
        run.fit()
    error = caught.value
    assert error.epoch == 1 and error.step >= 1
    assert f"epoch {error.epoch}, step {error.step}" in str(error)
    assert not math.isfinite(error.loss)
    assert all(math.isfinite(r["loss"]) for r in run.trainer.history)


class NanAt:
    """The squared loss, but ``value`` on its ``call``-th call."""

    def __init__(self, call: int, value: float = math.nan, *, eval_only: bool = False) -> None:
        self.call, self.value, self.eval_only, self.calls = call, value, eval_only, 0

    def __call__(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        losses = squared_loss(y_hat, y)
        if self.eval_only:
            return losses * self.value if not torch.is_grad_enabled() else losses
        self.calls += 1
        return losses * self.value if self.calls == self.call else losses


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_loss_becoming_nan_stops_at_that_epoch_and_step(plugins, value):
    run = build(config(dataset={"num_examples": 100}, epochs=3), plugins)
    # Call 1 is the compatibility check's dry run (minidl.compat), calls 2-11 epoch 1's steps,
    # 12 its evaluation; call 15 is epoch 2, step 3.
    with pytest.raises(DivergedError, match=r"epoch 2, step 3\b") as caught:
        run.trainer.fit(run.model, run.dataset, NanAt(15, value), run.optimizer)
    assert (caught.value.epoch, caught.value.step) == (2, 3)
    assert run.trainer.history["epoch"] == [1]
    assert math.isfinite(run.trainer.history[0]["loss"])
    assert all(torch.isfinite(p).all() for p in run.model.parameters()), "the bad step was applied"


def test_nan_in_evaluation_raises_and_records_no_epoch(plugins):
    run = build(config(dataset={"num_examples": 100}), plugins)
    with pytest.raises(DivergedError, match="epoch 1"):
        run.trainer.fit(run.model, run.dataset, NanAt(0, eval_only=True), run.optimizer)
    assert len(run.trainer.history) == 0


# -- hook events --------------------------------------------------------------------------------
class Recorder:
    """Records every training event with its arguments."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.trainers: set[int] = set()
        self.losses: list[float] = []
        self.records: list[dict[str, Any]] = []

    @hookimpl
    def on_fit_start(self, trainer: Any) -> None:
        self.trainers.add(id(trainer))
        self.events.append(("fit_start", trainer.epoch))

    @hookimpl
    def on_epoch_start(self, trainer: Any, epoch: int) -> None:
        self.trainers.add(id(trainer))
        self.events.append(("epoch_start", epoch))

    @hookimpl
    def on_before_optimizer_step(self, trainer: Any, epoch: int, step: int) -> None:
        assert all(p.grad is not None for p in trainer.model.parameters())
        self.events.append(("before_step", epoch, step))

    @hookimpl
    def on_batch_end(self, trainer: Any, epoch: int, step: int, loss: float) -> None:
        assert isinstance(loss, float) and math.isfinite(loss)
        self.losses.append(loss)
        self.events.append(("batch_end", epoch, step))

    @hookimpl
    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
        self.records.append(dict(metrics))
        self.events.append(("epoch_end", epoch))

    @hookimpl
    def on_fit_end(self, trainer: Any, history: minidl.History) -> None:
        self.trainers.add(id(trainer))
        self.events.append(("fit_end", len(history)))


def expected_events(first_epoch: int, last_epoch: int, steps: int, start: int = 0) -> list[tuple[Any, ...]]:
    events: list[tuple[Any, ...]] = [("fit_start", start)]
    for epoch in range(first_epoch, last_epoch + 1):
        events.append(("epoch_start", epoch))
        for step in range(1, steps + 1):
            events += [("before_step", epoch, step), ("batch_end", epoch, step)]
        events.append(("epoch_end", epoch))
    return [*events, ("fit_end", last_epoch)]


def test_hook_events_fire_in_order_with_their_arguments(plugins):
    recorder = Recorder()
    cfg = config(dataset={"num_examples": 95}, epochs=2, batch_size=10)
    run = build(cfg, plugins)
    run.trainer.callbacks.append(recorder)
    history = run.fit()
    assert recorder.events == expected_events(1, 2, steps=math.ceil(95 / 10))
    assert recorder.trainers == {id(run.trainer)}
    assert recorder.records == history.records
    assert len(recorder.losses) == 2 * 10


def test_plugin_registered_globally_receives_events(plugins):
    recorder = Recorder()
    plugins.register(recorder, name="recorder")
    build(config(dataset={"num_examples": 30}, epochs=1), plugins).fit()
    assert recorder.events == expected_events(1, 1, steps=3)


def test_no_epochs_still_announces_fit_start_and_end(plugins):
    recorder = Recorder()
    run = build(config(epochs=0), plugins)
    start = params(run.model)
    run.trainer.callbacks.append(recorder)
    assert len(run.fit()) == 0
    assert recorder.events == [("fit_start", 0), ("fit_end", 0)]
    assert_params_equal(start, params(run.model))


class StopAfter:
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    @hookimpl
    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
        if epoch == self.epoch:
            trainer.should_stop = True
            trainer.stop_reason = f"asked at epoch {epoch}"


def test_plugin_setting_should_stop_stops_training(plugins):
    plugins.register(StopAfter(2), name="stopper")
    recorder = Recorder()
    run = build(config(epochs=5), plugins)
    run.trainer.callbacks.append(recorder)
    history = run.fit()
    assert history["epoch"] == [1, 2]
    assert run.trainer.stop_reason == "asked at epoch 2"
    assert recorder.events[-1] == ("fit_end", 2)


def test_plugin_adding_a_metric_shows_in_history(plugins):
    class Doubler:
        @hookimpl
        def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
            metrics["double_loss"] = 2 * metrics["loss"]

    run = build(config(epochs=2), plugins)
    run.trainer.callbacks.append(Doubler())
    history = run.fit()
    assert history["double_loss"] == [2 * loss for loss in history["loss"]]


class Named:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    @hookimpl
    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
        self.log.append(self.name)


@pytest.mark.parametrize("order", [["a", "b", "c"], ["c", "a", "b"]])
def test_callbacks_are_called_in_the_order_given(plugins, order):
    log: list[str] = []
    run = build(config(epochs=2), plugins)
    trainer = minidl.Trainer(max_epochs=2, seed=0, plugins=plugins, callbacks=[Named(n, log) for n in order])
    trainer.fit(run.model, run.dataset, run.loss, run.optimizer)
    assert log == order * 2


def test_callbacks_are_unregistered_after_fit(plugins):
    recorder = Recorder()
    run = build(config(dataset={"num_examples": 20}, epochs=1), plugins)
    run.trainer.callbacks.append(recorder)
    run.fit()
    count = len(recorder.events)
    build(config(dataset={"num_examples": 20}, epochs=1), plugins).fit()
    assert len(recorder.events) == count


def test_callback_with_a_misspelled_hook_is_rejected_before_training(plugins):
    class Misspelled:
        @hookimpl
        def on_epoch_ends(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
            """Never called: the hook does not exist."""

    run = build(config(), plugins)
    start = params(run.model)
    run.trainer.callbacks.append(Misspelled())
    with pytest.raises(Exception, match="on_epoch_ends"):
        run.fit()
    assert_params_equal(start, params(run.model))
    build(config(epochs=1), plugins).fit()  # the misspelled callback did not stay registered


def test_callback_with_a_misspelled_hook_raises_plugin_error(plugins):
    class Misspelled:
        @hookimpl
        def on_epoch_ends(self, trainer: Any, epoch: int, metrics: dict[str, Any]) -> None:
            """Never called: the hook does not exist."""

    run = build(config(), plugins)
    run.trainer.callbacks.append(Misspelled())
    with pytest.raises(minidl.PluginError, match="on_epoch_ends"):
        run.fit()


# -- evaluation and metrics ----------------------------------------------------------------------
def test_history_records_test_loss_and_metrics_against_torch(plugins):
    cfg = config(dataset={"num_test": 50}, epochs=2, metrics=["mse", "mae"])
    run = build(cfg, plugins)
    history = run.fit()
    assert set(history[-1]) == {"epoch", "loss", "test_loss", "mse", "mae", "test_mse", "test_mae"}
    with torch.no_grad():
        for prefix, split in (("", "train"), ("test_", "test")):
            X, y = run.dataset.tensors(split)
            y_hat = run.model(X)
            y = y.reshape(y_hat.shape)
            last = history[-1]
            assert last[prefix + "loss"] == pytest.approx((F.mse_loss(y_hat, y) / 2).item(), rel=1e-5)
            assert last[prefix + "mse"] == pytest.approx(F.mse_loss(y_hat, y).item(), rel=1e-5)
            assert last[prefix + "mae"] == pytest.approx(F.l1_loss(y_hat, y).item(), rel=1e-5)
    assert history["epoch"] == [1, 2]


@pytest.mark.parametrize(("name", "oracle"), [("mse", F.mse_loss), ("mae", F.l1_loss)])
def test_metric_matches_torch(registry, name, oracle):
    metric = registry.build("metric", name)
    generator = torch.Generator().manual_seed(0)
    y_hat, y = torch.randn(37, 1, generator=generator), torch.randn(37, generator=generator)
    assert metric(y_hat, y) == pytest.approx(oracle(y_hat, y.reshape(-1, 1)).item(), rel=1e-6)
    assert metric.higher_is_better is False


def test_verbose_prints_the_notebooks_epoch_line(plugins):
    lines: list[str] = []
    run = build(config(dataset={"num_test": 10}, metrics=["mse"]), plugins, verbose=True, echo=lines.append)
    history = run.fit()
    assert len(lines) == 3
    assert lines[0].startswith("epoch 1, loss ")
    assert lines[0] == format_epoch(history[0], run.trainer.metrics)
    assert "test loss" in lines[0] and "train mse" in lines[0] and "test mse" in lines[0]


def test_format_epoch_matches_the_notebook():
    class Accuracy:
        higher_is_better, label, fmt = True, "acc", "{:.3f}"

    record = {"epoch": 1, "loss": 0.0354621, "test_loss": 0.5, "accuracy": 0.91234}
    assert format_epoch({"epoch": 1, "loss": 0.0354621}) == "epoch 1, loss 0.035462"
    assert format_epoch(record, {"accuracy": Accuracy()}) == (
        "epoch 1, loss 0.035462, test loss 0.500000, train acc 0.912"
    )


def test_history_columns_and_records():
    history = minidl.History([{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.25}])
    assert len(history) == 2 and history["loss"] == [0.5, 0.25] and history[1]["epoch"] == 2
    assert [r["epoch"] for r in history] == [1, 2]


# -- devices ------------------------------------------------------------------------------------
def test_device_auto_resolves_to_what_is_available(plugins):
    run = build(config(device="auto", epochs=1), plugins)
    run.fit()
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert run.trainer.device.type == expected
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_unavailable_raises_before_training(plugins, device):
    run = build(config(device=device), plugins)
    start = params(run.model)
    with pytest.raises(MinidlError, match=repr(device)):
        run.fit()
    assert_params_equal(start, params(run.model))


@pytest.mark.parametrize("device", ["tpu", "gpu", "CPU", ""])
def test_bad_device_string_raises_naming_it(plugins, device):
    with pytest.raises(MinidlError, match=f"unknown device {device!r}; accepted: cpu"):
        build(config(device=device), plugins)  # the configuration's check, before anything is built
    run = build(config(), plugins)
    run.trainer.device_name = device  # a Trainer made by hand checks it too
    with pytest.raises(MinidlError) as caught:
        run.fit()
    assert repr(device) in str(caught.value) and "cpu" in str(caught.value)
    assert len(run.trainer.history) == 0


# -- bad input, before training -----------------------------------------------------------------
@pytest.mark.parametrize(("setting", "value"), [
    ("batch_size", 0), ("batch_size", -3), ("epochs", -1), ("batch_size", True),
])
def test_bad_train_settings_raise_before_training(plugins, setting, value):
    with pytest.raises(MinidlError, match=repr(value)) as caught:
        build(config(**{setting: value}), plugins)
    assert isinstance(caught.value, ValueError)
    with pytest.raises(MinidlError, match=repr(value)):
        minidl.Trainer(plugins=plugins, **{"max_epochs" if setting == "epochs" else setting: value})


@pytest.mark.parametrize("lr", [math.nan, math.inf, -math.inf, 0, 0.0, -1, -1.0])
def test_bad_learning_rate_raises_through_config(plugins, lr):
    with pytest.raises(MinidlError, match="optimizer 'sgd': option 'lr' must be") as caught:
        build(config(lr=lr), plugins)
    assert repr(lr) in str(caught.value)


@pytest.mark.parametrize("text", ["nan", "inf", "0", "-1"])
def test_bad_learning_rate_raises_from_a_set_string(plugins, text):
    cfg = RunConfig()
    cfg.apply(f"optimizer.lr={text}")
    with pytest.raises(MinidlError, match="option 'lr' must be"):
        build(cfg, plugins)


@pytest.mark.parametrize("lr", [math.nan, math.inf, 0.0, -1.0])
@pytest.mark.parametrize("kind", ["minidl", "torch"])
def test_bad_learning_rate_raises_through_fit(plugins, lr, kind):
    run = build(config(), plugins)
    start = params(run.model)
    if kind == "torch":
        optimizer = torch.optim.SGD(run.model.parameters(), lr=0.1)
        optimizer.param_groups[0]["lr"] = lr
    else:  # the option refuses it (test above); a library user may still change param_groups
        optimizer = plugins.registry.build("optimizer", "sgd", {"lr": 0.1}, params=list(run.model.parameters()))
        optimizer.param_groups[0]["lr"] = lr
    with pytest.raises(MinidlError, match=repr(lr)):
        run.trainer.fit(run.model, run.dataset, run.loss, optimizer)
    assert_params_equal(start, params(run.model))


@pytest.mark.parametrize(("kind", "typo", "right"), [
    ("dataset", "synthetic-linaer", "synthetic-linear"),
    ("model", "linreq", "linreg"),
    ("loss", "squard", "squared"),
    ("optimizer", "sdg", "sgd"),
])
def test_unknown_component_names_the_kind_the_names_and_the_closest(plugins, kind, typo, right):
    cfg = RunConfig()
    cfg.set_name(kind, typo)
    with pytest.raises(UnknownComponentError) as caught:
        build(cfg, plugins)
    message = str(caught.value)
    assert message.startswith(f"unknown {kind} {typo!r}")
    assert "available: " in message and right in message.split("available: ")[1]
    assert f"did you mean {right!r}?" in message
    assert isinstance(caught.value, MinidlError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize(("setting", "typo", "right"), [("metrics", ["mes"], "mse")])
def test_unknown_metric_name(plugins, setting, typo, right):
    with pytest.raises(UnknownComponentError, match=f"unknown metric 'mes'.*did you mean {right!r}"):
        build(config(**{setting: typo}), plugins)


def test_unknown_callback_name(plugins):
    cfg = RunConfig()
    cfg.callbacks["early-stoping"] = {}
    with pytest.raises(UnknownComponentError, match=r"unknown callback 'early-stoping'.*'early-stopping'"):
        build(cfg, plugins)
    with pytest.raises(UnknownComponentError, match="unknown callback 'early-stoping'"):
        minidl.Trainer(plugins=plugins, callbacks=["early-stoping"])


@pytest.mark.parametrize(("kind", "option", "listed"), [
    ("optimizer", "learning_rate", "lr"),
    ("dataset", "num_example", "num_examples, num_inputs, true_w, true_b, noise_std, num_test"),
    ("model", "inputs", "num_inputs, grad"),
    ("loss", "reduction", "(none)"),
])
def test_unknown_option_lists_the_options(plugins, kind, option, listed):
    cfg = RunConfig()
    cfg.component(kind).options[option] = 1
    with pytest.raises(OptionError) as caught:
        build(cfg, plugins)
    message = str(caught.value)
    assert repr(option) in message and listed in message and kind in message


@pytest.mark.parametrize(("kind", "option", "value", "type_name"), [
    ("optimizer", "lr", "fast", "float"),
    ("dataset", "num_examples", "12.5", "int"),
    ("dataset", "num_examples", 12.5, "int"),
    ("dataset", "true_w", "2,x", "list[float]"),
    ("model", "grad", "numeric", "'autograd' | 'analytic'"),
    ("model", "num_inputs", "two", "int | None"),
])
def test_mistyped_option_value_names_value_and_type(plugins, kind, option, value, type_name):
    cfg = RunConfig()
    cfg.component(kind).options[option] = value
    with pytest.raises(OptionError) as caught:
        build(cfg, plugins)
    message = str(caught.value)
    assert repr(value) in message and type_name in message and repr(option) in message


def test_dataset_options_that_do_not_fit_together(plugins):
    with pytest.raises(OptionError, match="true_w has 2 values but num_inputs is 3"):
        build(config(dataset={"num_inputs": 3}), plugins)
    with pytest.raises(OptionError, match="option 'num_examples' must be >= 1, got 0"):
        build(config(dataset={"num_examples": 0}), plugins)


# -- plain PyTorch --------------------------------------------------------------------------------
def test_plain_pytorch_components_train_with_the_trainer(plugins):
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(1000, 2, generator=generator)
    y = X @ torch.tensor([[2.0], [-3.4]]) + 4.2 + 0.01 * torch.randn(1000, 1, generator=generator)
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.03)
    loss = nn.MSELoss(reduction="none")
    history = minidl.Trainer(max_epochs=3, batch_size=10, seed=0, plugins=plugins).fit(
        model, as_dataset(TensorDataset(X, y)), loss, optimizer
    )
    assert history[-1]["loss"] < 2e-4
    assert model.weight.detach().reshape(-1).tolist() == pytest.approx([2.0, -3.4], abs=0.01)
    assert model.bias.item() == pytest.approx(4.2, abs=0.01)


# -- closed-form gradients ------------------------------------------------------------------------
def test_analytic_gradients_equal_autograd(registry):
    torch.manual_seed(0)
    analytic = registry.build("model", "linreg", {"grad": "analytic"}, num_inputs=3)
    autograd = registry.build("model", "linreg", num_inputs=3)
    with torch.no_grad():
        analytic.w.copy_(torch.randn(3, 1))
        analytic.b.fill_(0.7)
    autograd.load_state_dict(analytic.state_dict())
    loss = registry.build("loss", "squared")
    X, y = torch.randn(17, 3), torch.randn(17, 1)
    mean_loss = analytic.compute_gradients(X, y, loss)
    expected = loss(autograd(X), y).mean()
    expected.backward()
    assert mean_loss.item() == pytest.approx(expected.item(), rel=1e-6)
    for name in ("w", "b"):
        mine, oracle = getattr(analytic, name).grad, getattr(autograd, name).grad
        assert mine.shape == oracle.shape
        assert torch.allclose(mine, oracle, rtol=1e-5, atol=1e-7), name


def test_analytic_training_matches_autograd_training(plugins):
    results = []
    for grad in ("autograd", "analytic"):
        cfg = config(epochs=2)
        cfg.model = ComponentConfig("linreg", {"grad": grad})
        run = build(cfg, plugins)
        results.append((run.fit(), params(run.model)))
    (h1, p1), (h2, p2) = results
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(p1, p2))
    assert h1["loss"] == pytest.approx(h2["loss"], rel=1e-3)


def test_analytic_with_a_loss_lacking_grad_output_raises_clearly(plugins):
    cfg = config()
    cfg.model = ComponentConfig("linreg", {"grad": "analytic"})
    run = build(cfg, plugins)
    with pytest.raises(MinidlError, match=r"grad_output.*grad='autograd'"):
        run.trainer.fit(run.model, run.dataset, nn.MSELoss(reduction="none"), run.optimizer)


# -- state ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("through_bytes", [False, True])
def test_resume_at_an_epoch_boundary_is_bit_identical_to_a_straight_run(plugins, through_bytes):
    first = build(config(epochs=2, seed=5, dataset={"num_test": 20}), plugins)
    first.fit()
    state = first.trainer.state_dict()
    if through_bytes:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        buffer.seek(0)
        state = torch.load(buffer, weights_only=True)
    recorder = Recorder()
    resumed = build(config(epochs=4, seed=5, dataset={"num_test": 20}), plugins)
    resumed.trainer.callbacks.append(recorder)
    resumed.fit(resume=state)
    straight = build(config(epochs=4, seed=5, dataset={"num_test": 20}), plugins)
    straight.fit()
    assert_params_equal(params(resumed.model), params(straight.model))
    assert resumed.trainer.history.records == straight.trainer.history.records
    assert recorder.events[:2] == [("fit_start", 2), ("epoch_start", 3)]


def test_resume_into_data_of_another_size_is_refused(plugins):
    first = build(config(epochs=1), plugins)
    first.fit()
    other = build(config(epochs=2, dataset={"num_examples": 50}), plugins)
    with pytest.raises(MinidlError, match="sizes"):
        other.fit(resume=first.trainer.state_dict())


def test_state_dict_holds_what_a_checkpoint_needs(plugins):
    run = build(config(epochs=1), plugins)
    run.fit()
    state = run.trainer.state_dict()
    assert {"epoch", "history", "seed", "generator", "torch_rng", "model", "optimizer", "dataset",
            "loss", "callbacks"} <= set(state)
    assert state["epoch"] == 1 and state["history"] == run.trainer.history.records


def test_tensor_data_trains_by_itself(plugins):
    X = torch.randn(64, 2)
    y = X.sum(1, keepdim=True)
    model = nn.Linear(2, 1)
    history = minidl.Trainer(max_epochs=5, batch_size=8, seed=0, plugins=plugins).fit(
        model, TensorData(X, y), nn.MSELoss(reduction="none"), torch.optim.SGD(model.parameters(), lr=0.1)
    )
    assert history[-1]["loss"] < history[0]["loss"]


def test_empty_training_split_is_refused_and_a_second_fit_starts_afresh(plugins) -> None:
    import torch
    from torch import nn

    import minidl

    model = nn.Linear(2, 1)
    trainer = minidl.Trainer(max_epochs=2, batch_size=5, seed=0, plugins=plugins)
    empty = minidl.TensorData(torch.zeros(0, 2), torch.zeros(0, 1))
    with pytest.raises(minidl.MinidlError, match="empty"):
        trainer.fit(model, empty, nn.MSELoss(reduction="none"), torch.optim.SGD(model.parameters(), lr=0.1))
    data = minidl.TensorData(torch.randn(20, 2), torch.randn(20, 1))
    first = trainer.fit(model, data, nn.MSELoss(reduction="none"), torch.optim.SGD(model.parameters(), lr=0.1))
    second = trainer.fit(model, data, nn.MSELoss(reduction="none"), torch.optim.SGD(model.parameters(), lr=0.1))
    assert len(first) == len(second) == 2


def test_the_same_callback_object_given_twice_runs_once(plugins) -> None:
    import minidl
    from minidl import hookimpl

    class Counter:
        calls = 0

        @hookimpl
        def on_epoch_end(self, trainer, epoch, metrics) -> None:
            Counter.calls += 1

    counter = Counter()
    config = minidl.RunConfig()
    config.train.epochs = 2
    run = minidl.build(config, plugins)
    run.trainer.callbacks = []
    trainer = minidl.Trainer(max_epochs=2, seed=0, callbacks=[counter, counter], plugins=plugins)
    trainer.fit(run.model, run.dataset, run.loss, run.optimizer)
    assert Counter.calls == 2
