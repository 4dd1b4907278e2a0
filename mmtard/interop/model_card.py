"""The model card of a trained student's hub export: what was trained, from which teachers, under
which attack, on which data, and the evaluations of exactly these weights."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, List, Optional, Sequence

from ..errors import ConfigError
from ..evaluation.results import (REPLACED_DIR, RESULTS_JSON, BenchmarkResult, markdown_table, pretrained_label,
                                  read_results)
from .trained_student import TrainedStudent, trained_logit_scale

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


