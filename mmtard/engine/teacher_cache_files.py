"""Clean-teacher outputs computed before training (`mmtard cache-teacher`) and loaded when it starts.

A frozen clean teacher's output for an image (or a fixed augmented view, ``FixedViewsDataset``)
never changes, so it can be computed once and reused by every epoch and every run that distils
from the same teacher on the same data: one ViT-L-14 forward per image less per step. The file
records what it was computed from (teacher name, weights sha256, training-data config) and is
refused when any of these differ.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, Mapping, Union

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ..registry import HOOKS

#: Sub-folder of a run's work dir holding one ``<teacher>.pt`` per clean-input teacher.
CACHE_FOLDER = 'clean_teacher_cache'


def cache_file(work_dir: Union[str, Path], teacher: str) -> Path:
    return Path(work_dir) / CACHE_FOLDER / f'{teacher}.pt'


def cache_identity(model: Any, teacher: str, dataset_cfg: Mapping[str, Any]) -> Dict[str, str]:
    """What a cache file's rows depend on: the teacher's weights and the training data's config."""
    data = json.dumps(dataset_cfg, sort_keys=True, default=repr)
    return {'teacher': teacher, 'weights_sha256': model.teachers[teacher].weights_checksum(),
            'training data': hashlib.sha256(data.encode()).hexdigest()}


def clean_input_teachers(model: Any) -> list:
    """Names of the teachers whose outputs the model caches (those that see clean images)."""
    if not getattr(model, 'cache_clean_teacher_outputs', False):
        return []
    return [spec.name for spec in model.specs if spec.teacher_input == 'clean']


@HOOKS.register_module()
class CleanTeacherCacheHook(Hook):
    """Before training, fill the model's clean-teacher cache from ``<work_dir>/clean_teacher_cache/``
    when `mmtard cache-teacher` wrote it (and the model caches clean-teacher outputs)."""

    def before_train(self, runner: Any) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        dataset_cfg = runner.cfg.train_dataloader.dataset.to_dict()
        for name in clean_input_teachers(model):
            path = cache_file(runner.work_dir, name)
            if path.is_file():
                count = model.clean_cache(name).load_file(path, cache_identity(model, name, dataset_cfg))
                runner.logger.info(f'Loaded {count} cached outputs of teacher {name!r} from {path}')
