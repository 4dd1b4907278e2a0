"""Which encoder `mmtard eval` evaluates when the command line names it, in open_clip's terms:
``--model NAME --pretrained TAG|FILE|hf-hub:ID``, for a model of any registered source (open_clip
architectures, timm backbones, a plugin's family: :mod:`mmtard.interop.model_sources`), a zoo name, or
``--model hf-hub:ORG/NAME`` / ``local-dir:FOLDER``: an open_clip hub folder, which names both.

``FILE`` may be a checkpoint written by `mmtard train` (its own training config rebuilds the student
exactly: architecture, QuickGELU, normalisation, LoRA), a file written by `mmtard export`, or any
open_clip / timm state dict. Results record the model and weights as :class:`EvaluatedModel`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional

from ..errors import ConfigError
from ..evaluation.results import EvaluatedModel, model_source
from ..hub import is_folder_model
from ..models.encoders.base import ImageTextEncoder
from ..models.encoders.folder_model import resolve_folder_model
from ..zoo import ZooModel, is_zoo_name, zoo_model, zoo_weights_needed
from ..interop.model_sources import encoder_config


def encoder_source(cfg: Mapping[str, Any], checkpoint: Optional[str] = None, model_key: str = '') -> EvaluatedModel:
    """The :class:`EvaluatedModel` of an encoder config (``checkpoint``: the mmtard checkpoint loaded over it)."""
    return model_source(str(cfg.get('arch', cfg.get('type', ''))), checkpoint or cfg.get('pretrained'), model_key)


def _architecture(encoder_cfg: Mapping[str, Any]) -> str:
    return str(encoder_cfg.get('arch', encoder_cfg.get('type', '')))


def _zoo_encoder(entry: ZooModel, pretrained: Optional[str]) -> tuple[ImageTextEncoder, EvaluatedModel]:
    """A zoo checkpoint: from the hub, or from its downloaded file given as ``--pretrained``."""
    from ..registry import STUDENTS

    if pretrained is not None:
        return STUDENTS.build(entry.encoder_config(pretrained)), model_source(entry.name, pretrained)
    if entry.hub is None:
        raise zoo_weights_needed(entry)
    return STUDENTS.build(resolve_folder_model(entry.hub).encoder_config()), EvaluatedModel(entry.name, entry.hub)


def command_line_encoder(model: Optional[str], pretrained: Optional[str], text_tower: Optional[str] = None,
                         text_pretrained: Optional[str] = None,
                         config_student: Optional[Mapping[str, Any]] = None) -> tuple[ImageTextEncoder, EvaluatedModel]:
    """The encoder ``--model`` / ``--pretrained`` name, and its source. ``config_student``: the
    config's student, whose architecture ``--pretrained`` alone keeps."""
    from ..checkpoint import read_checkpoint
    from ..registry import STUDENTS
    from ..interop.trained_student import is_training_checkpoint, trained_student

    if pretrained is not None and os.path.isfile(pretrained) and not pretrained.endswith('.safetensors'):
        content = read_checkpoint(pretrained)
        if is_training_checkpoint(content):
            student = trained_student(content, Path(pretrained))
            trained_arch = _architecture(student.cfg.model.student)
            if model is not None and model != trained_arch:
                raise ConfigError(f'--model {model!r} differs from the architecture {trained_arch!r} the checkpoint '
                                  f'{pretrained!r} was trained with; drop --model (the checkpoint names it).')
            return student.encoder, model_source(trained_arch, pretrained)
    if is_zoo_name(model):
        return _zoo_encoder(zoo_model(str(model)), pretrained)
    if model is None and is_folder_model(pretrained):
        model, pretrained = pretrained, None  # open_clip's hub folders name their architecture themselves
    if is_folder_model(model):
        if pretrained is not None:
            raise ConfigError(f'--model {model!r} is an open_clip hub folder holding its own weights; --pretrained '
                              f'{pretrained!r} would replace them. Drop --pretrained, or name the architecture in '
                              f'--model to load other weights into it.')
        folder = resolve_folder_model(model)
        return STUDENTS.build(folder.encoder_config()), EvaluatedModel(folder.arch, model)
    if model is None:
        if config_student is None and not Path(str(pretrained)).expanduser().exists():
            raise ConfigError(f'--pretrained {str(pretrained)!r}: no such file. Give an existing checkpoint of '
                              f'`mmtard train` (it names its architecture), or --model ARCH with an open_clip tag, '
                              f'weights file or hf-hub: id.')
        if config_student is None:
            raise ConfigError('--pretrained needs --model ARCH (the architecture the weights are for), or a CONFIG '
                              'whose student it replaces the weights of.')
        cfg = {**config_student, 'pretrained': pretrained}
    else:
        cfg = encoder_config(model, pretrained, text_tower, text_pretrained)
    encoder = STUDENTS.build(cfg)
    return encoder, model_source(model or _architecture(cfg), pretrained)
