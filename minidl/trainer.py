"""The Trainer: minibatch training as the notebook does it, with hooks around it.

Per step: per-example loss on the batch, its mean back-propagated (or the model's own
``compute_gradients``), an optimizer step, gradients zeroed. Per epoch: the loss and
metrics over each whole split, as the notebook's ``train_l`` line. Events go to pluggy
hooks (:mod:`minidl.hookspecs`); per-step hooks are called only when implemented.

Recurrent models (:class:`~minidl.interfaces.StatefulModel`) carry their hidden state
from batch to batch when the dataset declares ``carries_state`` (consecutive sampling);
otherwise every call starts afresh. What is optional is looked up once per epoch, so
the default loop's per step work is the same with or without these features.
"""

from __future__ import annotations

import contextlib
import math
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from minidl.checkpoint import FORMAT_VERSION, check_state
from minidl.errors import CheckpointError, DivergedError, MinidlError, PluginError

if TYPE_CHECKING:
    import torch

    from minidl.compat import Checked
    from minidl.interfaces import Dataset, Loss, Metric, Model, Optimizer
    from minidl.plugins import Plugins

DEFAULT_BATCH_SIZE = 10  # the notebook's
EVAL_CHUNK = 65_536  # at most this many examples per forward pass when evaluating a whole split
# and at most this much input per pass: a CNN's activations are a multiple of it
EVAL_CHUNK_BYTES = 2 * 2**20


def eval_chunk(X: torch.Tensor) -> int:
    """Examples per forward pass over ``X`` when evaluating or predicting: many small
    examples at once (no Python loop over 1,000,000 rows), few large images (bounded memory)."""
    per_example = max(1, X[:1].numel() * X.element_size())  # bytes of one example
    return max(1, min(EVAL_CHUNK, EVAL_CHUNK_BYTES // per_example))


class History:
    """Per-epoch records: ``history[i]`` is a dict, ``history["loss"]`` one column."""

    def __init__(self, records: Iterable[Mapping[str, Any]] = ()) -> None:
        self.records: list[dict[str, Any]] = [dict(r) for r in records]

    def append(self, record: Mapping[str, Any]) -> None:
        """Add one epoch's record."""
        self.records.append(dict(record))

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def __getitem__(self, key: int | str) -> Any:
        if isinstance(key, str):
            return [record.get(key) for record in self.records]
        return self.records[key]

    def __repr__(self) -> str:
        return f"History({self.records!r})"


DEVICE_PATTERN = re.compile(r"(cpu|auto|cuda(:\d+)?)")  # the one spelling of a device, everywhere


def check_device(device: Any) -> str:
    """Return ``device`` if it is ``cpu``, ``cuda``, ``cuda:N`` or ``auto``; else raise :class:`MinidlError`."""
    if not isinstance(device, str) or not DEVICE_PATTERN.fullmatch(device):
        raise MinidlError(f"unknown device {device!r}; accepted: cpu, cuda, cuda:N, auto")
    return device


def resolve_device(device: str) -> torch.device:
    """``cpu``, ``cuda``, ``cuda:N`` or ``auto`` (cuda when available) as a torch device."""
    import torch

    check_device(device)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device != "cpu" and not torch.cuda.is_available():
        raise MinidlError(f"device {device!r} is not available on this machine; use cpu or auto")
    return torch.device(device)


def check_hyperparameters(max_epochs: Any, batch_size: Any) -> None:
    """Raise :class:`MinidlError` for a negative epoch count or a batch size below 1."""
    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 0:
        raise MinidlError(f"epochs must be an integer >= 0, got {max_epochs!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise MinidlError(f"batch size must be an integer >= 1, got {batch_size!r}")


def check_learning_rate(lr: Any) -> None:
    """Raise :class:`MinidlError` unless ``lr`` is a finite positive number."""
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise MinidlError(f"learning rate must be a finite positive number, got {lr!r}")


def format_epoch(record: Mapping[str, Any], metrics: Mapping[str, Metric] = {}) -> str:
    """The notebook's line, ``epoch 1, loss 0.035462``, plus test loss and metrics, then
    whatever else is in the record (values callbacks added, other splits) as ``KEY VALUE``."""
    parts = [f"epoch {record['epoch']}, loss {record['loss']:f}"]
    shown = {"epoch", "loss", "test_loss"}
    if "test_loss" in record:
        parts.append(f"test loss {record['test_loss']:f}")
    for prefix, label in (("", "train"), ("test_", "test")):
        for name, metric in metrics.items():
            if prefix + name in record:
                fmt = getattr(metric, "fmt", "{:f}")
                value = fmt.format(record[prefix + name])
                parts.append(f"{label} {getattr(metric, 'label', name)} {value}")
                shown.add(prefix + name)
    for key, value in record.items():
        if key not in shown:
            text = f"{value:g}" if isinstance(value, float) else str(value)
            parts.append(f"{key} {text}")
    return ", ".join(parts)


class Trainer:
    """Trains a model on a dataset with a loss and an optimizer, epoch by epoch.

    Arguments are keyword-only, each with a default (Lightning's ``Trainer`` style):
    ``max_epochs`` (the total, also after a resume), ``batch_size`` (default 10, or the
    batch size of a dataset made from a DataLoader; given, it must agree), ``seed`` (for the
    shuffling order and torch's global RNG during ``fit``; None draws one, kept in
    ``trainer.seed``), ``device`` (``cpu``, ``cuda``, ``auto``), ``metrics`` (names or
    a ``{name: Metric}`` mapping), ``callbacks`` (names or hook-implementing objects),
    ``plugins`` (default: the process-wide ones), ``verbose`` (print epoch lines with
    ``echo``).
    """

    def __init__(
        self,
        *,
        max_epochs: int = 3,
        batch_size: int | None = None,
        seed: int | None = None,
        device: str = "cpu",
        metrics: Sequence[str] | Mapping[str, Metric] = (),
        callbacks: Sequence[Any] = (),
        plugins: Plugins | None = None,
        verbose: bool = False,
        echo: Callable[[str], Any] = print,
    ) -> None:
        self.batch_size_given = batch_size is not None  # else a DataLoader's batch size wins in fit
        batch_size = DEFAULT_BATCH_SIZE if batch_size is None else batch_size
        check_hyperparameters(max_epochs, batch_size)
        if plugins is None:
            from minidl.plugins import get_plugins

            plugins = get_plugins()
        self.max_epochs, self.batch_size = max_epochs, batch_size
        self.seed = random.randrange(2**31) if seed is None else seed
        self.device_name = device
        self.plugins = plugins
        self.metrics = self._resolve_metrics(metrics)
        resolved = [self._resolve_callback(c) for c in callbacks]
        self.callbacks = [c for i, c in enumerate(resolved) if all(c is not d for d in resolved[:i])]
        self.verbose, self.echo = verbose, echo
        self.epoch = 0  # completed epochs
        self.history = History()
        self.should_stop = False
        self.stop_reason: str | None = None  # set by whoever sets should_stop
        self.generator: torch.Generator | None = None
        self.checked: Checked | None = None  # the components minidl.compat last checked (build or fit)
        self.epoch_seconds: list[float] = []  # wall time of each epoch; not in the history

    def _resolve_metrics(self, metrics: Sequence[str] | Mapping[str, Metric]) -> dict[str, Metric]:
        if isinstance(metrics, Mapping):
            return dict(metrics)
        return {name: self.plugins.registry.build("metric", name) for name in metrics}

    def _resolve_callback(self, callback: Any) -> Any:
        if isinstance(callback, str):
            return self.plugins.registry.build("callback", callback)
        return callback

    # -- training ------------------------------------------------------------------------
    def fit(self, model: Model, data: Dataset, loss: Loss, optimizer: Optimizer,
            *, resume: Mapping[str, Any] | None = None) -> History:
        """Train until ``max_epochs`` epochs are done or a plugin asks to stop.

        ``resume`` is a :meth:`state_dict` saved earlier: training continues after its
        last completed epoch. Raises :class:`DivergedError` on a nan or infinite loss.
        The model is left in the mode (training or eval) it came in.
        """
        import torch

        for group in optimizer.param_groups:
            check_learning_rate(group.get("lr"))
        was_training = getattr(model, "training", None)
        self.setup(model, data, loss, optimizer)
        self._take_batch_size(data)
        if not len(self.data.tensors("train")[0]):
            raise MinidlError("the dataset's training split is empty; nothing to train on")
        from minidl.compat import check_fit  # components that do not fit: one line, before any step

        self.checked = check_fit(self.checked, model, self.data, loss, self.metrics)
        self.generator = torch.Generator().manual_seed(self.seed)
        torch.manual_seed(self.seed)
        self.should_stop, self.stop_reason = False, None
        self.epoch, self.history = 0, History()  # a second fit starts afresh, unless resumed
        self.epoch_seconds = []
        if resume is not None:
            self.load_state_dict(resume)
        self._register_callbacks()
        try:
            return self._run()
        finally:
            for callback in self.callbacks:
                if self.plugins.manager.is_registered(callback):
                    self.plugins.manager.unregister(callback)
            _set_mode(model, was_training)

    def setup(self, model: Model, data: Dataset, loss: Loss, optimizer: Optimizer) -> None:
        """Keep the components and move the model and data to the trainer's device.

        ``fit`` does this first; call it to :meth:`evaluate`, :meth:`predict` or
        :meth:`load_state_dict` without training (as :func:`minidl.load_run` does).
        """
        self.device = resolve_device(self.device_name)
        model.to(self.device)
        self.model, self.data, self.loss, self.optimizer = model, data.to(self.device), loss, optimizer

    def _take_batch_size(self, data: Any) -> None:
        """A dataset made from a DataLoader (:func:`~minidl.adapters.as_dataset`) carries its
        ``batch_size``: taken unless the Trainer was given one; a different one is refused."""
        loader_batch = getattr(data, "batch_size", None)
        if loader_batch is None or loader_batch == self.batch_size:
            return
        if self.batch_size_given:
            raise MinidlError(f"Trainer(batch_size={self.batch_size}) but the DataLoader has batch_size="
                              f"{loader_batch}; give one of them (without its own, the Trainer takes the loader's)")
        self.batch_size = loader_batch

    def _register_callbacks(self) -> None:
        manager = self.plugins.manager
        for callback in reversed(self.callbacks):  # pluggy calls the last registered first
            try:
                manager.register(callback)
                manager.check_pending()
            except (pluggy.PluginValidationError, ValueError) as exc:
                for registered in self.callbacks:
                    if manager.is_registered(registered):
                        manager.unregister(registered)
                from minidl.plugins import validation_message

                raise PluginError(f"callback {type(callback).__name__!r} is invalid: "
                                  f"{validation_message(exc)}") from None

    def _run(self) -> History:
        hook = self.plugins.hook
        hook.on_fit_start(trainer=self)
        while self.epoch < self.max_epochs and not self.should_stop:
            epoch = self.epoch + 1
            start = time.perf_counter()
            hook.on_epoch_start(trainer=self, epoch=epoch)
            self._train_epoch(epoch)
            record = {"epoch": epoch, **self.evaluate()}
            self.epoch_seconds.append(time.perf_counter() - start)  # on_epoch_end may print it
            hook.on_epoch_end(trainer=self, epoch=epoch, metrics=record)
            self.epoch = epoch
            self.history.append(record)
            if self.verbose:
                self.echo(format_epoch(record, self.metrics))
        hook.on_fit_end(trainer=self, history=self.history)
        return self.history

    def _train_epoch(self, epoch: int) -> None:
        model, loss, optimizer = self.model, self.loss, self.optimizer
        compute_gradients = getattr(model, "compute_gradients", None)
        forward = self._forward_for_epoch(model)  # the model itself unless it carries a state
        before_step = self._hook_if_implemented("on_before_optimizer_step")
        batch_end = self._hook_if_implemented("on_batch_end")
        step_optimizer, zero_grad, isfinite = optimizer.step, optimizer.zero_grad, math.isfinite
        if hasattr(model, "train"):
            model.train()
        assert self.generator is not None  # set by fit(), the only caller
        for step, (X, y) in enumerate(self.data.batches(self.batch_size, self.generator), 1):
            if compute_gradients is None:
                batch_loss = loss(forward(X), y).mean()
                batch_loss.backward()
            else:
                batch_loss = compute_gradients(X, y, loss)
            value = batch_loss.item()  # one float per step: cheaper than any deferred check
            if not isfinite(value):
                raise DivergedError(epoch, step, value)
            if before_step is not None:
                before_step(trainer=self, epoch=epoch, step=step)
            step_optimizer()
            zero_grad()
            if batch_end is not None:
                batch_end(trainer=self, epoch=epoch, step=step, loss=value)

    def _forward_for_epoch(self, model: Model) -> Callable[[torch.Tensor], torch.Tensor]:
        """``model``, or a :class:`CarriedState` when the data carries state and the model has one."""
        if getattr(self.data, "carries_state", False) and callable(getattr(model, "begin_state", None)):
            return CarriedState(model)
        return model

    def _hook_if_implemented(self, name: str) -> Callable[..., Any] | None:
        return getattr(self.plugins.hook, name) if self.plugins.implemented(name) else None

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """Loss and metrics over every split of the data: ``loss``, ``test_loss``, ...

        Each is the mean over the split's examples, as the notebook's ``train_l.mean()``.
        """
        import torch

        record: dict[str, float] = {}
        with _eval_mode(self.model), torch.no_grad():
            for split in self.data.splits:
                prefix = "" if split == "train" else f"{split}_"
                for name, value in self._evaluate_split(*self.data.tensors(split)).items():
                    record[prefix + name] = value
        return record

    def predict(self, model: Model | None, data: Any, *, split: str | None = None,
                batch_size: int | None = None) -> torch.Tensor:
        """The model's outputs for ``data``, batched, in eval mode, without gradients.

        ``model`` None means the model this trainer fitted (or :func:`minidl.load_run`
        loaded). ``data`` is a tensor of examples (batch first) or a dataset: its
        ``split``, by default ``test`` when it has one, else ``train``. The outputs come
        back on ``data``'s device, in its order; the model's mode is restored.
        ``batch_size`` defaults to :func:`eval_chunk`'s choice.
        """
        import torch

        model = self._model_to_predict(model)
        X = self._examples(data, split)
        batch_size = eval_chunk(X) if batch_size is None else batch_size
        check_hyperparameters(0, batch_size)
        param = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
        device = param.device if param is not None else getattr(self, "device", X.device)
        with _eval_mode(model), torch.no_grad():
            outputs = [model(X[start : start + batch_size].to(device)).to(X.device)
                       for start in range(0, len(X), batch_size)]
        if not outputs:
            raise MinidlError("nothing to predict: the data holds no examples")
        return torch.cat(outputs)

    def _model_to_predict(self, model: Model | None) -> Model:
        if model is not None:
            return model
        fitted = getattr(self, "model", None)
        if fitted is None:
            raise MinidlError("predict needs a model: pass one, or fit (or load_run) first")
        return fitted

    def _examples(self, data: Any, split: str | None) -> torch.Tensor:
        import torch

        if isinstance(data, torch.Tensor):
            return data
        splits = tuple(getattr(data, "splits", ()))
        if not splits or not hasattr(data, "tensors"):
            raise MinidlError(f"predict takes a tensor of examples or a dataset, got {type(data).__name__}")
        chosen = split or ("test" if "test" in splits else "train")
        if chosen not in splits:
            raise MinidlError(f"the dataset has no split {chosen!r}; it has {', '.join(splits)}")
        examples: torch.Tensor = data.tensors(chosen)[0]
        return examples

    def _evaluate_split(self, X: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        n = len(X)
        sums = dict.fromkeys(["loss", *self.metrics], 0.0)
        # a metric that is a function of a mean (perplexity) is averaged through that mean
        means = {name: getattr(metric, "chunk_mean", metric) for name, metric in self.metrics.items()}
        chunk = eval_chunk(X)
        for start in range(0, n, chunk):  # in chunks: no full-size temporaries
            X_chunk, y_chunk = X[start : start + chunk], y[start : start + chunk]
            y_hat = self.model(X_chunk)  # a stateful model starts each chunk from a fresh state
            weight = len(X_chunk) / n
            sums["loss"] += self.loss(y_hat, y_chunk).mean().item() * weight
            for name, mean in means.items():
                sums[name] += mean(y_hat, y_chunk) * weight
        if not math.isfinite(sums["loss"]):
            raise DivergedError(self.epoch + 1, None, sums["loss"])
        for name, metric in self.metrics.items():
            if means[name] is not metric:
                sums[name] = metric.from_mean(sums[name])  # type: ignore[attr-defined]
        return sums

    # -- state ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run: components, RNGs, epoch, history.

        Its layout is checkpoint format :data:`~minidl.checkpoint.FORMAT_VERSION`.
        """
        import torch

        return {
            "format": FORMAT_VERSION,
            "epoch": self.epoch,
            "stop_reason": self.stop_reason,  # a run that stopped early stays stopped on resume
            "history": self.history.records,
            "seed": self.seed,
            "epoch_seconds": list(self.epoch_seconds),
            "generator": self.generator.get_state() if self.generator is not None else None,
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else None,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "dataset": self.data.state_dict(),
            "loss": _state_of(self.loss),
            "callbacks": [_state_of(callback) for callback in self.callbacks],
        }

    def load_state_dict(self, state: Mapping[str, Any], source: str = "the resume state") -> None:
        """Restore :meth:`state_dict` into this trainer and its (already built) components.

        The state is first held to the checkpoint schema (:func:`minidl.checkpoint.check_state`);
        a field that does not fit its component is a :class:`CheckpointError` naming
        ``source`` and the field.
        """
        import torch

        check_state(state, source)
        _load_into(self.model, state["model"], "model", source)
        _load_into(self.optimizer, state["optimizer"], "optimizer", source)
        _load_into(self.data, state["dataset"], "dataset", source)
        if hasattr(self.loss, "load_state_dict"):
            _load_into(self.loss, state.get("loss", {}), "loss", source)
        for index, (callback, saved) in enumerate(zip(self.callbacks, state.get("callbacks", []))):
            if hasattr(callback, "load_state_dict"):
                _load_into(callback, saved, f"callbacks[{index}]", source, type(callback).__name__)
        self.epoch = int(state["epoch"])
        self.stop_reason = state.get("stop_reason")
        self.should_stop = self.stop_reason is not None
        self.history = History(state["history"])
        self.epoch_seconds = [float(s) for s in state.get("epoch_seconds", [])]
        self.seed = int(state["seed"])
        if self.generator is not None and state.get("generator") is not None:
            self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if state.get("cuda_rng") is not None and self.device.type == "cuda":
            torch.cuda.set_rng_state_all(state["cuda_rng"])


class CarriedState:
    """Calls a stateful model batch after batch, carrying its state (truncated BPTT).

    One is made at each epoch start, so every epoch starts from ``begin_state``. Before
    each batch the state from the previous one is detached (``model.detach_state``, else
    :func:`detach_state`), so gradients flow through one batch only, as the book's
    consecutive sampling does.
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.detach = getattr(model, "detach_state", detach_state)
        self.state: Any = None  # None until the first batch, whose size it takes

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        if self.state is None:
            self.state = self.model.begin_state(len(X), X.device)
        else:
            self.state = self.detach(self.state)
        y_hat, self.state = self.model.forward_with_state(X, self.state)
        return y_hat  # type: ignore[no-any-return]


def detach_state(state: Any) -> Any:
    """A hidden state cut from the autograd graph: a tensor, or tuples/lists of them (LSTM)."""
    if isinstance(state, (tuple, list)):
        return type(state)(detach_state(s) for s in state)
    return state.detach() if hasattr(state, "detach") else state


def _load_into(component: Any, saved: Any, field: str, source: str, kind: str | None = None) -> None:
    """``component.load_state_dict(saved)``; a state that does not fit is one line naming the field."""
    try:
        component.load_state_dict(saved)
    except MinidlError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{source}: field {field!r} does not fit the {kind or field}: "
                              f"{type(exc).__name__}: {reason}") from None


@contextlib.contextmanager
def _eval_mode(module: Any) -> Iterator[None]:
    """Inside the block the module is in eval mode; after it, in the mode it was in."""
    was_training = getattr(module, "training", None)
    if hasattr(module, "eval"):
        module.eval()
    try:
        yield
    finally:
        _set_mode(module, was_training)


def _set_mode(module: Any, training: bool | None) -> None:
    """``module.train(training)``, for a module that has modes (``training`` None: it has none)."""
    if training is not None and hasattr(module, "train"):
        module.train(training)


def _state_of(component: Any) -> dict[str, Any]:
    state_dict = getattr(component, "state_dict", None)
    return state_dict() if callable(state_dict) else {}
