"""Zero-shot classification head: image embeddings against fixed class-text embeddings, the one
head of training, validation and evaluation (:func:`zero_shot_logits`).

Every teacher and the student classify with their *own* text tower's class embeddings, so their
logits live over the same classes even when their embedding spaces differ.
"""
from __future__ import annotations

import torch
from torch import nn

from .encoders.base import ImageTextEncoder


def zero_shot_logits(embeddings: torch.Tensor, class_embeddings: torch.Tensor, logit_scale: float) -> torch.Tensor:
    """``logit_scale * f(x) W^T`` in fp32 even under autocast: at scale 100, bf16 would round logits to
    steps of 0.25-0.5 in every KL term, weight and attack objective."""
    with torch.autocast(embeddings.device.type, enabled=False):
        return logit_scale * (embeddings.float() @ class_embeddings.float().t())


class ZeroShotClassifier(nn.Module):
    """``logit_scale * f(x) @ W.T`` for an encoder ``f`` and class embeddings ``W`` (C, embed_dim).

    ``W`` is a non-persistent buffer: it is derived from the text tower and the class list, so it
    follows the module across devices but is not written into checkpoints.
    """

    def __init__(self, encoder: ImageTextEncoder, class_embeddings: torch.Tensor, logit_scale: float = 100.) -> None:
        super().__init__()
        if class_embeddings.dim() != 2 or class_embeddings.shape[1] != encoder.embed_dim:
            raise ValueError(f'class_embeddings must have shape (num_classes, {encoder.embed_dim}) to match the '
                             f'encoder, got {tuple(class_embeddings.shape)}. Compute them with the same encoder: '
                             f'encoder.class_embeddings(classnames, templates).')
        self.encoder = encoder
        self.logit_scale = float(logit_scale)
        self.register_buffer('class_embeddings', class_embeddings.detach().float(), persistent=False)

    @property
    def num_classes(self) -> int:
        return self.class_embeddings.shape[0]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, num_classes) logits of pixels in [0,1]."""
        return zero_shot_logits(self.encoder(images), self.class_embeddings, self.logit_scale)
