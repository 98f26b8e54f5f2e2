"""A procedurally generated 28x28 image set: ten stroke shapes drawn at random places.

Same tensors as Fashion-MNIST, (N, 1, 28, 28) floats in [0, 1] and labels 0..9, so the
chapter's models and plots apply unchanged; drawn from torch's RNG (the run's seed),
with nothing to download.
"""

from __future__ import annotations

import torch

SHAPES_LABELS = ("hline", "vline", "diagonal", "antidiagonal", "plus",
                 "x-cross", "square", "circle", "disk", "triangle")
SIZE = 28  # pixels per side, as Fashion-MNIST
DEFAULT_JITTER, DEFAULT_NOISE = 2.5, 0.2  # the shapes dataset's defaults
STAND_IN_TRAIN, STAND_IN_TEST = 6000, 1000  # Fashion-MNIST's offline stand-in (load_data_fashion_mnist)


def _masks(label: int, dx: torch.Tensor, dy: torch.Tensor, s: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The pixels of shape ``label`` for offsets ``dx``, ``dy`` (n, 28, 28) from the centres,
    half-sizes ``s`` and half-thicknesses ``t`` (n, 1, 1)."""
    ax, ay = dx.abs(), dy.abs()

    def h() -> torch.Tensor:
        return (ay < t) & (ax <= s)

    def v() -> torch.Tensor:
        return (ax < t) & (ay <= s)

    def d() -> torch.Tensor:
        return ((dx - dy).abs() < 1.4 * t) & (ax <= s)

    def a() -> torch.Tensor:
        return ((dx + dy).abs() < 1.4 * t) & (ax <= s)

    def r() -> torch.Tensor:
        return torch.sqrt(dx**2 + dy**2)

    def ring() -> torch.Tensor:
        return torch.maximum(ax, ay)

    shapes = {  # each computes only its own mask: a tenth of the work of computing them all
        0: h, 1: v, 2: d, 3: a, 4: lambda: h() | v(), 5: lambda: d() | a(),
        6: lambda: (ring() <= s) & (ring() > s - 2 * t),
        7: lambda: (r() - s).abs() < t,
        8: lambda: r() <= s,
        9: lambda: (ay <= s) & (2 * ax <= dy + s),
    }
    return shapes[label]()


def make_shapes(num_examples: int, jitter: float = DEFAULT_JITTER, noise: float = DEFAULT_NOISE,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``num_examples`` images (n, 1, 28, 28) and their labels (n,), classes balanced."""
    y = torch.randperm(num_examples, generator=generator) % len(SHAPES_LABELS)  # (n,)

    def uniform(low: float, high: float) -> torch.Tensor:
        return low + (high - low) * torch.rand(num_examples, 1, 1, generator=generator)

    centre = (SIZE - 1) / 2
    cx, cy = uniform(centre - jitter, centre + jitter), uniform(centre - jitter, centre + jitter)
    s, t = uniform(5.0, 9.0), uniform(0.8, 1.6)  # half-size, half-thickness (pixels)
    grid = torch.arange(SIZE, dtype=torch.float32)
    dx, dy = grid.view(1, 1, SIZE) - cx, grid.view(1, SIZE, 1) - cy  # (n, 1, 28), (n, 28, 1)
    dx, dy = dx.expand(-1, SIZE, -1), dy.expand(-1, -1, SIZE)
    X = torch.zeros(num_examples, SIZE, SIZE)
    for label in range(len(SHAPES_LABELS)):
        rows = (y == label).nonzero().squeeze(1)
        X[rows] = _masks(label, dx[rows], dy[rows], s[rows], t[rows]).float()
    X *= uniform(0.6, 1.0)  # ink intensity
    X += noise * torch.randn(X.shape, generator=generator)
    return X.clamp_(0, 1).unsqueeze(1), y
