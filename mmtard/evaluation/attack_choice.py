"""Which attack a benchmark dataset is evaluated with, and building it at one eps and seed."""
from __future__ import annotations

from typing import Any, Dict

from ..attacks.base import Attack
from ..errors import ConfigError
from ..registry import ATTACKS
from .spec import BenchmarkSpec, DatasetSpec


def attack_config(spec: BenchmarkSpec, dataset: DatasetSpec, num_classes: int) -> Dict[str, Any]:
    """The classification attack of ``dataset``: AutoAttack 'apgd-ce' for tasks with fewer than 4
    classes (binary ones such as PCam: the targeted DLR loss of APGD-T needs 4), or the dataset's
    explicit ``attack_version``."""
    cfg = dict(spec.attack)
    version = dataset.attack_version
    if version == 'auto':
        version = 'apgd-ce' if num_classes < 4 and cfg.get('type') == 'AutoAttack' else None
    if version is not None:
        if cfg.get('type') != 'AutoAttack':
            raise ConfigError(f"evaluation.datasets {dataset.name!r}: attack_version={version!r} selects "
                              f"AutoAttack stages, but evaluation.attack is {cfg.get('type')!r}. Use "
                              f"attack=dict(type='AutoAttack', ...) or leave attack_version='auto'.")
        cfg['version'] = version
        cfg.pop('attacks', None)
    return cfg


def build_attack(cfg: Dict[str, Any], eps: float, seed: int) -> Attack:
    """The attack ``cfg`` at radius ``eps`` (1/255 units) with its random draws seeded by ``seed``."""
    return ATTACKS.build({**cfg, 'eps': eps, 'seed': seed})
