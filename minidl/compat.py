"""Do the components of a run fit together? Checked once, before the first epoch.

From what the components declare (all optional):

- a dataset: ``num_inputs``, ``num_outputs`` and ``label_kind``, ``"real"`` or
  ``"class"`` (else inferred from the labels' dtype: floats are real, integers classes);
- a loss: the ``label_kind`` it needs and the ``input_kind`` it takes
  (``"probabilities"``, ``"logits"`` or ``"values"``);
- a model: its ``output_kind`` (same values);
- a metric: the ``label_kind`` it needs;

and from a dry run of the model, the loss and each metric on the first two training
examples, under ``no_grad``, in eval mode, with every RNG saved and restored: the check
changes no parameter, gradient, mode or random stream, so seeded runs stay bit-identical.
A component that declares nothing is still checked by the dry run.

A mismatch raises :class:`IncompatibleComponentsError`, one line naming the components
and the shapes. Combinations that train but mean nothing (softmax outputs against
real-valued labels, accuracy on real-valued labels, softmax applied twice) give a
:class:`CompatibilityWarning`.
"""

from __future__ import annotations

import random
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from minidl.adapters import DatasetWrapper
from minidl.errors import MinidlError, MinidlWarning

if TYPE_CHECKING:
    from minidl.registry import Registry

LABEL_KINDS = {"real": "real-valued labels", "class": "class labels"}
OUTPUT_KINDS = ("probabilities", "logits", "values")
DRY_RUN_EXAMPLES = 2  # examples of the training split the dry run feeds the model
_PACKAGE = str(Path(__file__).resolve().parent)


class IncompatibleComponentsError(MinidlError):
    """Components that cannot train together: the message names them and the shapes."""


class CompatibilityWarning(MinidlWarning):
    """Components that train together but compute something meaningless."""


@dataclass(frozen=True)
class Part:
    """One component, as messages name it: ``model 'linreg'``, from its plugin when known."""

    kind: str
    name: str
    plugin: str | None = None

    @property
    def label(self) -> str:
        """``kind 'name'``."""
        return f"{self.kind} {self.name!r}"

    @property
    def origin(self) -> str:
        """``kind 'name' from plugin 'p'`` (the label alone when the plugin is unknown)."""
        return self.label + (f" from plugin {self.plugin!r}" if self.plugin else "")


@dataclass(frozen=True)
class Checked:
    """The components a check passed, kept so that ``Trainer.fit`` does not check them again."""

    components: tuple[Any, ...]

    def covers(self, model: Any, dataset: Any, loss: Any, metrics: Mapping[str, Any]) -> bool:
        """Whether these are the same objects (seen through DDP and dataset wrappers)."""
        key = _key(model, dataset, loss, metrics)
        return len(key) == len(self.components) and all(a is b for a, b in zip(key, self.components))


def check_components(model: Any, dataset: Any, loss: Any, metrics: Mapping[str, Any] | None = None, *,
                     names: Mapping[str, str] | None = None, registry: Registry | None = None) -> Checked:
    """Raise :class:`IncompatibleComponentsError` unless the components fit; warn on nonsense.

    ``names`` gives the registry names by kind (``dataset``, ``model``, ``loss``) for
    messages; unnamed components are named by their class. With ``registry``, messages
    also name the plugin of each named component (and of each metric, by its key).
    """
    metrics = dict(metrics or {})
    parts = _parts(model, dataset, loss, metrics, dict(names or {}), registry)
    X, y = dataset.tensors("train")
    if len(X):
        found = _Check(model, dataset, loss, metrics, parts, X, y).run()
        for message in found:
            warnings.warn(message, CompatibilityWarning, stacklevel=_caller_level())
    return Checked(_key(model, dataset, loss, metrics))


def check_fit(checked: Checked | None, model: Any, dataset: Any, loss: Any,
              metrics: Mapping[str, Any]) -> Checked:
    """What ``Trainer.fit`` calls: check, unless ``checked`` (from ``build``) covers these components."""
    if checked is not None and checked.covers(model, dataset, loss, metrics):
        return checked
    return check_components(model, dataset, loss, metrics)


class _Check:
    """One check: the dry run's outputs and the declared kinds, compared step by step."""

    def __init__(self, model: Any, dataset: Any, loss: Any, metrics: dict[str, Any],
                 parts: dict[str, Part], X: torch.Tensor, y: torch.Tensor) -> None:
        self.model, self.dataset, self.loss, self.metrics = model, dataset, loss, metrics
        self.parts, self.X, self.y = parts, X, y
        self.labels = _label_kind(dataset, y, parts["dataset"])  # "real", "class" or None
        self.warnings: list[str] = []

    def run(self) -> list[str]:
        """Raise on the first mismatch; return the warnings' messages."""
        X, y = self.X[:DRY_RUN_EXAMPLES], self.y[:DRY_RUN_EXAMPLES]
        with _dry_run(self.model):
            y_hat = self._forward(X)
            self._check_label_kind()
            self._check_output_kind(y_hat)
            self._check_classes(y_hat)
            self._check_loss(y_hat, y)
            for name, metric in self.metrics.items():
                self._check_metric(self.parts[f"metric:{name}"], metric, y_hat, y)
        return self.warnings

    def _forward(self, X: torch.Tensor) -> Any:
        try:
            return self.model(X)
        except Exception as exc:
            inputs = getattr(self.model, "num_inputs", None)
            given = f" (num_inputs={inputs})" if isinstance(inputs, int) else ""
            raise IncompatibleComponentsError(
                f"{self.parts['model'].label}{given} cannot take {self.parts['dataset'].label} examples "
                f"of shape {_shape(self.X[0])}{self._dtypes(X)}: {_raised(self.parts['model'], exc)}"
            ) from None

    def _dtypes(self, X: torch.Tensor) -> str:
        """`` and dtype int64 (the model's parameters are float32)`` when they differ, else ""."""
        parameters = getattr(self.model, "parameters", None)
        first = next(iter(parameters()), None) if callable(parameters) else None
        if not isinstance(first, torch.Tensor) or not isinstance(X, torch.Tensor) or first.dtype == X.dtype:
            return ""
        return f" and dtype {_dtype(X)} (the model's parameters are {_dtype(first)})"

    def _check_label_kind(self) -> None:
        need = _declared(self.loss, "label_kind", LABEL_KINDS, self.parts["loss"])
        if need is not None and self.labels is not None and need != self.labels:
            loss = self.parts["loss"].label
            raise IncompatibleComponentsError(f"{loss} needs {LABEL_KINDS[need]}, but {self._labels_text()}")

    def _check_output_kind(self, y_hat: Any) -> None:
        model, loss = self.parts["model"], self.parts["loss"]
        gives = _declared(self.model, "output_kind", OUTPUT_KINDS, model)
        takes = _declared(self.loss, "input_kind", OUTPUT_KINDS, loss)
        outputs = f"{gives} of shape {_shape(y_hat)}"
        if takes == "probabilities" and gives in ("logits", "values"):
            hint = "set loss.from_logits=true" if hasattr(self.loss, "from_logits") else \
                "use a loss that takes them or a model that ends in softmax"
            raise IncompatibleComponentsError(
                f"{loss.label} needs probabilities, but {model.label} outputs {outputs}; {hint}")
        if takes == "logits" and gives == "probabilities":
            self.warnings.append(f"{loss.label} takes logits and applies softmax itself, but {model.label} "
                                 f"already outputs probabilities: softmax is applied twice; use a model that "
                                 f"outputs logits, or a loss that takes probabilities")
        if gives == "probabilities" and self.labels == "real":
            self.warnings.append(f"{model.label} outputs class probabilities, but {self._labels_text()}: "
                                 f"it cannot fit them; use a regression model")

    def _check_loss(self, y_hat: Any, y: torch.Tensor) -> None:
        model, loss, data = self.parts["model"], self.parts["loss"], self.parts["dataset"]
        pair = f"{model.label} outputs of shape {_shape(y_hat)} and {data.label} labels of shape {_shape(y)}"
        try:
            losses = self.loss(y_hat, y)
        except Exception as exc:
            outputs = getattr(self.dataset, "num_outputs", None)
            hint = ""
            if isinstance(outputs, int) and isinstance(y_hat, torch.Tensor) and y_hat.dim() == 2 \
                    and y_hat.shape[1] != outputs and self.labels != "class":
                hint = f"; {data.label} has num_outputs={outputs}: give {model.label} {outputs} output(s)"
            raise IncompatibleComponentsError(f"{loss.label} cannot take {pair}: {_raised(loss, exc)}{hint}") \
                from None
        if not isinstance(losses, torch.Tensor):
            raise IncompatibleComponentsError(f"{loss.label} returned {type(losses).__name__} for {pair}; "
                                              f"it must return a tensor of per-example losses")
        if isinstance(y_hat, torch.Tensor) and losses.numel() > max(y_hat.numel(), y.numel()):
            fix = "reshape the labels to (n, 1), e.g. y.reshape(-1, 1)" if y_hat.shape[1:] == (1,) \
                and y.dim() == 1 else "give labels shaped like the outputs"
            raise IncompatibleComponentsError(
                f"{loss.label} gives losses of shape {_shape(losses)} for {pair}: the labels broadcast "
                f"against the outputs instead of one loss per example; {fix}")

    def _check_classes(self, y_hat: Any) -> None:
        if self.labels != "class" or not isinstance(y_hat, torch.Tensor) or y_hat.dim() != 2:
            return
        if y_hat.shape[1] < 2 or self.y.dtype.is_floating_point or not self.y.numel():
            return
        top = int(self.y.max())
        if top >= y_hat.shape[1]:
            raise IncompatibleComponentsError(
                f"{self.parts['dataset'].label} has class labels up to {top}, but {self.parts['model'].label} "
                f"outputs {y_hat.shape[1]} scores per example; give it {top + 1} outputs")

    def _check_metric(self, part: Part, metric: Any, y_hat: Any, y: torch.Tensor) -> None:
        need = _declared(metric, "label_kind", LABEL_KINDS, part)
        mismatch = need is not None and self.labels is not None and need != self.labels
        try:
            metric(y_hat, y)
        except Exception as exc:
            if mismatch:
                assert need is not None
                raise IncompatibleComponentsError(
                    f"{part.label} needs {LABEL_KINDS[need]}, but {self._labels_text()}") from None
            raise IncompatibleComponentsError(
                f"{part.label} cannot score {self.parts['model'].label} outputs of shape {_shape(y_hat)} against "
                f"{self.parts['dataset'].label} labels of shape {_shape(y)}: {_raised(part, exc)}") from None
        if mismatch:
            assert need is not None
            self.warnings.append(f"{part.label} needs {LABEL_KINDS[need]}, but {self._labels_text()}: "
                                 f"its values mean nothing here")

    def _labels_text(self) -> str:
        assert self.labels is not None
        inferred = "" if getattr(self.dataset, "label_kind", None) else \
            f" (inferred from their dtype {str(self.y.dtype).removeprefix('torch.')})"
        return f"{self.parts['dataset'].label} has {LABEL_KINDS[self.labels]} of shape {_shape(self.y)}{inferred}"


def _label_kind(dataset: Any, y: torch.Tensor, part: Part) -> str | None:
    """The dataset's declared ``label_kind``, else inferred: floats real, integers classes."""
    declared = _declared(dataset, "label_kind", LABEL_KINDS, part)
    if declared is not None:
        return declared
    if y.dtype.is_floating_point:
        return "real"
    if not y.dtype.is_complex and y.dtype != torch.bool:
        return "class"
    return None


def _declared(component: Any, attribute: str, accepted: Mapping[str, str] | tuple[str, ...], part: Part) -> str | None:
    value = getattr(component, attribute, None)
    if value is None:
        value = _implied(component, attribute)
    if value is not None and value not in accepted:
        raise IncompatibleComponentsError(f"{part.origin} declares {attribute}={value!r}; accepted: "
                                          f"{', '.join(repr(k) for k in accepted)}")
    return value


#: What plain ``torch.nn`` losses would declare, had they the attributes.
_TORCH_LOSSES: dict[str, dict[str, str]] = {
    "CrossEntropyLoss": {"input_kind": "logits"},  # labels: class indices, or probabilities (n, C)
    **{name: {"label_kind": "real"} for name in ("MSELoss", "L1Loss", "SmoothL1Loss", "HuberLoss")},
}


def _implied(component: Any, attribute: str) -> str | None:
    """The kind a plain torch component implies: a torch loss by its class, a softmax-ending Sequential."""
    if not isinstance(component, torch.nn.Module):
        return None
    if type(component).__module__ == "torch.nn.modules.loss":
        return _TORCH_LOSSES.get(type(component).__name__, {}).get(attribute)
    if attribute == "output_kind" and isinstance(component, torch.nn.Sequential) and len(component):
        return "probabilities" if isinstance(component[-1], torch.nn.Softmax) else None
    return None


@contextmanager
def _dry_run(model: Any) -> Iterator[None]:
    """No gradients, eval mode, warnings silenced; every mode and RNG state restored after."""
    states = _rng_states()
    modes = [(m, m.training) for m in model.modules()] if isinstance(model, torch.nn.Module) else []
    try:
        if modes:
            model.eval()
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. torch's broadcasting warning: reported as an error instead
            yield
    finally:
        for module, mode in modes:
            module.training = mode
        _set_rng_states(states)


def _rng_states() -> dict[str, Any]:
    states: dict[str, Any] = {"torch": torch.get_rng_state(), "random": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        states["numpy"] = numpy.random.get_state()
    return states


def _set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    random.setstate(states["random"])
    if "cuda" in states:
        torch.cuda.set_rng_state_all(states["cuda"])
    if "numpy" in states:
        sys.modules["numpy"].random.set_state(states["numpy"])


def _parts(model: Any, dataset: Any, loss: Any, metrics: Mapping[str, Any], names: dict[str, str],
           registry: Registry | None) -> dict[str, Part]:
    parts = {kind: _part(kind, names.get(kind), component, registry)
             for kind, component in (("dataset", dataset), ("model", model), ("loss", loss))}
    for name, metric in metrics.items():
        parts[f"metric:{name}"] = _part("metric", name, metric, registry)
    return parts


def _part(kind: str, name: str | None, component: Any, registry: Registry | None) -> Part:
    if name is None:
        return Part(kind, getattr(component, "__name__", None) or type(component).__name__)
    plugin = None
    if registry is not None and name in registry.names(kind):
        plugin = registry.get(kind, name).plugin
    return Part(kind, name, plugin)


def _key(model: Any, dataset: Any, loss: Any, metrics: Mapping[str, Any]) -> tuple[Any, ...]:
    while isinstance(model, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
        model = getattr(model, "unwrapped", model.module)  # minidl's DataParallelModule: the model itself
    while isinstance(dataset, DatasetWrapper):
        dataset = dataset.data
    return (model, dataset, loss, *metrics.values())


def _raised(part: Part, exc: Exception) -> str:
    """``model 'x' from plugin 'y' raised ValueError: first line``; a MinidlError's own message."""
    text = next((line for line in str(exc).splitlines() if line.strip()), "").strip()
    if isinstance(exc, MinidlError):
        return text
    return f"{part.origin} raised {type(exc).__name__}" + (f": {text}" if text else "")


def _dtype(tensor: torch.Tensor) -> str:
    return str(tensor.dtype).removeprefix("torch.")


def _shape(value: Any) -> str:
    shape = getattr(value, "shape", None)
    return str(tuple(shape)) if shape is not None else type(value).__name__


def _caller_level() -> int:
    """The ``stacklevel`` of the first frame outside minidl: the user's call."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level
