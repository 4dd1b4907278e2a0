"""Students whose image backbone has no text side, paired with a frozen open_clip text tower.

Zero-shot classification needs text embeddings, which an ImageNet backbone (timm, torchvision, ...)
lacks: the student borrows the text tower of an open_clip model (kept frozen, image tower dropped)
and learns a linear projection from the backbone's pooled features to that tower's embedding width.
:class:`PairedTextTowerEncoder` does this pairing once, so a new backbone family only builds its
backbone (docs/interfaces.md, "A student backbone family").
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Tuple

import open_clip
import torch
from torch import nn

from mmtard.errors import ConfigError

from .base import ImageTextEncoder
from .open_clip_encoder import create_open_clip, open_clip_tokenizer


class PairedTextTowerEncoder(ImageTextEncoder):
    """Base class of students made of an image backbone and a projection into the embedding space of
    a frozen open_clip text tower.

    A subclass calls ``super().__init__(text_tower)`` first (the text tower's config is checked before
    anything is built), builds its backbone, calls :meth:`_pair_text_tower` with the backbone's
    feature width and ``_set_preprocessing`` with its pixel normalisation, and implements
    :meth:`backbone_features`. The state dict then holds the backbone, ``text.*`` and ``proj.weight``.

    Args:
        text_tower: open_clip text side, ``dict(arch='ViT-B-32', pretrained='openai')``; accepts the
            weight options of :class:`OpenCLIPEncoder` (``prefix``, ``text_pretrained``, ``quick_gelu``).
    """

    def __init__(self, text_tower: Mapping[str, Any]) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(text_tower, Mapping) or 'arch' not in text_tower:
            raise ConfigError(f"{name} needs text_tower=dict(arch=..., pretrained=...), got {text_tower!r}.")
        if 'lora' in text_tower:
            raise ConfigError('text_tower takes no lora=: the text tower is frozen.')
        self._text_cfg: Dict[str, Any] = dict(text_tower)

    def _pair_text_tower(self, feature_dim: int) -> None:
        """Build the frozen text tower and the projection from ``feature_dim`` backbone features."""
        arch = self._text_cfg['arch']
        self.text, text_preprocess = create_open_clip(**self._text_cfg)
        del self.text.visual  # only the text side is used; keeps memory and checkpoints small
        self.text.requires_grad_(False)
        self.embed_dim = int(open_clip.get_model_config(arch)['embed_dim'])
        self.proj = nn.Linear(feature_dim, self.embed_dim, bias=False)
        self.architecture = f'open_clip:{arch}' + (':quickgelu' if text_preprocess['quick_gelu'] else '')
        self.tokenizer = open_clip_tokenizer(arch)

    # -- to implement -------------------------------------------------------------------------
    def backbone_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pooled ``(B, feature_dim)`` backbone features of mean/std-normalised pixels."""
        raise NotImplementedError

    # -- the encoder interface ----------------------------------------------------------------
    def encode_image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.proj(self.backbone_features(pixels))

    def text_features(self, texts: List[str]) -> torch.Tensor:
        return self.text.encode_text(self.tokenizer(texts).to(self.device))

    def text_parameters(self) -> List[Tuple[str, torch.Tensor]]:
        return list(self.text.state_dict(keep_vars=True).items())
