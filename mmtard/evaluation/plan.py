"""What a benchmark runs: the config's ``evaluation`` section, budget presets, and its cost.

The field's protocol (docs/method.md section 6) is a handful of numbers that are easy to get subtly
wrong by hand: which eps, how many samples per dataset, which attack stages (APGD-CE only for
binary tasks). They live here once, as named presets, and the plan printed before a run says how
many attack passes that protocol costs, so nobody starts a three-day evaluation by accident.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from rich.table import Table

from ..attacks.apgd import APGD
from ..attacks.base import Attack
from ..attacks.units import to_pixels
from ..checks import check_positive_int
from ..errors import ConfigError, did_you_mean
from ..registry import ATTACKS

#: Sample budgets and eps (1/255 units) of each preset; ``n_clean=None`` is the whole split.
PRESETS: Dict[str, Dict[str, Any]] = {
    'quick': dict(n_clean=256, n_robust=64, eps=[2]),
    'paper': dict(n_clean=None, n_robust=1000, eps=[1, 2, 4]),
}
BUDGET_KEYS = ('n_clean', 'n_robust', 'eps')
DEFAULTS: Dict[str, Any] = dict(
    preset='quick',
    datasets=[],
    attack=dict(type='AutoAttack', version='custom'),  # APGD-CE + APGD-T (9 targets), 100 it. each
    retrieval_attack=dict(type='APGD', loss='ce'),  # images pushed away from their own caption
    batch_size=64,
    seed=0,
    logit_scale=100.0,
    cache_dir=None,
)
DATASET_KEYS = ('dataset', 'name', 'classnames', 'templates', 'attack_version', 'task')
TASKS = ('classification', 'retrieval')


@dataclass
class DatasetSpec:
    """One benchmark dataset: a DATASETS config plus evaluation-only overrides.

    ``classnames`` / ``templates``: None for the dataset's own, a list, or a named set ('imagenet');
    ``attack_version``: 'auto' (AutoAttack 'apgd-ce' for 2-class tasks, else the benchmark's
    attack), or an AutoAttack version for this dataset; ``task``: None infers it (a dataset with
    captions and no class names is a retrieval dataset).
    """

    name: str
    dataset: Dict[str, Any]
    classnames: Any = None
    templates: Any = None
    attack_version: str = 'auto'
    task: Optional[str] = None


@dataclass
class BenchmarkSpec:
    """The whole benchmark, budgets resolved."""

    datasets: List[DatasetSpec]
    eps: List[float]
    n_clean: Optional[int]
    n_robust: int
    attack: Dict[str, Any]
    retrieval_attack: Dict[str, Any]
    batch_size: int
    seed: int
    logit_scale: float
    cache_dir: Optional[str]
    preset: str = 'quick'


def _plain(value: Any) -> Any:
    """mmengine ConfigDicts / tuples -> plain dicts and lists (JSON-able, safely mutable)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _dataset_name(cfg: Dict[str, Any]) -> str:
    source = cfg.get('root') or cfg.get('csv_file')
    return str(cfg.get('name') or (Path(str(source)).stem if source else cfg.get('type', 'dataset')))


def _dataset_spec(entry: Any, position: int) -> DatasetSpec:
    entry = _plain(entry)
    if not isinstance(entry, dict):
        raise ConfigError(f'evaluation.datasets[{position}] must be a dict, got {entry!r}.')
    if 'type' in entry:  # a bare DATASETS config
        entry = {'dataset': entry}
    unknown = [k for k in entry if k not in DATASET_KEYS]
    if unknown or 'dataset' not in entry:
        key = unknown[0] if unknown else 'dataset'
        raise ConfigError(
            f'evaluation.datasets[{position}] has {"no key" if not unknown else "the unknown key"} {key!r}.'
            f'{did_you_mean(key, DATASET_KEYS) if unknown else ""} An entry is a DATASETS config '
            f"(dict(type=...)) or dict(dataset=dict(type=...), name=..., classnames=..., templates=..., "
            f"attack_version='auto', task=None).")
    if entry.get('task') is not None and entry['task'] not in TASKS:
        raise ConfigError(f"evaluation.datasets[{position}].task={entry['task']!r} must be one of {TASKS} or None.")
    return DatasetSpec(name=str(entry.get('name') or _dataset_name(entry['dataset'])), dataset=entry['dataset'],
                       classnames=entry.get('classnames'), templates=entry.get('templates'),
                       attack_version=entry.get('attack_version', 'auto'), task=entry.get('task'))


def benchmark_spec(evaluation: Optional[Mapping[str, Any]], preset: Optional[str] = None,
                   fallback_dataset: Optional[Mapping[str, Any]] = None) -> BenchmarkSpec:
    """Resolve the config's ``evaluation`` section.

    Budgets: those of ``preset`` when given (the ``--preset`` option wins over the config);
    otherwise the config's ``n_clean`` / ``n_robust`` / ``eps`` over its own ``preset`` (default
    'quick'). Without datasets, ``fallback_dataset`` (the config's validation set) is used.
    """
    section = _plain(evaluation or {})
    unknown = [k for k in section if k not in DEFAULTS and k not in BUDGET_KEYS]
    if unknown:
        raise ConfigError(f'evaluation.{unknown[0]} is not an evaluation setting.'
                          f'{did_you_mean(unknown[0], [*DEFAULTS, *BUDGET_KEYS])} Settings: '
                          f'{", ".join([*DEFAULTS, *BUDGET_KEYS])}.')
    settings = {**DEFAULTS, **section}
    for key in ('attack', 'retrieval_attack'):  # `-o evaluation.attack.n_iter=10` tunes the default attack
        if isinstance(settings[key], dict) and 'type' not in settings[key]:
            settings[key] = {**DEFAULTS[key], **settings[key]}
    chosen = preset or settings['preset']
    if chosen not in PRESETS:
        raise ConfigError(f'Unknown evaluation preset {chosen!r}.{did_you_mean(chosen, PRESETS)} '
                          f'Presets: {", ".join(PRESETS)}.')
    budgets = dict(PRESETS[chosen]) if preset else {**PRESETS[chosen], **{k: section[k] for k in BUDGET_KEYS
                                                                            if k in section}}
    entries = settings['datasets'] or ([fallback_dataset] if fallback_dataset else [])
    if not entries:
        raise ConfigError('The config names no dataset to evaluate on: add evaluation = dict(datasets=[...]) '
                          '(see configs/_base_/evaluation/), or a val_dataloader.')
    datasets = [_dataset_spec(entry, i) for i, entry in enumerate(entries)]
    names = [d.name for d in datasets]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f'evaluation.datasets names {twice} more than once; give each entry its own name=.')
    eps = [float(e) for e in (budgets['eps'] if isinstance(budgets['eps'], (list, tuple)) else [budgets['eps']])]
    for value in eps:
        to_pixels(value, 'evaluation.eps')
    n_clean = None if budgets['n_clean'] is None else check_positive_int(budgets['n_clean'], 'evaluation.n_clean')
    n_robust = check_positive_int(budgets['n_robust'], 'evaluation.n_robust')
    if eps and n_clean is not None and n_clean < n_robust:
        raise ConfigError(f'evaluation.n_robust={n_robust} exceeds n_clean={n_clean}: the attacked samples are '
                          f'a subset of the clean ones. Lower n_robust, or raise n_clean (None: the whole split).')
    return BenchmarkSpec(
        datasets=datasets, eps=eps, n_clean=n_clean, n_robust=n_robust,
        attack=settings['attack'], retrieval_attack=settings['retrieval_attack'],
        batch_size=check_positive_int(settings['batch_size'], 'evaluation.batch_size'),
        seed=int(settings['seed']), logit_scale=float(settings['logit_scale']),
        cache_dir=settings['cache_dir'], preset=chosen)


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
    return ATTACKS.build({**cfg, 'eps': eps, 'seed': seed})


def derived_seed(*parts: Any) -> int:
    """A 31-bit seed that depends only on ``parts``: each batch's attack is seeded by (benchmark
    seed, dataset, eps, batch), so a resumed run draws what an uninterrupted one would."""
    digest = hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).digest()
    return int.from_bytes(digest[:4], 'little') & 0x7FFFFFFF


def fingerprint(value: Any) -> str:
    """Short sha256 of a JSON-able value (the settings a partial result depends on)."""
    return hashlib.sha256(json.dumps(_plain(value), sort_keys=True, default=str).encode()).hexdigest()[:16]


def stage_passes(attack: Attack, num_classes: int) -> Dict[str, int]:
    """Upper bound of forward+backward passes per attacked sample, per stage (every sample
    surviving every iteration, restart and target)."""
    passes = {}
    for stage in getattr(attack, 'stages', [attack]):
        iters = getattr(stage, 'n_iter', None) or getattr(stage, 'steps', None) or getattr(stage, 'n_queries', 1)
        targets = min(stage.n_target_classes, max(num_classes - 1, 1)) if stage.name.endswith('-t') else 1
        iters = int(iters) + (1 if isinstance(stage, APGD) else 0)  # APGD also evaluates its start point
        passes[stage.name] = iters * getattr(stage, 'n_restarts', 1) * targets
    return passes


def format_duration(seconds: float) -> str:
    if seconds < 120:
        return f'{seconds:.0f} s'
    if seconds < 7200:
        return f'{seconds / 60:.0f} min'
    return f'{seconds / 3600:.1f} h'


@dataclass
class PlanRow:
    """One dataset of the plan: what runs on it and its attack cost (passes of one image)."""

    dataset: str
    task: str
    num_classes: int
    n_clean: int
    n_robust: int
    eps: List[float]
    stages: Dict[str, int]

    @property
    def passes(self) -> int:
        """Upper bound of forward(+backward) passes of one image: clean forwards plus every stage
        of every eps on every attacked sample."""
        return self.n_clean + self.n_robust * len(self.eps) * sum(self.stages.values())


def plan_table(rows: List[PlanRow]) -> Table:
    table = Table(title='evaluation plan')
    for column in ('dataset', 'task', 'classes', 'n clean / robust', 'eps (/255)', 'attack (passes per sample)',
                   'max passes'):
        table.add_column(column, overflow='fold',
                         justify='left' if column in ('dataset', 'task', 'attack (passes per sample)') else 'right')
    for row in rows:
        table.add_row(row.dataset, row.task, str(row.num_classes or '-'), f'{row.n_clean} / {row.n_robust}',
                      ', '.join(f'{e:g}' for e in row.eps) or '-',
                      ' + '.join(f'{name} {passes}' for name, passes in row.stages.items()) or '-',
                      f'{row.passes:,}')
    return table


def cost_summary(rows: List[PlanRow], seconds_per_batch: float, batch_size: int) -> str:
    """One line: total passes and the time they take at the calibrated speed."""
    passes = sum(row.passes for row in rows)
    return (f'At most {passes:,} forward+backward passes of one image; one batch of {batch_size} took '
            f'{seconds_per_batch:.3g} s, so at most about {format_duration(passes / batch_size * seconds_per_batch)} '
            f'(early stops of AutoAttack on broken samples make it faster).')
