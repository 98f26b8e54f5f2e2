"""The Trainer: minibatch training as the notebook does it, with hooks around it.

Per step: per-example loss on the batch, its mean back-propagated (or the model's own
``compute_gradients``), an optimizer step, gradients zeroed. Per epoch: the loss and
metrics over each whole split, as the notebook's ``train_l`` line. Events go to pluggy
hooks (:mod:`minidl.hookspecs`); per-step hooks are called only when implemented.

Recurrent models (:class:`~minidl.interfaces.StatefulModel`) carry their hidden state
from batch to batch when the dataset declares ``carries_state`` (consecutive sampling);
otherwise every call starts afresh. What is optional is looked up once per epoch, so
the default loop's per step work is the same with or without these features.

Its pieces live by concern: :mod:`minidl.settings` (device and hyperparameter checks),
:mod:`minidl.history` (the records and their line), :mod:`minidl.stateful` (the carried
state), :mod:`minidl.evaluation` (forward passes over whole splits); their names are
importable from here too.
"""

from __future__ import annotations

import itertools
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pluggy

from minidl.checkpoint import FORMAT_VERSION, check_state
from minidl.errors import BadBatchError, CheckpointError, DivergedError, MinidlError, PluginError
from minidl.evaluation import (
    EVAL_CHUNK,
    EVAL_CHUNK_BYTES,
    eval_chunk,
    eval_mode,
    evaluate_split,
    examples_of,
    predict_in_chunks,
    set_mode,
)
from minidl.history import History, format_epoch
from minidl.settings import (
    DEVICE_PATTERN,
    check_device,
    check_hyperparameters,
    check_learning_rate,
    resolve_device,
)
from minidl.stateful import CarriedState, carries_state, detach_state

if TYPE_CHECKING:
    import torch

    from minidl.compat import Checked
    from minidl.interfaces import Dataset, Loss, Metric, Model, Optimizer
    from minidl.plugins import Plugins

# the Trainer's and its pieces' names, importable from here as before the split
__all__ = [
    "DEFAULT_BATCH_SIZE", "DEVICE_PATTERN", "EVAL_CHUNK", "EVAL_CHUNK_BYTES", "CarriedState", "History",
    "Trainer", "check_device", "check_hyperparameters", "check_learning_rate", "detach_state", "eval_chunk",
    "format_epoch", "resolve_device",
]

DEFAULT_BATCH_SIZE = 10  # the notebook's


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
            set_mode(model, was_training)

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
        batches = iter(self.data.batches(self.batch_size, self.generator))
        first = next(batches, None)
        if first is None:
            return
        _check_batch(first, self.data)  # once an epoch: the loop below stays as lean as the notebook's
        for step, (X, y) in enumerate(itertools.chain((first,), batches), 1):
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
        if carries_state(model, self.data):
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
        with eval_mode(self.model), torch.no_grad():
            for split in self.data.splits:
                prefix = "" if split == "train" else f"{split}_"
                X, y = self.data.tensors(split)
                for name, value in evaluate_split(self.model, self.loss, self.metrics, X, y, self.epoch + 1).items():
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
        model = self._model_to_predict(model)
        X = examples_of(data, split)
        batch_size = eval_chunk(X) if batch_size is None else batch_size
        check_hyperparameters(0, batch_size)
        param = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
        device = param.device if param is not None else getattr(self, "device", X.device)
        return predict_in_chunks(model, X, batch_size, device)

    def _model_to_predict(self, model: Model | None) -> Model:
        if model is not None:
            return model
        fitted = getattr(self, "model", None)
        if fitted is None:
            raise MinidlError("predict needs a model: pass one, or fit (or load_run) first")
        return fitted

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

    def load_state_dict(self, state: Mapping[str, Any], source: str | None = None) -> None:
        """Restore :meth:`state_dict` into this trainer and its (already built) components.

        The state is first held to the checkpoint schema (:func:`minidl.checkpoint.check_state`);
        a field that does not fit its component is a :class:`CheckpointError` naming
        ``source`` (default: the file a :class:`~minidl.checkpoint.CheckpointState` was
        read from, else "the resume state") and the field.
        """
        import torch

        source = source or getattr(state, "source", None) or "the resume state"
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


def _load_into(component: Any, saved: Any, field: str, source: str, kind: str | None = None) -> None:
    """``component.load_state_dict(saved)``; a state that does not fit is one line naming the field."""
    try:
        component.load_state_dict(saved)
    except CheckpointError:
        raise
    except MinidlError as exc:  # the component's own words (the dataset's sizes differ): with the file
        raise CheckpointError(f"{source}: field {field!r} does not fit the {kind or field}: {exc}") from None
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"{source}: field {field!r} does not fit the {kind or field}: "
                              f"{type(exc).__name__}: {reason}") from None



def _state_of(component: Any) -> dict[str, Any]:
    state_dict = getattr(component, "state_dict", None)
    return state_dict() if callable(state_dict) else {}


def _check_batch(batch: Any, data: Any) -> None:
    """Raise :class:`BadBatchError` unless ``batch`` is an ``(X, y)`` pair of tensors."""
    import torch

    if isinstance(batch, (tuple, list)) and len(batch) == 2 and all(isinstance(t, torch.Tensor) for t in batch):
        return
    if isinstance(batch, (tuple, list)):
        kinds = ", ".join([type(item).__name__ for item in batch[:3]] + (["..."] if len(batch) > 3 else []))
        found = f"a batch of {len(batch)} items ({kinds})" if len(batch) > 3 else f"a batch of ({kinds})"
    else:
        found = f"a {type(batch).__name__}"
    raise BadBatchError(data, found)
