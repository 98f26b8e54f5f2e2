"""Evaluation chunks: many small examples per pass, few large images (bounded memory)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from minidl import Trainer, as_dataset
from minidl import evaluation as evaluation_module  # where the chunk sizes are read
from minidl.trainer import EVAL_CHUNK, EVAL_CHUNK_BYTES, eval_chunk


def test_small_examples_go_in_large_chunks_and_images_in_small_ones() -> None:
    assert eval_chunk(torch.zeros(1_000_000, 2)) == EVAL_CHUNK
    images = torch.zeros(10, 3, 224, 224)  # 602,112 bytes an image
    assert eval_chunk(images) == EVAL_CHUNK_BYTES // (3 * 224 * 224 * 4)
    assert eval_chunk(torch.zeros(2, 4096, 4096)) == 1  # never zero


class _Widest(nn.Module):
    """Records the largest batch it is called with."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3 * 32 * 32, 1)
        self.widest = 0

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        self.widest = max(self.widest, len(X))
        return self.linear(X.flatten(1))


def test_evaluation_and_predict_pass_images_in_memory_bounded_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(evaluation_module, "EVAL_CHUNK_BYTES", 5 * 3 * 32 * 32 * 4)  # five images a pass
    X, y = torch.randn(12, 3, 32, 32), torch.randn(12, 1)
    model = _Widest()
    trainer = Trainer(max_epochs=1, batch_size=4, seed=0)
    history = trainer.fit(model, as_dataset(torch.utils.data.TensorDataset(X, y)),
                          nn.MSELoss(reduction="none"), torch.optim.SGD(model.parameters(), lr=0.01))
    assert model.widest == 5
    with torch.no_grad():
        expected = nn.MSELoss()(model(X), y).item()
    assert history[-1]["loss"] == pytest.approx(expected, rel=1e-5)  # chunks weighted into the mean of all 12
    model.widest = 0
    assert trainer.predict(None, X).shape == (12, 1) and model.widest == 5
