"""Book section 6.7, gated recurrent units, from scratch and concise, on minidl.

The book's own code, with ``import d2lzh_pytorch as d2l`` changed to ``import minidl.d2l
as d2l``: ``train_and_predict_rnn`` and ``train_and_predict_rnn_pytorch`` run on minidl's
Trainer. The corpus is read from $MINIDL_DATA (or the book's ../../data/); the flags
shrink the run for a quick look. The command line trains the same GRU with
``minidl train --dataset jay-lyrics --set dataset.sampling=consecutive --model gru-scratch
--loss sequence-cross-entropy --lr 100 --batch-size 32 --callback grad-clip
--set callback.grad-clip.max_norm=0.01 --metric perplexity --epochs 160 --out runs/gru``
and ``minidl generate runs/gru --prefix 分开`` continues a prefix with it.

    MINIDL_DATA=../shared/data python examples/gru_6_7.py [--epochs 160] [--chars 10000]
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from torch import nn

import minidl.d2l as d2l

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=160, help="the book's 160")
parser.add_argument("--chars", type=int, default=10_000, help="characters of the corpus to train on (10,000)")
parser.add_argument("--hiddens", type=int, default=256, help="hidden units (256)")
parser.add_argument("--pred-period", type=int, default=40, help="epochs between predictions (40)")
parser.add_argument("--pred-len", type=int, default=50, help="characters per prediction (50)")
args = parser.parse_args()

device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
(corpus_indices, char_to_idx, idx_to_char, vocab_size) = d2l.load_data_jay_lyrics()
corpus_indices = corpus_indices[:args.chars]

# 6.7.2 from scratch
num_inputs, num_hiddens, num_outputs = vocab_size, args.hiddens, vocab_size
print('will use', device)


def get_params():
    def _one(shape):
        ts = torch.tensor(np.random.normal(0, 0.01, size=shape), device=device, dtype=torch.float32)
        return torch.nn.Parameter(ts, requires_grad=True)

    def _three():
        return (_one((num_inputs, num_hiddens)),
                _one((num_hiddens, num_hiddens)),
                torch.nn.Parameter(torch.zeros(num_hiddens, device=device, dtype=torch.float32), requires_grad=True))

    W_xz, W_hz, b_z = _three()  # 更新门参数
    W_xr, W_hr, b_r = _three()  # 重置门参数
    W_xh, W_hh, b_h = _three()  # 候选隐藏状态参数

    # 输出层参数
    W_hq = _one((num_hiddens, num_outputs))
    b_q = torch.nn.Parameter(torch.zeros(num_outputs, device=device, dtype=torch.float32), requires_grad=True)
    return nn.ParameterList([W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q])


def init_gru_state(batch_size, num_hiddens, device):
    return (torch.zeros((batch_size, num_hiddens), device=device), )


def gru(inputs, state, params):
    W_xz, W_hz, b_z, W_xr, W_hr, b_r, W_xh, W_hh, b_h, W_hq, b_q = params
    H, = state
    outputs = []
    for X in inputs:
        Z = torch.sigmoid(torch.matmul(X, W_xz) + torch.matmul(H, W_hz) + b_z)
        R = torch.sigmoid(torch.matmul(X, W_xr) + torch.matmul(H, W_hr) + b_r)
        H_tilda = torch.tanh(torch.matmul(X, W_xh) + torch.matmul(R * H, W_hh) + b_h)
        H = Z * H + (1 - Z) * H_tilda
        Y = torch.matmul(H, W_hq) + b_q
        outputs.append(Y)
    return outputs, (H,)


num_epochs, num_steps, batch_size, lr, clipping_theta = args.epochs, 35, 32, 1e2, 1e-2
pred_period, pred_len, prefixes = args.pred_period, args.pred_len, ['分开', '不分开']

d2l.train_and_predict_rnn(gru, get_params, init_gru_state, num_hiddens,
                          vocab_size, device, corpus_indices, idx_to_char,
                          char_to_idx, False, num_epochs, num_steps, lr,
                          clipping_theta, batch_size, pred_period, pred_len,
                          prefixes)

# 6.7.3 concise
lr = 1e-2  # 注意调整学习率
gru_layer = nn.GRU(input_size=vocab_size, hidden_size=num_hiddens)
model = d2l.RNNModel(gru_layer, vocab_size).to(device)
d2l.train_and_predict_rnn_pytorch(model, num_hiddens, vocab_size, device,
                                  corpus_indices, idx_to_char, char_to_idx,
                                  num_epochs, num_steps, lr, clipping_theta,
                                  batch_size, pred_period, pred_len, prefixes)
