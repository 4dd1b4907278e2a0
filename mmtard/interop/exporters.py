"""The formats a trained student leaves mmtard in: the :class:`Exporter` contract and the built-in formats.

Robust CLIP encoders are used through open_clip (LLaVA, OpenFlamingo and RobustVLM load them that
way), so a student leaves mmtard as open_clip expects it:

* ``open_clip``: the full CLIP state dict (trained image tower + the unchanged text tower), ``.pt``
  or ``.safetensors``, for ``open_clip.create_model(arch, pretrained=FILE)`` (an architecture open_clip
  does not ship is registered first from ``<out>.json``: :mod:`.export_loading`);
* ``vision``: the image tower alone (``model.visual``'s keys), as RobustVLM and the release ship it;
* ``hf-hub``: a folder in open_clip's hub layout (``open_clip_config.json``,
  ``open_clip_model.safetensors``, ``README.md`` model card), loaded by
  ``open_clip.create_model('local-dir:FOLDER')`` or, once uploaded, ``'hf-hub:org/name'``;
* ``timm``: a timm student's trunk, with the learnt projection to the CLIP embedding as its
  classifier, for ``timm.create_model(arch, num_classes=D, pretrained_cfg_overlay=dict(file=FILE, ...))``.

LoRA adapters are folded into the weights, so every export loads into the plain architecture.

Each format is an :class:`Exporter` in the ``EXPORTERS`` registry, declaring the encoder class it
exports: a plugin encoder registers its own format beside it (docs/interfaces.md).
:func:`mmtard.apis.export.export` is the command's function.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Mapping

import torch

from ..atomic_files import atomic_folder, torch_bytes, write_bytes_atomic
from ..checkpoint import StateDict, load_exact
from ..errors import ConfigError, did_you_mean
from ..models.encoders import ImageTextEncoder, OpenCLIPEncoder, TimmEncoder
from ..models.encoders.lora import merged_state_dict
from ..registry import EXPORTERS
from .export_loading import full_clip_line, model_config_beside, open_clip_model_cfg, vision_line
from .model_card import model_card
from .trained_student import TrainedStudent, trained_logit_scale

HF_CONFIG, HF_WEIGHTS, HF_CARD = 'open_clip_config.json', 'open_clip_model.safetensors', 'README.md'


@dataclass
class Exported:
    """What :func:`export` wrote, and the Python line that loads it without mmtard."""

    path: Path
    format: str
    load_with: str


class Exporter:
    """One format of `mmtard export --format NAME` (the ``EXPORTERS`` registry, by format name).

    ``encoder``: the encoder class whose students it writes (subclasses included); ``suffix``: of the
    default output file, ``''`` for a format that is a folder. :meth:`write` writes the student and
    returns the Python line that loads the result without mmtard.
    """

    encoder: type = ImageTextEncoder
    suffix: str = '.safetensors'

    def write(self, student: TrainedStudent, out: Path) -> str:
        raise NotImplementedError


def formats() -> List[str]:
    """The registered export formats: the built-ins, then plugins'."""
    return list(EXPORTERS.registered())


def save_weights(state: StateDict, path: Path) -> None:
    """``.safetensors`` or ``torch.save`` (by suffix), serialised in memory and written atomically."""
    tensors = {key: value.detach().cpu().contiguous() for key, value in state.items()}
    if path.suffix == '.safetensors':
        from safetensors.torch import save

        data = save(tensors)
    else:
        data = torch_bytes(tensors)
    write_bytes_atomic(path, data)


def _clip_state(student: TrainedStudent) -> StateDict:
    """The full CLIP state dict with LoRA folded in and ``logit_scale`` set to the scale it was trained at
    (open_clip's random initial 1/0.07 = 14.3 would otherwise ship with a student trained at 20 or 100)."""
    scale = trained_logit_scale(student)
    state = merged_state_dict(student.encoder.model)
    if scale is not None and 'logit_scale' in state:
        state['logit_scale'] = torch.full_like(state['logit_scale'], math.log(scale))
    return state


def _text_tower_source(cfg: Mapping[str, Any]) -> str:
    return str(cfg.get('text_pretrained') or cfg.get('pretrained') or "<the CLIP weights the student started from>")


@EXPORTERS.register_module(name='open_clip')
class OpenCLIPExporter(Exporter):
    """The full CLIP state dict, for open_clip.create_model(arch, pretrained=FILE)."""

    encoder = OpenCLIPEncoder

    def write(self, student: TrainedStudent, out: Path) -> str:
        state = _clip_state(student)  # a scale it cannot store is refused before anything is written
        with model_config_beside(student.encoder, out):
            save_weights(state, out)
        return full_clip_line(student.encoder, out)


@EXPORTERS.register_module(name='vision')
class VisionExporter(Exporter):
    """The image tower alone (model.visual), as RobustVLM and the release ship it."""

    encoder = OpenCLIPEncoder
    suffix = '.pt'

    def write(self, student: TrainedStudent, out: Path) -> str:
        with model_config_beside(student.encoder, out):
            save_weights(merged_state_dict(student.encoder.model.visual), out)
        student_cfg = student.cfg.model.student
        return vision_line(student.encoder, out, student_cfg.get('text_pretrained') or student_cfg.get('pretrained'))


@EXPORTERS.register_module(name='timm')
class TimmExporter(Exporter):
    """A timm student's trunk, with the projection to the CLIP embedding as its classifier."""

    encoder = TimmEncoder

    def write(self, student: TrainedStudent, out: Path) -> str:
        import timm

        encoder, arch = student.encoder, student.cfg.model.student['arch']
        classifier = encoder.trunk.pretrained_cfg.get('classifier') or 'head'
        classifier = classifier if isinstance(classifier, str) else classifier[0]
        state = merged_state_dict(encoder.trunk)
        state[f'{classifier}.weight'] = encoder.proj.weight.detach().clone()
        state[f'{classifier}.bias'] = torch.zeros(encoder.embed_dim, dtype=encoder.proj.weight.dtype)
        size = {'img_size': encoder.image_size} if timm.get_pretrained_cfg(arch).fixed_input_size else {}
        check = timm.create_model(arch, pretrained=False, num_classes=encoder.embed_dim, **size)
        load_exact(check, state, f'The {arch} export')  # what timm's own strict load will see
        save_weights(state, out)
        extra = ''.join(f', {k}={v!r}' for k, v in size.items())
        text = student.cfg.model.student['text_tower']
        return (f"timm.create_model({arch!r}, pretrained=True, num_classes={encoder.embed_dim}{extra}, "
                f"pretrained_cfg_overlay=dict(file={str(out)!r}, num_classes={encoder.embed_dim}))  # image embeddings "
                f"for the text tower of open_clip {text['arch']!r} + {_text_tower_source(text)!r}")


@EXPORTERS.register_module(name='hf-hub')
class HubFolderExporter(Exporter):
    """A folder in open_clip's hub layout (config, weights, model card), for 'local-dir:FOLDER'."""

    encoder = OpenCLIPEncoder
    suffix = ''

    def write(self, student: TrainedStudent, out: Path) -> str:
        encoder = student.encoder
        hub_config = {'model_cfg': open_clip_model_cfg(encoder),  # as open_clip's save_config_for_hf writes it
                      'preprocess_cfg': {'mean': list(encoder.pixel_mean), 'std': list(encoder.pixel_std)}}
        load_with = f"open_clip.create_model('local-dir:{out}')  # or 'hf-hub:<org>/<name>' once uploaded"
        card_load = f"open_clip.create_model('hf-hub:<org>/{out.name}')  # or 'local-dir:<this folder>'"
        state = _clip_state(student)
        with atomic_folder(out) as staging:
            save_weights(state, staging / HF_WEIGHTS)
            write_bytes_atomic(staging / HF_CONFIG, json.dumps(hub_config, indent=2).encode())
            write_bytes_atomic(staging / HF_CARD, model_card(student, out.name, card_load).encode())
        return load_with


def exporter(fmt: str) -> Exporter:
    """The registered exporter of format ``fmt``; an unknown name is refused with the close ones."""
    names = formats()
    if fmt not in names:
        raise ConfigError(f'Unknown export format {fmt!r}.{did_you_mean(fmt, names)} Formats: {", ".join(names)} '
                          f'(`mmtard list exporters` names the distribution of each).')
    return EXPORTERS.get(fmt)()


def require_exporter_fits(student: TrainedStudent, exporter: Exporter, fmt: str) -> None:
    """Refuse a format written for another encoder class, naming the formats that fit this student."""
    if isinstance(student.encoder, exporter.encoder):
        return
    kind = type(student.encoder).__name__
    fitting = [name for name, cls in EXPORTERS.registered().items() if isinstance(student.encoder, cls.encoder)]
    other = (f"Use --format {', '.join(fitting)}." if fitting else
             f"No registered format exports a {kind}: its plugin can register one in EXPORTERS (docs/interfaces.md).")
    raise ConfigError(f'--format {fmt} exports {exporter.encoder.__name__} students; this checkpoint\'s student is a '
                      f'{kind}. {other}')
