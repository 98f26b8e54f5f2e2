"""Sections 3.4-3.10's helpers: softmax, cross-entropy, accuracy, Fashion-MNIST, train_ch3.

Under the names and signatures of the book's ``d2lzh_pytorch``. Fashion-MNIST is read
from local IDX files (nothing is downloaded, torchvision is not needed); ``train_ch3``
runs on minidl's :class:`~minidl.trainer.Trainer` and prints the book's epoch line.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils import data as torch_data

from minidl.adapters import DatasetWrapper
from minidl.d2l.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from minidl.d2l.linear import sgd, use_svg_display
from minidl.d2l.plotting import pyplot
from minidl.errors import MinidlError
from minidl.hookspecs import hookimpl
from minidl.optim import ManualOptimizer

if TYPE_CHECKING:
    from minidl.trainer import History, Trainer

__all__ = [
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_LABELS",
    "Accuracy",
    "FlattenLayer",
    "check_labels",
    "count_correct",
    "cross_entropy",
    "evaluate_accuracy",
    "fashion_mnist_root",
    "get_fashion_mnist_labels",
    "load_data_fashion_mnist",
    "read_fashion_mnist",
    "show_fashion_mnist",
    "softmax",
    "train_ch3",
]

FASHION_MNIST_LABELS = ("t-shirt", "trouser", "pullover", "dress", "coat",
                        "sandal", "shirt", "sneaker", "bag", "ankle boot")

#: split -> (images file, labels file), each also accepted with a ``.gz`` suffix.
FASHION_MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
BOOK_ROOT = "~/Datasets/FashionMNIST"  # the book's default folder
DATA_ENV = "MINIDL_DATA"  # a folder holding the files (or a FashionMNIST/ folder with them)


# -- 3.6: the model, the loss, accuracy -------------------------------------------------
def softmax(X: torch.Tensor) -> torch.Tensor:
    """Row-wise softmax of ``X`` (n, q): ``exp(X) / exp(X).sum(dim=1)``."""
    X_exp = (X - X.amax(dim=1, keepdim=True)).exp()  # the shift avoids overflow, changes nothing
    return X_exp / X_exp.sum(dim=1, keepdim=True)  # (n, q)


def cross_entropy(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-example cross-entropy ``-log(y_hat[i, y[i]])`` of probabilities ``y_hat``: (n, 1)."""
    return -torch.log(y_hat.gather(1, y.view(-1, 1)))


def count_correct(y_hat: torch.Tensor, y: torch.Tensor) -> int:
    """How many predictions are right: ``argmax(y_hat, dim=1) == y`` for 2-D ``y_hat``.

    A 1-D (or one-column) ``y_hat`` is taken to hold predicted labels already.
    """
    predicted = y_hat.argmax(dim=1) if y_hat.dim() == 2 and y_hat.shape[1] > 1 else y_hat.reshape(-1)
    return int((predicted == y.reshape(-1)).sum().item())


class Accuracy:
    """The fraction of examples whose predicted class (argmax over dim 1) is the label."""

    higher_is_better = True
    label = "acc"
    fmt = "{:.3f}"

    def __call__(self, y_hat: torch.Tensor, y: torch.Tensor) -> float:
        """Accuracy over all examples of ``y_hat`` (n, q) and ``y`` (n,)."""
        if len(y_hat) != len(y):
            raise MinidlError(f"metric 'accuracy': {len(y_hat)} predictions but {len(y)} labels")
        return count_correct(y_hat, y) / len(y) if len(y) else 0.0


def check_labels(y: torch.Tensor, num_classes: int, component: str) -> None:
    """Raise :class:`MinidlError` naming ``component`` unless ``y`` holds integers in
    ``0..num_classes-1``."""
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise MinidlError(f"{component} needs integer class labels, got {y.dtype} labels "
                          f"(is the dataset a classification one?)")
    if y.numel() == 0:
        return
    low, high = (int(v) for v in torch.aminmax(y))
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise MinidlError(f"{component}: label {bad} is out of range for {num_classes} classes; "
                          f"labels must be integers in 0..{num_classes - 1}")


class FlattenLayer(nn.Module):
    """Flattens each example: (batch, *, *, ...) -> (batch, features)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x.view(batch, -1)``."""
        return x.view(x.shape[0], -1)


def evaluate_accuracy(data_iter: Iterable[tuple[torch.Tensor, torch.Tensor]],
                      net: Callable[..., torch.Tensor]) -> float:
    """Accuracy of ``net`` over every ``(X, y)`` batch of ``data_iter``.

    As the book's (section 5.5 version): an ``nn.Module`` is put in eval mode for the
    pass and back into train mode after it; a function with an ``is_training``
    parameter is called with ``is_training=False``.
    """
    module = net if isinstance(net, nn.Module) else None
    was_training = module is not None and module.training
    kwargs = {"is_training": False} if module is None and _takes_is_training(net) else {}
    correct, n = 0, 0
    if module is not None:
        module.eval()
    try:
        with torch.no_grad():
            for X, y in data_iter:
                device = _device_of(net, X)
                correct += count_correct(net(X.to(device), **kwargs), y.to(device))
                n += y.shape[0]
    finally:
        if module is not None and was_training:
            module.train()
    if n == 0:
        raise MinidlError("evaluate_accuracy: data_iter yielded no examples")
    return correct / n


def _takes_is_training(net: Callable[..., Any]) -> bool:
    try:
        return "is_training" in inspect.signature(net).parameters
    except (TypeError, ValueError):
        return False


def _device_of(net: Any, X: torch.Tensor) -> torch.device:
    if isinstance(net, nn.Module):
        param = next(net.parameters(), None)
        if param is not None:
            return param.device
    return X.device


# -- 3.5: Fashion-MNIST from local IDX files --------------------------------------------
def get_fashion_mnist_labels(labels: Iterable[Any]) -> list[str]:
    """The text labels of numeric Fashion-MNIST labels."""
    return [FASHION_MNIST_LABELS[int(i)] for i in labels]


def show_fashion_mnist(images: Sequence[torch.Tensor], labels: Sequence[str]) -> None:
    """Draw ``images`` side by side in one row, each titled with its label."""
    use_svg_display()
    _, figs = pyplot().subplots(1, len(images), figsize=(12, 12), squeeze=False)
    for f, img, lbl in zip(figs[0], images, labels):
        f.imshow(_as_image(img).numpy())
        f.set_title(lbl)
        f.axes.get_xaxis().set_visible(False)
        f.axes.get_yaxis().set_visible(False)


def _as_image(img: torch.Tensor) -> torch.Tensor:
    img = img.detach().cpu()
    return img.reshape(img.shape[-2:]) if img.dim() >= 2 else img.view(28, 28)


def fashion_mnist_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder to read Fashion-MNIST from: ``root``, else ``$MINIDL_DATA``, else the
    book's ``~/Datasets/FashionMNIST``."""
    chosen = root if root is not None else os.environ.get(DATA_ENV) or BOOK_ROOT
    return Path(chosen).expanduser()


def _find_files(root: Path) -> dict[str, tuple[Path, Path]]:
    """The IDX files of each split, found in ``root`` or its FashionMNIST[/raw] subfolders."""
    names = [name for pair in FASHION_MNIST_FILES.values() for name in pair]
    folders = [root, root / "FashionMNIST", root / "FashionMNIST" / "raw", root / "raw"]
    for folder in folders:
        found = {name: _existing(folder, name) for name in names}
        if all(found.values()):
            return {split: (found[images], found[labels])  # type: ignore[misc]
                    for split, (images, labels) in FASHION_MNIST_FILES.items()}
    missing = [name for name in names if not _existing(root, name)]
    raise MinidlError(
        f"Fashion-MNIST not found in {root}: expected {', '.join(names)} (each may end in .gz) "
        f"in that folder or its FashionMNIST/ or FashionMNIST/raw/ subfolder; missing there: "
        f"{', '.join(missing)}. Download them from https://github.com/zalandoresearch/fashion-mnist "
        f"and put them there, or point root / ${DATA_ENV} at their folder"
    )


def _existing(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def read_fashion_mnist(root: str | os.PathLike[str] | None = None
                       ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Read both splits: ``{"train": (X, y), "test": (X, y)}``, ``X`` float32 in [0, 1]
    of shape (N, 1, 28, 28), ``y`` int64 labels in 0..9."""
    splits = {}
    for split, (images_path, labels_path) in _find_files(fashion_mnist_root(root)).items():
        images = read_idx(images_path, IMAGES_MAGIC)  # (N, 28, 28) uint8
        labels = read_idx(labels_path, LABELS_MAGIC)  # (N,) uint8
        if len(images) != len(labels):
            raise MinidlError(f"{images_path} holds {len(images)} images but {labels_path} "
                              f"holds {len(labels)} labels; they must be the same split")
        y = torch.from_numpy(labels).long()
        check_labels(y, len(FASHION_MNIST_LABELS), f"Fashion-MNIST file {labels_path}")
        X = torch.from_numpy(images).unsqueeze(1).float().div_(255)  # (N, 1, 28, 28)
        splits[split] = (X, y)
    return splits


class _Resize:
    """A collate function that stacks a batch and resizes its images (bilinear)."""

    def __init__(self, size: int | tuple[int, int]) -> None:
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def __call__(self, batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
        X, y = torch_data.default_collate(batch)
        X = nn.functional.interpolate(X, size=self.size, mode="bilinear", antialias=True)
        return X.clamp_(0, 1), y


def load_data_fashion_mnist(batch_size: int, resize: int | tuple[int, int] | None = None,
                            root: str | os.PathLike[str] | None = None
                            ) -> tuple[torch_data.DataLoader, torch_data.DataLoader]:
    """Fashion-MNIST as ``(train_iter, test_iter)`` DataLoaders of (N, 1, 28, 28) images.

    Read from local IDX files in ``root`` (see :func:`fashion_mnist_root`); nothing is
    downloaded. ``resize`` resizes each batch's images (bilinear) as it is served.
    """
    splits = read_fashion_mnist(root)
    collate: dict[str, Any] = {"collate_fn": _Resize(resize)} if resize else {}
    train = torch_data.TensorDataset(*splits["train"])
    test = torch_data.TensorDataset(*splits["test"])
    return (torch_data.DataLoader(train, batch_size=batch_size, shuffle=True, **collate),
            torch_data.DataLoader(test, batch_size=batch_size, shuffle=False, **collate))


# -- 3.6: train_ch3 on the Trainer ------------------------------------------------------
class _BookSGD(ManualOptimizer):
    """The book's ``sgd(params, lr, batch_size)`` as an optimizer."""

    def __init__(self, params: Iterable[torch.Tensor], lr: float, batch_size: int) -> None:
        super().__init__(params, {"lr": lr})
        self.batch_size = batch_size

    def step(self) -> None:
        """``param -= lr * grad / batch_size``."""
        for group in self.param_groups:
            sgd(group["params"], group["lr"], self.batch_size)


class _FunctionNet:
    """A plain function ``net(X)`` (the book's 3.6 and 3.9 models) as a minidl Model."""

    def __init__(self, net: Callable[[torch.Tensor], torch.Tensor], params: Sequence[torch.Tensor]) -> None:
        self.net, self.params = net, list(params)

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(X)

    def parameters(self) -> Iterator[torch.Tensor]:
        """The parameters given to train_ch3."""
        return iter(self.params)

    def to(self, device: torch.device | str) -> _FunctionNet:
        """The function's tensors stay where the book put them."""
        return self

    def state_dict(self) -> dict[str, Any]:
        """The parameters by position."""
        return {str(i): p.detach().clone() for i, p in enumerate(self.params)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Copy saved parameters back in."""
        with torch.no_grad():
            for i, p in enumerate(self.params):
                p.copy_(state_dict[str(i)])


class _BookLoss:
    """Wraps the book's ``loss`` so that the Trainer's step is the book's.

    In a training step (autograd on) it returns ``loss(y_hat, y).sum()`` as one value,
    so the Trainer's batch mean back-propagates exactly the book's ``l``, and it adds
    the batch to the epoch's running loss and accuracy. Under ``no_grad`` (evaluation)
    it returns the loss unchanged.
    """

    def __init__(self, loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        self.loss = loss
        self.reset()

    def reset(self) -> None:
        """Start a new epoch's sums."""
        self.loss_sum, self.correct, self.n = 0.0, 0, 0

    def __call__(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        losses = self.loss(y_hat, y)
        if not torch.is_grad_enabled():
            return losses
        total = losses.sum()
        m = y.shape[0]
        # A reduced loss (nn.CrossEntropyLoss()) gives the batch mean: count it per example.
        mean_reduced = losses.dim() == 0 and getattr(self.loss, "reduction", "mean") == "mean"
        self.loss_sum += total.item() * (m if mean_reduced else 1)
        self.correct += count_correct(y_hat.detach(), y)
        self.n += m
        return total.reshape(1)


class _BookEpochLine:
    """Replaces the epoch's train loss and accuracy with the book's running ones; prints."""

    def __init__(self, loss: _BookLoss, echo: Callable[[str], Any]) -> None:
        self.loss, self.echo = loss, echo

    @hookimpl
    def on_epoch_start(self, trainer: Trainer, epoch: int) -> None:
        """Reset the running sums."""
        self.loss.reset()

    @hookimpl
    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, Any]) -> None:
        """Record ``loss`` and ``acc`` as the book computes them and print its line."""
        n = max(self.loss.n, 1)
        metrics["loss"], metrics["acc"] = self.loss.loss_sum / n, self.loss.correct / n
        test_acc = metrics.get("test_acc", float("nan"))
        self.echo(f"epoch {epoch}, loss {metrics['loss']:.4f}, train acc {metrics['acc']:.3f}, "
                  f"test acc {test_acc:.3f}")


class _TestOnly(DatasetWrapper):
    """A dataset whose training split is served in batches but evaluated only on ``test``.

    The book reports train loss and accuracy as sums over the epoch's batches, so a
    second pass over the training split would only cost time.
    """

    def __init__(self, data: Any) -> None:
        super().__init__(data)
        self.splits = tuple(split for split in data.splits if split == "test")


def _book_data(train_iter: Any, test_iter: Any) -> _TestOnly:
    from minidl.adapters import as_dataset

    def unwrap(loader: Any) -> Any:  # a plain TensorDataset loader: serve its tensors directly
        if (isinstance(loader, torch_data.DataLoader) and isinstance(loader.dataset, torch_data.TensorDataset)
                and loader.collate_fn is torch_data.default_collate):
            return loader.dataset
        return loader

    return _TestOnly(as_dataset(unwrap(train_iter), unwrap(test_iter)))


def train_ch3(net: Callable[[torch.Tensor], torch.Tensor], train_iter: Any, test_iter: Any,
              loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], num_epochs: int,
              batch_size: int, params: Sequence[torch.Tensor] | None = None,
              lr: float | None = None, optimizer: Any = None) -> History:
    """Train ``net`` as the book's ``train_ch3`` does, printing its epoch line
    ``epoch 1, loss 0.7870, train acc 0.749, test acc 0.794``.

    Each step back-propagates ``loss(net(X), y).sum()`` and applies
    ``sgd(params, lr, batch_size)`` (or ``optimizer.step()`` when given). The printed loss
    and train accuracy are means over the epoch's batches; test accuracy is
    :func:`evaluate_accuracy` on ``test_iter``. Unlike the book, a mean-reduced loss
    (``nn.CrossEntropyLoss()``) is also reported per example. Returns the History.
    """
    from minidl.plugins import Plugins
    from minidl.trainer import Trainer

    if optimizer is None:
        if params is None or lr is None:
            raise MinidlError("train_ch3 needs params and lr (for sgd) when no optimizer is given")
        optimizer = _BookSGD(params, lr, batch_size)
    model = net if isinstance(net, nn.Module) else _FunctionNet(net, params or [])
    book_loss = _BookLoss(loss)
    trainer = Trainer(
        max_epochs=num_epochs,
        batch_size=getattr(train_iter, "batch_size", None) or batch_size,
        seed=int(torch.randint(2**31 - 1, ()).item()),  # drawn from torch's RNG: torch.manual_seed rules
        metrics={"acc": Accuracy()},
        callbacks=[_BookEpochLine(book_loss, print)],
        plugins=Plugins(),  # no installed plugin's hooks: the book's loop prints only its line
    )
    return trainer.fit(model, _book_data(train_iter, test_iter), book_loss, optimizer)

