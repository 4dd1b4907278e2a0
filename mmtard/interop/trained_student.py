"""Rebuilding the student of a checkpoint written by `mmtard train`, from the training config it stores.

`mmtard export` writes such a student in other formats and `mmtard eval --pretrained iter_N.pth` evaluates
it; both need the exact architecture (QuickGELU, normalisation, LoRA) without downloading its start weights.
"""
from __future__ import annotations

import copy
import inspect
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

from mmengine.config import Config

from ..checkpoint import extract_state_dict, load_exact, read_checkpoint
from ..config import with_random_weights
from ..errors import CheckpointError, error_detail
from ..models.encoders import ImageTextEncoder
from ..models.encoders.open_clip_encoder import tag_settings
from ..value_checks import is_positive_number


@dataclass
class TrainedStudent:
    """A student rebuilt from an mmtard training checkpoint, with the config it was trained with."""

    encoder: ImageTextEncoder
    cfg: Config
    meta: Mapping[str, Any]
    checkpoint: Path


def _architecture_only(student_cfg: Dict[str, Any]) -> Dict[str, Any]:
    """The student config with random weights and nothing downloaded, but the architecture and pixel
    normalisation its weight tags implied (OpenAI CLIP's QuickGELU, a tag's mean/std)."""
    def pin(node: Dict[str, Any], keys: tuple) -> None:
        settings = tag_settings(node['arch'], node.get('pretrained'))
        node.update({key: settings[key] for key in keys if key in settings and node.get(key) is None})

    cfg = copy.deepcopy(student_cfg)
    if cfg.get('type') == 'OpenCLIPEncoder':
        pin(cfg, ('quick_gelu', 'mean', 'std'))
    if isinstance(cfg.get('text_tower'), dict):  # a timm student's open_clip text side
        pin(cfg['text_tower'], ('quick_gelu',))
    return with_random_weights(cfg)


def is_training_checkpoint(content: Any) -> bool:
    """Whether a read checkpoint was written by `mmtard train`: its config text and a student's weights."""
    meta = content.get('meta') if isinstance(content, Mapping) else None
    state = content.get('state_dict') if isinstance(content, Mapping) else None
    return isinstance(meta, Mapping) and isinstance(meta.get('cfg'), str) and isinstance(state, Mapping) \
        and any(str(key).startswith('student.') for key in state)


def load_trained_student(checkpoint: Union[str, os.PathLike]) -> TrainedStudent:
    """The student of a checkpoint written by `mmtard train`, in eval mode, built without downloads."""
    return trained_student(read_checkpoint(str(checkpoint)), Path(checkpoint))


def trained_student(content: Any, path: Path) -> TrainedStudent:
    """:func:`load_trained_student` of a checkpoint already read from ``path``."""
    from ..plugins import ensure_plugins_loaded
    from ..registry import MODELS, STUDENTS

    meta = content.get('meta') if isinstance(content, Mapping) else None
    if isinstance(meta, Mapping) and 'shipped_from' in meta and 'cfg' not in meta:
        raise CheckpointError(
            f"{str(path)!r} holds the weights of a pretraining stage that ships with mmtard "
            f"({meta['shipped_from']}), unpacked by an earlier `mmtard demo` without the training config that "
            f"`mmtard export` rebuilds its student from. Delete the file and run `mmtard demo` again with the same "
            f"--work-dir: it unpacks the stage again in under a second, now with its config, and reuses everything "
            f"else.")
    if not is_training_checkpoint(content):
        raise CheckpointError(
            f'{str(path)!r} is not a checkpoint written by `mmtard train` (it lacks the training config in '
            f"meta['cfg'] or a student's weights). Export the iter_N.pth / epoch_N.pth files of a training work "
            f'dir; a plain weight file needs no export.')
    try:
        cfg = Config.fromstring(meta['cfg'], file_format='.py')
    except Exception as err:  # mmengine parses the stored config text as Python
        raise CheckpointError(f'The training config stored in {str(path)!r} cannot be parsed '
                              f'({error_detail(err)}).') from None
    student_cfg = cfg.model.get('student')
    if student_cfg is None:
        raise CheckpointError(f'The model in {str(path)!r} ({cfg.model.get("type")}) has no student to export.')
    ensure_plugins_loaded()
    encoder = STUDENTS.build(_architecture_only(student_cfg.to_dict()))
    load_exact(encoder, extract_state_dict(content, prefix='student', source=f'Checkpoint {str(path)!r}'),
               f'The student in {str(path)!r}')
    learned = getattr(MODELS.get(cfg.model.get('type')), 'logit_scale_in', None)  # a scale the weights learned
    scale = learned(content['state_dict'], cfg.model) if learned is not None else None
    encoder.carried_logit_scale = scale if scale is not None else model_logit_scale(cfg.model)
    return TrainedStudent(encoder.eval(), cfg, meta, path)


def trained_logit_scale(student: TrainedStudent) -> Optional[float]:
    """The logit scale the student was trained (and, by default, evaluated) at, or learned (contrastive
    pretraining), refused unless it is a finite number > 0: a CLIP export stores its logarithm."""
    scale = student.encoder.carried_logit_scale
    if scale is not None and not is_positive_number(scale):
        raise CheckpointError(
            f"The training config stored in {str(student.checkpoint)!r} sets model.logit_scale={scale!r}, which a "
            f"CLIP export cannot carry: open_clip stores the scale's logarithm, so it must be a finite number > 0. "
            f"Export the image tower alone with --format vision (it carries no scale), or train again with a "
            f"positive scale (-o model.logit_scale=100, CLIP's).")
    return scale


def model_logit_scale(model_cfg: Any) -> Optional[float]:
    """The logit scale a training config's ``model`` trains at: its ``logit_scale``, else the model
    class's default; None for a model without one."""
    from ..registry import MODELS

    if model_cfg.get('logit_scale') is not None:
        return float(model_cfg.get('logit_scale'))
    model_class = MODELS.get(model_cfg.get('type'))
    parameter = inspect.signature(model_class).parameters.get('logit_scale') if model_class else None
    return None if parameter is None or parameter.default is inspect.Parameter.empty else float(parameter.default)
