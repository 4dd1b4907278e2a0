"""A toy classifier and synthetic data for the attack tests (CPU, seconds to build).

A module of its own, not conftest: `from conftest import` would pick whichever package's conftest
pytest imported first.
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor, nn

N_CLASSES = 10


def make_data(n: int, seed: int) -> Tuple[Tensor, Tensor]:
    """3x8x8 images in [0,1]: one fixed random prototype per class (pixels in [0.4, 0.6]) plus pixel
    noise, close enough that eps = 8/255 breaks about half of the samples of a trained MLP."""
    prototypes = torch.rand(N_CLASSES, 3, 8, 8, generator=torch.Generator().manual_seed(1234)) * 0.2 + 0.4
    gen = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, N_CLASSES, (n,), generator=gen)
    images = (prototypes[labels] + 0.2 * torch.randn(n, 3, 8, 8, generator=gen)).clamp(0, 1)
    return images, labels


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 64), nn.ReLU(), nn.Linear(64, N_CLASSES))


def train_toy() -> Tuple[nn.Module, Tensor, Tensor]:
    """An MLP trained for about a second, and 256 held-out samples."""
    model = make_model()
    images, labels = make_data(4096, seed=1)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(2)
    for _ in range(300):
        batch = torch.randint(0, len(images), (128,), generator=gen)
        loss = nn.functional.cross_entropy(model(images[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    test_images, test_labels = make_data(256, seed=3)
    return model, test_images, test_labels
