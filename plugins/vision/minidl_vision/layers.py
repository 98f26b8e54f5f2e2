"""The chapter's building blocks, as the book's ``d2lzh_pytorch`` writes them (sections 5.5-5.12).

Same layers, same order of construction (so the same seed draws the same initial
weights) and the same submodule names (so the book's ``state_dict`` loads unchanged).
One deliberate difference: :class:`BatchNorm` (5.10) keeps its moving averages as
buffers, updated without autograd, so they are saved with the model and no graph grows
from one step to the next; the values are the book's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from minidl.layers import FlattenLayer  # the core's (3.7), re-exported with the chapter's blocks


def _check_counts(where: str, **counts: object) -> None:
    """Raise TypeError / ValueError naming ``where`` unless every count is an int >= 1."""
    for name, value in counts.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{where}: {name} must be an integer >= 1, got {value!r} ({type(value).__name__})")
        if value < 1:
            raise ValueError(f"{where}: {name} must be an integer >= 1, got {value}")


__all__ = [
    "BatchNorm",
    "DenseBlock",
    "FlattenLayer",
    "GlobalAvgPool2d",
    "Inception",
    "Residual",
    "batch_norm",
    "conv_block",
    "nin_block",
    "resnet18",
    "resnet_block",
    "transition_block",
    "vgg_block",
]


class GlobalAvgPool2d(nn.Module):
    """Average over each channel's whole feature map: (batch, c, h, w) -> (batch, c, 1, 1) (5.8)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``F.avg_pool2d`` with the window as large as the input (batch, channels, h, w)."""
        if x.dim() != 4:
            raise ValueError(f"GlobalAvgPool2d takes feature maps of shape (batch, channels, height, width), "
                             f"got shape {tuple(x.shape)}" + ("; for one image, use x.unsqueeze(0)" if x.dim() == 3
                                                               else ""))
        return F.avg_pool2d(x, kernel_size=x.size()[2:])


# -- 5.7 VGG and 5.8 NiN -------------------------------------------------------------------
def vgg_block(num_convs: int, in_channels: int, out_channels: int) -> nn.Sequential:
    """``num_convs`` 3x3 convolutions (padding 1) with ReLU, then a 2x2 max pool halving h and w."""
    blk: list[nn.Module] = []
    for i in range(num_convs):
        blk.append(nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, kernel_size=3, padding=1))
        blk.append(nn.ReLU())
    blk.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*blk)


def nin_block(in_channels: int, out_channels: int, kernel_size: int, stride: int, padding: int) -> nn.Sequential:
    """One convolution followed by two 1x1 convolutions, each with ReLU (5.8)."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding),
                         nn.ReLU(),
                         nn.Conv2d(out_channels, out_channels, kernel_size=1),
                         nn.ReLU(),
                         nn.Conv2d(out_channels, out_channels, kernel_size=1),
                         nn.ReLU())


# -- 5.9 GoogLeNet -------------------------------------------------------------------------
class Inception(nn.Module):
    """Four parallel paths concatenated on the channels: c1 + c2[1] + c3[1] + c4 out (5.9)."""

    def __init__(self, in_c: int, c1: int, c2: Sequence[int], c3: Sequence[int], c4: int) -> None:
        super().__init__()
        self.p1_1 = nn.Conv2d(in_c, c1, kernel_size=1)  # path 1: 1x1
        self.p2_1 = nn.Conv2d(in_c, c2[0], kernel_size=1)  # path 2: 1x1, then 3x3
        self.p2_2 = nn.Conv2d(c2[0], c2[1], kernel_size=3, padding=1)
        self.p3_1 = nn.Conv2d(in_c, c3[0], kernel_size=1)  # path 3: 1x1, then 5x5
        self.p3_2 = nn.Conv2d(c3[0], c3[1], kernel_size=5, padding=2)
        self.p4_1 = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)  # path 4: 3x3 max pool, then 1x1
        self.p4_2 = nn.Conv2d(in_c, c4, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, in_c, h, w) -> (batch, c1 + c2[1] + c3[1] + c4, h, w)."""
        p1 = F.relu(self.p1_1(x))
        p2 = F.relu(self.p2_2(F.relu(self.p2_1(x))))
        p3 = F.relu(self.p3_2(F.relu(self.p3_1(x))))
        p4 = F.relu(self.p4_2(self.p4_1(x)))
        return torch.cat((p1, p2, p3, p4), dim=1)


# -- 5.10 batch normalization from scratch -------------------------------------------------
def batch_norm(is_training: bool, X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
               moving_mean: torch.Tensor, moving_var: torch.Tensor, eps: float,
               momentum: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The book's ``batch_norm``: ``(Y, moving_mean, moving_var)``.

    In training, ``X`` (batch, features) or (batch, channels, h, w) is standardised with
    the batch's mean and variance per feature / channel, and the moving averages move by
    ``1 - momentum`` towards them; otherwise the moving averages standardise it.
    """
    if not is_training:
        X_hat = (X - moving_mean) / torch.sqrt(moving_var + eps)
    else:
        if X.dim() not in (2, 4):
            raise ValueError(f"batch_norm takes (batch, features) or (batch, channels, h, w), got {tuple(X.shape)}")
        if X.dim() == 2:
            mean = X.mean(dim=0)
            var = ((X - mean) ** 2).mean(dim=0)
        else:  # per channel, kept 4-D for broadcasting
            mean = X.mean(dim=0, keepdim=True).mean(dim=2, keepdim=True).mean(dim=3, keepdim=True)
            var = ((X - mean) ** 2).mean(dim=0, keepdim=True).mean(dim=2, keepdim=True).mean(dim=3, keepdim=True)
        X_hat = (X - mean) / torch.sqrt(var + eps)
        moving_mean = momentum * moving_mean + (1.0 - momentum) * mean
        moving_var = momentum * moving_var + (1.0 - momentum) * var
    return gamma * X_hat + beta, moving_mean, moving_var


class BatchNorm(nn.Module):
    """Batch normalization from scratch (5.10): ``gamma`` ones, ``beta`` zeros, moving
    averages zeros; ``num_dims`` 2 after a linear layer, 4 after a convolution."""

    moving_mean: torch.Tensor
    moving_var: torch.Tensor

    def __init__(self, num_features: int, num_dims: int) -> None:
        super().__init__()
        shape = (1, num_features) if num_dims == 2 else (1, num_features, 1, 1)
        self.gamma = nn.Parameter(torch.ones(shape))
        self.beta = nn.Parameter(torch.zeros(shape))
        self.register_buffer("moving_mean", torch.zeros(shape))  # buffers: saved, moved by .to()
        self.register_buffer("moving_var", torch.zeros(shape))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Normalize ``X``; in training mode, also update the moving averages."""
        Y, moving_mean, moving_var = batch_norm(self.training, X, self.gamma, self.beta, self.moving_mean,
                                                self.moving_var, eps=1e-5, momentum=0.9)
        if self.training:
            with torch.no_grad():  # the book assigns them, graph and all; the values are the same
                self.moving_mean.copy_(moving_mean.view_as(self.moving_mean))
                self.moving_var.copy_(moving_var.view_as(self.moving_var))
        return Y


# -- 5.11 ResNet ---------------------------------------------------------------------------
class Residual(nn.Module):
    """Two 3x3 convolutions with batch norm, plus the input (through a 1x1 convolution
    when ``use_1x1conv``, to change channels or, with ``stride``, the size) (5.11)."""

    def __init__(self, in_channels: int, out_channels: int, use_1x1conv: bool = False, stride: int = 1) -> None:
        super().__init__()
        _check_counts("Residual", in_channels=in_channels, out_channels=out_channels, stride=stride)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, stride=stride)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        self.conv3 = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride) if use_1x1conv else None
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """``relu(bn2(conv2(relu(bn1(conv1(X))))) + X)``, X through conv3 when there is one."""
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3 is not None:
            X = self.conv3(X)
        try:
            return F.relu(Y + X)
        except RuntimeError:
            raise ValueError(f"Residual: the block's output {tuple(Y.shape)} and its input {tuple(X.shape)} "
                             f"cannot be added; a block that changes the channels or the size (stride) "
                             f"needs use_1x1conv=True") from None


def resnet_block(in_channels: int, out_channels: int, num_residuals: int, first_block: bool = False) -> nn.Sequential:
    """``num_residuals`` residual blocks; the first halves h and w and changes the channels,
    unless ``first_block`` (then ``in_channels`` must equal ``out_channels``)."""
    _check_counts("resnet_block", in_channels=in_channels, out_channels=out_channels, num_residuals=num_residuals)
    if first_block and in_channels != out_channels:
        raise ValueError(f"the first resnet block keeps its channels: in_channels={in_channels} "
                         f"must equal out_channels={out_channels}")
    blk: list[nn.Module] = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.append(Residual(in_channels, out_channels, use_1x1conv=True, stride=2))
        else:
            blk.append(Residual(out_channels, out_channels))
    return nn.Sequential(*blk)


def resnet_stem(in_channels: int) -> nn.Sequential:
    """ResNet's (and DenseNet's) first layers: 7x7 convolution to 64 channels, stride 2,
    batch norm, ReLU, 3x3 max pool with stride 2."""
    return nn.Sequential(nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3),
                         nn.BatchNorm2d(64),
                         nn.ReLU(),
                         nn.MaxPool2d(kernel_size=3, stride=2, padding=1))


def resnet18(output: int = 10, in_channels: int = 3) -> nn.Sequential:
    """ResNet-18 as the book's ``d2lzh_pytorch.resnet18``: the stem, four resnet blocks
    of two residuals (64, 128, 256, 512 channels), global average pooling, a linear layer."""
    _check_counts("resnet18", output=output, in_channels=in_channels)
    net = resnet_stem(in_channels)
    net.add_module("resnet_block1", resnet_block(64, 64, 2, first_block=True))
    net.add_module("resnet_block2", resnet_block(64, 128, 2))
    net.add_module("resnet_block3", resnet_block(128, 256, 2))
    net.add_module("resnet_block4", resnet_block(256, 512, 2))
    net.add_module("global_avg_pool", GlobalAvgPool2d())  # (batch, 512, 1, 1)
    net.add_module("fc", nn.Sequential(FlattenLayer(), nn.Linear(512, output)))
    return net


# -- 5.12 DenseNet -------------------------------------------------------------------------
def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Batch norm, ReLU, 3x3 convolution (DenseNet's pre-activation order)."""
    return nn.Sequential(nn.BatchNorm2d(in_channels),
                         nn.ReLU(),
                         nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1))


class DenseBlock(nn.Module):
    """``num_convs`` conv blocks, each fed every earlier output concatenated on the
    channels: ``in_channels + num_convs * out_channels`` channels out (5.12)."""

    def __init__(self, num_convs: int, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.net = nn.ModuleList(conv_block(in_channels + i * out_channels, out_channels)
                                 for i in range(num_convs))
        self.out_channels = in_channels + num_convs * out_channels

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Concatenate each block's output onto its input."""
        for blk in self.net:
            X = torch.cat((X, blk(X)), dim=1)
        return X


def transition_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """Batch norm, ReLU, 1x1 convolution to ``out_channels``, 2x2 average pool halving h and w."""
    return nn.Sequential(nn.BatchNorm2d(in_channels),
                         nn.ReLU(),
                         nn.Conv2d(in_channels, out_channels, kernel_size=1),
                         nn.AvgPool2d(kernel_size=2, stride=2))
