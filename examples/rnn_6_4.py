"""Book section 6.4, a recurrent neural network from scratch, on minidl.

The book's own code, with ``import d2lzh_pytorch as d2l`` changed to ``import minidl.d2l
as d2l``; the helpers the book saves into ``d2lzh_pytorch`` (``predict_rnn``,
``grad_clipping``, ``train_and_predict_rnn``) come from there, and the training runs on
minidl's Trainer. Then the same model from the command line's components (``minidl
train --dataset jay-lyrics --model rnn-scratch ...``). The corpus is read from
$MINIDL_DATA (or the book's ../../data/); the flags shrink the run for a quick look.

    MINIDL_DATA=../shared/data python examples/rnn_6_4.py [--epochs 250] [--chars 10000]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import nn

import minidl
import minidl.d2l as d2l
from minidl.config import ComponentConfig, RunConfig, TrainSettings

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=250, help="the book's 250")
parser.add_argument("--chars", type=int, default=10_000, help="characters of the corpus to train on (10,000)")
parser.add_argument("--hiddens", type=int, default=256, help="hidden units (256)")
parser.add_argument("--pred-period", type=int, default=50, help="epochs between predictions (50)")
parser.add_argument("--pred-len", type=int, default=50, help="characters per prediction (50)")
args = parser.parse_args()

device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
(corpus_indices, char_to_idx, idx_to_char, vocab_size) = d2l.load_data_jay_lyrics()
corpus_indices = corpus_indices[:args.chars]

# 6.4.1 one-hot vectors
x = torch.tensor([0, 2])
print(d2l.one_hot(x, vocab_size))
X = torch.arange(10).view(2, 5)
inputs = d2l.to_onehot(X, vocab_size)
print(len(inputs), inputs[0].shape)

# 6.4.2 the model's parameters
num_inputs, num_hiddens, num_outputs = vocab_size, args.hiddens, vocab_size
print('will use', device)


def get_params():
    def _one(shape):
        ts = torch.tensor(np.random.normal(0, 0.01, size=shape), device=device, dtype=torch.float32)
        return torch.nn.Parameter(ts, requires_grad=True)

    # 隐藏层参数
    W_xh = _one((num_inputs, num_hiddens))
    W_hh = _one((num_hiddens, num_hiddens))
    b_h = torch.nn.Parameter(torch.zeros(num_hiddens, device=device, requires_grad=True))
    # 输出层参数
    W_hq = _one((num_hiddens, num_outputs))
    b_q = torch.nn.Parameter(torch.zeros(num_outputs, device=device, requires_grad=True))
    return nn.ParameterList([W_xh, W_hh, b_h, W_hq, b_q])


# 6.4.3 the model
def init_rnn_state(batch_size, num_hiddens, device):
    return (torch.zeros((batch_size, num_hiddens), device=device), )


def rnn(inputs, state, params):
    # inputs和outputs皆为num_steps个形状为(batch_size, vocab_size)的矩阵
    W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    for X in inputs:
        H = torch.tanh(torch.matmul(X, W_xh) + torch.matmul(H, W_hh) + b_h)
        Y = torch.matmul(H, W_hq) + b_q
        outputs.append(Y)
    return outputs, (H,)


state = init_rnn_state(X.shape[0], num_hiddens, device)
inputs = d2l.to_onehot(X.to(device), vocab_size)
params = get_params()
outputs, state_new = rnn(inputs, state, params)
print(len(outputs), outputs[0].shape, state_new[0].shape)

# 6.4.4 prediction
print(d2l.predict_rnn('分开', 10, rnn, params, init_rnn_state, num_hiddens, vocab_size,
                      device, idx_to_char, char_to_idx))

# 6.4.7 training: random sampling, then consecutive sampling
num_epochs, num_steps, batch_size, lr, clipping_theta = args.epochs, 35, 32, 1e2, 1e-2
pred_period, pred_len, prefixes = args.pred_period, args.pred_len, ['分开', '不分开']

d2l.train_and_predict_rnn(rnn, get_params, init_rnn_state, num_hiddens,
                          vocab_size, device, corpus_indices, idx_to_char,
                          char_to_idx, True, num_epochs, num_steps, lr,
                          clipping_theta, batch_size, pred_period, pred_len,
                          prefixes)

d2l.train_and_predict_rnn(rnn, get_params, init_rnn_state, num_hiddens,
                          vocab_size, device, corpus_indices, idx_to_char,
                          char_to_idx, False, num_epochs, num_steps, lr,
                          clipping_theta, batch_size, pred_period, pred_len,
                          prefixes)

# The same model from the plugin's components, as `minidl train` builds it (consecutive
# sampling; perplexity over every window after each epoch, each from a fresh state).
print("minidl's Trainer with rnn-scratch:")
config = RunConfig(
    dataset=ComponentConfig("jay-lyrics", {"sampling": "consecutive", "num_chars": args.chars}),
    model=ComponentConfig("rnn-scratch", {"num_hiddens": num_hiddens}),
    loss=ComponentConfig("sequence-cross-entropy"),
    optimizer=ComponentConfig("sgd", {"lr": lr}),
    train=TrainSettings(epochs=num_epochs, batch_size=batch_size, metrics=["perplexity"]),
    callbacks={"grad-clip": {"max_norm": clipping_theta}},
)
minidl.build(config, verbose=True).fit()
