"""The command line through click's CliRunner: output, swapping, config, inspection, errors."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from minidl.cli import create_cli

EPOCH_LINE = re.compile(r"^epoch \d+, loss \d+\.\d{6}$")


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch):
    """Run ``minidl ARGS`` in-process; returns click's Result (stdout and stderr apart)."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "")  # the defaults only, unless a test says so

    def run(*args: str, env: dict[str, str] | None = None):
        return CliRunner().invoke(create_cli(), list(args), env=env)

    return run


def assert_usage_error(result, *fragments: str) -> None:
    """Exit 2, nothing on stdout, one line on stderr containing every fragment, no traceback."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert "Traceback" not in result.stderr


def test_train_prints_the_notebook_lines_then_learned_and_true_parameters(invoke) -> None:
    result = invoke("train")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [bool(EPOCH_LINE.match(line)) for line in lines[:3]] == [True] * 3
    assert [line.split(",")[0] for line in lines[:3]] == ["epoch 1", "epoch 2", "epoch 3"]
    assert re.fullmatch(r"w: \[1\.99\d\d, -3\.39\d\d\]  true: \[2\.0, -3\.4\]", lines[3]) or re.fullmatch(
        r"w: \[2\.00\d\d, -3\.40\d\d\]  true: \[2\.0, -3\.4\]", lines[3]
    ), lines[3]
    assert re.fullmatch(r"b: 4\.(19|20)\d\d  true: 4\.2", lines[4]), lines[4]
    assert len(lines) == 5
    assert result.stderr == ""
    assert float(lines[2].split("loss ")[1]) < 1e-4


def test_quiet_prints_only_the_summary(invoke) -> None:
    full = invoke("train").stdout.splitlines()
    quiet = invoke("train", "--quiet").stdout.splitlines()
    assert quiet == full[2:]


def test_json_is_one_object_identical_between_runs(invoke) -> None:
    first, second = invoke("train", "--json"), invoke("train", "--json")
    assert first.exit_code == 0
    assert first.stdout == second.stdout
    data = json.loads(first.stdout)
    assert [record["epoch"] for record in data["history"]] == [1, 2, 3]
    assert "parameters" not in data and data["parameter_count"] == 3
    assert set(data["parameter_norms"]) == {"w", "b"}
    assert data["true_parameters"] == {"w": [2.0, -3.4], "b": 4.2}
    with_params = json.loads(invoke("train", "--json", "--json-params").stdout)
    assert set(with_params["parameters"]) == {"w", "b"}
    w = with_params["parameters"]["w"]
    assert data["parameter_norms"]["w"] == pytest.approx(sum(v * v for v in w) ** 0.5, rel=1e-6)
    other_seed = json.loads(invoke("train", "--json", "--json-params", "--seed", "1").stdout)
    assert other_seed["parameters"] != with_params["parameters"]


def test_json_params_needs_json(invoke) -> None:
    assert_usage_error(invoke("train", "--json-params"), "--json-params", "--json")


def test_set_changes_component_options(invoke) -> None:
    result = invoke("train", "--json", "--set", "dataset.num_examples=500", "--set", "dataset.true_w=1,2,3",
                    "--set", "dataset.num_inputs=3")
    data = json.loads(result.stdout)
    assert data["config"]["dataset"]["num_examples"] == 500
    assert data["true_parameters"]["w"] == [1.0, 2.0, 3.0]
    assert data["parameter_count"] == 4


def test_list_syntax_with_brackets_and_hyperparameter_flags(invoke) -> None:
    result = invoke("train", "--json", "--set", "dataset.true_w=[2, -3.4, 1]", "--set", "dataset.num_inputs=3",
                    "--epochs", "2", "--batch-size", "20", "--lr", "0.05", "--seed", "7", "--device", "cpu")
    data = json.loads(result.stdout)
    assert data["config"]["train"] == {"epochs": 2, "batch_size": 20, "seed": 7, "device": "cpu", "metrics": []}
    assert data["config"]["optimizer"]["lr"] == 0.05
    assert len(data["history"]) == 2


def test_swapping_by_name_and_metrics_and_callbacks(invoke) -> None:
    result = invoke("train", "--json", "--model", "linreg", "--loss", "squared", "--optimizer", "sgd",
                    "--metric", "mse", "--callback", "stop-at", "--set", "callback.stop-at.threshold=0.01",
                    "--set", "dataset.num_test=100", "--epochs", "10")
    data = json.loads(result.stdout)
    assert len(data["history"]) == 2  # the loss falls below 0.01 in the second epoch
    assert {"loss", "test_loss", "mse", "test_mse"} <= set(data["history"][0])
    assert "stopped" in data


def test_epoch_line_shows_test_loss(invoke) -> None:
    result = invoke("train", "--set", "dataset.num_test=200", "--epochs", "1")
    assert re.fullmatch(r"epoch 1, loss \d+\.\d{6}, test loss \d+\.\d{6}", result.stdout.splitlines()[0])


def test_config_file_with_flags_overriding(invoke, tmp_path: Path) -> None:
    config = tmp_path / "run.toml"
    config.write_text('[train]\nepochs = 2\nseed = 3\n\n[optimizer]\nname = "sgd"\nlr = 0.01\n')
    data = json.loads(invoke("train", "--config", str(config), "--json", "--seed", "4").stdout)
    assert data["config"]["train"]["epochs"] == 2
    assert data["config"]["train"]["seed"] == 4
    assert data["config"]["optimizer"]["lr"] == 0.01


def test_print_config_round_trips_without_training(invoke, tmp_path: Path) -> None:
    printed = invoke("train", "--print-config", "--set", "dataset.num_test=50", "--callback", "early-stopping",
                     "--metric", "mae")
    assert printed.exit_code == 0
    assert "epoch" not in printed.stdout.split("[dataset]")[1]
    assert tomllib.loads(printed.stdout)["callback"]["early-stopping"]["patience"] == 3
    path = tmp_path / "run.toml"
    path.write_text(printed.stdout)
    assert invoke("train", "--config", str(path), "--print-config").stdout == printed.stdout


def test_divergence_stops_with_exit_1_and_no_nan_lines(invoke) -> None:
    result = invoke("train", "--lr", "5")
    assert result.exit_code == 1
    assert "nan" not in result.stdout and "inf" not in result.stdout
    assert re.fullmatch(r"Error: training diverged: loss became (nan|inf|-inf) at epoch \d+, step \d+; "
                        r"try a smaller learning rate\n", result.stderr)


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--model", "linreggg"], ["model 'linreggg'", "available: linreg", "did you mean 'linreg'"]),
        (["--dataset", "nope"], ["dataset 'nope'", "synthetic-linear"]),
        (["--set", "model.colour=red"], ["no option 'colour'", "num_inputs, grad"]),
        (["--set", "dataset.num_examples=many"], ["num_examples", "'many'", "int"]),
        (["--set", "dataset.true_w=1,x"], ["true_w", "list[float]"]),
        (["--batch-size", "0"], ["train: option 'batch_size' must be >= 1, got 0"]),
        (["--epochs", "-1"], ["train: option 'epochs' must be >= 0, got -1"]),
        (["--lr", "nan"], ["optimizer 'sgd': option 'lr' must be a finite number, got nan"]),
        (["--lr", "-0.1"], ["optimizer 'sgd': option 'lr' must be > 0, got -0.1"]),
        (["--lr", "inf"], ["option 'lr' must be a finite number, got inf"]),
        (["--lr", "0"], ["option 'lr' must be > 0, got 0.0"]),
        (["--lr", "fast"], ["option 'lr'", "'fast'", "float"]),
        (["--set", "dataset.num_examples"], ["KIND.OPTION=VALUE"]),
        (["--set", "num_examples=3"], ["KIND.OPTION=VALUE"]),
        (["--set", "colour.size=3"], ["unknown KIND 'colour'"]),
        (["--config", "missing.toml"], ["missing.toml", "does not exist"]),
        (["--device", "tpu"], ["device 'tpu'", "cpu, cuda"]),
        (["--metric", "f1"], ["metric 'f1'", "mae, mse"]),
        (["--callback", "nope"], ["callback 'nope'", "early-stopping"]),
        (["--set", "callback.stop-at.colour=1"], ["no option 'colour'", "monitor"]),
        (["--epochs", "three"], ["option 'epochs'", "'three'", "int"]),
        (["--epochs", "99999999999"], ["option 'epochs' must be <= 1000000000, got 99999999999"]),
        (["--seed", "99999999999999999999"], ["option 'seed' must be < 9223372036854775808"]),
        (["--seed", "-1"], ["option 'seed' must be >= 0, got -1"]),
        (["--set", "dataset.num_examples=99999999999999999999999"],
         ["dataset 'synthetic-linear': option 'num_examples' must be <= 100000000, got 99999999999999999999999"]),
        (["--set", "dataset.num_test=1000000000000"], ["option 'num_test' must be <= 100000000"]),
        (["--set", "dataset.noise_std=nan"], ["option 'noise_std' must be a finite number, got nan"]),
        (["--set", "model.num_inputs=10000000000"], ["model 'linreg': option 'num_inputs' must be <= 100000000"]),
        (["--set", "dataset.noise_std=-1"], ["noise_std", "-1.0"]),
        (["--set", "dataset.true_b=nan"], ["option 'true_b' must be a finite number, got nan"]),
        (["--set", "model.num_inputs=3"], ["num_inputs=3", "has 2"]),
    ],
)
def test_bad_input_is_one_line_exit_2(invoke, args: list[str], fragments: list[str]) -> None:
    assert_usage_error(invoke("train", *args), *fragments)


def test_invalid_toml_names_file_and_line(invoke, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[train]\nepochs = 3\nseed = = 1\n")
    assert_usage_error(invoke("train", "--config", str(path)), "bad.toml", "line 3")


def test_list_show_plugins_and_their_json(invoke) -> None:
    listed = invoke("list")
    assert "synthetic-linear" in listed.stdout and "early-stopping" in listed.stdout
    assert invoke("list", "model").stdout.splitlines()[0] == "model:"
    as_json = json.loads(invoke("list", "--json").stdout)
    assert {"kind": "model", "name": "linreg", "plugin": "minidl.default_plugins.notebook",
            "summary": "Linear regression X @ w + b; w from N(0, 0.01), b = 0."} in as_json
    shown = invoke("show", "dataset", "synthetic-linear").stdout
    assert "true_w (list[float], default [2.0, -3.4], finite)  the true weights" in shown
    assert "num_examples (int, default 1000, >= 1, <= 100000000)  training examples" in shown
    options = json.loads(invoke("show", "optimizer", "sgd", "--json").stdout)["options"]
    assert options == [{"name": "lr", "type": "float", "required": False, "default": 0.03, "help": "learning rate",
                        "range": "> 0, finite"}]
    plugins = json.loads(invoke("plugins", "--json").stdout)
    notebook = next(p for p in plugins if p["name"] == "minidl.default_plugins.notebook")
    assert "model linreg" in notebook["components"] and notebook["version"]
    assert_usage_error(invoke("show", "model", "nope"), "model 'nope'")


def test_version(invoke) -> None:
    import minidl

    assert invoke("--version").stdout.strip() == f"minidl, version {minidl.__version__}"


LOCAL_PLUGIN = '''
import click
from minidl import hookimpl


def doubled(num_examples: int = 100):
    """Synthetic data with twice the default weights.

    Args:
        num_examples: examples
    """
    from minidl.default_plugins.notebook_components import SyntheticLinear
    return SyntheticLinear(num_examples, 2, [4.0, -6.8], 8.4, 0.01)


@hookimpl
def register_datasets(register):
    register("doubled", doubled)


@hookimpl
def register_commands(cli):
    @cli.command()
    def hello():
        """Say hello."""
        click.echo("hello from a plugin")
'''


def test_plugin_from_a_file_adds_components_and_commands(invoke, tmp_path: Path) -> None:
    path = tmp_path / "myplugin.py"
    path.write_text(LOCAL_PLUGIN)
    assert invoke("-p", str(path), "hello").stdout == "hello from a plugin\n"
    data = json.loads(invoke("-p", str(path), "train", "--dataset", "doubled", "--json", "--epochs", "1").stdout)
    assert data["true_parameters"]["w"] == [4.0, -6.8]
    via_env = invoke("hello", env={"MINIDL_PLUGINS": str(path)})
    assert via_env.stdout == "hello from a plugin\n"


def test_plugin_that_fails_to_load_is_named(invoke, tmp_path: Path) -> None:
    path = tmp_path / "broken.py"
    path.write_text("raise RuntimeError('kaboom')\n")
    assert_usage_error(invoke("-p", str(path), "list"), "broken.py", "RuntimeError: kaboom")
    assert_usage_error(invoke("-p", "no_such_module_xyz", "list"), "no_such_module_xyz", "ModuleNotFoundError")
    assert_usage_error(invoke("list", env={"MINIDL_PLUGINS": str(path)}), "broken.py", "kaboom")


def test_plugin_with_a_misspelled_hook_is_refused(invoke, tmp_path: Path) -> None:
    path = tmp_path / "typo.py"
    path.write_text("from minidl import hookimpl\n\n@hookimpl\ndef register_modles(register):\n    pass\n")
    assert_usage_error(invoke("-p", str(path), "list"), "register_modles")


def test_shell_completion_of_component_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINIDL_LOAD_PLUGINS", "")
    result = CliRunner().invoke(create_cli(), [], env={"_MINIDL_COMPLETE": "bash_complete",
                                                      "COMP_WORDS": "minidl train --model lin", "COMP_CWORD": "3"},
                                prog_name="minidl")
    assert "linreg" in result.stdout


def test_no_arguments_prints_help_on_stdout(invoke) -> None:
    result = invoke()
    assert result.exit_code == 0 and result.stderr == ""
    assert result.stdout.startswith("Usage: minidl")


def test_click_choice_errors_stay_on_one_line(invoke) -> None:
    assert_usage_error(invoke("show"), "Missing argument", "dataset, model, loss")


def test_explicit_plugin_whose_registration_fails_is_an_error(invoke, tmp_path: Path) -> None:
    path = tmp_path / "badfactory.py"
    path.write_text("from minidl import hookimpl\n\n@hookimpl\ndef register_models(register):\n"
                    "    raise KeyError('x')\n")
    assert_usage_error(invoke("-p", str(path), "list", "model"), "badfactory.py", "KeyError")


def test_the_same_plugin_named_twice_loads_once(invoke, tmp_path: Path) -> None:
    path = tmp_path / "myplugin.py"
    path.write_text(LOCAL_PLUGIN)
    result = invoke("-p", str(path), "-p", str(path), "list", "dataset", env={"MINIDL_PLUGINS": str(path)})
    assert result.exit_code == 0, result.stderr
    assert "doubled" in result.stdout


def test_unknown_name_in_the_allowlist_is_a_warning(invoke) -> None:
    result = invoke("list", "metric", env={"MINIDL_LOAD_PLUGINS": "nonexistent"})
    assert result.exit_code == 0
    assert result.stderr == ("Warning: plugin 'nonexistent' failed to load: LookupError: MINIDL_LOAD_PLUGINS "
                             "names it, but no installed distribution provides it\n")


def test_show_callback_prints_the_set_form_that_works(invoke) -> None:
    shown = invoke("show", "callback", "early-stopping").stdout
    assert "options (set with --set callback.early-stopping.OPTION=VALUE):" in shown
    assert "patience (int, default 3, >= 1, <= 1000000000)" in shown
    result = invoke("train", "--callback", "early-stopping", "--set", "callback.early-stopping.patience=1",
                    "--epochs", "1", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["config"]["callback"]["early-stopping"]["patience"] == 1


# -- failures inside training: one line naming the component; the traceback with --debug ----------
FAILING_PLUGIN = '''
from typing import Any
from minidl import hookimpl


class Boom:
    """Adds the learning rate to the record, prints, and raises at the end of epoch 2."""

    @hookimpl
    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict) -> None:
        print("plugin says hi")
        metrics["lr"] = trainer.optimizer.param_groups[0]["lr"]
        if epoch == 2:
            raise ValueError("kaboom at epoch 2")


def boom() -> Any:
    """Raise at the end of epoch 2."""
    return Boom()


def bad_model(num_inputs: int | None = None) -> Any:
    """A model whose forward raises in the second epoch."""
    import torch

    class Bad(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)
            self.calls = 0

        def forward(self, X):
            self.calls += self.training
            if self.calls > 150:
                raise ValueError("bad shapes somewhere")
            return self.lin(X)

    return Bad()


def numpy_batches(kind: str = "numpy") -> Any:
    """A dataset whose batches are numpy arrays (or one tensor), not pairs of tensors."""
    import torch

    import minidl

    class NumpyBatches(minidl.TensorData):
        def batches(self, batch_size, generator):
            for X, y in super().batches(batch_size, generator):
                yield (X.numpy(), y.numpy()) if kind == "numpy" else list(X) if kind == "list" else X

    X = torch.randn(20, 2)
    return NumpyBatches(X, X.sum(1, keepdim=True))


@hookimpl
def register_datasets(register):
    register("numpy-batches", numpy_batches)


@hookimpl
def register_callbacks(register):
    register("boom", boom)


@hookimpl
def register_models(register):
    register("bad", bad_model)
'''


@pytest.fixture
def failing_plugin(plugin_file) -> str:
    return plugin_file("failing.py", FAILING_PLUGIN)


def test_a_model_that_raises_in_training_is_named_in_one_line(invoke, failing_plugin: str) -> None:
    result = invoke("-p", failing_plugin, "train", "--model", "bad")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: model 'bad' from plugin {failing_plugin!r} raised ValueError: "
                             "bad shapes somewhere\n")
    assert result.stdout.startswith("epoch 1, loss ")


def test_a_callback_that_raises_is_named_and_the_last_checkpoint_kept(invoke, failing_plugin: str,
                                                                       tmp_path: Path) -> None:
    import torch

    out = tmp_path / "run"
    result = invoke("-p", failing_plugin, "train", "--callback", "boom", "--out", str(out))
    assert result.exit_code == 1
    assert result.stderr == (f"Error: callback 'boom' from plugin {failing_plugin!r} raised ValueError: kaboom at "
                             f"epoch 2; epoch 1 is saved in {out / 'checkpoint.pt'}\n")
    assert torch.load(out / "checkpoint.pt", weights_only=False)["epoch"] == 1


@pytest.mark.parametrize("kind, found", [("numpy", "a batch of (ndarray, ndarray)"), ("tensor", "a Tensor"),
                                         ("list", "a batch of 10 items (Tensor, Tensor, Tensor, ...)")])
def test_a_dataset_whose_batches_are_no_tensor_pairs_is_named_not_the_model(invoke, failing_plugin: str, kind: str,
                                                                           found: str) -> None:
    """The default model was blamed for the dataset's numpy arrays (model 'linreg' raised TypeError)."""
    result = invoke("-p", failing_plugin, "train", "--dataset", "numpy-batches", "--set", f"dataset.kind={kind}")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: dataset 'numpy-batches' from plugin {failing_plugin!r}: the dataset's batches "
                             f"yielded {found}; Dataset.batches must yield (X, y) pairs of torch tensors\n")


@pytest.mark.parametrize("how", ["flag", "env"])
def test_debug_shows_the_full_traceback(invoke, failing_plugin: str, how: str) -> None:
    if how == "flag":
        result = invoke("--debug", "-p", failing_plugin, "train", "--model", "bad")
    else:
        result = invoke("-p", failing_plugin, "train", "--model", "bad", env={"MINIDL_DEBUG": "1"})
    assert result.exit_code == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert 'raise ValueError("bad shapes somewhere")' in result.stderr
    assert result.stderr.splitlines()[-1] == (f"Error: model 'bad' from plugin {failing_plugin!r} raised "
                                              "ValueError: bad shapes somewhere")


@pytest.mark.parametrize("args", [["--debug", "-p", "{path}"], ["-p", "{path}", "--debug"], ["-p", "{path}"]])
def test_debug_shows_where_a_plugin_failed_to_import(invoke, plugin_file, tmp_path: Path, args: list[str]) -> None:
    """--debug added nothing for a plugin whose import failed two modules deep: no file, no line."""
    (tmp_path / "deep_inner.py").write_text("import not_a_module_anywhere\n")
    path = plugin_file("deep.py", f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\nimport deep_inner\n")
    result = invoke(*[arg.format(path=path) for arg in args], "list")
    last = f"Error: plugin {path!r} failed to load: ModuleNotFoundError: No module named 'not_a_module_anywhere'"
    assert result.exit_code == 2 and result.stderr.splitlines()[-1] == last
    if "--debug" in args:
        assert result.stderr.startswith("Traceback (most recent call last):")
        assert f'File "{tmp_path / "deep_inner.py"}", line 1' in result.stderr
    else:
        assert result.stderr == last + "\n"


def test_values_callbacks_add_are_on_the_epoch_line(invoke, failing_plugin: str) -> None:
    result = invoke("-p", failing_plugin, "train", "--callback", "boom", "--epochs", "1")
    assert result.exit_code == 0, result.stderr
    assert re.fullmatch(r"epoch 1, loss \d+\.\d{6}, lr 0\.03", result.stdout.splitlines()[1])


def test_a_plugin_printing_during_json_goes_to_stderr(invoke, failing_plugin: str) -> None:
    result = invoke("-p", failing_plugin, "train", "--callback", "boom", "--epochs", "1", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["history"][0]["lr"] == 0.03
    assert result.stderr == "plugin says hi\n"


def test_a_first_party_name_says_which_distribution_to_install(invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    import minidl.first_party

    monkeypatch.setattr(minidl.first_party, "_installed", lambda distribution: False)
    assert_usage_error(invoke("train", "--optimizer", "adam"), "unknown optimizer 'adam'; available: sgd",
                       "first-party plugin minidl-optim, not installed", "pip install ./plugins/optim")
    assert_usage_error(invoke("train", "--model", "lenet"), "minidl-vision", "pip install ./plugins/vision")
    assert_usage_error(invoke("train", "--model", "linre"), "did you mean 'linreg'")
    monkeypatch.setattr(minidl.first_party, "_installed", lambda distribution: True)  # MINIDL_LOAD_PLUGINS="" here
    assert_usage_error(invoke("train", "--optimizer", "adam"), "minidl-optim, which is installed but not loaded",
                       "MINIDL_LOAD_PLUGINS")


def test_dataset_too_big_for_the_memory_is_one_line(invoke) -> None:
    result = invoke("train", "--set", "dataset.num_examples=100000000", "--set", "dataset.num_inputs=1000000")
    assert_usage_error(result, "dataset 'synthetic-linear' needs about 400.0 TB of memory", "available")


def test_lr_is_parsed_and_checked_once(invoke, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12.3: `--lr` was type-checked 4 times and range-checked 3 times (the config resolved twice)."""
    from minidl import config as config_module
    from minidl import options, trainer

    counts = {"parse": 0, "check": 0, "resolve": 0, "fit guard": 0}

    def counting(name: str, original, when=lambda *a: True):
        def wrapper(*args, **kwargs):
            counts[name] += bool(when(*args))
            return original(*args, **kwargs)
        return wrapper

    # the value given, not the default (each default is checked once, at registration)
    is_lr = lambda option, value, *rest: option.name == "lr" and value in ("0.05", 0.05)  # noqa: E731
    monkeypatch.setattr(options.Option, "parse", counting("parse", options.Option.parse, is_lr))
    monkeypatch.setattr(options.Option, "check", counting("check", options.Option.check, is_lr))
    monkeypatch.setattr(config_module.RunConfig, "resolve",
                        counting("resolve", config_module.RunConfig.resolve, lambda cfg, *a: not cfg.resolved))
    monkeypatch.setattr(trainer, "check_learning_rate", counting("fit guard", trainer.check_learning_rate))
    result = invoke("train", "--lr", "0.05", "--epochs", "1", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["config"]["optimizer"]["lr"] == 0.05
    assert counts == {"parse": 1, "check": 1, "resolve": 1, "fit guard": 1}  # the guard: for library users


@pytest.mark.parametrize("args", [
    ["-p", "{path}", "--debug", "hello"], ["--debug", "-p", "{path}", "hello"], ["--plugin={path}", "hello"],
    ["-p{path}", "hello"],
])
def test_plugin_option_in_every_spelling(invoke, tmp_path: Path, args: list[str]) -> None:
    path = tmp_path / "myplugin.py"
    path.write_text(LOCAL_PLUGIN)
    result = invoke(*(arg.format(path=path) for arg in args))
    assert result.stdout == "hello from a plugin\n", result.stderr


def test_help_lists_the_commands_of_a_named_plugin(invoke, tmp_path: Path) -> None:
    path = tmp_path / "myplugin.py"
    path.write_text(LOCAL_PLUGIN)
    assert "hello" in invoke("-p", str(path), "--help").stdout
    assert "hello" not in invoke("--help").stdout


@pytest.mark.parametrize("command", [["plot"], ["runs", "plot"]])
def test_a_file_that_cannot_be_written_exits_1_not_2(invoke, tmp_path: Path, command: list[str]) -> None:
    """A write failure (a full disk, a folder that is a file) is not a usage error: exit 1, as train's."""
    run_dir = tmp_path / "run"
    assert invoke("train", "--epochs", "1", "--out", str(run_dir), "-q").exit_code == 0
    (tmp_path / "file").write_text("not a folder")
    picture = tmp_path / "file" / "loss.png"
    target = [str(run_dir)] if command == ["plot"] else [json.loads((run_dir / "run.json").read_text())["id"]]
    result = invoke(*command, *target, "-o", str(picture))
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stderr == f"Error: cannot write picture '{picture}': Not a directory\n"
