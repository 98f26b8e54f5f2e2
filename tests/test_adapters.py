"""TensorData, TorchData and as_dataset over tensors, map-style datasets and DataLoaders."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

import minidl
from minidl.adapters import TensorData, TorchData, as_dataset
from minidl.errors import MinidlError


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> minidl.Plugins:
    """Only the built-in plugins: these tests are about the core, whatever else is installed."""
    monkeypatch.delenv("MINIDL_PLUGINS", raising=False)
    return minidl.load_plugins(entry_points=False)


def linear_data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 2, generator=generator)
    return X, X @ torch.tensor([[2.0], [-3.4]]) + 4.2


class MapStyle(Dataset):
    """A map-style dataset that is not a TensorDataset: examples built on access."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor) -> None:
        self.X, self.y = X, y

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.X[index], self.y[index]


def served(data, batch_size: int, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(data.batches(batch_size, torch.Generator().manual_seed(seed)))


def rows(batches) -> list[tuple[float, ...]]:
    return sorted(tuple(row.tolist()) for X, _ in batches for row in X)


def make(kind: str, X: torch.Tensor, y: torch.Tensor):
    if kind == "TensorData":
        return TensorData(X, y)
    if kind == "TensorDataset":
        return as_dataset(TensorDataset(X, y))
    if kind == "map-style":
        return as_dataset(MapStyle(X, y))
    return as_dataset(DataLoader(MapStyle(X, y), batch_size=10))  # the Trainer's below: no conflict


KINDS = ["TensorData", "TensorDataset", "map-style", "DataLoader"]


@pytest.mark.parametrize("kind", KINDS)
def test_batches_cover_every_example_once_with_a_short_last_one(kind):
    X, y = linear_data(23)
    data = make(kind, X, y)
    batches = served(data, 5)
    assert [len(bX) for bX, _ in batches] == [5, 5, 5, 5, 3]
    assert rows(batches) == rows([(X, y)])
    for bX, by in batches:  # features stay with their labels
        assert torch.allclose(by, bX @ torch.tensor([[2.0], [-3.4]]) + 4.2)


@pytest.mark.parametrize("kind", KINDS)
def test_order_comes_from_the_generator(kind):
    X, y = linear_data(40)
    data = make(kind, X, y)
    first, again, other = served(data, 8, seed=1), served(data, 8, seed=1), served(data, 8, seed=2)
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again))
    assert not all(torch.equal(a[0], b[0]) for a, b in zip(first, other))
    assert not torch.equal(torch.cat([b[0] for b in first]), X), "not shuffled"


@pytest.mark.parametrize("kind", KINDS)
def test_tensors_give_the_whole_split(kind):
    X, y = linear_data(30)
    data = make(kind, X, y)
    assert data.splits == ("train",)
    tX, ty = data.tensors("train")
    assert torch.equal(tX, X) and torch.equal(ty, y)
    assert isinstance(data, minidl.Dataset)


@pytest.mark.parametrize("kind", KINDS)
def test_each_adapter_trains_with_the_trainer(plugins, kind):
    X, y = linear_data(200)
    torch.manual_seed(0)
    model = nn.Linear(2, 1)
    history = minidl.Trainer(max_epochs=4, batch_size=10, seed=0, plugins=plugins).fit(
        model, make(kind, X, y), nn.MSELoss(reduction="none"), torch.optim.SGD(model.parameters(), lr=0.05)
    )
    assert history[-1]["loss"] < 1e-3 < history[0]["loss"] * 10


def test_as_dataset_picks_the_adapter():
    X, y = linear_data(10)
    tensor_data = TensorData(X, y)
    assert as_dataset(tensor_data) is tensor_data
    assert isinstance(as_dataset(TensorDataset(X, y)), TensorData)
    assert isinstance(as_dataset(MapStyle(X, y)), TorchData)
    loader = DataLoader(MapStyle(X, y), batch_size=3)
    wrapped = as_dataset(loader)
    assert isinstance(wrapped, TorchData) and wrapped.loader_options["collate_fn"] is loader.collate_fn


@pytest.mark.parametrize("test_kind", ["TensorDataset", "map-style", "DataLoader"])
def test_test_split_through_as_dataset(test_kind):
    X, y = linear_data(20)
    Xt, yt = linear_data(6, seed=1)
    test = {"TensorDataset": TensorDataset(Xt, yt), "map-style": MapStyle(Xt, yt),
            "DataLoader": DataLoader(MapStyle(Xt, yt), batch_size=4)}[test_kind]
    train = TensorDataset(X, y) if test_kind == "TensorDataset" else (
        MapStyle(X, y) if test_kind == "map-style" else DataLoader(MapStyle(X, y), batch_size=4))
    data = as_dataset(train, test)
    assert data.splits == ("train", "test")
    tX, ty = data.tensors("test")
    assert torch.equal(tX, Xt) and torch.equal(ty, yt)


def test_as_dataset_rejects_other_objects():
    with pytest.raises(MinidlError, match="cannot use list as a dataset; accepted: a minidl Dataset"):
        as_dataset([1, 2, 3])


def test_tensor_data_checks_lengths_and_splits():
    X, y = linear_data(10)
    with pytest.raises(MinidlError, match="features have 10 rows but labels have 9"):
        TensorData(X, y[:9])
    data = TensorData(X, y, test=linear_data(4))
    assert data.splits == ("train", "test") and data.num_inputs == 2
    with pytest.raises(MinidlError, match="no split 'valid'; splits: train, test"):
        data.tensors("valid")


@pytest.mark.parametrize("kind", ["TensorData", "map-style"])
def test_state_dict_checks_sizes(kind):
    X, y = linear_data(10)
    data = make(kind, X, y)
    state = data.state_dict()
    assert state == {"sizes": {"train": 10}}
    make(kind, *linear_data(10, seed=3)).load_state_dict(state)
    with pytest.raises(MinidlError, match="sizes"):
        make(kind, *linear_data(11)).load_state_dict(state)


@pytest.mark.parametrize("kind", KINDS)
def test_to_moves_batches_and_tensors(kind):
    data = make(kind, *linear_data(12))
    data.tensors("train")
    assert data.to("meta") is data
    X, y = data.tensors("train")
    assert X.device.type == "meta" and y.device.type == "meta"
    bX, by = next(iter(data.batches(4, torch.Generator().manual_seed(0))))
    assert bX.device.type == "meta" and by.device.type == "meta"


# -- a DataLoader's batch size -------------------------------------------------------------------
def _fit(plugins, data, **trainer_options):
    model = nn.Linear(2, 1)
    trainer = minidl.Trainer(max_epochs=1, seed=0, plugins=plugins, **trainer_options)
    trainer.fit(model, data, nn.MSELoss(reduction="none"), torch.optim.SGD(model.parameters(), lr=0.01))
    return trainer


@pytest.mark.parametrize("loader", ["tensors", "map-style"])
def test_a_loaders_batch_size_is_taken_unless_the_trainer_has_one(plugins, loader):
    X, y = linear_data(600)
    dataset = TensorDataset(X, y) if loader == "tensors" else MapStyle(X, y)
    data = as_dataset(DataLoader(dataset, batch_size=256))
    assert data.batch_size == 256
    batches = []
    original = data.batches
    data.batches = lambda size, generator: batches.append(size) or original(size, generator)
    trainer = _fit(plugins, data)
    assert trainer.batch_size == 256 and batches == [256]  # not the Trainer's default 10
    assert _fit(plugins, data, batch_size=256).batch_size == 256  # the same, given twice: fine
    assert _fit(plugins, as_dataset(TensorDataset(X, y))).batch_size == 10  # no loader: the default


def test_a_conflicting_batch_size_is_one_line(plugins):
    X, y = linear_data(50)
    data = as_dataset(DataLoader(TensorDataset(X, y), batch_size=256))
    with pytest.raises(MinidlError, match=r"^Trainer\(batch_size=10\) but the DataLoader has batch_size=256; "
                                          r"give one of them \(without its own, the Trainer takes the loader's\)$"):
        _fit(plugins, data, batch_size=10)


# -- seeding: minidl.seed_everything covers a model built before fit ------------------------------
def test_seed_everything_before_building_makes_two_fits_equal(plugins):
    X, y = linear_data(100)

    def run():
        model = nn.Linear(2, 1)  # drawn from torch's global RNG, before Trainer(seed=...) could act
        minidl.Trainer(max_epochs=1, batch_size=10, seed=0, plugins=plugins).fit(
            model, TensorData(X, y), nn.MSELoss(reduction="none"), torch.optim.SGD(model.parameters(), lr=0.01))
        return model.weight.detach().clone()

    minidl.seed_everything(0)
    first = run()
    minidl.seed_everything(0)
    assert torch.equal(run(), first)
    assert "seed_everything" in minidl.__all__
