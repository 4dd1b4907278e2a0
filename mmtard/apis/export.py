"""Export a trained student to the formats users load without mmtard: the function behind `mmtard export`.

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
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence, Union

import torch

from ..atomic_files import (atomic_folder, check_writable_folder, remove_stale_temporaries, torch_bytes,
                            write_bytes_atomic, write_error)
from ..checkpoint import StateDict, load_exact
from ..errors import CheckpointError, ConfigError, RunDirectoryExistsError, did_you_mean
from ..models.encoders import ImageTextEncoder, OpenCLIPEncoder, TimmEncoder
from ..models.encoders.lora import merged_state_dict
from ..evaluation.results import (REPLACED_DIR, RESULTS_JSON, BenchmarkResult, markdown_table, pretrained_label,
                                  read_results)
from ..registry import EXPORTERS
from .export_loading import full_clip_line, model_config_beside, open_clip_model_cfg, vision_line
from ..trained_student import TrainedStudent, load_trained_student, trained_logit_scale
from ..value_checks import check_path
from ..work_dir import check_output_dir

FILE_SUFFIXES = ('.pt', '.safetensors')
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


def _check_out(out: Path, fmt: str, folder: bool) -> None:
    if out.exists() or out.is_symlink():
        raise RunDirectoryExistsError(f'--out {str(out)!r} already exists; mmtard export never overwrites. Remove '
                                      f'it or choose another path.')
    if not folder and out.suffix not in FILE_SUFFIXES:
        raise ConfigError(f'--out {str(out)!r}: a {fmt} export is a weight file ending in .pt or .safetensors '
                          f'(the suffix picks the format).')
    if folder and out.suffix in FILE_SUFFIXES:
        raise ConfigError(f'--out {str(out)!r}: a {fmt} export is a folder; give a path without a file suffix.')
    check_output_dir(out.parent, 'export folder')
    if not out.parent.is_dir():
        raise ConfigError(f'--out {str(out)!r}: the folder {str(out.parent)!r} does not exist.')
    check_writable_folder(out.parent, 'export folder')


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
    state = merged_state_dict(student.encoder.model)
    scale = trained_logit_scale(student)
    if scale is not None and 'logit_scale' in state:
        state['logit_scale'] = torch.full_like(state['logit_scale'], math.log(scale))
    return state


def _require(student: TrainedStudent, exporter: Exporter, fmt: str) -> None:
    """Refuse a format written for another encoder class, naming the formats that fit this student."""
    if isinstance(student.encoder, exporter.encoder):
        return
    kind = type(student.encoder).__name__
    fitting = [name for name, cls in EXPORTERS.registered().items() if isinstance(student.encoder, cls.encoder)]
    other = (f"Use --format {', '.join(fitting)}." if fitting else
             f"No registered format exports a {kind}: its plugin can register one in EXPORTERS (docs/interfaces.md).")
    raise ConfigError(f'--format {fmt} exports {exporter.encoder.__name__} students; this checkpoint\'s student is a '
                      f'{kind}. {other}')


def _text_tower_source(cfg: Mapping[str, Any]) -> str:
    return str(cfg.get('text_pretrained') or cfg.get('pretrained') or "<the CLIP weights the student started from>")


@EXPORTERS.register_module(name='open_clip')
class OpenCLIPExporter(Exporter):
    """The full CLIP state dict, for open_clip.create_model(arch, pretrained=FILE)."""

    encoder = OpenCLIPEncoder

    def write(self, student: TrainedStudent, out: Path) -> str:
        with model_config_beside(student.encoder, out):
            save_weights(_clip_state(student), out)
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


#: The license of the card, as the package's (pyproject.toml) in the hub's spelling.
CARD_LICENSE = 'apache-2.0'


def _evaluations(student: TrainedStudent, folders: Sequence[Path]) -> List[BenchmarkResult]:
    """The result rows of evaluations of exactly these weights (same checksum) under ``folders``."""
    checksum = student.encoder.model_checksum()
    rows: List[BenchmarkResult] = []
    for folder in folders:
        for path in sorted(folder.rglob(RESULTS_JSON)) if folder.is_dir() else []:
            if REPLACED_DIR in path.relative_to(folder).parts:
                continue
            try:
                found = read_results(path.parent)
            except ConfigError:  # a damaged file of another evaluation does not stop an export
                continue
            rows += [row for row in found if row.model_checksum == checksum]
    return rows


def _public(value: Any) -> str:
    """A weight tag, hf-hub id or the file name of a local path: cards never show this machine's folders."""
    text = pretrained_label(value)
    return Path(text).name if os.sep in text and not text.startswith('hf-hub:') else text or 'random initialisation'


def model_card(student: TrainedStudent, name: str, load_with: str,
               evaluation_folders: Optional[Sequence[Path]] = None) -> str:
    """The hub README: what was trained, from which teachers, under which attack, on which data, and the
    evaluations of these weights found in ``evaluation_folders`` (default: the run's ``eval/`` folder and
    ``work_dirs/eval``, where `mmtard eval` writes by default)."""
    from open_clip.push_to_hf_hub import generate_readme

    model, meta = student.cfg.model, student.meta
    teachers = model.get('teachers') or ([dict(name='robust', encoder=model.teacher)] if 'teacher' in model else [])
    attack = model.get('attack') or {}
    data = student.cfg.get('train_dataloader', {}).get('dataset', {})
    student_source = model.student.get('text_pretrained') or model.student.get('pretrained')
    scale = trained_logit_scale(student)
    details = {
        'Method': model.get('type'),
        'Student': f"{student.encoder.architecture}, started from {_public(student_source)}",
        'Teachers': [f"{t['name']}: {t['encoder'].get('arch')} from {_public(t['encoder'].get('pretrained'))}"
                     + (f" (sees {t['teacher_input']})" if 'teacher_input' in t else '') for t in teachers] or 'none',
        'Training attack': (f"{attack.get('type')} eps {attack.get('eps')}/255 ({attack.get('norm', 'Linf')}), "
                            f"{attack.get('steps')} steps" if attack else 'none'),
        'Training data': f"{data.get('type')} {Path(str(data.get('root', ''))).name} {data.get('split', '')}".strip(),
        'Steps': f"{meta.get('iter')} iterations ({meta.get('epoch')} epochs)",
        'Logit scale': f'{scale:g} (trained and exported at this scale)' if scale is not None else 'learnt',
        'Image normalisation': f'mean {student.encoder.pixel_mean}, std {student.encoder.pixel_std}',
    }
    card = generate_readme({'tags': ('clip', 'adversarial-robustness', 'mmtard'), 'details': details,
                            'license': CARD_LICENSE,
                            'description': f'Image encoder trained by mmtard ({model.get("type")}) from '
                                           f'{student.checkpoint.name}.',
                            'usage': f'\n```python\nimport open_clip\nmodel = {load_with}\n```\n'}, name)
    folders = evaluation_folders if evaluation_folders is not None else [student.checkpoint.parent / 'eval',
                                                                         Path('work_dirs') / 'eval']
    rows = _evaluations(student, folders)
    return card + ('\n## Evaluation\n\n' + markdown_table(rows) if rows else '\n## Evaluation\n\nNot evaluated yet.\n')


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
        with atomic_folder(out) as staging:
            save_weights(_clip_state(student), staging / HF_WEIGHTS)
            write_bytes_atomic(staging / HF_CONFIG, json.dumps(hub_config, indent=2).encode())
            write_bytes_atomic(staging / HF_CARD, model_card(student, out.name, card_load).encode())
        return load_with


def _exporter(fmt: str) -> Exporter:
    names = formats()
    if fmt not in names:
        raise ConfigError(f'Unknown export format {fmt!r}.{did_you_mean(fmt, names)} Formats: {", ".join(names)} '
                          f'(`mmtard list exporters` names the distribution of each).')
    return EXPORTERS.get(fmt)()


def default_out(checkpoint: Union[str, os.PathLike], fmt: str) -> Path:
    """``<checkpoint stem>-<format><suffix>`` next to the checkpoint."""
    path = Path(checkpoint)
    return path.with_name(f'{path.stem}-{fmt}{_exporter(fmt).suffix}')


def export(checkpoint: Union[str, os.PathLike], fmt: str, out: Optional[Union[str, os.PathLike]] = None) -> Exported:
    """Write the student of an mmtard training ``checkpoint`` in format ``fmt`` (one of :func:`formats`)
    to ``out`` (default: next to the checkpoint); never overwrites."""
    check_path(checkpoint, 'checkpoint')
    check_path(out, 'out', optional=True)
    exporter = _exporter(fmt)
    if not Path(checkpoint).is_file():
        raise CheckpointError(f'Checkpoint {str(checkpoint)!r} does not exist; pass an iter_N.pth / epoch_N.pth '
                              f'file of a training work dir.')
    target = Path(out) if out is not None else default_out(checkpoint, fmt)
    _check_out(target, fmt, folder=not exporter.suffix)
    remove_stale_temporaries(target)  # of an export of the same path killed mid-write
    student = load_trained_student(checkpoint)
    _require(student, exporter, fmt)
    try:
        return Exported(target, fmt, exporter.write(student, target))
    except OSError as err:
        raise write_error(err, target, f'the {fmt} export') from None

