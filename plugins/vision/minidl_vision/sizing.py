"""Input sizes: the image shape a model is built for, and a shape dry run before training.

A dataset tells a model its ``num_inputs`` (values per example, ``C * H * W``); the
image shape follows from it and the model's ``in_channels`` / ``input_size`` options.
:func:`dry_run` pushes one example's shape through the layers on torch's ``meta``
device (shapes only, no arithmetic) and names the first convolution or pooling layer
whose output would be empty, with the smallest input size that works.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from minidl.errors import MinidlError, OptionError

Shape = tuple[int, int, int]  # (channels, height, width) of one example
WINDOWED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)  # the layers that shrink a feature map
LARGEST_SIZE = 4096  # the search for the smallest working input size stops here


def describe(shape: tuple[int, ...]) -> str:
    """``(1, 28, 28)`` as ``1x28x28``."""
    return "x".join(str(n) for n in shape)


def _square_side(values: float) -> int | None:
    side = math.isqrt(int(values)) if values >= 1 and float(values).is_integer() else 0
    return side if side and side * side == values else None


def image_shape(component: str, num_inputs: int | None, in_channels: int | None,
                input_size: int | None, book_size: int) -> Shape:
    """The (channels, side, side) images a model is built for.

    ``num_inputs`` comes from the dataset (None: no dataset, use the options or the
    book's: 1 channel, ``book_size`` pixels). Unset options are inferred from it: the
    channels are 1 when ``num_inputs`` is a square, else 3.
    """
    if num_inputs is None:
        channels, side = in_channels or 1, input_size or book_size
        return channels, side, side
    candidates = [in_channels] if in_channels else [1, 3]
    for channels in candidates:
        found = input_size or _square_side(num_inputs / channels)
        if found and channels * found * found == num_inputs:
            return channels, found, found
    given = ", ".join(f"{k}={v}" for k, v in (("in_channels", in_channels), ("input_size", input_size)) if v)
    raise OptionError(f"{component}: the dataset's {num_inputs} inputs per example are not "
                      f"{'square images with ' + given if given else 'square images with 1 or 3 channels'}; "
                      f"set in_channels and input_size to the dataset's image shape")


class _VanishedError(Exception):
    """Raised by the dry run's hook at the first layer whose output would be empty."""

    def __init__(self, layer: str, module: nn.Module, size: tuple[int, int]) -> None:
        super().__init__(layer)
        self.layer, self.kind, self.size = layer, type(module).__name__, size


def _pair(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else (int(value[0]), int(value[1]))


def output_size(module: nn.Module, height: int, width: int) -> tuple[int, int]:
    """The (h, w) a convolution or pooling layer makes of an (height, width) input."""
    kernel, stride, padding = (_pair(getattr(module, key)) for key in ("kernel_size", "stride", "padding"))
    dilation = _pair(getattr(module, "dilation", 1))
    ceil = bool(getattr(module, "ceil_mode", False))
    rounding = math.ceil if ceil else math.floor
    return tuple(  # type: ignore[return-value]
        rounding((n + 2 * p - d * (k - 1) - 1) / s) + 1
        for n, k, s, p, d in zip((height, width), kernel, stride, padding, dilation)
    )


@contextmanager
def _pre_hooks(layers: nn.Module, types: tuple[type[nn.Module], ...], hook_for: Callable[[str], Any]) -> Iterator[None]:
    """``hook_for(name)`` as a forward pre-hook on each layer of ``types``, removed afterwards."""
    handles = [module.register_forward_pre_hook(hook_for(name))
               for name, module in layers.named_modules() if isinstance(module, types)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _vanish_hooks(layers: nn.Module) -> Any:
    def check(name: str) -> Any:
        def hook(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            h, w = output_size(module, *args[0].shape[-2:])
            if h < 1 or w < 1:
                raise _VanishedError(name, module, (max(h, 0), max(w, 0)))
        return hook

    return _pre_hooks(layers, WINDOWED, check)


def _shape_on_meta(layers: nn.Module, shape: Shape) -> torch.Size:
    """The output shape for one example of ``shape``, computed on the meta device."""
    from torch.func import functional_call

    tensors = {name: t.to("meta") for name, t in [*layers.named_parameters(), *layers.named_buffers()]}
    was_training = layers.training
    layers.eval()  # batch statistics of a single example are not defined; eval changes no state
    try:
        with torch.no_grad(), _vanish_hooks(layers):
            return functional_call(layers, tensors, (torch.zeros((1, *shape), device="meta"),)).shape
    finally:
        layers.train(was_training)


def smallest_size(layers: nn.Module, channels: int) -> int | None:
    """The smallest square input side the layers keep non-empty (None: none up to 4096)."""
    def works(side: int) -> bool:
        try:
            _shape_on_meta(layers, (channels, side, side))
            return True
        except _VanishedError:
            return False

    return _first_side(works)


def _first_side(works: Callable[[int], bool]) -> int | None:
    """The smallest side from 1 to :data:`LARGEST_SIZE` that ``works`` (None: not even the
    largest); output sizes grow with the input, so a bisection finds it."""
    if not works(LARGEST_SIZE):
        return None
    low, high = 1, LARGEST_SIZE
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if works(middle) else (middle + 1, high)
    return low


def dry_run(component: str, layers: nn.Module, shape: Shape, book_size: int, prefix: str = "") -> torch.Size:
    """The output shape of ``layers`` for one example of ``shape``; a :class:`MinidlError`
    naming the layer (its name in ``layers``, after ``prefix``), the sizes and the input
    size to use when a feature map vanishes."""
    try:
        return _shape_on_meta(layers, shape)
    except _VanishedError as exc:
        smallest = smallest_size(layers, shape[0])
        if smallest is None:
            advice = f"no input size up to {LARGEST_SIZE} works with these options"
        elif smallest <= book_size:
            advice = f"use --set dataset.resize={book_size} (the book's size) or any size from {smallest}"
        else:
            advice = f"use --set dataset.resize={smallest} or larger"
        raise MinidlError(f"{component}: input {describe(shape)} shrinks to {describe(exc.size)} at layer "
                          f"{prefix + exc.layer!r} ({exc.kind}); {advice}") from None


class _MisfitError(Exception):
    """Raised by :func:`misfit`'s hook at the first layer built for inputs of another size;
    ``size_helps``: whether another image size could fit it (not for a channel count)."""

    def __init__(self, message: str, size_helps: bool) -> None:
        super().__init__(message)
        self.size_helps = size_helps


def _fit_hooks(layers: nn.Module) -> Any:
    """Pre-forward hooks: a linear layer's ``in_features``, a convolution's ``in_channels``."""
    def check(name: str) -> Any:
        def hook(module: nn.Module, args: tuple[Any, ...]) -> None:
            if not args or not isinstance(args[0], torch.Tensor) or args[0].dim() == 0:
                return
            X = args[0]
            if isinstance(module, nn.Linear) and X.shape[-1] != module.in_features:
                raise _MisfitError(f"layer {name!r} (Linear) takes {module.in_features} values per example "
                                   f"but gets {X.shape[-1]}", size_helps=True)
            if isinstance(module, nn.Conv2d) and X.dim() in (3, 4) and X.shape[-3] != module.in_channels:
                raise _MisfitError(f"layer {name!r} (Conv2d) takes {module.in_channels} channels but gets "
                                   f"{X.shape[-3]}", size_helps=False)
        return hook

    return _pre_hooks(layers, (nn.Linear, nn.Conv2d), check)


def _fits(layers: nn.Module, shape: tuple[int, ...]) -> bool:
    """Whether one example of ``shape`` goes through ``layers`` (shapes only)."""
    try:
        with _fit_hooks(layers):
            _shape_on_meta(layers, shape)  # type: ignore[arg-type]
        return True
    except Exception:  # a vanishing map, a misfit layer or torch's own shape error
        return False


def _keeps_maps(layers: nn.Module, shape: tuple[int, ...]) -> bool:
    """Whether no feature map vanishes for ``shape`` (a later layer of the wrong size does not count)."""
    try:
        _shape_on_meta(layers, shape)  # type: ignore[arg-type]
    except _VanishedError:
        return False
    except Exception:  # failed after the maps, e.g. at a linear layer sized for another input
        return True
    return True


def fitting_sides(layers: nn.Module, channels: int, scan: int = 512) -> tuple[int, int | None] | None:
    """The square input sides ``layers`` take, as ``(first, last)`` (``last`` None: every
    side up to ``scan`` past ``first``): neither a vanishing feature map nor a layer sized
    for another input. None when none is found (up to :data:`LARGEST_SIZE` for the maps,
    then ``scan`` sides on)."""
    low = _first_side(lambda side: _keeps_maps(layers, (channels, side, side)))
    if low is None:
        return None
    first = next((side for side in range(low, low + scan) if _fits(layers, (channels, side, side))), None)
    if first is None:
        return None
    last = next((side - 1 for side in range(first + 1, first + scan) if not _fits(layers, (channels, side, side))),
                None)
    return first, last


def misfit(layers: nn.Module, shape: tuple[int, ...]) -> tuple[str, tuple[int, int | None] | None] | None:
    """Why ``layers`` cannot take one example of ``shape``: the first layer whose feature map
    would vanish, or whose linear layer or convolution was built for another size, with
    the square sides that work (:func:`fitting_sides`; None when unknown). None when no
    such layer is found (the layers take the shape, fail for another reason, or cannot run
    on the meta device). Shapes only (torch's ``meta`` device): no parameter, buffer or
    mode changes."""
    try:
        with _fit_hooks(layers):
            _shape_on_meta(layers, shape)  # type: ignore[arg-type]
    except _VanishedError as exc:
        reason = f"input {describe(shape)} shrinks to {describe(exc.size)} at layer {exc.layer!r} ({exc.kind})"
    except _MisfitError as exc:
        reason = f"{exc} (from input {describe(shape)})"
        if not exc.size_helps:
            return reason, None
    except Exception:  # not a size the hooks can name: the caller keeps its own error
        return None
    else:
        return None
    return reason, fitting_sides(layers, shape[0]) if len(shape) == 3 else None


def check_batch(component: str, X: torch.Tensor, shape: Shape) -> None:
    """Raise :class:`MinidlError` unless ``X`` is a batch of ``shape`` images."""
    got = tuple(X.shape[1:])
    if got != shape:
        raise MinidlError(f"{component} was built for {describe(shape)} images (channels x height x width), "
                          f"got examples of shape {describe(got) or '()'}; build it for the dataset it "
                          f"trains on (in_channels, input_size)")
