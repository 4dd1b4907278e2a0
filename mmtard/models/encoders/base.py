"""The one interface every teacher and student implements: pixels in [0,1] -> unit embedding.

Attacks perturb raw pixels inside an eps-ball, so everything after the pixels (resize, mean/std
normalisation, dtype casts) must live inside the model and be differentiable. Distillation happens
in logit space over a class list, so every encoder also embeds class prompts with its *own* text
tower; those class embeddings are fixed during training and cached on disk.
"""
from __future__ import annotations

import hashlib
import json
import os
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ...checkpoint import tensors_checksum

Template = Union[str, Callable[[str], str]]

_TEXT_BATCH = 256


def render_template(template: Template, classname: str) -> str:
    """``'a photo of a {}.'`` or a callable (open_clip's zero-shot templates) applied to a class name."""
    if callable(template):
        return template(classname)
    if '{}' not in template:
        raise ValueError(f"Prompt template {template!r} has no '{{}}' placeholder for the class name.")
    return template.replace('{}', classname)


class ImageTextEncoder(nn.Module):
    """Base class of every teacher and student.

    Subclasses build their towers, then call :meth:`_set_preprocessing`, and implement
    :meth:`encode_image_features` (normalised pixels at ``image_size`` -> raw features),
    :meth:`text_features` (list of prompts -> raw features) and :meth:`text_parameters`.
    """

    embed_dim: int
    image_size: int
    #: Identifies the architecture in class-embedding cache keys.
    architecture: str
    #: True when the image tower was built without weights (``pretrained`` None or False).
    random_image_tower: bool = False
    #: The logit scale of the weights loaded into it, where a loader knows it (an mmtard checkpoint's).
    carried_logit_scale: Optional[float] = None

    def _set_preprocessing(self, image_size: int, mean: Sequence[float], std: Sequence[float]) -> None:
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f'mean and std need 3 values with std > 0, got mean={tuple(mean)}, std={tuple(std)}.')
        self.image_size = int(image_size)
        # Plain floats, not buffers: they are config, not weights, and must stay float32 under .to(bf16).
        self.pixel_mean, self.pixel_std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        self._normalisation_on: dict = {}

    # -- to implement -------------------------------------------------------------------------
    def encode_image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        """Unnormalised image features from mean/std-normalised pixels at ``image_size``."""
        raise NotImplementedError

    def text_features(self, texts: List[str]) -> torch.Tensor:
        """Unnormalised text features of a batch of prompts."""
        raise NotImplementedError

    def text_parameters(self) -> List[Tuple[str, torch.Tensor]]:
        """Named tensors that determine :meth:`encode_text` (the class-embedding cache key)."""
        raise NotImplementedError

    def weights_logit_scale(self) -> Optional[float]:
        """The zero-shot logit scale the loaded weights carry (the scale an mmtard checkpoint was trained
        at, an open_clip model's trained ``logit_scale``), so an evaluation attacks the logits the model
        was trained with; None when the weights carry none (or none were loaded)."""
        return self.carried_logit_scale

    # -- shared behaviour ---------------------------------------------------------------------
    @property
    def weight_dtype(self) -> torch.dtype:
        return next(self.parameters()).dtype

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised float32 embedding of pixels in [0,1], shape (B,3,H,W)."""
        return F.normalize(self.image_features(images), dim=-1)

    def image_features(self, images: torch.Tensor) -> torch.Tensor:
        """Unnormalised float32 image features of pixels in [0,1] (what FARE's loss compares)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f'{type(self).__name__} expects images of shape (B,3,H,W) with pixels in [0,1], '
                             f'got shape {tuple(images.shape)}.')
        x = images.float()
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode='bilinear',
                              align_corners=False, antialias=False)
        mean, std = self._normalisation(x.device)
        x = (x - mean) / std
        return self.encode_image_features(x.to(self.weight_dtype)).float()

    def _normalisation(self, device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
        """Float32 (1,3,1,1) mean and std on ``device``, made once: a host-to-device copy in every
        forward (dozens per attack) would make the GPU wait for the host each time."""
        if device not in self._normalisation_on:
            self._normalisation_on[device] = (torch.tensor(self.pixel_mean, device=device).view(1, 3, 1, 1),
                                              torch.tensor(self.pixel_std, device=device).view(1, 3, 1, 1))
        return self._normalisation_on[device]

    @torch.no_grad()
    def encode_text(self, texts: List[str]) -> torch.Tensor:
        """L2-normalised float32 embeddings of prompts, computed in batches without gradients."""
        texts = list(texts)
        if not texts:
            raise ValueError('encode_text needs at least one prompt.')
        chunks = [self.text_features(texts[i:i + _TEXT_BATCH]).float() for i in range(0, len(texts), _TEXT_BATCH)]
        return F.normalize(torch.cat(chunks), dim=-1)

    def class_embeddings(self, classnames: Sequence[str], templates: Sequence[Template],
                         cache_dir: Optional[str] = None) -> torch.Tensor:
        """(C, embed_dim) zero-shot weights: per class the re-normalised mean of its prompt embeddings.

        With ``cache_dir`` the result is stored as ``<sha256>.pt``, keyed by architecture, the text
        tower's checksum, class names and rendered templates; training the image tower keeps hits.
        """
        classnames, templates = list(classnames), list(templates)
        if not classnames or not templates:
            raise ValueError(f'class_embeddings needs at least one class name and one template, got '
                             f'{len(classnames)} class names and {len(templates)} templates.')
        path = None
        if cache_dir is not None:
            path = os.path.join(cache_dir, self.class_embedding_cache_key(classnames, templates) + '.pt')
            if os.path.isfile(path):
                return torch.load(path, map_location='cpu', weights_only=True).to(self.device)
        prompts = [render_template(t, c) for c in classnames for t in templates]
        per_prompt = self.encode_text(prompts).view(len(classnames), len(templates), -1)
        weights = F.normalize(per_prompt.mean(dim=1), dim=-1)
        if path is not None:
            os.makedirs(cache_dir, exist_ok=True)
            tmp = f'{path}.{os.getpid()}.tmp'
            torch.save(weights.cpu(), tmp)
            os.replace(tmp, path)  # atomic: concurrent workers never read half a file
        return weights

    def class_embedding_cache_key(self, classnames: Sequence[str], templates: Sequence[Template]) -> str:
        """sha256 naming the cache file of :meth:`class_embeddings`."""
        key = {'architecture': self.architecture, 'text_weights': self.text_weights_checksum(),
               'classnames': list(classnames), 'templates': [render_template(t, '{}') for t in templates]}
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()

    def weights_checksum(self) -> str:
        """sha256 of every weight of the encoder (state dict order), memoised while they are unchanged
        (a frozen ViT-L-14 teacher is checked at every checkpoint save; hashing it takes seconds)."""
        return self._memoised_checksum(list(self.state_dict(keep_vars=True).items()), '_weights_checksum_memo')

    def model_checksum(self) -> str:
        """sha256 of the weights and of what turns pixels into the tower's input (size, mean, std):
        two encoders with equal checksums give equal embeddings, so results keyed by it never mix."""
        preprocessing = [self.architecture, self.image_size, list(self.pixel_mean), list(self.pixel_std)]
        key = [self.weights_checksum(), preprocessing]
        return hashlib.sha256(json.dumps(key).encode()).hexdigest()

    def text_weights_checksum(self) -> str:
        """sha256 of the weights that determine the text embeddings, memoised while they are unchanged."""
        return self._memoised_checksum(self.text_parameters(), '_text_checksum_memo')

    def _memoised_checksum(self, named: List[Tuple[str, torch.Tensor]], slot: str) -> str:
        """:func:`tensors_checksum` of ``named``, recomputed only when a tensor moved or was written to."""
        version = tuple((name, t.data_ptr(), t._version, t.dtype) for name, t in named)
        memo = getattr(self, slot, None)
        if memo is None or memo[0] != version:
            memo = (version, tensors_checksum(named))
            setattr(self, slot, memo)
        return memo[1]
