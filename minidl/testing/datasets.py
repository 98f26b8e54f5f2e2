"""Dataset checks: splits, batch shapes, one pass over every example, seeded order and data.
"""

from __future__ import annotations

import copy

import torch

from minidl.interfaces import Dataset
from minidl.testing.context import SEED, Context, require


def _epoch(data: Dataset, batch_size: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(data.batches(batch_size, torch.Generator().manual_seed(seed)))


def _odd_batch_size(n: int) -> int:
    """A batch size that leaves a short last batch for most ``n``."""
    return max(1, min(n // 4 + 1, 512))


def check_splits(ctx: Context) -> None:
    """``splits`` is a tuple of names that includes ``train``."""
    splits = getattr(ctx.built, "splits", None)
    require(isinstance(splits, (tuple, list)) and "train" in splits,
            f"splits is {splits!r}; it must be a tuple of split names including 'train'")


def check_batch_shapes(ctx: Context) -> None:
    """Batches are ``(X, y)`` tensors shaped and typed like the split; only the last is short."""
    X_all, y_all = ctx.built.tensors("train")
    size = _odd_batch_size(len(X_all))
    batches = _epoch(ctx.built, size, SEED)
    require(batches, "batches() yielded nothing")
    for i, (X, y) in enumerate(batches):
        where = f"batch {i + 1} of {len(batches)} (batch_size={size})"
        require(torch.is_tensor(X) and torch.is_tensor(y), f"{where} is not a pair of tensors")
        require(len(X) == len(y), f"{where} has {len(X)} features but {len(y)} labels")
        require(X.shape[1:] == X_all.shape[1:] and y.shape[1:] == y_all.shape[1:],
                f"{where} has shapes {tuple(X.shape)}, {tuple(y.shape)}; tensors('train') has "
                f"{tuple(X_all.shape)}, {tuple(y_all.shape)}")
        require(X.dtype == X_all.dtype and y.dtype == y_all.dtype,
                f"{where} has dtypes {X.dtype}, {y.dtype}; tensors('train') has {X_all.dtype}, {y_all.dtype}")
        last = i == len(batches) - 1
        require(len(X) == size or (last and 0 < len(X) < size),
                f"{where} has {len(X)} examples; only the last batch may be short")


def _fingerprints(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """One number per example (a fixed random projection of its features and label), sorted."""
    flat = torch.cat([X.reshape(len(X), -1).double(), y.reshape(len(y), -1).double()], dim=1)
    weights = torch.randn(flat.shape[1], generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    return (flat.cpu() @ weights).sort().values


def check_covers_epoch(ctx: Context) -> None:
    """One epoch of batches holds every training example exactly once."""
    X_all, y_all = ctx.built.tensors("train")
    batches = _epoch(ctx.built, _odd_batch_size(len(X_all)), SEED)
    seen = sum(len(X) for X, _ in batches)
    require(seen == len(X_all), f"one epoch of batches holds {seen} examples; the train split has "
                                f"{len(X_all)}; every example must come exactly once")
    X = torch.cat([X for X, _ in batches])
    y = torch.cat([y for _, y in batches])
    require(torch.allclose(_fingerprints(X, y), _fingerprints(X_all, y_all)),
            "the batches of one epoch are not the examples of tensors('train'): some come twice, "
            "others never")


def check_seeded_order(ctx: Context) -> None:
    """The same generator seed gives the same batches; another seed another order."""
    n = len(ctx.built.tensors("train")[0])
    size = _odd_batch_size(n)
    first, again = _epoch(ctx.built, size, SEED), _epoch(ctx.built, size, SEED)
    same = all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    require(same and len(first) == len(again),
            "two epochs drawn with generators of the same seed differ; draw the order from `generator`")
    if n >= 10:
        other = _epoch(ctx.built, size, SEED + 1)
        require(not torch.equal(torch.cat([X for X, _ in first]), torch.cat([X for X, _ in other])),
                "generators with different seeds give the same order; batches must be shuffled")


def check_seeded_build(ctx: Context) -> None:
    """Built twice under one seed, the dataset holds the same data."""
    for split in ctx.built.splits:
        a, b = ctx.built.tensors(split), ctx.twin.tensors(split)
        require(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]),
                f"built twice under the same seed, split {split!r} differs; draw random data "
                "from torch's (or numpy's) seeded generator")


def check_split_tensors(ctx: Context) -> None:
    """Every split's ``tensors`` are ``(X, y)`` of equal length, shaped like train's."""
    X_train, y_train = ctx.built.tensors("train")
    for split in ctx.built.splits:
        X, y = ctx.built.tensors(split)
        require(len(X) == len(y) and len(X) > 0,
                f"tensors({split!r}) has {len(X)} features and {len(y)} labels")
        require(X.shape[1:] == X_train.shape[1:] and X.dtype == X_train.dtype and y.dtype == y_train.dtype,
                f"tensors({split!r}) is {tuple(X.shape)} {X.dtype} / {y.dtype}; train is "
                f"{tuple(X_train.shape)} {X_train.dtype} / {y_train.dtype}")


def check_num_inputs(ctx: Context) -> None:
    """A ``num_inputs`` attribute (given to models) matches the features per example."""
    num_inputs = getattr(ctx.built, "num_inputs", None)
    if num_inputs is None:
        return
    X, _ = ctx.built.tensors("train")
    require(num_inputs == X[0].numel(),
            f"num_inputs is {num_inputs} but each example has {X[0].numel()} features")


def check_dataset_state_dict(ctx: Context) -> None:
    """``state_dict`` is a dict that a fresh build accepts, giving the same batches."""
    state = ctx.built.state_dict()
    require(isinstance(state, dict), f"state_dict() returned {type(state).__name__}, not a dict")
    fresh = ctx.twin
    fresh.load_state_dict(copy.deepcopy(state))
    size = _odd_batch_size(len(fresh.tensors("train")[0]))
    a, b = _epoch(ctx.built, size, SEED), _epoch(fresh, size, SEED)
    require(all(torch.equal(p[0], q[0]) for p, q in zip(a, b)),
            "after load_state_dict, the batches differ from the saved dataset's")


def check_dataset_to_cpu(ctx: Context) -> None:
    """``to("cpu")`` returns a dataset that still serves batches."""
    moved = ctx.twin.to("cpu")
    require(moved is not None and hasattr(moved, "batches"),
            f"to('cpu') returned {moved!r}; it must return the dataset")
    X, _ = next(iter(moved.batches(2, torch.Generator().manual_seed(SEED))))
    require(X.device.type == "cpu", f"after to('cpu') batches are on {X.device}")


DATASET_CHECKS = (check_splits, check_batch_shapes, check_covers_epoch, check_seeded_order,
                  check_seeded_build, check_split_tensors, check_num_inputs, check_dataset_state_dict,
                  check_dataset_to_cpu)
