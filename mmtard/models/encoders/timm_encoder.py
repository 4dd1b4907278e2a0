"""Any timm backbone as a student, projected into the embedding space of a frozen CLIP text tower.

Zero-shot classification needs text embeddings, which a timm backbone lacks: the pairing with a
frozen open_clip text tower is :class:`~.paired_text_tower.PairedTextTowerEncoder`'s. Its pixel
normalisation is the backbone's own (timm ``pretrained_cfg``), not CLIP's.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import timm
import torch
from torch import nn

from mmtard.errors import CheckpointError, ConfigError, did_you_mean
from mmtard.registry import STUDENTS

from ...checkpoint import WRAPPER_PREFIXES, load_exact, load_state_dict_file, strip_prefixes
from .lora import apply_lora, is_lora_key
from ..precision import precision_dtype
from .paired_text_tower import PairedTextTowerEncoder
from .fast_equivalents import use_fast_equivalents

#: LoRA targets of timm ViT attention: fused ``qkv`` and output ``proj`` linears.
TIMM_LORA_TARGETS = ('qkv', 'proj')


def _create_trunk(arch: str, pretrained: bool, image_size: Optional[int]) -> nn.Module:
    if not timm.is_model(arch):
        raise ConfigError(f'{arch!r} is not a timm model.{did_you_mean(arch, timm.list_models())} '
                          f'`timm.list_models("pattern*")` lists them.')
    kwargs: Dict[str, Any] = {'num_classes': 0}
    if image_size is not None and timm.get_pretrained_cfg(arch).fixed_input_size:
        kwargs['img_size'] = image_size  # position embeddings are sized at build time
    try:
        return timm.create_model(arch, pretrained=pretrained, **kwargs)
    except Exception as err:
        if not pretrained:
            raise
        raise CheckpointError(
            f'The pretrained weights of timm model {arch!r} could not be downloaded ({type(err).__name__}: '
            f'{err}). Without internet, download them elsewhere and pass the local file as pretrained=.') from err


def _classifier_names(trunk: nn.Module) -> Tuple[str, ...]:
    heads = trunk.pretrained_cfg.get('classifier') or ()
    return (heads,) if isinstance(heads, str) else tuple(heads)


def _drop_classifier(state: Dict[str, torch.Tensor], trunk: nn.Module) -> Dict[str, torch.Tensor]:
    """Remove the classification head of an ImageNet checkpoint: the student replaces it by ``proj``."""
    heads = _classifier_names(trunk)
    return {k: v for k, v in state.items() if not any(k.startswith(h + '.') for h in heads)}


def _exported_projection(state: Dict[str, torch.Tensor], trunk: nn.Module,
                         proj: nn.Linear) -> Optional[torch.Tensor]:
    """The projection an ``mmtard export --format timm`` file carries as the trunk's classifier (the
    embedding width as classes, zero bias); None for an ImageNet head, which the student replaces."""
    for head in _classifier_names(trunk):
        weight, bias = state.get(f'{head}.weight'), state.get(f'{head}.bias')
        if weight is not None and weight.shape == proj.weight.shape and (bias is None or not bias.any()):
            return weight
    return None


@STUDENTS.register_module()
class TimmEncoder(PairedTextTowerEncoder):
    """A timm image backbone + linear projection, paired with a frozen open_clip text tower.

    Args:
        arch: timm model name (``resnet50``, ``vit_base_patch32_224``, ``convnext_tiny``, ``test_vit``).
        text_tower: open_clip text side, ``dict(arch='ViT-B-32', pretrained='openai')``; accepts
            the weight options of :class:`OpenCLIPEncoder` (``prefix``, ``text_pretrained``, ``quick_gelu``).
        pretrained: ``False`` or ``None`` (random), ``True`` (timm's download) or a local file: a timm
            state dict of the backbone, a ``mmtard export --format timm`` file (its classifier is the
            projection), or a checkpoint of a whole TimmEncoder (mmtard training output).
        prefix: sub-model of an mmengine checkpoint, default ``student``.
        image_size: input size; default from timm's ``pretrained_cfg``.
        lora: LoRA options (see :func:`~mmtard.models.encoders.lora.apply_lora`) for ViT backbones;
            default targets ``qkv`` and ``proj``. The projection always trains.
        precision: weight dtype ``'fp32'``, ``'bf16'`` or ``'fp16'``; outputs are float32.
        mean, std: override timm's pixel normalisation.
        grad_checkpointing: recompute the trunk's blocks in the backward pass instead of storing
            their activations (timm's ``set_grad_checkpointing``; less memory, about one more forward).
    """

    def __init__(self, arch: str, text_tower: Mapping[str, Any], pretrained: Union[bool, str, None] = False,
                 prefix: Optional[str] = None, image_size: Optional[int] = None,
                 lora: Optional[Mapping[str, Any]] = None, precision: str = 'fp32',
                 mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
                 grad_checkpointing: bool = False) -> None:
        dtype = precision_dtype(precision, 'TimmEncoder')
        super().__init__(text_tower)
        self.trunk = _create_trunk(arch, pretrained is True, image_size)
        self.random_image_tower = pretrained in (False, None)
        self._pair_text_tower(self.trunk.num_features)
        if lora is not None:
            apply_lora(self.trunk, **{'target_modules': TIMM_LORA_TARGETS, **lora})
        if grad_checkpointing:
            self.trunk.set_grad_checkpointing(True)
        use_fast_equivalents(self.trunk)
        if isinstance(pretrained, str):
            self._load_file(pretrained, prefix)
        cfg = self.trunk.pretrained_cfg
        self._set_preprocessing(image_size or cfg['input_size'][-1], mean or cfg['mean'], std or cfg['std'])
        self.to(dtype)

    def _load_file(self, path: str, prefix: Optional[str]) -> None:
        state = strip_prefixes(load_state_dict_file(path, prefix=prefix), WRAPPER_PREFIXES)
        has_lora = any(is_lora_key(k) for k in state)
        hint = 'The file holds LoRA adapters: build the encoder with the same lora=dict(...).' if has_lora else ''
        if any(k.startswith('trunk.') for k in state):  # a whole TimmEncoder, e.g. mmtard's training output
            load_exact(self, state, f'TimmEncoder checkpoint {path!r}', hint=hint,
                       may_be_missing=lambda k: is_lora_key(k) and not has_lora)
        else:
            load_exact(self.trunk, _drop_classifier(state, self.trunk), f'timm backbone weights {path!r}', hint=hint,
                       may_be_missing=lambda k: is_lora_key(k) and not has_lora)
            projection = _exported_projection(state, self.trunk, self.proj)
            if projection is not None:
                with torch.no_grad():
                    self.proj.weight.copy_(projection)

    def backbone_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.trunk(pixels)
