"""The clean-teacher cache's file: one per teacher in the work dir, shared by the run's processes.

A frozen clean teacher's output for an image (or a fixed augmented view, ``FixedViewsDataset``)
never changes, so it can be computed once and reused by every epoch and every run that distils
from the same teacher on the same data: one ViT-L-14 forward per image less per step. The file is
written beforehand by `mmtard cache-teacher`, or filled during the first epoch by whichever
process sees a sample first (:class:`~mmtard.models.shared_rows.SharedRows`). It records what it
was computed from (teacher name, weights sha256, training-data config, sample count) and is
refused when any of these differ.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch.utils.data import Dataset

from ..errors import ConfigError
from ..models.shared_rows import SharedRows
from ..registry import HOOKS

#: Sub-folder of a run's work dir holding one ``<teacher>.rows`` file per clean-input teacher.
CACHE_FOLDER = 'clean_teacher_cache'


def cache_file(work_dir: Union[str, Path], teacher: str) -> Path:
    return Path(work_dir) / CACHE_FOLDER / f'{teacher}.rows'


class EverySample(Dataset):
    """Everything training can draw from ``dataset``, one key each: each fixed view of each image
    (:class:`~mmtard.datasets.views.FixedViewsDataset`), or each image."""

    def __init__(self, dataset: Any) -> None:
        from ..datasets.views import FixedViewsDataset

        self.dataset = dataset
        self.views = dataset.views if isinstance(dataset, FixedViewsDataset) else None

    def __len__(self) -> int:
        return len(self.dataset) * (self.views or 1)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        item = self.dataset.fixed_view(*divmod(index, self.views)) if self.views else self.dataset[index]
        return {'index': int(item.get('index', index)), 'inputs': item['inputs']}


def open_cache_file(work_dir: Union[str, Path], model: Any, teacher: str, dataset_cfg: Mapping[str, Any],
                    dataset: Any, replace: bool = False, path: Optional[Path] = None) -> SharedRows:
    """Teacher ``teacher``'s cache file (or ``path``) for the training data ``dataset`` (built from
    ``dataset_cfg``): created empty when absent (or with ``replace``), refused when computed from anything
    else, damaged or short."""
    return SharedRows.open(path or cache_file(work_dir, teacher), cache_identity(model, teacher, dataset_cfg),
                           rows=len(EverySample(dataset)), dim=model.teachers[teacher].embed_dim, replace=replace)


def check_fixed_pixels(samples: Any, probes: int = 2) -> None:
    """Refuse training data whose pixels change from one read to the next (random augmentation): a
    cache would serve every later epoch the teacher's outputs of crops it no longer sees."""
    import random

    import numpy as np

    states = torch.get_rng_state(), np.random.get_state(), random.getstate()
    try:
        for index in range(min(probes, len(samples))):
            reads = []
            for seed in (1, 2):
                torch.manual_seed(seed), np.random.seed(seed), random.seed(seed)
                reads.append(samples[index]['inputs'])
            if not torch.equal(*reads):
                raise ConfigError(
                    f'The training data ({type(samples.dataset).__name__}) gives different pixels each time item '
                    f'{index} is read (random augmentation): cached teacher outputs would belong to crops training '
                    f'no longer sees. Wrap the dataset in FixedViewsDataset (a fixed set of augmented views per '
                    f'image, e.g. train_dataloader.dataset=dict(type=\'FixedViewsDataset\', views=4, '
                    f'dataset=<your dataset>)), or remove the random augmentation.')
    finally:
        torch.set_rng_state(states[0]), np.random.set_state(states[1]), random.setstate(states[2])


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
    """Before training, give each cached clean-input teacher its file under
    ``<work_dir>/clean_teacher_cache/`` (filled by `mmtard cache-teacher`, or from now on by training)."""

    def before_train(self, runner: Any) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        dataset_cfg = runner.cfg.train_dataloader.dataset.to_dict()
        cached = clean_input_teachers(model)
        if cached:
            check_fixed_pixels(EverySample(runner.train_dataloader.dataset))
        for name in cached:
            rows = open_cache_file(runner.work_dir, model, name, dataset_cfg, runner.train_dataloader.dataset)
            model.clean_cache(name).attach(rows)
            runner.logger.info(f'Clean-teacher cache of {name!r}: {rows.path} ({rows.filled_count()} of '
                               f'{rows.rows} outputs computed)')
