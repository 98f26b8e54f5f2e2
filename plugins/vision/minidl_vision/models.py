"""The chapter's networks, LeNet to DenseNet, built for the images a dataset serves.

Each is the book's network layer for layer, with its submodule names; what the book
fixes for Fashion-MNIST (one input channel, ten classes, the linear layer after the
convolutions sized for 28x28 or 224x224 inputs) follows the dataset here. Before any
weight of a linear layer is drawn, a dry run of the convolutions on one example's shape
sizes that layer and refuses an input that would shrink to nothing (see
:mod:`minidl_vision.sizing`). Every network outputs logits and checks that its input
has the shape it was built for.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from minidl.errors import OptionError
from minidl_vision import layers as L
from minidl_vision.sizing import Shape, check_batch, dry_run

#: The input side the book trains each network at (Fashion-MNIST resized).
BOOK_SIZES = {"lenet": 28, "alexnet": 224, "vgg": 224, "nin": 224, "googlenet": 96,
              "lenet-bn": 28, "resnet18": 96, "densenet": 96}


def label(name: str) -> str:
    """``model 'name'``, as messages name a component."""
    return f"model {name!r}"


def _features(name: str, conv: nn.Module, shape: Shape, prefix: str = "") -> int:
    """Values per example after ``conv`` (named ``prefix`` in the model): the in-features
    of the linear layer after it."""
    out = dry_run(label(name), conv, shape, BOOK_SIZES[name], prefix)
    return int(torch.Size(out[1:]).numel())


class ImageSequential(nn.Sequential):
    """An ``nn.Sequential`` built for ``input_shape`` images that outputs logits."""

    output_kind = "logits"

    def __init__(self, name: str, input_shape: Shape, modules: OrderedDict[str, nn.Module]) -> None:
        super().__init__(modules)
        self.component, self.input_shape = label(name), input_shape

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """(batch, c, h, w) images -> (batch, num_outputs) logits."""
        if X.shape[1:] != self.input_shape:
            check_batch(self.component, X, self.input_shape)
        return super().forward(X)


def _sequential(name: str, shape: Shape, net: nn.Sequential, num_outputs: int) -> ImageSequential:
    """``net``'s modules (already initialised) as an :class:`ImageSequential`, dry-run checked."""
    out = dry_run(label(name), net, shape, BOOK_SIZES[name])
    assert tuple(out) == (1, num_outputs), out  # every network here ends in num_outputs logits
    return ImageSequential(name, shape, OrderedDict(net.named_children()))


class ConvThenDense(nn.Module):
    """The book's ``LeNet`` and ``AlexNet`` classes: ``conv`` layers, flattened, ``fc`` layers."""

    output_kind = "logits"

    def __init__(self, name: str, input_shape: Shape, conv: nn.Sequential, fc: nn.Sequential) -> None:
        super().__init__()
        self.conv, self.fc = conv, fc
        self.component, self.input_shape = label(name), input_shape

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        """(batch, c, h, w) images -> (batch, num_outputs) logits."""
        if img.shape[1:] != self.input_shape:
            check_batch(self.component, img, self.input_shape)
        feature = self.conv(img)
        return self.fc(feature.view(img.shape[0], -1))


# -- 5.5 LeNet ---------------------------------------------------------------------------
def lenet(shape: Shape, num_outputs: int) -> ConvThenDense:
    """LeNet: two 5x5 convolutions (6, 16 channels) with sigmoid and 2x2 max pooling,
    then linear layers 120, 84, ``num_outputs`` with sigmoid between."""
    conv = nn.Sequential(nn.Conv2d(shape[0], 6, 5), nn.Sigmoid(), nn.MaxPool2d(2, 2),
                         nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.MaxPool2d(2, 2))
    fc = nn.Sequential(nn.Linear(_features("lenet", conv, shape, "conv."), 120),  # 16*4*4 for 28x28
                       nn.Sigmoid(),
                       nn.Linear(120, 84),
                       nn.Sigmoid(),
                       nn.Linear(84, num_outputs))
    return ConvThenDense("lenet", shape, conv, fc)


# -- 5.6 AlexNet -------------------------------------------------------------------------
def alexnet(shape: Shape, num_outputs: int, dropout: float = 0.5) -> ConvThenDense:
    """AlexNet: convolutions 11x11/4 (96), 5x5 (256), three 3x3 (384, 384, 256), with
    ReLU and 3x3/2 max pooling; linear layers 4096, 4096 with dropout, ``num_outputs``."""
    conv = nn.Sequential(nn.Conv2d(shape[0], 96, 11, 4), nn.ReLU(), nn.MaxPool2d(3, 2),
                         nn.Conv2d(96, 256, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
                         nn.Conv2d(256, 384, 3, 1, 1), nn.ReLU(),
                         nn.Conv2d(384, 384, 3, 1, 1), nn.ReLU(),
                         nn.Conv2d(384, 256, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(3, 2))
    fc = nn.Sequential(nn.Linear(_features("alexnet", conv, shape, "conv."), 4096),  # 256*5*5 for 224x224
                       nn.ReLU(), nn.Dropout(dropout),
                       nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(dropout),
                       nn.Linear(4096, num_outputs))
    return ConvThenDense("alexnet", shape, conv, fc)


# -- 5.7 VGG -----------------------------------------------------------------------------
def vgg(shape: Shape, num_outputs: int, num_convs: Sequence[int], channels: Sequence[int],
        fc_hidden_units: int, ratio: int) -> ImageSequential:
    """VGG: one :func:`~minidl_vision.layers.vgg_block` per entry of ``num_convs`` /
    ``channels`` (each channel count and ``fc_hidden_units`` divided by ``ratio``, as the
    book's ``small_conv_arch``), then linear layers with dropout."""
    if len(num_convs) != len(channels):
        raise OptionError(f"{label('vgg')}: num_convs and channels must be as long (one entry per block), "
                          f"got {len(num_convs)} and {len(channels)}")
    small = [c // ratio for c in channels]
    if min(small) < 1 or fc_hidden_units // ratio < 1:
        raise OptionError(f"{label('vgg')}: ratio={ratio} leaves a layer without units "
                          f"(channels {list(channels)}, fc_hidden_units {fc_hidden_units})")
    conv_arch = list(zip(num_convs, [shape[0], *small[:-1]], small))  # the book's (num_convs, in, out)
    blocks: OrderedDict[str, nn.Module] = OrderedDict(
        (f"vgg_block_{i + 1}", L.vgg_block(*arch)) for i, arch in enumerate(conv_arch))
    fc_features = _features("vgg", nn.Sequential(blocks), shape)  # 512*7*7 // ratio for 224x224
    hidden = fc_hidden_units // ratio
    blocks["fc"] = nn.Sequential(L.FlattenLayer(),
                                 nn.Linear(fc_features, hidden), nn.ReLU(), nn.Dropout(0.5),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(0.5),
                                 nn.Linear(hidden, num_outputs))
    return _sequential("vgg", shape, nn.Sequential(blocks), num_outputs)


# -- 5.8 NiN -----------------------------------------------------------------------------
def nin(shape: Shape, num_outputs: int, dropout: float = 0.5) -> ImageSequential:
    """Network in network: four NiN blocks (96, 256, 384, ``num_outputs`` channels) with
    3x3/2 max pooling between, dropout before the last, global average pooling."""
    net = nn.Sequential(
        L.nin_block(shape[0], 96, kernel_size=11, stride=4, padding=0),
        nn.MaxPool2d(kernel_size=3, stride=2),
        L.nin_block(96, 256, kernel_size=5, stride=1, padding=2),
        nn.MaxPool2d(kernel_size=3, stride=2),
        L.nin_block(256, 384, kernel_size=3, stride=1, padding=1),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Dropout(dropout),
        L.nin_block(384, num_outputs, kernel_size=3, stride=1, padding=1),  # one channel per class
        L.GlobalAvgPool2d(),
        L.FlattenLayer())
    return _sequential("nin", shape, net, num_outputs)


# -- 5.9 GoogLeNet -----------------------------------------------------------------------
def googlenet(shape: Shape, num_outputs: int) -> ImageSequential:
    """GoogLeNet: two convolution blocks, nine Inception blocks in three groups with 3x3/2
    max pooling between, global average pooling, a linear layer (1024 -> ``num_outputs``)."""
    b1 = nn.Sequential(nn.Conv2d(shape[0], 64, kernel_size=7, stride=2, padding=3),
                       nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b2 = nn.Sequential(nn.Conv2d(64, 64, kernel_size=1),  # no ReLU after these two, as the book
                       nn.Conv2d(64, 192, kernel_size=3, padding=1),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b3 = nn.Sequential(L.Inception(192, 64, (96, 128), (16, 32), 32),
                       L.Inception(256, 128, (128, 192), (32, 96), 64),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b4 = nn.Sequential(L.Inception(480, 192, (96, 208), (16, 48), 64),
                       L.Inception(512, 160, (112, 224), (24, 64), 64),
                       L.Inception(512, 128, (128, 256), (24, 64), 64),
                       L.Inception(512, 112, (144, 288), (32, 64), 64),
                       L.Inception(528, 256, (160, 320), (32, 128), 128),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    b5 = nn.Sequential(L.Inception(832, 256, (160, 320), (32, 128), 128),
                       L.Inception(832, 384, (192, 384), (48, 128), 128),
                       L.GlobalAvgPool2d())
    net = nn.Sequential(b1, b2, b3, b4, b5, L.FlattenLayer(), nn.Linear(1024, num_outputs))
    return _sequential("googlenet", shape, net, num_outputs)


# -- 5.10 LeNet with batch normalization ---------------------------------------------------
def lenet_bn(shape: Shape, num_outputs: int, batch_norm: Literal["scratch", "concise"]) -> ImageSequential:
    """LeNet with batch normalization after every convolution and hidden linear layer:
    the book's ``BatchNorm`` from scratch, or ``nn.BatchNorm2d`` / ``nn.BatchNorm1d``."""
    def bn(num_features: int, num_dims: int) -> nn.Module:
        if batch_norm == "scratch":
            return L.BatchNorm(num_features, num_dims=num_dims)
        return nn.BatchNorm2d(num_features) if num_dims == 4 else nn.BatchNorm1d(num_features)

    conv: list[nn.Module] = [nn.Conv2d(shape[0], 6, 5), bn(6, 4), nn.Sigmoid(), nn.MaxPool2d(2, 2),
                             nn.Conv2d(6, 16, 5), bn(16, 4), nn.Sigmoid(), nn.MaxPool2d(2, 2),
                             L.FlattenLayer()]
    features = _features("lenet-bn", nn.Sequential(*conv), shape)  # 16*4*4 for 28x28
    fc: list[nn.Module] = [nn.Linear(features, 120), bn(120, 2), nn.Sigmoid(),
                           nn.Linear(120, 84), bn(84, 2), nn.Sigmoid(),
                           nn.Linear(84, num_outputs)]
    return _sequential("lenet-bn", shape, nn.Sequential(*conv, *fc), num_outputs)


# -- 5.11 ResNet-18 ----------------------------------------------------------------------
def resnet18(shape: Shape, num_outputs: int) -> ImageSequential:
    """ResNet-18 (:func:`minidl_vision.layers.resnet18`) for ``shape``'s channels."""
    return _sequential("resnet18", shape, L.resnet18(num_outputs, shape[0]), num_outputs)


# -- 5.12 DenseNet -----------------------------------------------------------------------
def densenet(shape: Shape, num_outputs: int, num_channels: int, growth_rate: int,
             num_convs_in_dense_blocks: Sequence[int]) -> ImageSequential:
    """DenseNet: ResNet's stem, dense blocks with a transition block halving the channels
    between each two, batch norm, ReLU, global average pooling, a linear layer."""
    net = nn.Sequential(nn.Conv2d(shape[0], num_channels, kernel_size=7, stride=2, padding=3),
                        nn.BatchNorm2d(num_channels),
                        nn.ReLU(),
                        nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    for i, num_convs in enumerate(num_convs_in_dense_blocks):
        block = L.DenseBlock(num_convs, num_channels, growth_rate)
        net.add_module(f"DenseBlosk_{i}", block)  # sic: the book's name, so its state_dict loads
        num_channels = block.out_channels
        if i != len(num_convs_in_dense_blocks) - 1:
            net.add_module(f"transition_block_{i}", L.transition_block(num_channels, num_channels // 2))
            num_channels = num_channels // 2
    net.add_module("BN", nn.BatchNorm2d(num_channels))
    net.add_module("relu", nn.ReLU())
    net.add_module("global_avg_pool", L.GlobalAvgPool2d())  # (batch, num_channels, 1, 1)
    net.add_module("fc", nn.Sequential(L.FlattenLayer(), nn.Linear(num_channels, num_outputs)))
    return _sequential("densenet", shape, net, num_outputs)
