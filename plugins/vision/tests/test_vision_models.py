"""minidl-vision's networks against the book's own (book_cnn.py): same layers, same initial
weights under one seed, same outputs; sizes from the dataset; the dry run's errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from minidl_vision import sizing

from minidl.errors import MinidlError, OptionError

MODELS = ["lenet", "alexnet", "vgg", "nin", "googlenet", "lenet-bn", "resnet18", "densenet"]
slow = pytest.mark.slow

# name, options, the book's builder (in book_cnn.py), the input side the book uses
BOOK_NETS = [
    pytest.param("lenet", {}, "LeNet", 28, id="lenet"),
    pytest.param("alexnet", {}, "AlexNet", 224, id="alexnet", marks=slow),
    pytest.param("vgg", {}, "small_vgg", 224, id="vgg-ratio-8"),
    pytest.param("nin", {}, "nin_net", 224, id="nin", marks=slow),
    pytest.param("googlenet", {}, "googlenet_net", 96, id="googlenet", marks=slow),
    pytest.param("lenet-bn", {"batch_norm": "concise"}, "lenet_bn_concise", 28, id="lenet-bn-concise"),
    pytest.param("resnet18", {}, "resnet_net", 96, id="resnet18", marks=slow),
    pytest.param("densenet", {}, "densenet_net", 96, id="densenet"),
]


def build(registry, name, side, image_channels=1, classes=10, **options):
    return registry.build("model", name, options, num_inputs=image_channels * side * side, num_outputs=classes)


def test_registered_through_the_entry_point(plugins, registry):
    info = {p.name: p for p in plugins.info()}
    assert info["vision"].distribution == "minidl-vision"
    assert info["vision"].hooks == ("register_models",)
    for name in MODELS:
        component = registry.get("model", name)
        assert component.plugin == "vision" and component.summary
        assert all(option.help for option in component.options), name
        assert component.factory.output_kind == "logits"


def test_registration_does_not_import_torch():
    code = ("import sys, minidl; r = minidl.load_plugins().registry; r.get('model', 'resnet18'); "
            "[o.help for c in r for o in c.options]; print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("name, options, builder, side", BOOK_NETS)
def test_same_network_as_the_book(registry, book, name, options, builder, side):
    """Same seed, same weights (the book's module names, so its state_dict loads), same logits."""
    torch.manual_seed(0)
    theirs = getattr(book, builder)()
    torch.manual_seed(0)
    ours = build(registry, name, side, **options)
    expected, got = theirs.state_dict(), ours.state_dict()
    assert list(got) == list(expected)
    for key in expected:
        torch.testing.assert_close(got[key], expected[key], rtol=0, atol=0, msg=key)
    X = torch.rand(2, 1, side, side)
    theirs.eval(), ours.eval()
    with torch.no_grad():
        y = ours(X)
        assert y.shape == (2, 10)
        torch.testing.assert_close(y, theirs(X))
    assert ours.output_kind == "logits" and ours.input_shape == (1, side, side)


def test_lenet_bn_from_scratch_trains_as_the_books(registry, book):
    """The book's BatchNorm keeps its moving averages as plain tensors; ours as buffers."""
    torch.manual_seed(0)
    theirs = book.lenet_bn_scratch()
    torch.manual_seed(0)
    ours = build(registry, "lenet-bn", 28)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    g = torch.Generator().manual_seed(1)
    batches = [(torch.rand(16, 1, 28, 28, generator=g), torch.randint(0, 10, (16,), generator=g)) for _ in range(3)]
    for net in (theirs, ours):
        optimizer = torch.optim.Adam(net.parameters(), lr=0.01)
        for X, y in batches:
            loss = torch.nn.functional.cross_entropy(net(X), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    for (name, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        torch.testing.assert_close(p, q, msg=name)
    for i in (1, 5, 10, 13):  # the four BatchNorm layers
        torch.testing.assert_close(ours[i].moving_mean, theirs[i].moving_mean.detach().view_as(ours[i].moving_mean))
        torch.testing.assert_close(ours[i].moving_var, theirs[i].moving_var.detach().view_as(ours[i].moving_var))
        assert f"{i}.moving_mean" in ours.state_dict()  # saved with the model, restored on resume
    ours.eval(), theirs.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(batches[0][0]), theirs(batches[0][0]))


@slow
def test_block_shapes_as_the_book_prints_them(registry):
    """5.9's and 5.11's printed shapes, block by block (GoogLeNet at 96, ResNet at 224)."""
    X = torch.rand(1, 1, 96, 96)
    shapes = []
    for layer in build(registry, "googlenet", 96).eval().children():
        X = layer(X)
        shapes.append(tuple(X.shape))
    assert shapes == [(1, 64, 24, 24), (1, 192, 12, 12), (1, 480, 6, 6), (1, 832, 3, 3),
                      (1, 1024, 1, 1), (1, 1024), (1, 10)]
    X = torch.rand(1, 1, 224, 224)
    shapes = []
    for name, layer in build(registry, "resnet18", 224).eval().named_children():
        X = layer(X)
        shapes.append((name, tuple(X.shape)))
    assert shapes == [("0", (1, 64, 112, 112)), ("1", (1, 64, 112, 112)), ("2", (1, 64, 112, 112)),
                      ("3", (1, 64, 56, 56)), ("resnet_block1", (1, 64, 56, 56)),
                      ("resnet_block2", (1, 128, 28, 28)), ("resnet_block3", (1, 256, 14, 14)),
                      ("resnet_block4", (1, 512, 7, 7)), ("global_avg_pool", (1, 512, 1, 1)), ("fc", (1, 10))]


@pytest.mark.parametrize("name, side", [("lenet", 28), ("lenet-bn", 28), ("vgg", 224), ("densenet", 96),
                                        pytest.param("alexnet", 224, marks=slow),
                                        pytest.param("nin", 224, marks=slow),
                                        pytest.param("googlenet", 96, marks=slow),
                                        pytest.param("resnet18", 96, marks=slow)])
def test_output_shape_at_the_books_size_with_three_channels_and_five_classes(registry, name, side):
    model = build(registry, name, side, image_channels=3, classes=5).eval()
    assert model.input_shape == (3, side, side)
    with torch.no_grad():
        assert model(torch.rand(1, 3, side, side)).shape == (1, 5)


def test_linear_layers_follow_the_input_size(registry):
    assert build(registry, "lenet", 32).fc[0].in_features == 16 * 5 * 5
    vgg = build(registry, "vgg", 96, ratio=16, fc_hidden_units=512)
    assert vgg.fc[1].in_features == 32 * 3 * 3 and vgg.fc[1].out_features == 32
    assert [len(vgg[i]) for i in range(5)] == [3, 3, 5, 5, 5]  # 1, 1, 2, 2, 2 convolutions + ReLUs + pool
    vgg11 = build(registry, "vgg", 32, ratio=1, num_convs=[1, 1], channels=[4, 6])
    assert vgg11.fc[1].in_features == 6 * 8 * 8
    dense = build(registry, "densenet", 96, num_channels=16, growth_rate=8, num_convs_in_dense_blocks=[2, 2])
    assert dense.fc[1].in_features == (16 + 16) // 2 + 16


def test_shapes_inferred_from_num_inputs_or_given(registry):
    assert build(registry, "lenet", 32, image_channels=3).input_shape == (3, 32, 32)
    model = registry.build("model", "lenet", {"in_channels": 2, "input_size": 20}, num_inputs=800)
    assert model.input_shape == (2, 20, 20) and model.conv[0].in_channels == 2
    assert registry.build("model", "lenet").input_shape == (1, 28, 28)  # no dataset: the book's
    assert registry.build("model", "resnet18").input_shape == (1, 96, 96)
    assert registry.build("model", "lenet", {"num_outputs": 3}, num_inputs=784, num_outputs=10).fc[4].out_features == 3


@pytest.mark.parametrize("options, num_inputs, message", [
    ({}, 1000, "the dataset's 1000 inputs per example are not square images with 1 or 3 channels"),
    ({"in_channels": 3}, 784, "the dataset's 784 inputs per example are not square images with in_channels=3"),
    ({"input_size": 27}, 784, "the dataset's 784 inputs per example are not square images with input_size=27"),
])
def test_inputs_that_are_not_images_are_one_error(registry, options, num_inputs, message):
    with pytest.raises(OptionError, match=f"^model 'lenet': {message}; set in_channels and input_size"):
        registry.build("model", "lenet", options, num_inputs=num_inputs)


@pytest.mark.parametrize("name, side, message", [
    ("alexnet", 28, "model 'alexnet': input 1x28x28 shrinks to 0x0 at layer 'conv.5' (MaxPool2d); "
                    "use --set dataset.resize=224 (the book's size) or any size from 67"),
    ("vgg", 28, "model 'vgg': input 1x28x28 shrinks to 0x0 at layer 'vgg_block_5.4' (MaxPool2d); "
                "use --set dataset.resize=224 (the book's size) or any size from 32"),
    ("nin", 28, "model 'nin': input 1x28x28 shrinks to 0x0 at layer '3' (MaxPool2d); "
                "use --set dataset.resize=224 (the book's size) or any size from 67"),
    ("densenet", 28, "model 'densenet': input 1x28x28 shrinks to 0x0 at layer 'transition_block_2.3' "
                     "(AvgPool2d); use --set dataset.resize=96 (the book's size) or any size from 29"),
    ("lenet", 8, "model 'lenet': input 1x8x8 shrinks to 0x0 at layer 'conv.3' (Conv2d); "
                 "use --set dataset.resize=28 (the book's size) or any size from 16"),
    ("lenet-bn", 14, "model 'lenet-bn': input 1x14x14 shrinks to 0x0 at layer '7' (MaxPool2d); "
                     "use --set dataset.resize=28 (the book's size) or any size from 16"),
])
def test_an_input_too_small_names_the_layer_and_sizes(registry, name, side, message):
    with pytest.raises(MinidlError) as info:
        build(registry, name, side)
    assert str(info.value) == message


def test_the_smallest_size_is_the_smallest_that_works(registry):
    build(registry, "alexnet", 67)
    build(registry, "densenet", 29)
    with pytest.raises(MinidlError, match="shrinks"):
        build(registry, "densenet", 28)
    assert build(registry, "googlenet", 28).input_shape == (1, 28, 28)  # padded pools keep 1x1


def test_a_batch_of_another_shape_is_one_error(registry):
    model = build(registry, "resnet18", 28)
    with pytest.raises(MinidlError, match=r"^model 'resnet18' was built for 1x28x28 images .* got examples "
                                          r"of shape 3x28x28"):
        model(torch.zeros(2, 3, 28, 28))
    with pytest.raises(MinidlError, match="got examples of shape 784"):
        build(registry, "lenet", 28)(torch.zeros(2, 784))


@pytest.mark.parametrize("options, message", [
    ({"num_convs": [1, 1], "channels": [64]}, "num_convs and channels must be as long"),
    ({"ratio": 128}, "ratio=128 leaves a layer without units"),
    ({"ratio": 0}, "must be >= 1"),
])
def test_vgg_options_are_checked(registry, options, message):
    with pytest.raises(OptionError, match=f"model 'vgg'.*{message}"):
        build(registry, "vgg", 224, **options)


def test_dry_run_uses_no_arithmetic_and_leaves_the_modules_as_they_were(registry):
    model = build(registry, "lenet-bn", 28)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert model.training
    assert tuple(sizing.dry_run("m", model, (1, 28, 28), 28)) == (1, 10)
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert sizing.output_size(torch.nn.MaxPool2d(3, 2, ceil_mode=True), 6, 7) == (3, 3)


def test_batch_norm_from_scratch_matches_torch_in_both_modes():
    from minidl_vision.layers import BatchNorm

    ours, torch_bn = BatchNorm(3, num_dims=4), torch.nn.BatchNorm2d(3, momentum=0.1)
    X = torch.randn(8, 3, 5, 5) * 2 + 1
    torch.testing.assert_close(ours(X), torch_bn(X), rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(ours.moving_mean.view(-1), 0.1 * X.mean(dim=(0, 2, 3)))
    ours.eval()
    expected = (X - ours.moving_mean) / torch.sqrt(ours.moving_var + 1e-5)
    torch.testing.assert_close(ours(X), expected)
