"""A teacher that cannot be trained by accident.

Teachers sit inside the distiller, so optimizers, ``model.train()`` and mmengine's wrappers all
reach them. FrozenTeacher pins them: no gradients, eval mode (dropout and batch-norm statistics
frozen) whatever ``train()`` is called with, and no autograd graph during forward.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from .encoders.base import ImageTextEncoder, Template
from .precision import precision_dtype


class FrozenTeacher(nn.Module):
    """Wraps an :class:`ImageTextEncoder` as a frozen teacher; outputs are float32.

    ``precision='bf16'`` stores the weights in bfloat16 (half the memory of a large teacher) and
    still returns float32 embeddings. ``config`` is the encoder config the teacher was built from:
    checkpoints record it with a checksum of the weights instead of the weights themselves.
    """

    def __init__(self, encoder: ImageTextEncoder, precision: str = 'fp32', config: Optional[dict] = None) -> None:
        super().__init__()
        self.config = config
        self.encoder = encoder.to(precision_dtype(precision, 'FrozenTeacher'))
        self.encoder.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> 'FrozenTeacher':
        """Stay in eval mode: a teacher's dropout and normalisation statistics never change."""
        return super().train(False)

    @property
    def embed_dim(self) -> int:
        return self.encoder.embed_dim

    @property
    def image_size(self) -> int:
        return self.encoder.image_size

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised float32 embeddings, computed without gradients."""
        with torch.no_grad():
            return self.encoder(images).float()

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """Unnormalised float32 image features, computed without gradients."""
        with torch.no_grad():
            return self.encoder.image_features(images).float()

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        return self.encoder.encode_text(list(texts))

    def class_embeddings(self, classnames: Sequence[str], templates: Sequence[Template],
                         cache_dir: Optional[str] = None) -> torch.Tensor:
        return self.encoder.class_embeddings(classnames, templates, cache_dir=cache_dir)

    def weights_checksum(self) -> str:
        return self.encoder.weights_checksum()
