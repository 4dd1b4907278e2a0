"""CLIP-style teachers and students from open_clip, with weights from a tag, the HF hub or a file.

Architecture and weights are separate arguments, as in open_clip (``arch='ViT-B-32'`` +
``pretrained='openai'``), so one config line swaps either. The model is always built with random
weights first and the weights are then loaded by mmtard itself, strictly: open_clip's own loader
quietly resizes position embeddings and converts formats, which would hide a wrong checkpoint.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple
from urllib.parse import urlparse

import open_clip
import torch
from open_clip import pretrained as open_clip_pretrained
from open_clip.transformer import VisionTransformer
from torch import nn

from mmtard.errors import CheckpointError, ConfigError, did_you_mean
from mmtard.registry import STUDENTS, TEACHERS

from .base import ImageTextEncoder
from ...checkpoint import (WRAPPER_PREFIXES, StateDict, is_weight_file_path, load_exact, load_state_dict_file,
                           state_mismatch, strip_prefixes)
from ...hub import HUB_PREFIX, WEIGHT_FILES, hub_file, url_reachable
from ...value_checks import is_positive_number
from ..precision import precision_dtype
from .lora import apply_lora, is_lora_key
from .fast_equivalents import use_fast_equivalents

#: mmtard's tiny architectures (``mmtard-tiny-vit``, ``mmtard-tiny-rn``) for tests and demos.
MODEL_CONFIG_DIR = Path(__file__).resolve().parents[2] / 'model_configs'
open_clip.add_model_config(MODEL_CONFIG_DIR)

class _DropRandomInitWarning(logging.Filter):
    """open_clip warns 'initialized randomly' although mmtard loads the weights right after."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith('No pretrained weights loaded')


@contextlib.contextmanager
def _quiet_random_init() -> Iterator[None]:
    root, log_filter = logging.getLogger(), _DropRandomInitWarning()
    root.addFilter(log_filter)
    try:
        yield
    finally:
        root.removeFilter(log_filter)


def _download(fetch: Callable[[], str], what: str) -> str:
    """Run an open_clip download; any failure becomes one actionable CheckpointError."""
    try:
        path = fetch()
    except Exception as err:  # urllib, requests, httpx and huggingface_hub raise unrelated types
        raise CheckpointError(
            f'The weights {what} could not be downloaded ({type(err).__name__}: {err}). Without internet, '
            f'download the weight file elsewhere and point `pretrained=` at the local .pt/.bin/.safetensors '
            f'file (open_clip / OpenAI state dicts, vision-only FARE/TeCoA dicts and mmtard checkpoints work).'
        ) from err
    if not path or not os.path.isfile(path):
        raise CheckpointError(f'Downloading the weights {what} produced no file; point `pretrained=` at a local file.')
    return path


def tag_file(arch: str, tag: str, tag_cfg: Dict[str, Any]) -> str:
    """The weight file of an open_clip tag: from the Hugging Face cache, else downloaded; offline (or
    with HF_HUB_OFFLINE set) a clear error within seconds, naming the command that fetches it, instead
    of a minute of retries."""
    what = f'The weights of open_clip tag {arch!r} + {tag!r}:'
    if tag_cfg.get('hf_hub'):
        repo, filename = os.path.split(tag_cfg['hf_hub'])
        advice = (f'On a machine with internet run `huggingface-cli download {repo}` (or `python -c "import open_clip; '
                  f'open_clip.create_model({arch!r}, pretrained={tag!r})"`), then copy the Hugging Face cache '
                  f'(~/.cache/huggingface) here, or pass the downloaded file as --pretrained FILE.')
        return hub_file(repo, [filename] if filename else WEIGHT_FILES, what[:-1], advice)
    url = tag_cfg.get('url', '')
    if url and not url_reachable(url):
        raise CheckpointError(f'{what} {urlparse(url).hostname} cannot be reached from this machine. Download {url} '
                              f'on a machine with internet and pass the file as --pretrained FILE (pretrained=).')
    return _download(lambda: open_clip_pretrained.download_pretrained(tag_cfg), f'for open_clip tag {arch!r} + {tag!r}')


def _resolve_weights(arch: str, pretrained: str) -> Tuple[str, Dict[str, Any]]:
    """(local file, open_clip tag config or {}) for a tag, ``hf-hub:org/name`` or a path."""
    if os.path.isfile(pretrained):
        return pretrained, {}
    if pretrained.startswith(HUB_PREFIX):
        return hub_file(pretrained[len(HUB_PREFIX):], WEIGHT_FILES, 'The weights'), {}
    tag_cfg = open_clip_pretrained.get_pretrained_cfg(arch, pretrained)
    if tag_cfg:
        return tag_file(arch, pretrained, tag_cfg), tag_cfg
    if is_weight_file_path(pretrained):
        raise CheckpointError(f'Checkpoint file {pretrained!r} does not exist (pretrained= of {arch!r}).')
    tags = open_clip_pretrained.list_pretrained_tags_by_model(arch)
    raise CheckpointError(
        f'{pretrained!r} is neither a file nor an open_clip weight tag of {arch!r}.{did_you_mean(pretrained, tags)} '
        f'Tags of {arch!r}: {", ".join(tags) or "none"}; or use hf-hub:org/name, or a local file path.')


def tag_settings(arch: str, pretrained: Any) -> Dict[str, Any]:
    """The QuickGELU flag and pixel normalisation an open_clip weight tag implies (``{}`` for files and
    hf-hub ids), read without downloading: to rebuild an encoder's architecture without its weights."""
    if not isinstance(pretrained, str) or os.path.isfile(pretrained) or pretrained.startswith(HUB_PREFIX):
        return {}
    tag_cfg = open_clip_pretrained.get_pretrained_cfg(arch, pretrained) or {}
    return {key: tag_cfg[key] for key in ('quick_gelu', 'mean', 'std') if key in tag_cfg}


def _split_vision(state: StateDict) -> Tuple[StateDict, StateDict]:
    """(vision part without ``visual.``, text part); a dict without any ``visual.`` key is vision-only."""
    if not any(k.startswith('visual.') for k in state):
        return dict(state), {}
    vision = {k[len('visual.'):]: v for k, v in state.items() if k.startswith('visual.')}
    return vision, {k: v for k, v in state.items() if not k.startswith('visual.')}


def _load_text_part(model: nn.Module, text: StateDict, source: str) -> None:
    if 'logit_scale' in text and text['logit_scale'].shape != model.logit_scale.shape:
        text['logit_scale'] = text['logit_scale'].reshape(model.logit_scale.shape)  # scalar vs 1-d, both exist
    load_exact(model, text, source, may_be_missing=lambda k: k.startswith('visual.'))


def load_open_clip_weights(model: nn.Module, path: str, source: str, prefix: Optional[str] = None,
                           text_path: Optional[str] = None) -> None:
    """Load a weight file (and, for a vision-only one, a text-tower file) into an open_clip model exactly."""
    vision, text = _split_vision(strip_prefixes(load_state_dict_file(path, prefix=prefix), WRAPPER_PREFIXES))
    described = f'{source} weights {path!r}'
    has_lora_weights = any(is_lora_key(k) for k in vision)
    lora_hint = ('The file holds LoRA adapters: build the encoder with the same lora=dict(...).'
                 if has_lora_weights else '')

    def may_lack(key: str) -> bool:  # fresh adapters on top of base weights
        return is_lora_key(key) and not has_lora_weights

    if not text:
        mismatch = state_mismatch(vision, model.visual.state_dict(), may_lack)
        if mismatch is not None:  # before calling it an image tower: a ResNet-18 has conv1 and bn1 too
            raise CheckpointError(
                f'{described} fit neither a full CLIP nor a vision-only image tower of this architecture (the '
                f'file has no `visual.` keys): {mismatch}. Check that the file holds CLIP weights for this arch.'
                f'{" " + lora_hint if lora_hint else ""}')
        if text_path is None:
            raise CheckpointError(
                f'{described} hold only an image tower (vision-only, FARE/TeCoA style), so the text tower '
                f'would stay random. Pass text_pretrained= with the CLIP it was fine-tuned from (an open_clip '
                f'tag such as "openai", hf-hub:org/name, or a full state-dict file).')
        _, text = _split_vision(strip_prefixes(load_state_dict_file(text_path), WRAPPER_PREFIXES))
        if not text:
            raise CheckpointError(f'text_pretrained file {text_path!r} holds no text tower (no non-`visual.` keys).')
        described_text = f'{source} text_pretrained {text_path!r}'
    elif text_path is not None:
        raise ConfigError(f'{described} already contain a text tower; text_pretrained= only applies to '
                          f'vision-only checkpoints. Remove one of the two.')
    else:
        described_text = described
    _load_text_part(model, text, described_text)
    load_exact(model.visual, vision, f'{described} (image tower)', hint=lora_hint, may_be_missing=may_lack)


def create_open_clip(arch: str, pretrained: Optional[str] = None, prefix: Optional[str] = None,
                     text_pretrained: Optional[str] = None, quick_gelu: Optional[bool] = None,
                     lora: Optional[Mapping[str, Any]] = None) -> Tuple[nn.Module, Dict[str, Any]]:
    """An open_clip model with exactly-loaded weights, and its preprocessing config (mean, std)."""
    if arch not in open_clip.list_models():
        raise ConfigError(f'{arch!r} is not an open_clip architecture.{did_you_mean(arch, open_clip.list_models())} '
                          f'Weight tags go in pretrained=, not in arch=.')
    if text_pretrained is not None and pretrained is None:
        raise ConfigError('text_pretrained= needs a vision-only checkpoint in pretrained=.')
    # Fetch files before building: an offline download fails fast, before a large model is allocated.
    path, tag_cfg = _resolve_weights(arch, str(pretrained)) if pretrained is not None else (None, {})
    text_path = _resolve_weights(arch, str(text_pretrained))[0] if text_pretrained is not None else None
    if quick_gelu is None:
        quick_gelu = bool(tag_cfg.get('quick_gelu', False))
    with _quiet_random_init():
        model = open_clip.create_model(arch, pretrained=None, force_quick_gelu=quick_gelu)
    if lora is not None:
        if not isinstance(model.visual, VisionTransformer):
            raise ConfigError(f'LoRA is implemented for ViT image towers; {arch!r} has a '
                              f'{type(model.visual).__name__}. Drop lora= or pick a ViT architecture.')
        try:
            apply_lora(model.visual, **lora)
        except TypeError as err:
            raise ConfigError(f'Bad lora= options {dict(lora)!r}: {err}. '
                              f'Valid: r, alpha, dropout, target_modules.') from None
    if path is not None:
        load_open_clip_weights(model, path, f'open_clip {arch!r}', prefix=prefix, text_path=text_path)
    preprocess = dict(model.visual.preprocess_cfg)
    preprocess.update({k: tag_cfg[k] for k in ('mean', 'std') if k in tag_cfg})
    preprocess['quick_gelu'] = bool(quick_gelu or open_clip.get_model_config(arch).get('quick_gelu', False))
    return model, preprocess


@functools.lru_cache(maxsize=None)
def open_clip_tokenizer(arch: str) -> Callable[[List[str]], torch.Tensor]:
    """open_clip's tokenizer of ``arch``, built once per process (reading the BPE vocabulary is slow)."""
    return open_clip.get_tokenizer(arch)


def _square_size(size: Any, arch: str) -> int:
    height, width = (size, size) if isinstance(size, int) else tuple(size)
    if height != width:
        raise ConfigError(f'{arch!r} expects non-square {height}x{width} images; mmtard encoders take square inputs.')
    return int(height)


@TEACHERS.register_module()
@STUDENTS.register_module()
class OpenCLIPEncoder(ImageTextEncoder):
    """An open_clip CLIP model as teacher or student; only its image tower is ever trained.

    Args:
        arch: open_clip architecture (``open_clip.list_models()``), e.g. ``ViT-B-32``, ``RN50``,
            ``mmtard-tiny-vit``.
        pretrained: ``None`` (random), an open_clip tag (``'openai'``), ``'hf-hub:org/name'`` (that
            repository's open_clip weight file; ``arch`` must still name its architecture), or a
            local ``.pt/.pth/.bin/.safetensors`` file: a full CLIP state dict, a vision-only one
            (keys with or without ``visual.``; then ``text_pretrained`` gives the text tower), or an
            mmengine checkpoint written by mmtard (its ``student`` sub-model unless ``prefix``).
        prefix: sub-model of an mmengine checkpoint to load, e.g. ``'teacher'``.
        text_pretrained: full CLIP weights supplying the text tower of a vision-only checkpoint.
        quick_gelu: force QuickGELU. ``None`` follows the tag; OpenAI-derived files (TeCoA, FARE,
            PMG-AFT) need ``True`` or a ``-quickgelu`` architecture.
        lora: ``dict(r=16, alpha=16, dropout=0.1, target_modules=('qkv', 'out_proj'))`` to train
            only LoRA adapters of a ViT image tower.
        freeze_text: keep the text tower (and logit scale) frozen, as distillation requires.
        precision: weight dtype, ``'fp32'``, ``'bf16'`` or ``'fp16'``; outputs are always float32.
        mean, std: override the pixel normalisation of the weights' config.
        grad_checkpointing: recompute the image tower's transformer blocks in the backward pass
            instead of storing their activations (ViT towers; less memory, about one more forward).
    """

    def __init__(self, arch: str = 'ViT-B-32', pretrained: Optional[str] = None, prefix: Optional[str] = None,
                 text_pretrained: Optional[str] = None, quick_gelu: Optional[bool] = None,
                 lora: Optional[Mapping[str, Any]] = None, freeze_text: bool = True, precision: str = 'fp32',
                 mean: Optional[Sequence[float]] = None, std: Optional[Sequence[float]] = None,
                 grad_checkpointing: bool = False) -> None:
        super().__init__()
        dtype = precision_dtype(precision, 'OpenCLIPEncoder')
        self.model, preprocess = create_open_clip(arch, pretrained, prefix=prefix, text_pretrained=text_pretrained,
                                                  quick_gelu=quick_gelu, lora=lora)
        self.arch, self.quick_gelu = arch, preprocess['quick_gelu']
        self.architecture = f'open_clip:{arch}' + (':quickgelu' if self.quick_gelu else '')
        self.random_image_tower = pretrained is None
        self.embed_dim = int(open_clip.get_model_config(arch)['embed_dim'])
        self._set_preprocessing(_square_size(self.model.visual.image_size, arch),
                                mean or preprocess['mean'], std or preprocess['std'])
        self.tokenizer = open_clip_tokenizer(arch)
        if grad_checkpointing:
            if not isinstance(self.model.visual, VisionTransformer):
                raise ConfigError(f'grad_checkpointing is implemented for ViT image towers; {arch!r} has a '
                                  f'{type(self.model.visual).__name__}. Drop grad_checkpointing=True.')
            self.model.visual.set_grad_checkpointing(True)
        use_fast_equivalents(self.model.visual)
        for name, param in self.model.named_parameters():
            if not name.startswith('visual.'):
                param.requires_grad_(not freeze_text)
        self.to(dtype)

    def encode_image_features(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.encode_image(pixels)

    def weights_logit_scale(self) -> Optional[float]:
        scale = getattr(self.model, 'logit_scale', None)
        if self.carried_logit_scale is not None or self.random_image_tower or not isinstance(scale, torch.Tensor):
            return self.carried_logit_scale
        value = float(scale.detach().float().exp().reshape(-1)[0])
        return value if is_positive_number(value) else None

    def text_features(self, texts: List[str]) -> torch.Tensor:
        return self.model.encode_text(self.tokenizer(texts).to(self.device))

    def text_parameters(self) -> List[Tuple[str, torch.Tensor]]:
        return [(k, v) for k, v in self.model.state_dict(keep_vars=True).items() if not k.startswith('visual.')]
