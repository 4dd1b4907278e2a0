"""Compute the clean teacher's outputs for every training image (or fixed view) before training:
the function behind `mmtard cache-teacher`."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Union

import torch
from mmengine.config import Config
from mmengine.runner import set_random_seed
from torch.utils.data import DataLoader

from ..config import resolve_config
from ..errors import ConfigError
from ..value_checks import check_positive_int
from ..work_dir import check_output_dir, default_work_dir, work_dir_lock

#: Images per teacher forward.
DEFAULT_BATCH = 64
#: The suffix of a cache file being filled (renamed to its name when complete).
PARTIAL_SUFFIX = '.partial'


def cache_teacher(config: Union[str, os.PathLike, Config], work_dir: Optional[Union[str, os.PathLike]] = None,
                  cfg_options: Optional[Dict[str, Any]] = None, batch_size: int = DEFAULT_BATCH,
                  device: Optional[str] = None, progress: Optional[Callable[[int], None]] = None) -> Dict[str, Path]:
    """Write ``<work_dir>/clean_teacher_cache/<teacher>.rows`` for each clean-input teacher of the config's
    distiller, for ``mmtard train`` of the same config (and work dir) to read; returns the files."""
    from ..engine.teacher_cache_files import EverySample, check_fixed_pixels
    from ..models.distillers import MMTARD
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
    check_output_dir(folder, 'work dir')
    with work_dir_lock(folder):  # a running training would not read a cache written under it
        seed = (cfg.get('randomness') or {}).get('seed')
        if seed is not None:  # as mmtard train seeds before building: the same weights where some are random
            set_random_seed(seed)
        model = MODELS.build(cfg.model)
        if not isinstance(model, MMTARD):
            raise ConfigError(f'mmtard cache-teacher needs a distiller (MMTARD, SingleTeacherARD), got '
                              f'{type(model).__name__}.')
        dataset_cfg = cfg.train_dataloader.dataset.to_dict()
        dataset = DATASETS.build(dataset_cfg)
        check_fixed_pixels(EverySample(dataset))
        workers = cfg.train_dataloader.get('num_workers', 0)
        return _write_caches(model, dataset, folder, dataset_cfg, batch_size, workers, run_device, progress)


def _write_caches(model: Any, dataset: Any, folder: Path, dataset_cfg: Dict[str, Any], batch_size: int,
                  workers: int, run_device: torch.device, progress: Optional[Callable[[int], None]]) -> Dict[str, Path]:
    from ..engine.teacher_cache_files import EverySample, cache_file, clean_input_teachers, open_cache_file

    written = {}
    for name in clean_input_teachers(model):
        teacher = model.teachers[name].to(run_device)
        final = cache_file(folder, name)
        # filled beside the old file and renamed over it when complete: a kill leaves the old one whole
        rows = open_cache_file(folder, model, name, dataset_cfg, dataset, replace=True, path=final.with_name(
            final.name + PARTIAL_SUFFIX))
        for batch in DataLoader(EverySample(dataset), batch_size=batch_size, num_workers=workers):
            with torch.no_grad():
                rows.write(batch['index'].tolist(), teacher(batch['inputs'].to(run_device)))
            if progress is not None:
                progress(len(batch['index']))
        rows.flush()
        os.replace(rows.path, final)
        written[name] = final
    return written
