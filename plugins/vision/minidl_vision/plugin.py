"""Registers the chapter's convolutional networks (book sections 5.5-5.12).

Models ``lenet``, ``alexnet``, ``vgg``, ``nin``, ``googlenet``, ``lenet-bn``,
``resnet18`` and ``densenet``. Each takes its input shape from the dataset's
``num_inputs`` (C x H x W values per example; ``in_channels`` / ``input_size`` when the
images are not square or not 1- or 3-channel) and its outputs from the dataset's
``num_outputs``; each outputs logits (pair it with the ``cross-entropy`` loss).
Factories import torch only when called, so ``minidl list`` stays instant.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from minidl.hookspecs import Register, hookimpl
from minidl.options import Ge, Le, Lt

Size = Annotated[int, Ge(1)]
OptionalSize = Annotated[int, Ge(1), Le(65_536)] | None  # channels, pixels per side
Count = Annotated[int, Ge(1)] | None  # values per example, classes
Probability = Annotated[float, Ge(0), Lt(1)]


def _shape(name: str, num_inputs: int | None, in_channels: int | None, input_size: int | None) -> Any:
    from minidl_vision.models import BOOK_SIZES, label
    from minidl_vision.sizing import image_shape

    return image_shape(label(name), num_inputs, in_channels, input_size, BOOK_SIZES[name])


def _outputs(num_outputs: int | None) -> int:
    return 10 if num_outputs is None else num_outputs  # the book's ten Fashion-MNIST classes


def lenet(in_channels: OptionalSize = None, input_size: OptionalSize = None,
          num_inputs: Count = None, num_outputs: Count = None) -> Any:
    """LeNet (book 5.5): two sigmoid convolutions with max pooling, three linear layers; 28x28.

    Args:
        in_channels: image channels (default: from the dataset's num_inputs; 1 for a square count, else 3)
        input_size: image height and width (default: from the dataset's num_inputs, else 28)
        num_inputs: values per example, channels x height x width (default: the dataset's)
        num_outputs: classes (default: the dataset's, else 10)
    """
    from minidl_vision.models import lenet as build

    return build(_shape("lenet", num_inputs, in_channels, input_size), _outputs(num_outputs))


def alexnet(dropout: Probability = 0.5, in_channels: OptionalSize = None, input_size: OptionalSize = None,
            num_inputs: Count = None, num_outputs: Count = None) -> Any:
    """AlexNet (book 5.6): five ReLU convolutions, three linear layers with dropout; 224x224 (resize=224).

    Args:
        dropout: dropout probability after each hidden linear layer
        in_channels: image channels (default: from the dataset's num_inputs; 1 for a square count, else 3)
        input_size: image height and width (default: from the dataset's num_inputs, else 224)
        num_inputs: values per example, channels x height x width (default: the dataset's)
        num_outputs: classes (default: the dataset's, else 10)
    """
    from minidl_vision.models import alexnet as build

    return build(_shape("alexnet", num_inputs, in_channels, input_size), _outputs(num_outputs), dropout)


def vgg(num_convs: Annotated[list[int], Ge(1)] = [1, 1, 2, 2, 2],  # noqa: B006 - never mutated
        channels: Annotated[list[int], Ge(1)] = [64, 128, 256, 512, 512],  # noqa: B006 - never mutated
        ratio: Size = 8, fc_hidden_units: Size = 4096, in_channels: OptionalSize = None,
        input_size: OptionalSize = None, num_inputs: Count = None,
        num_outputs: Count = None) -> Any:
    """VGG (book 5.7): blocks of 3x3 convolutions and 2x2 max pooling, three linear layers; 224x224.

    Args:
        num_convs: convolutions in each block (the book's conv_arch: VGG-11 is [1, 1, 2, 2, 2])
        channels: output channels of each block, before dividing by ratio
        ratio: divide every channel count and fc_hidden_units by this (the book trains ratio 8; 1 is VGG-11)
        fc_hidden_units: units of the two hidden linear layers, before dividing by ratio
        in_channels: image channels (default: from the dataset's num_inputs; 1 for a square count, else 3)
        input_size: image height and width (default: from the dataset's num_inputs, else 224)
        num_inputs: values per example, channels x height x width (default: the dataset's)
        num_outputs: classes (default: the dataset's, else 10)
    """
    from minidl_vision.models import vgg as build

    return build(_shape("vgg", num_inputs, in_channels, input_size), _outputs(num_outputs),
                 num_convs, channels, fc_hidden_units, ratio)


def nin(dropout: Probability = 0.5, in_channels: OptionalSize = None, input_size: OptionalSize = None,
        num_inputs: Count = None, num_outputs: Count = None) -> Any:
    """Network in network (book 5.8): NiN blocks of 1x1 convolutions, global average pooling; 224x224.

    Args:
        dropout: dropout probability before the last NiN block
        in_channels: image channels (default: from the dataset's num_inputs; 1 for a square count, else 3)
        input_size: image height and width (default: from the dataset's num_inputs, else 224)
        num_inputs: values per example, channels x height x width (default: the dataset's)
        num_outputs: classes (default: the dataset's, else 10)
    """
    from minidl_vision.models import nin as build

    return build(_shape("nin", num_inputs, in_channels, input_size), _outputs(num_outputs), dropout)


def googlenet(in_channels: OptionalSize = None, input_size: OptionalSize = None,
              num_inputs: Count = None, num_outputs: Count = None) -> Any:
    """GoogLeNet (book 5.9): nine Inception blocks, global average pooling; 96x96 (resize=96).

    Args:
        in_channels: image channels (default: from the dataset's num_inputs; 1 for a square count, else 3)
        input_size: image height and width (default: from the dataset's num_inputs, else 96)
        num_inputs: values per example, channels x height x width (default: the dataset's)
        num_outputs: classes (default: the dataset's, else 10)
    """
    from minidl_vision.models import googlenet as build

    return build(_shape("googlenet", num_inputs, in_channels, input_size), _outputs(num_outputs))


def lenet_bn(batch_norm: Literal["scratch", "concise"] = "scratch", in_channels: OptionalSize = None,
             input_size: OptionalSize = None, num_inputs: Count = None,
             num_outputs: Count = None) -> Any:
    """LeNet with batch normalization (book 5.10), from scratch or nn.BatchNorm2d/1d; 28x28.

    Args:
        batch_norm: scratch (the book's BatchNorm class, 5.10.2) or concise (nn.BatchNorm2d / nn.BatchNorm1d, 5.10.3)
        in_channels: image channels (default: from the dataset's num_inputs; 1 for a square count, else 3)
        input_size: image height and width (default: from the dataset's num_inputs, else 28)
        num_inputs: values per example, channels x height x width (default: the dataset's)
        num_outputs: classes (default: the dataset's, else 10)
    """
    from minidl_vision.models import lenet_bn as build

    return build(_shape("lenet-bn", num_inputs, in_channels, input_size), _outputs(num_outputs), batch_norm)


def resnet18(in_channels: OptionalSize = None, input_size: OptionalSize = None,
             num_inputs: Count = None, num_outputs: Count = None) -> Any:
    """ResNet-18 (book 5.11): four blocks of two residual blocks with batch norm; 96x96 (resize=96).

    Args:
        in_channels: image channels (default: from the dataset's num_inputs; 1 for a square count, else 3)
        input_size: image height and width (default: from the dataset's num_inputs, else 96)
        num_inputs: values per example, channels x height x width (default: the dataset's)
        num_outputs: classes (default: the dataset's, else 10)
    """
    from minidl_vision.models import resnet18 as build

    return build(_shape("resnet18", num_inputs, in_channels, input_size), _outputs(num_outputs))


def densenet(num_channels: Size = 64, growth_rate: Size = 32,
             num_convs_in_dense_blocks: Annotated[list[int], Ge(1)] = [4, 4, 4, 4],  # noqa: B006
             in_channels: OptionalSize = None, input_size: OptionalSize = None,
             num_inputs: Count = None, num_outputs: Count = None) -> Any:
    """DenseNet (book 5.12): dense blocks joined by channel-halving transition blocks; 96x96 (resize=96).

    Args:
        num_channels: channels of the first convolution
        growth_rate: channels each convolution of a dense block adds
        num_convs_in_dense_blocks: convolutions in each dense block
        in_channels: image channels (default: from the dataset's num_inputs; 1 for a square count, else 3)
        input_size: image height and width (default: from the dataset's num_inputs, else 96)
        num_inputs: values per example, channels x height x width (default: the dataset's)
        num_outputs: classes (default: the dataset's, else 10)
    """
    from minidl_vision.models import densenet as build

    return build(_shape("densenet", num_inputs, in_channels, input_size), _outputs(num_outputs),
                 num_channels, growth_rate, num_convs_in_dense_blocks)


MODELS: dict[str, Callable[..., Any]] = {
    "lenet": lenet, "alexnet": alexnet, "vgg": vgg, "nin": nin, "googlenet": googlenet,
    "lenet-bn": lenet_bn, "resnet18": resnet18, "densenet": densenet,
}
#: The partners minidl.testing checks each network with: minidl-classify's offline images at
#: 96x96, a size every network of the chapter takes, and the loss for logits.
CHECK_WITH = {"data": ("shapes", {"num_examples": 16, "num_test": 8, "resize": 96}), "loss": "cross-entropy"}
for _factory in MODELS.values():
    _factory.output_kind = "logits"  # type: ignore[attr-defined]  # read by the compatibility check
    _factory.check_with = CHECK_WITH  # type: ignore[attr-defined]


@hookimpl
def register_models(register: Register) -> None:
    """Register the chapter's networks: lenet, alexnet, vgg, nin, googlenet, lenet-bn, resnet18, densenet."""
    for name, factory in MODELS.items():
        register(name, factory)
