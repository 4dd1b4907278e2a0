"""What a benchmark runs: the config's ``evaluation`` section resolved over named budget presets.

The field's protocol (docs/method.md section 6) is a handful of numbers that are easy to get subtly
wrong by hand: which eps, how many samples per dataset, how they are drawn. They live here once, as
named presets; which attack each dataset gets is :mod:`.attack_choice`'s.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from ..attacks.units import to_pixels
from ..errors import ConfigError, did_you_mean
from ..registry import EVAL_TASKS
from ..value_checks import check_choice, check_positive_int, check_positive_number
from .hashing import plain_data

#: How the evaluated samples are chosen (:func:`mmtard.evaluation.benchmark.evaluation_subset`):
#: 'random' - the first n of a seeded shuffle, as CLIP_benchmark's shuffled loader gives them;
#: 'class-balanced-random' - a seeded subset spread evenly over the classes ('random' where a
#: dataset does not expose its labels); 'first-n' - the first n in the dataset's own order;
#: 'clip-benchmark' - the n that CLIP_benchmark's ``--n_samples n --seed seed`` reads from a webdataset
#: (its seeded shuffle buffer over the shards; RobustVLM's and the MMT-ARD release's robust samples).
SAMPLINGS = ('random', 'class-balanced-random', 'first-n', 'clip-benchmark')

#: Sample budgets, eps (1/255 units) and sampling of each preset; ``n_clean=None`` is the whole split.
#: ``datasets`` holds budgets of named benchmark datasets that differ from the rest.
#: 'mmt-ard-release' is what the MMT-ARD release ran (with AutoAttack 'custom', the default attack):
#: ImageNet through RobustBench's loader, 5000 val images, every one attacked (CLIP_eval/
#: clip_robustbench.py); the zero-shot datasets through CLIP_benchmark, clean accuracy on the whole
#: split (run_benchmark_clean.sh) and robust accuracy on the first 1000 samples of its loader
#: (run_benchmark_adv.sh), which shuffles with a seed when a sample count is given (cli.py), hence
#: 'random'. Read from the same webdataset shards (``--dataset wds/<name>``), rows name every attacked
#: sample by its index in them (``sample_indices``), so evaluations are matched sample by sample; the
#: release's own seeded draw is not replayed (mmtard draws its own, seeded, and records it).
PRESETS: Dict[str, Dict[str, Any]] = {
    'quick': dict(n_clean=256, n_robust=64, eps=[2], sampling='class-balanced-random', datasets={}),
    'mmt-ard-release': dict(n_clean=None, n_robust=1000, eps=[1, 2, 4], sampling='random',
                            datasets={'imagenet': dict(n_clean=5000, n_robust=5000)}),
}
#: Other names a preset answers to; results record the preset's own name.
PRESET_ALIASES = {'paper': 'mmt-ard-release'}
BUDGET_KEYS = ('n_clean', 'n_robust', 'eps', 'sampling')
DEFAULTS: Dict[str, Any] = dict(
    preset='quick',
    datasets=[],
    attack=dict(type='AutoAttack', version='custom'),  # APGD-CE (5 restarts) + APGD-T (9 targets), 100 it. each
    retrieval_attack=dict(type='APGD', loss='ce'),  # images pushed away from their own caption
    batch_size=64,
    seed=0,
    logit_scale=100.0,
    cache_dir=None,
)
DATASET_KEYS = ('dataset', 'name', 'classnames', 'templates', 'attack_version', 'task')


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
    """The whole benchmark, budgets resolved; ``dataset_budgets``: per dataset name, the
    ``n_clean`` / ``n_robust`` that differ from the common ones (read them through :meth:`budget`)."""

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
    sampling: str = 'class-balanced-random'
    dataset_budgets: Dict[str, Dict[str, Optional[int]]] = field(default_factory=dict)

    @property
    def attacked_eps(self) -> List[float]:
        """The radii an attack runs at. At eps 0 no perturbation can change a prediction, so its row is
        the clean row (no attack, like a run without eps), never an attack's label over clean numbers."""
        return [eps for eps in self.eps if eps > 0]

    def budget(self, dataset: str) -> Tuple[Optional[int], int]:
        """``(n_clean, n_robust)`` of the named dataset."""
        own = self.dataset_budgets.get(dataset, {})
        return own.get('n_clean', self.n_clean), own.get('n_robust', self.n_robust)


def _dataset_name(cfg: Dict[str, Any]) -> str:
    source = cfg.get('root') or cfg.get('csv_file')
    return str(cfg.get('name') or (Path(str(source)).stem if source else cfg.get('type', 'dataset')))


def _dataset_spec(entry: Any, position: int) -> DatasetSpec:
    entry = plain_data(entry)
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
    if entry.get('task') is not None and EVAL_TASKS.find(entry['task']) is None:
        tasks = list(EVAL_TASKS.module_dict)
        raise ConfigError(f"evaluation.datasets[{position}].task={entry['task']!r} is not an evaluation task."
                          f"{did_you_mean(str(entry['task']), tasks)} Tasks: {', '.join(tasks)}, or None to infer it.")
    return DatasetSpec(name=str(entry.get('name') or _dataset_name(entry['dataset'])), dataset=entry['dataset'],
                       classnames=entry.get('classnames'), templates=entry.get('templates'),
                       attack_version=entry.get('attack_version', 'auto'), task=entry.get('task'))


def benchmark_spec(evaluation: Optional[Mapping[str, Any]], preset: Optional[str] = None,
                   fallback_dataset: Optional[Mapping[str, Any]] = None) -> BenchmarkSpec:
    """Resolve the config's ``evaluation`` section.

    Budgets: those of ``preset`` when given (the ``--preset`` option wins over the config);
    otherwise the config's ``n_clean`` / ``n_robust`` / ``eps`` / ``sampling`` over its own
    ``preset`` (default 'quick'), whose per-dataset budgets yield to a count the config sets.
    Without datasets, ``fallback_dataset`` (the config's validation set) is used.
    """
    section = plain_data(evaluation or {})
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
    preset_names = [*PRESETS, *PRESET_ALIASES]
    if chosen not in preset_names:
        aliases = ', '.join(f'{alias}: {preset}' for alias, preset in PRESET_ALIASES.items())
        raise ConfigError(f'Unknown evaluation preset {chosen!r}.{did_you_mean(chosen, preset_names)} '
                          f'Presets: {", ".join(PRESETS)} ({aliases}).')
    chosen = PRESET_ALIASES.get(chosen, chosen)
    own = {} if preset else {k: section[k] for k in BUDGET_KEYS if k in section}
    budgets = {**PRESETS[chosen], **own}
    dataset_budgets = {name: {k: v for k, v in counts.items() if k not in own}
                       for name, counts in PRESETS[chosen]['datasets'].items()}
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
        to_pixels(value, 'evaluation.eps', allow_sub_unit=bool(settings['attack'].get('allow_sub_unit_eps')))
    n_clean = None if budgets['n_clean'] is None else check_positive_int(budgets['n_clean'], 'evaluation.n_clean')
    n_robust = check_positive_int(budgets['n_robust'], 'evaluation.n_robust')
    spec = BenchmarkSpec(
        datasets=datasets, eps=eps, n_clean=n_clean, n_robust=n_robust,
        attack=settings['attack'], retrieval_attack=settings['retrieval_attack'],
        batch_size=check_positive_int(settings['batch_size'], 'evaluation.batch_size'),
        seed=int(settings['seed']),
        logit_scale=check_positive_number(settings['logit_scale'], 'evaluation.logit_scale'),
        cache_dir=settings['cache_dir'], preset=chosen,
        sampling=check_choice(budgets['sampling'], SAMPLINGS, 'evaluation.sampling'), dataset_budgets=dataset_budgets)
    for name in names if spec.attacked_eps else []:
        clean, robust = spec.budget(name)
        if clean is not None and clean < robust:
            raise ConfigError(f'evaluation.n_robust={robust} exceeds n_clean={clean}'
                              f'{f" for dataset {name!r}" if name in dataset_budgets else ""}: the attacked samples '
                              f'are a subset of the clean ones. Lower n_robust, or raise n_clean (None: the whole '
                              f'split).')
    return spec
