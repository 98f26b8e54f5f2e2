"""Thin adapters that make tensors and ``torch.utils.data`` objects minidl Datasets.

``TensorData(X, y, test=(X_test, y_test))`` serves in-memory tensors the way the
notebook does; :func:`as_dataset` also wraps a ``torch.utils.data.Dataset`` or
``DataLoader``. ``nn.Module`` models and ``torch.optim`` optimizers need no adapter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch
from torch.utils import data as torch_data

from minidl import functional
from minidl.errors import MinidlError
from minidl.interfaces import Batch


class TensorData:
    """Features and labels held as tensors, with an optional test split."""

    batch_size: int | None = None  # the DataLoader's, when made from one by as_dataset

    def __init__(self, X: torch.Tensor, y: torch.Tensor,
                 test: tuple[torch.Tensor, torch.Tensor] | None = None) -> None:
        if len(X) != len(y):
            raise MinidlError(f"features have {len(X)} rows but labels have {len(y)}")
        self._splits = {"train": (X, y)}
        if test is not None:
            self._splits["test"] = test
        self.splits = tuple(self._splits)
        self.num_inputs = int(X[0].numel()) if len(X) else 0

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        """Shuffled minibatches of the training split; the last may be short."""
        return functional.data_iter(batch_size, *self._splits["train"], generator=generator)

    def tensors(self, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """The whole split ``(X, y)``."""
        try:
            return self._splits[split]
        except KeyError:
            raise MinidlError(f"no split {split!r}; splits: {', '.join(self.splits)}") from None

    def to(self, device: torch.device | str) -> TensorData:
        """Move every split to ``device``."""
        self._splits = {k: (X.to(device), y.to(device)) for k, (X, y) in self._splits.items()}
        return self

    def state_dict(self) -> dict[str, Any]:
        """The sizes of the splits (the data is rebuilt, not saved)."""
        return {"sizes": {k: len(X) for k, (X, _) in self._splits.items()}}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Check that the saved splits had the same sizes."""
        sizes = self.state_dict()["sizes"]
        if state_dict.get("sizes", sizes) != sizes:
            raise MinidlError(f"dataset sizes {sizes} differ from the saved {state_dict['sizes']}")


class TorchData:
    """A ``torch.utils.data`` dataset (or a loader's dataset) served through a DataLoader.

    Minibatches come from ``DataLoader(dataset, batch_size, shuffle=True, generator=...)``;
    ``tensors`` stacks every example once, for evaluation.
    """

    batch_size: int | None = None  # the DataLoader's, when made from one by as_dataset

    def __init__(self, dataset: torch_data.Dataset, test: torch_data.Dataset | None = None,
                 **loader_options: Any) -> None:
        self._datasets = {"train": dataset} | ({"test": test} if test is not None else {})
        self.splits = tuple(self._datasets)
        self.loader_options = loader_options
        self._device: torch.device | str = "cpu"
        self._cache: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        """Shuffled minibatches from a DataLoader, moved to the device."""
        loader = torch_data.DataLoader(self._datasets["train"], batch_size=batch_size,
                                       shuffle=True, generator=generator, **self.loader_options)
        for X, y in loader:
            yield X.to(self._device), y.to(self._device)

    def tensors(self, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """The whole split, stacked once and cached."""
        if split not in self._cache:
            loader = torch_data.DataLoader(self._datasets[split], batch_size=4096)
            Xs, ys = zip(*loader)
            self._cache[split] = (torch.cat(Xs).to(self._device), torch.cat(ys).to(self._device))
        return self._cache[split]

    def to(self, device: torch.device | str) -> TorchData:
        """Batches and tensors will be moved to ``device``."""
        self._device = device
        self._cache = {k: (X.to(device), y.to(device)) for k, (X, y) in self._cache.items()}
        return self

    def state_dict(self) -> dict[str, Any]:
        """Split sizes (the data itself is not saved)."""
        return {"sizes": {k: len(d) for k, d in self._datasets.items()}}  # type: ignore[arg-type]

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Nothing to restore beyond the sizes, which are checked."""
        sizes = self.state_dict()["sizes"]
        if state_dict.get("sizes", sizes) != sizes:
            raise MinidlError(f"dataset sizes {sizes} differ from the saved {state_dict['sizes']}")


class DatasetWrapper:
    """A dataset that delegates to ``self.data``; subclasses change what they need.

    ``batches``, ``tensors``, ``to``, ``state_dict`` and ``load_state_dict`` go to the
    wrapped dataset, and so does any other attribute (``splits``, ``num_inputs``,
    ``true_params``, ...).
    """

    def __init__(self, data: Any) -> None:
        self.data = data

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[Batch]:
        """The wrapped dataset's training batches."""
        return self.data.batches(batch_size, generator)

    def tensors(self, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
        """The wrapped dataset's split."""
        return self.data.tensors(split)

    def to(self, device: torch.device | str) -> DatasetWrapper:
        """Move the wrapped dataset to ``device``."""
        self.data = self.data.to(device)
        return self

    def state_dict(self) -> dict[str, Any]:
        """The wrapped dataset's state."""
        return self.data.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the wrapped dataset's state."""
        self.data.load_state_dict(state_dict)

    def __getattr__(self, name: str) -> Any:
        if name == "data":  # not set yet (e.g. while unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.data, name)


def as_dataset(data: Any, test: Any = None) -> Any:
    """Return ``data`` as a minidl Dataset.

    Accepts a minidl Dataset (returned as is), a ``TensorDataset``, any map-style
    ``torch.utils.data.Dataset`` or a ``DataLoader`` (its dataset and options are used,
    with minidl's shuffling order). A dataset made from a ``DataLoader`` keeps its
    ``batch_size``, which a :class:`~minidl.Trainer` takes unless given its own.
    """
    if hasattr(data, "batches") and hasattr(data, "tensors"):
        return data
    if isinstance(data, torch_data.DataLoader):
        test_set = test.dataset if isinstance(test, torch_data.DataLoader) else test
        if _plain_tensor_loader(data):
            dataset: TensorData | TorchData = as_dataset(data.dataset, test_set)
        else:
            options = {"num_workers": data.num_workers, "collate_fn": data.collate_fn}
            dataset = TorchData(data.dataset, test_set, **options)
        dataset.batch_size = data.batch_size  # the Trainer takes it unless given its own
        return dataset
    if isinstance(data, torch_data.TensorDataset) and len(data.tensors) == 2:
        test_tensors = tuple(test.tensors) if isinstance(test, torch_data.TensorDataset) else None
        return TensorData(*data.tensors, test=test_tensors)  # type: ignore[arg-type]
    if isinstance(data, torch_data.Dataset):
        return TorchData(data, test)
    raise MinidlError(
        f"cannot use {type(data).__name__} as a dataset; accepted: a minidl Dataset, "
        "a torch.utils.data Dataset or DataLoader"
    )


def _plain_tensor_loader(loader: torch_data.DataLoader) -> bool:
    """A loader over two tensors with the default collation: served as tensors, no per-example stacking."""
    dataset = loader.dataset
    return (isinstance(dataset, torch_data.TensorDataset) and len(dataset.tensors) == 2
            and loader.collate_fn is torch_data.default_collate)
