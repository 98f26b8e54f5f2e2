"""RunConfig: TOML round trip, ``KIND.OPTION=VALUE`` overrides, resolution and its errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import minidl
from minidl.config import ComponentConfig, RunConfig, from_toml, load_config
from minidl.errors import MinidlError, OptionError, UnknownComponentError


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    """Only the built-in plugins: these tests are about the core, whatever else is installed."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    return minidl.load_plugins(entry_points=False)


def full_config() -> RunConfig:
    cfg = RunConfig()
    cfg.apply("dataset.true_w=[1.5, -2, 0.25]")
    cfg.apply("dataset.num_inputs=3")
    cfg.apply("dataset.num_test=100")
    cfg.apply("optimizer.lr=0.05")
    cfg.apply("model.grad=analytic")
    cfg.apply("train.epochs=4")
    cfg.apply("train.metrics=mse,mae")
    cfg.apply("callback.early-stopping.patience=2")
    cfg.apply("callback.early-stopping.monitor=test_loss")
    cfg.apply("callback.lr-schedule.gamma=0.9")
    return cfg


def test_toml_round_trip_with_callbacks_and_metrics(registry):
    resolved = full_config().resolve(registry)
    text = resolved.to_toml()
    again = from_toml(text).resolve(registry)
    assert again == resolved
    assert again.to_toml() == text
    assert again.dataset.options["true_w"] == [1.5, -2.0, 0.25]
    assert again.train.metrics == ["mse", "mae"]
    assert list(again.callbacks) == ["early-stopping", "lr-schedule"]
    assert again.callbacks["early-stopping"] == {"monitor": "test_loss", "patience": 2, "min_delta": 0.0,
                                                 "mode": "min"}


def test_load_config_reads_a_file(tmp_path, registry):
    path = tmp_path / "run.toml"
    resolved = full_config().resolve(registry)
    path.write_text(resolved.to_toml(), encoding="utf-8")
    assert load_config(path).resolve(registry) == resolved


def test_to_toml_of_the_defaults_reads_back(registry):
    resolved = RunConfig().resolve(registry)
    assert from_toml(resolved.to_toml()).resolve(registry) == resolved
    assert resolved.optimizer.options == {"lr": 0.03}
    assert (resolved.train.epochs, resolved.train.batch_size) == (3, 10)


@given(st.text(alphabet=st.characters(max_codepoint=0xFFFF, blacklist_categories=("Cs",))))
def test_string_options_round_trip(value):
    cfg = RunConfig()
    cfg.callbacks["early-stopping"] = {"monitor": value}
    assert from_toml(cfg.to_toml()).callbacks["early-stopping"]["monitor"] == value


def test_string_option_beyond_the_basic_plane_round_trips():
    cfg = RunConfig()
    cfg.callbacks["early-stopping"] = {"monitor": "loss 😀"}
    assert from_toml(cfg.to_toml()).callbacks["early-stopping"]["monitor"] == "loss 😀"


@given(st.floats(allow_nan=False), st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_numbers_round_trip(number, integer):
    cfg = RunConfig()
    cfg.dataset.options = {"true_b": number, "num_examples": integer, "true_w": [number, 1.0]}
    assert from_toml(cfg.to_toml()).dataset.options == cfg.dataset.options


# -- apply ------------------------------------------------------------------------------------------
def test_apply_sets_options_names_and_train_settings(registry):
    cfg = RunConfig()
    cfg.apply("dataset.true_w=2,-3.4")
    cfg.apply(" optimizer.lr = 0.1 ")
    cfg.apply("train.batch_size=32")
    cfg.apply("train.device=auto")
    cfg.apply("train.seed=11")
    resolved = cfg.resolve(registry)
    assert resolved.dataset.options["true_w"] == [2.0, -3.4]
    assert resolved.optimizer.options["lr"] == 0.1
    assert (resolved.train.batch_size, resolved.train.device, resolved.train.seed) == (32, "auto", 11)


@pytest.mark.parametrize("text", ["2,-3.4", "[2, -3.4]", "[2,-3.4]"])
def test_apply_list_spellings(registry, text):
    cfg = RunConfig()
    cfg.apply(f"dataset.true_w={text}")
    assert cfg.resolve(registry).dataset.options["true_w"] == [2.0, -3.4]


def test_apply_name_switches_component_and_drops_its_options():
    cfg = RunConfig()
    cfg.apply("optimizer.lr=0.5")
    cfg.apply("optimizer.name=sgd")
    assert cfg.optimizer == ComponentConfig("sgd", {"lr": "0.5"})
    cfg.apply("optimizer.name=other")
    assert cfg.optimizer == ComponentConfig("other", {})


def test_apply_callback_options(registry):
    cfg = RunConfig()
    cfg.apply("callback.stop-at.threshold=1e-3")
    cfg.apply("callback.grad-clip.max_norm=2")
    resolved = cfg.resolve(registry)
    assert resolved.callbacks["stop-at"]["threshold"] == 0.001
    assert resolved.callbacks["grad-clip"] == {"max_norm": 2.0}


@pytest.mark.parametrize(("assignment", "words"), [
    ("optimizer.lr", ["'optimizer.lr'", "KIND.OPTION=VALUE"]),
    ("lr=0.1", ["'lr=0.1'", "KIND.OPTION=VALUE"]),
    (".lr=0.1", ["'.lr=0.1'", "KIND.OPTION=VALUE"]),
    ("optimizer.=0.1", ["'optimizer.=0.1'"]),
    ("optimiser.lr=0.1", ["unknown KIND 'optimiser'", "optimizer", "train", "callback.NAME"]),
    ("model.a.b=1", ["expected model.OPTION=VALUE, got 2 dots in 'model.a.b'"]),  # a known KIND, not "unknown"
    ("callback.lr=1", ["expected callback.NAME.OPTION=VALUE, got 1 dot in 'callback.lr'"]),
])
def test_apply_errors_name_the_assignment_and_the_accepted_form(assignment, words):
    with pytest.raises(OptionError) as caught:
        RunConfig().apply(assignment)
    for word in words:
        assert word in str(caught.value)


def test_apply_train_errors(registry):
    with pytest.raises(OptionError, match=r"train has no setting 'batchsize'; its settings: epochs, batch_size.*"
                                          r"did you mean 'batch_size'"):
        RunConfig().apply("train.batchsize=3")
    cfg = RunConfig()
    cfg.apply("train.epochs=many")  # values are checked once, when resolved
    with pytest.raises(OptionError, match=r"^train: option 'epochs': cannot read 'many' as int "
                                          r"\(expected an integer >= 0, <= 1000000000\)$"):
        cfg.resolve(registry)


def test_unknown_callback_option_lists_its_options(registry):
    cfg = RunConfig()
    cfg.apply("callback.early-stopping.patiense=3")
    with pytest.raises(OptionError, match=r"callback 'early-stopping' has no option 'patiense'.*patience"):
        cfg.resolve(registry)


def test_resolve_checks_names_and_settings(registry):
    cfg = RunConfig()
    cfg.train.metrics = ["accuracy"]
    with pytest.raises(UnknownComponentError, match="unknown metric 'accuracy'"):
        cfg.resolve(registry)
    cfg = RunConfig()
    cfg.train.batch_size = 0
    with pytest.raises(MinidlError, match=r"^train: option 'batch_size' must be >= 1, got 0$"):
        cfg.resolve(registry)


def test_resolve_does_not_change_the_original(registry):
    cfg = RunConfig()
    cfg.apply("optimizer.lr=0.5")
    cfg.resolve(registry)
    assert cfg.optimizer.options == {"lr": "0.5"}


# -- TOML errors ----------------------------------------------------------------------------------
def test_bad_toml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[train]\nepochs = 3\nbatch_size = = 4\n", encoding="utf-8")
    with pytest.raises(MinidlError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message and "line 3" in message and "not valid TOML" in message


def test_unknown_table_is_named():
    with pytest.raises(MinidlError, match=r"<config>: unknown table \[optimiser\]; accepted: train, dataset"):
        from_toml("[optimiser]\nlr = 0.1\n")


@pytest.mark.parametrize(("text", "words"), [
    ("train = 3\n", ["[train] must be a table", "3"]),
    ("[train]\nepoch = 3\n", ["'epoch'", "epochs"]),
])
def test_bad_tables_in_toml(text, words):
    with pytest.raises(MinidlError) as caught:
        from_toml(text, "run.toml")
    for word in words:
        assert word in str(caught.value)


@pytest.mark.parametrize(("text", "words"), [
    ("[train]\nepochs = 3.5\n", ["train: option 'epochs'", "3.5", "int"]),
    ("[train]\nbatch_size = true\n", ["train: option 'batch_size'", "True"]),
    ("[train]\nmetrics = 3\n", ["train: option 'metrics'", "3", "list"]),
    ("[train]\nseed = -1\n", ["train: option 'seed' must be >= 0, got -1"]),
    ("[train]\nepochs = 1000000000000\n", ["train: option 'epochs' must be <= 1000000000, got 1000000000000"]),
    ("[train]\ndevice = 'tpu'\n", ["unknown device 'tpu'", "cpu, cuda, cuda:N, auto"]),
    ("[dataset]\nnum_examples = 1000000000000\n", ["dataset 'synthetic-linear': option 'num_examples' must be <="]),
    ("[dataset]\nnum_test = 1000000000000\n", ["dataset 'synthetic-linear': option 'num_test' must be <="]),
    ("[dataset]\nnoise_std = nan\n", ["option 'noise_std' must be a finite number, got nan"]),
    ("[optimizer]\nlr = nan\n", ["optimizer 'sgd': option 'lr' must be a finite number, got nan"]),
    ("[optimizer]\nlr = 0\n", ["optimizer 'sgd': option 'lr' must be > 0, got 0.0"]),
])
def test_bad_values_in_toml_are_refused_when_resolved(registry, text, words):
    config = from_toml(text, "run.toml")
    with pytest.raises(MinidlError) as caught:
        config.resolve(registry)
    for word in words:
        assert word in str(caught.value)


def test_train_settings_are_options_like_a_components():
    from minidl.config import TRAIN_OPTIONS
    from minidl.options import Ge, Lt

    options = {option.name: option for option in TRAIN_OPTIONS}
    assert list(options) == ["epochs", "batch_size", "seed", "device", "metrics"]
    assert options["seed"].constraints == (Ge(0), Lt(2**63)) and options["metrics"].default == []
    assert options["batch_size"].help == "examples per minibatch (per process under ddp)"
    assert options["epochs"].range_text == ">= 0, <= 1000000000"


def test_missing_and_unreadable_config_files(tmp_path):
    with pytest.raises(MinidlError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    with pytest.raises(MinidlError, match="cannot be read"):
        load_config(tmp_path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(MinidlError, match="cannot be read"):
        load_config(binary)


def test_component_table_without_name_keeps_the_default():
    cfg = from_toml("[optimizer]\nlr = 0.2\n")
    assert cfg.optimizer == ComponentConfig("sgd", {"lr": 0.2})


# -- the library does what the command line does ----------------------------------------------------
def test_with_flags_layers_names_assignments_then_flags_on_a_copy(registry):
    base = from_toml('[train]\nepochs = 2\n\n[optimizer]\nlr = 0.01\n')
    config = base.with_flags(assignments=["optimizer.lr=0.2", "train.seed=4"], lr="0.3", epochs="5",
                             metrics=["mse"], callbacks=["stop-at"], model="linreg", batch_size=None)
    assert base.optimizer.options == {"lr": 0.01} and base.train.epochs == 2  # unchanged
    resolved = config.resolve(registry)
    assert resolved.optimizer.options["lr"] == 0.3  # the flag wins over --set
    assert (resolved.train.epochs, resolved.train.seed, resolved.train.batch_size) == (5, 4, 10)
    assert resolved.train.metrics == ["mse"] and list(resolved.callbacks) == ["stop-at"]
    with pytest.raises(OptionError, match="train has no setting 'colour'"):
        base.with_flags(colour="red")


def test_to_dict_is_what_the_toml_reads_back_as(registry):
    import tomllib

    resolved = full_config().resolve(registry)
    data = resolved.to_dict()
    assert data == tomllib.loads(resolved.to_toml())
    assert data["dataset"]["true_w"] == [1.5, -2.0, 0.25] and data["callback"]["lr-schedule"]["gamma"] == 0.9
    data["dataset"]["true_w"].append(9.0)
    assert resolved.dataset.options["true_w"] == [1.5, -2.0, 0.25]  # plain copies
    assert "callback" not in RunConfig().to_dict()


def test_a_resolved_config_is_not_checked_again(registry, monkeypatch):
    from minidl import options

    resolved = RunConfig().resolve(registry)
    assert resolved.resolved and not RunConfig().resolved
    calls = []
    monkeypatch.setattr(options.Option, "check", lambda self, value: calls.append(self.name) or value)
    again = resolved.resolve(registry)
    assert again == resolved and again is not resolved and calls == []
    again.apply("optimizer.lr=0.5")  # a change: resolved again, in full
    assert not again.resolved and again.resolve(registry).optimizer.options["lr"] == 0.5 and "lr" in calls


def test_check_resume_compatible(registry):
    from minidl.config import check_resume_compatible

    saved = RunConfig().resolve(registry)
    check_resume_compatible(saved, saved.with_flags(epochs=6, device="auto").resolve(registry), {"epoch": 3})
    with pytest.raises(MinidlError, match=r"only --epochs and --device may change, not optimizer\.lr, train\.seed"):
        check_resume_compatible(saved, saved.with_flags(lr=0.1, seed=2).resolve(registry), {"epoch": 3})
    with_callback = saved.with_flags(callbacks=["tensorboard"]).resolve(registry)
    assert with_callback.to_dict()["callback"] == {"tensorboard": {}}  # no option: no setting of its own
    with pytest.raises(MinidlError, match=r"may change, not callbacks$"):  # was accepted: flatten() saw nothing
        check_resume_compatible(saved, with_callback, {"epoch": 3})
    with pytest.raises(MinidlError, match="'runs/a' has already trained 3 epochs; --epochs is the new total"):
        check_resume_compatible(saved, saved.with_flags(epochs=2).resolve(registry), {"epoch": 3}, where="runs/a")
    with pytest.raises(TypeError, match="resolve both"):
        check_resume_compatible(saved, RunConfig(), {"epoch": 0})


def test_flatten():
    from minidl.config import flatten

    assert flatten({"train": {"epochs": 3}, "callback": {"a": {"b": 1}}, "x": [1]}) == {
        "train.epochs": 3, "callback.a.b": 1, "x": [1]}
