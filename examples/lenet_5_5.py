"""Book section 5.5, the convolutional network LeNet, on minidl.

The book's own code, with ``import d2lzh_pytorch as d2l`` changed to ``import minidl.d2l
as d2l``; ``evaluate_accuracy`` and ``train_ch5``, which the section writes and saves into
``d2lzh_pytorch``, come from there, and the training runs on minidl's Trainer. Then the
same network from the vision plugin's components, as ``minidl train --dataset shapes
--model lenet --loss cross-entropy --optimizer torch-adam --metric accuracy`` builds it.
The images are Fashion-MNIST from $MINIDL_DATA (or the book's ~/Datasets/FashionMNIST);
``MINIDL_DATA=shapes`` uses the offline stand-in. The flags shrink the run for a quick look.

    MINIDL_DATA=shapes python examples/lenet_5_5.py [--epochs 5] [--examples 6000]
"""

from __future__ import annotations

import argparse
import os

import torch
from torch import nn
from torch.utils.data import DataLoader, RandomSampler, TensorDataset

import minidl
import minidl.d2l as d2l
from minidl.config import ComponentConfig, RunConfig, TrainSettings

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=5, help="the book's 5")
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


# 5.5.1 the LeNet model
class LeNet(nn.Module):
    def __init__(self):
        super(LeNet, self).__init__()  # noqa: UP008 - the book's code
        self.conv = nn.Sequential(
            nn.Conv2d(1, 6, 5),  # in_channels, out_channels, kernel_size
            nn.Sigmoid(),
            nn.MaxPool2d(2, 2),  # kernel_size, stride
            nn.Conv2d(6, 16, 5),
            nn.Sigmoid(),
            nn.MaxPool2d(2, 2)
        )
        self.fc = nn.Sequential(
            nn.Linear(16*4*4, 120),
            nn.Sigmoid(),
            nn.Linear(120, 84),
            nn.Sigmoid(),
            nn.Linear(84, 10)
        )

    def forward(self, img):
        feature = self.conv(img)
        output = self.fc(feature.view(img.shape[0], -1))
        return output


net = LeNet()
print(net)

# 5.5.2 data and training
batch_size = 256
train_iter, test_iter = d2l.load_data_fashion_mnist(batch_size=batch_size)
if args.examples:
    train_iter, test_iter = first(train_iter, args.examples), first(test_iter, max(args.examples // 4, 1))

lr, num_epochs = 0.001, args.epochs
optimizer = torch.optim.Adam(net.parameters(), lr=lr)
d2l.train_ch5(net, train_iter, test_iter, batch_size, optimizer, device, num_epochs)

# The same network from the plugin's components, as `minidl train` builds it: the loss and
# accuracy after each epoch are over the whole training and test sets.
print("minidl's Trainer with lenet:")
offline = os.environ.get("MINIDL_DATA", "shapes") == "shapes"
size = {"num_examples": args.examples, "num_test": max(args.examples // 4, 1)} if args.examples and offline else {}
config = RunConfig(
    dataset=ComponentConfig("shapes" if offline else "fashion-mnist", size),
    model=ComponentConfig("lenet"),
    loss=ComponentConfig("cross-entropy"),
    optimizer=ComponentConfig("torch-adam", {"lr": lr}),
    train=TrainSettings(epochs=num_epochs, batch_size=batch_size, metrics=["accuracy"]),
)
minidl.build(config, verbose=True).fit()
