"""Book section 5.11, residual networks (ResNet), on minidl.

The book's own code, with ``import d2lzh_pytorch as d2l`` changed to ``import minidl.d2l
as d2l``: ``GlobalAvgPool2d``, ``FlattenLayer``, ``load_data_fashion_mnist(batch_size,
resize=96)`` and ``train_ch5`` come from there (the layers from the vision plugin), and
the training runs on minidl's Trainer. The images are Fashion-MNIST from $MINIDL_DATA (or
the book's ~/Datasets/FashionMNIST); ``MINIDL_DATA=shapes`` uses the offline stand-in.
The flags shrink the run for a quick look (ResNet-18 at 96x96 is slow on a CPU: the
book trains it on a GPU). ``minidl train --dataset shapes --set dataset.resize=96
--model resnet18 --loss cross-entropy --optimizer torch-adam`` trains the same network.

    MINIDL_DATA=shapes python examples/resnet_5_11.py [--epochs 5] [--resize 96] [--examples 6000]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

import minidl.d2l as d2l

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=5, help="the book's 5")
parser.add_argument("--resize", type=int, default=96, help="image side after resizing (the book's 96)")
parser.add_argument("--examples", type=int, help="train on the first N images only (test on N // 4)")
args = parser.parse_args()


def first(loader, n):
    """The same loader over its first ``n`` examples (this example's shortcut, not the book's)."""
    dataset = TensorDataset(*(t[:n] for t in loader.dataset.tensors))
    return DataLoader(dataset, batch_size=loader.batch_size, shuffle=isinstance(loader.sampler, RandomSampler),
                      collate_fn=loader.collate_fn)


device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
print(torch.__version__)
print(device)


# 5.11.2 the residual block
class Residual(nn.Module):  # 本类已保存在d2lzh_pytorch包中方便以后使用
    def __init__(self, in_channels, out_channels, use_1x1conv=False, stride=1):
        super(Residual, self).__init__()  # noqa: UP008 - the book's code
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, stride=stride)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1)
        if use_1x1conv:
            self.conv3 = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride)
        else:
            self.conv3 = None
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def forward(self, X):
        Y = F.relu(self.bn1(self.conv1(X)))
        Y = self.bn2(self.conv2(Y))
        if self.conv3:
            X = self.conv3(X)
        return F.relu(Y + X)


blk = Residual(3, 3)
X = torch.rand((4, 3, 6, 6))
print(blk(X).shape)
blk = Residual(3, 6, use_1x1conv=True, stride=2)
print(blk(X).shape)

# 5.11.3 the ResNet model
net = nn.Sequential(
        nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(kernel_size=3, stride=2, padding=1))


def resnet_block(in_channels, out_channels, num_residuals, first_block=False):
    if first_block:
        assert in_channels == out_channels  # 第一个模块的通道数同输入通道数一致
    blk = []
    for i in range(num_residuals):
        if i == 0 and not first_block:
            blk.append(Residual(in_channels, out_channels, use_1x1conv=True, stride=2))
        else:
            blk.append(Residual(out_channels, out_channels))
    return nn.Sequential(*blk)


net.add_module("resnet_block1", resnet_block(64, 64, 2, first_block=True))
net.add_module("resnet_block2", resnet_block(64, 128, 2))
net.add_module("resnet_block3", resnet_block(128, 256, 2))
net.add_module("resnet_block4", resnet_block(256, 512, 2))
net.add_module("global_avg_pool", d2l.GlobalAvgPool2d())  # GlobalAvgPool2d的输出: (Batch, 512, 1, 1)
net.add_module("fc", nn.Sequential(d2l.FlattenLayer(), nn.Linear(512, 10)))

X = torch.rand((1, 1, 224, 224))
for name, layer in net.named_children():
    X = layer(X)
    print(name, ' output shape:\t', X.shape)

# 5.11.4 data and training
batch_size = 256
# 如出现“out of memory”的报错信息，可减小batch_size或resize
train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size, resize=args.resize)
if args.examples:
    train_iter, test_iter = first(train_iter, args.examples), first(test_iter, max(args.examples // 4, 1))

lr, num_epochs = 0.001, args.epochs
optimizer = torch.optim.Adam(net.parameters(), lr=lr)
d2l.train_ch5(net, train_iter, test_iter, batch_size, optimizer, device, num_epochs)
