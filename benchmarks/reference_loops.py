"""The seed notebook's own code, and its training loop, for the benchmark.

``data_iter``, ``linreg``, ``squared_loss`` and ``sgd`` are the seed's cells 4 and 8-10
(``../shared/seed/notebook_code.py``), copied here so that the benchmark does not depend
on the shared folder at run time. One change: ``data_iter`` takes the shuffle as a
keyword (default ``random.shuffle``, as written), so the benchmark can give every loop
the same batch order. ``notebook_loop`` is cell 11 with its ``print`` turned into a
returned loss.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import torch


# In[4] (the seed's), with the shuffle as a keyword
def data_iter(batch_size, features, labels, *, shuffle: Callable[[list], None] = random.shuffle) -> Iterator:
    num_examples = len(features)
    indices = list(range(num_examples))
    shuffle(indices)  # 样本的读取顺序是随机的
    for i in range(0, num_examples, batch_size):
        j = torch.LongTensor(indices[i: min(i + batch_size, num_examples)])  # 最后一次可能不足一个batch
        yield features.index_select(0, j), labels.index_select(0, j)


# In[8] (the seed's)
def linreg(X, w, b):
    return torch.mm(X, w) + b


# In[9] (the seed's)
def squared_loss(y_hat, y):
    return (y_hat - y.view(y_hat.size())) ** 2 / 2


# In[10] (the seed's)
def sgd(params, lr, batch_size):
    for param in params:
        param.data -= lr * param.grad / batch_size  # 注意这里更改param时用的param.data


def replay_shuffle(generator: torch.Generator) -> Callable[[list], None]:
    """A shuffle that pays for ``random.shuffle`` as written, then puts the shared order.

    The shared order is ``torch.randperm(n, generator=generator)``, the order every other
    loop (and minidl's Trainer) draws for the epoch; the replay's ``tolist`` costs about
    a tenth of the shuffle it follows.
    """

    def shuffle(indices: list) -> None:
        random.shuffle(indices)
        indices[:] = torch.randperm(len(indices), generator=generator).tolist()

    return shuffle


def notebook_loop(features: torch.Tensor, labels: torch.Tensor, w0: torch.Tensor, *, batch_size: int,
                  epochs: int, lr: float, seed: int, max_steps: int | None = None) -> float:
    """Cell 11 as written: autograd on the summed loss, ``sgd``, gradients zeroed in place.

    Returns the loss over the whole data after the last epoch (the notebook's ``train_l``).
    """
    generator = torch.Generator().manual_seed(seed)
    w = w0.clone().requires_grad_(True)
    b = torch.zeros(1, dtype=torch.float32, device=w0.device).requires_grad_(True)
    net, loss = linreg, squared_loss
    train_l = float("nan")
    for _epoch in range(epochs):
        for step, (X, y) in enumerate(data_iter(batch_size, features, labels,
                                                shuffle=replay_shuffle(generator)), 1):
            l = loss(net(X, w, b), y).sum()  # noqa: E741 - the notebook's name
            l.backward()
            sgd([w, b], lr, batch_size)
            w.grad.data.zero_()
            b.grad.data.zero_()
            if step == max_steps:
                break
        train_l = loss(net(features, w, b), labels).mean().item()
    return train_l
