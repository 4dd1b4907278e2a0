"""Compute the clean teacher's outputs for every training image (or fixed view) before training:
the function behind `mmtard cache-teacher`."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Union

import torch
from mmengine.config import Config

from ..checks import check_positive_int
from ..config import resolve_config
from ..errors import ConfigError
from .train import default_work_dir

#: Images per teacher forward.
DEFAULT_BATCH = 64


def every_sample(dataset: Any) -> Iterator[Tuple[int, torch.Tensor]]:
    """(index, pixels) of everything training can draw: every fixed view, or every image."""
    from ..datasets.views import FixedViewsDataset

    if isinstance(dataset, FixedViewsDataset):
        yield from dataset.every_view()
        return
    for position in range(len(dataset)):
        item = dataset[position]
        yield int(item.get('index', position)), item['inputs']


def _batches(samples: Iterator[Tuple[int, torch.Tensor]], size: int) -> Iterator[Tuple[List[int], torch.Tensor]]:
    keys: List[int] = []
    pixels: List[torch.Tensor] = []
    for key, image in samples:
        keys.append(key)
        pixels.append(image)
        if len(keys) == size:
            yield keys, torch.stack(pixels)
            keys, pixels = [], []
    if keys:
        yield keys, torch.stack(pixels)


def cache_teacher(config: Union[str, os.PathLike, Config], work_dir: Optional[Union[str, os.PathLike]] = None,
                  cfg_options: Optional[Dict[str, Any]] = None, batch_size: int = DEFAULT_BATCH,
                  device: Optional[str] = None, progress: Optional[Callable[[int], None]] = None) -> Dict[str, Path]:
    """Write ``<work_dir>/clean_teacher_cache/<teacher>.pt`` for each clean-input teacher of the config's
    distiller, for ``mmtard train`` of the same config (and work dir) to load; returns the files."""
    from ..engine.teacher_cache_files import cache_file, cache_identity, clean_input_teachers
    from ..models.distillers import MMTARD
    from ..models.teacher_cache import TeacherEmbeddingCache
    from ..plugins import ensure_plugins_loaded
    from ..registry import DATASETS, MODELS

    ensure_plugins_loaded()
    check_positive_int(batch_size, '--batch-size')
    cfg = resolve_config(config, cfg_options)
    if not cfg.get('model', {}).get('cache_clean_teacher_outputs', False):
        raise ConfigError('The config does not cache clean-teacher outputs, so training would not read the cache: '
                          'set model.cache_clean_teacher_outputs=True (valid without random augmentation, or with '
                          "FixedViewsDataset's fixed views), e.g. -o model.cache_clean_teacher_outputs=True.")
    run_device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    folder = Path(work_dir) if work_dir is not None else Path(cfg.get('work_dir') or default_work_dir(config))
    model = MODELS.build(cfg.model)
    if not isinstance(model, MMTARD):
        raise ConfigError(f'mmtard cache-teacher needs a distiller (MMTARD, SingleTeacherARD), got {type(model).__name__}.')
    dataset_cfg = cfg.train_dataloader.dataset.to_dict()
    dataset = DATASETS.build(dataset_cfg)
    written = {}
    for name in clean_input_teachers(model):
        teacher, cache = model.teachers[name].to(run_device), TeacherEmbeddingCache()
        for keys, pixels in _batches(every_sample(dataset), batch_size):
            cache.store(keys, teacher(pixels.to(run_device)).cpu())
            if progress is not None:
                progress(len(keys))
        written[name] = cache_file(folder, name)
        cache.save(written[name], cache_identity(model, name, dataset_cfg))
    return written
