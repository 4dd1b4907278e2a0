"""Export a trained student to the formats users load without mmtard: the function behind `mmtard export`.

Robust CLIP encoders are used through open_clip (LLaVA, OpenFlamingo and RobustVLM load them that
way), so a student leaves mmtard as open_clip expects it:

* ``open_clip``: the full CLIP state dict (trained image tower + the unchanged text tower), ``.pt``
  or ``.safetensors``, for ``open_clip.create_model(arch, pretrained=FILE)``;
* ``vision``: the image tower alone (``model.visual``'s keys), as RobustVLM and the release ship it;
* ``hf-hub``: a folder in open_clip's hub layout (``open_clip_config.json``,
  ``open_clip_model.safetensors``, ``README.md`` model card), loaded by
  ``open_clip.create_model('local-dir:FOLDER')`` or, once uploaded, ``'hf-hub:org/name'``;
* ``timm``: a timm student's trunk, with the learnt projection to the CLIP embedding as its
  classifier, for ``timm.create_model(arch, num_classes=D, pretrained_cfg_overlay=dict(file=FILE, ...))``.

LoRA adapters are folded into the weights, so every export loads into the plain architecture.
"""
from __future__ import annotations

import copy
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

import torch
from mmengine.config import Config

from ..checkpoint import StateDict, extract_state_dict, load_exact, read_checkpoint
from ..config import with_random_weights
from ..errors import CheckpointError, ConfigError, RunDirectoryExistsError, did_you_mean, error_detail
from ..models.encoders import ImageTextEncoder, OpenCLIPEncoder, TimmEncoder
from ..models.encoders.lora import merged_state_dict
from ..models.encoders.open_clip_encoder import tag_settings

FORMATS = ('open_clip', 'vision', 'hf-hub', 'timm')
FILE_SUFFIXES = ('.pt', '.safetensors')
#: The default output next to the checkpoint: ``<stem>-<format><suffix>``.
DEFAULT_SUFFIX = {'open_clip': '.safetensors', 'vision': '.pt', 'hf-hub': '', 'timm': '.safetensors'}
HF_CONFIG, HF_WEIGHTS, HF_CARD = 'open_clip_config.json', 'open_clip_model.safetensors', 'README.md'


@dataclass
class Exported:
    """What :func:`export` wrote, and the Python line that loads it without mmtard."""

    path: Path
    format: str
    load_with: str


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
    from ..registry import STUDENTS

    if not is_training_checkpoint(content):
        raise CheckpointError(
            f'{str(path)!r} is not a checkpoint written by `mmtard train` (it lacks the training config in '
            f"meta['cfg'] or a student's weights). Export the iter_N.pth / epoch_N.pth files of a training work "
            f'dir; a plain weight file needs no export.')
    meta = content['meta']
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
    return TrainedStudent(encoder.eval(), cfg, meta, path)


def _check_out(out: Path, fmt: str) -> None:
    if out.exists() or out.is_symlink():
        raise RunDirectoryExistsError(f'--out {str(out)!r} already exists; mmtard export never overwrites. Remove '
                                      f'it or choose another path.')
    if fmt != 'hf-hub' and out.suffix not in FILE_SUFFIXES:
        raise ConfigError(f'--out {str(out)!r}: a {fmt} export is a weight file ending in .pt or .safetensors '
                          f'(the suffix picks the format).')
    if fmt == 'hf-hub' and out.suffix in FILE_SUFFIXES:
        raise ConfigError(f'--out {str(out)!r}: an hf-hub export is a folder; give a path without a file suffix.')
    if not out.parent.is_dir():
        raise ConfigError(f'--out {str(out)!r}: the folder {str(out.parent)!r} does not exist.')


def _save_weights(state: StateDict, path: Path) -> None:
    """``.safetensors`` or ``torch.save``, written next to ``path`` first so nothing half-written remains."""
    tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
    tensors = {key: value.detach().cpu().contiguous() for key, value in state.items()}
    try:
        if path.suffix == '.safetensors':
            from safetensors.torch import save_file

            save_file(tensors, str(tmp))
        else:
            torch.save(tensors, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _require(student: TrainedStudent, kind: type, fmt: str) -> None:
    if not isinstance(student.encoder, kind):
        other = 'timm' if isinstance(student.encoder, TimmEncoder) else 'open_clip, vision or hf-hub'
        raise ConfigError(f'--format {fmt} exports {kind.__name__} students; this checkpoint\'s student is a '
                          f'{type(student.encoder).__name__}. Use --format {other}.')


def open_clip_model_cfg(encoder: OpenCLIPEncoder) -> Dict[str, Any]:
    """open_clip's model config of the student's architecture, with QuickGELU when it uses it."""
    import open_clip

    model_cfg = open_clip.get_model_config(encoder.arch)
    if encoder.quick_gelu:
        model_cfg['quick_gelu'] = True
    return model_cfg


def _open_clip_call(encoder: OpenCLIPEncoder, pretrained: str) -> str:
    quick_gelu = ', force_quick_gelu=True' if encoder.quick_gelu else ''
    return f"open_clip.create_model({encoder.arch!r}, pretrained={pretrained!r}{quick_gelu})"


def _text_tower_source(cfg: Mapping[str, Any]) -> str:
    return str(cfg.get('text_pretrained') or cfg.get('pretrained') or "<the CLIP weights the student started from>")


def _export_open_clip(student: TrainedStudent, out: Path) -> str:
    _save_weights(merged_state_dict(student.encoder.model), out)
    return _open_clip_call(student.encoder, str(out))


def _export_vision(student: TrainedStudent, out: Path) -> str:
    _save_weights(merged_state_dict(student.encoder.model.visual), out)
    source = _text_tower_source(student.cfg.model.student)
    return f"model = {_open_clip_call(student.encoder, source)}; model.visual.load_state_dict(torch.load({str(out)!r}))"


def _export_timm(student: TrainedStudent, out: Path) -> str:
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
    _save_weights(state, out)
    extra = ''.join(f', {k}={v!r}' for k, v in size.items())
    text = student.cfg.model.student['text_tower']
    return (f"timm.create_model({arch!r}, pretrained=True, num_classes={encoder.embed_dim}{extra}, "
            f"pretrained_cfg_overlay=dict(file={str(out)!r}, num_classes={encoder.embed_dim}))  # image embeddings "
            f"for the text tower of open_clip {text['arch']!r} + {_text_tower_source(text)!r}")


def _evaluation_tables(checkpoint: Path) -> List[str]:
    """The results.md that `mmtard eval` wrote for this checkpoint's student, if any."""
    found = sorted((checkpoint.parent / 'eval').glob(f'{checkpoint.stem}_student_*/results.md'))
    return [f'### {path.parent.name}\n\n{path.read_text().strip()}\n' for path in found]


def model_card(student: TrainedStudent, name: str, load_with: str) -> str:
    """The hub README: what was trained, from which teachers, under which attack, on which data."""
    from open_clip.push_to_hf_hub import generate_readme

    model, meta = student.cfg.model, student.meta
    teachers = model.get('teachers') or ([dict(name='robust', encoder=model.teacher)] if 'teacher' in model else [])
    attack = model.get('attack') or {}
    data = student.cfg.get('train_dataloader', {}).get('dataset', {})
    details = {
        'Method': model.get('type'),
        'Student': f"{student.encoder.architecture}, started from {_text_tower_source(model.student)}",
        'Teachers': [f"{t['name']}: {t['encoder'].get('arch')} from {t['encoder'].get('pretrained')}"
                     + (f" (sees {t['teacher_input']})" if 'teacher_input' in t else '') for t in teachers] or 'none',
        'Training attack': (f"{attack.get('type')} eps {attack.get('eps')}/255 ({attack.get('norm', 'Linf')}), "
                            f"{attack.get('steps')} steps" if attack else 'none'),
        'Training data': f"{data.get('type')} {data.get('root', '')} {data.get('split', '')}".strip(),
        'Steps': f"{meta.get('iter')} iterations ({meta.get('epoch')} epochs)",
        'Image normalisation': f'mean {student.encoder.pixel_mean}, std {student.encoder.pixel_std}',
    }
    card = generate_readme({'tags': ('clip', 'adversarial-robustness', 'mmtard'), 'details': details,
                            'description': f'Image encoder trained by mmtard ({model.get("type")}) from '
                                           f'{student.checkpoint.name}.',
                            'usage': f'\n```python\nimport open_clip\nmodel = {load_with}\n```\n'}, name)
    tables = _evaluation_tables(student.checkpoint)
    return card + ('\n## Evaluation\n\n' + '\n'.join(tables) if tables else '\n## Evaluation\n\nNot evaluated yet.\n')


def _export_hf_hub(student: TrainedStudent, out: Path) -> str:
    encoder = student.encoder
    hub_config = {'model_cfg': open_clip_model_cfg(encoder),  # as open_clip's save_config_for_hf writes it
                  'preprocess_cfg': {'mean': list(encoder.pixel_mean), 'std': list(encoder.pixel_std)}}
    load_with = f"open_clip.create_model('local-dir:{out}')  # or 'hf-hub:<org>/<name>' once uploaded"
    staging = Path(tempfile.mkdtemp(prefix=f'.{out.name}.', dir=out.parent))
    try:
        _save_weights(merged_state_dict(encoder.model), staging / HF_WEIGHTS)
        (staging / HF_CONFIG).write_text(json.dumps(hub_config, indent=2))
        (staging / HF_CARD).write_text(model_card(student, out.name, load_with))
        os.replace(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return load_with


_EXPORTERS = {'open_clip': (OpenCLIPEncoder, _export_open_clip), 'vision': (OpenCLIPEncoder, _export_vision),
              'hf-hub': (OpenCLIPEncoder, _export_hf_hub), 'timm': (TimmEncoder, _export_timm)}


def default_out(checkpoint: Union[str, os.PathLike], fmt: str) -> Path:
    path = Path(checkpoint)
    return path.with_name(f'{path.stem}-{fmt}{DEFAULT_SUFFIX[fmt]}')


def export(checkpoint: Union[str, os.PathLike], fmt: str, out: Optional[Union[str, os.PathLike]] = None) -> Exported:
    """Write the student of an mmtard training ``checkpoint`` in format ``fmt`` (one of :data:`FORMATS`)
    to ``out`` (default: next to the checkpoint); never overwrites."""
    if fmt not in FORMATS:
        raise ConfigError(f'Unknown export format {fmt!r}.{did_you_mean(fmt, FORMATS)} Formats: {", ".join(FORMATS)}.')
    if not Path(checkpoint).is_file():
        raise CheckpointError(f'Checkpoint {str(checkpoint)!r} does not exist; pass an iter_N.pth / epoch_N.pth '
                              f'file of a training work dir.')
    target = Path(out) if out is not None else default_out(checkpoint, fmt)
    _check_out(target, fmt)
    student = load_trained_student(checkpoint)
    kind, write = _EXPORTERS[fmt]
    _require(student, kind, fmt)
    return Exported(target, fmt, write(student, target))

