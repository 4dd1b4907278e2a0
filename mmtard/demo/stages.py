"""The embedded demo's pipeline: base CLIP -> clean and robust teachers -> four students -> evaluation.

Every stage is an ordinary config in ``mmtard/demo/configs/`` (installed with the package) that ``mmtard train`` runs alone; the
pipeline only fills in the checkpoints of earlier stages, the seed, and (for the test suite) a
smaller size. A stage whose final checkpoint exists is reused, so a rerun costs only the report.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ..config import load_config
from ..errors import ConfigError
from ..evaluation.plan import fingerprint

CONFIG_DIR = Path(__file__).resolve().parent / 'configs'  # package data: works from any install


@dataclass(frozen=True)
class Stage:
    """One training run of the chain.

    ``inputs`` maps a config key to the stage whose final checkpoint it receives; ``kind`` is
    'base', 'teacher' or 'student' (students are repeated per seed, the rest trained once);
    ``options`` are config overrides on top of the stage's config file (a study's variants).
    """

    name: str
    label: str
    config: str
    kind: str
    inputs: Dict[str, str] = field(default_factory=dict)
    options: Dict[str, Any] = field(default_factory=dict)


STUDENT_INPUTS = {'model.student.pretrained': 'base'}
TEACHER_INPUTS = {**STUDENT_INPUTS, 'model.teachers.0.encoder.pretrained': 'clean-teacher',
                  'model.teachers.1.encoder.pretrained': 'robust-teacher'}
STAGES = (
    Stage('base', 'base CLIP', 'clip-pretrain_tiny-vit_none_no-attack_1200it_shapes-mnist.py', 'base'),
    Stage('clean-teacher', 'clean teacher', 'clean-finetune_tiny-vit_none_no-attack_400it_shapes.py', 'teacher',
          STUDENT_INPUTS),
    Stage('robust-teacher', 'PMG-AFT teacher', 'pmg-aft_tiny-vit_frozen-base_pgd3-eps4_500it_shapes.py', 'teacher',
          STUDENT_INPUTS),
    Stage('undefended', 'undefended student', 'clean-finetune_tiny-vit_none_no-attack_500it_shapes.py', 'student',
          STUDENT_INPUTS),
    Stage('single-ard', 'single-teacher ARD', 'single-teacher-ard_tiny-vit_tiny-pmg-aft_pgd5-eps4_500it_shapes.py',
          'student', {**STUDENT_INPUTS, 'model.teacher.pretrained': 'robust-teacher'}),
    Stage('mmtard-reference', 'MMT-ARD (reference cosine)',
          'mmtard_tiny-vit_tiny-clean-pmg-aft_pgd5-eps4_500it_shapes.py', 'student', TEACHER_INPUTS),
    Stage('mmtard-dynamic', 'MMT-ARD (dynamic confidence)',
          'mmtard-dynamic-confidence_tiny-vit_tiny-clean-pmg-aft_pgd5-eps4_500it_shapes.py', 'student',
          TEACHER_INPUTS),
)


@dataclass
class Size:
    """How big the demo runs: ``full`` is the README's, ``smoke`` is the test suite's miniature."""

    name: str
    iters_scale: float
    train_samples: int
    val_samples: int
    eval_clean: int
    eval_robust: int
    apgd_iters: int
    apgd_targets: int

    @classmethod
    def named(cls, name: str) -> 'Size':
        sizes = {
            'full': cls('full', 1.0, 20000, 512, 1000, 400, 20, 3),
            'smoke': cls('smoke', 0.01, 512, 64, 64, 32, 3, 1),
        }
        if name not in sizes:
            raise ConfigError(f'Unknown demo size {name!r}; use one of {sorted(sizes)}.')
        return sizes[name]


@dataclass
class Run:
    """A finished (or reused) training run."""

    stage: Stage
    seed: int
    work_dir: Path
    checkpoint: Path
    config: Path
    seconds: float
    reused: bool


def stage_dir(root: Path, stage: Stage, seed: int, settings: str) -> Path:
    """``<root>/<stage>/<settings fingerprint>[/seed<k>]``: changed settings never reuse (or
    overwrite) a run made with other ones; changed upstream checkpoints change the fingerprint too."""
    base = root / stage.name / settings
    return base / f'seed{seed}' if stage.kind == 'student' else base


def final_checkpoint(work_dir: Path, max_iters: int) -> Path:
    return work_dir / f'iter_{max_iters}.pth'


def scaled_iters(max_iters: int, size: Size) -> int:
    """A stage's iterations at ``size``."""
    return max_iters if size.name == 'full' else max(2, int(round(max_iters * size.iters_scale)))


def size_options(cfg: Any, size: Size) -> Dict[str, Any]:
    """Config overrides that shrink a stage to ``size`` (nothing for 'full')."""
    if size.name == 'full':
        return {}
    iters = scaled_iters(cfg.train_cfg.max_iters, size)
    options: Dict[str, Any] = {
        'train_cfg.max_iters': iters, 'train_cfg.val_interval': iters,
        'default_hooks.checkpoint.interval': iters, 'default_hooks.logger.interval': 1,
        'val_dataloader.dataset.num_samples': size.val_samples,
        'param_scheduler': [dict(type='LinearLR', start_factor=0.5, by_epoch=False, begin=0, end=1),
                            dict(type='CosineAnnealingLR', by_epoch=False, begin=1, end=iters, eta_min=0.0)],
    }
    options[f'{shapes_key(cfg)}.num_samples'] = size.train_samples
    if cfg.train_dataloader.dataset.type == 'ConcatCaptions':
        options['train_dataloader.dataset.datasets.1.dataset.num_samples'] = size.train_samples // 4
    options['train_dataloader.batch_size'] = min(cfg.train_dataloader.batch_size, 32)
    return options


def shapes_key(cfg: Any) -> str:
    """Config key of the training set's shapes dataset (the first part of the base model's mix)."""
    if cfg.train_dataloader.dataset.type == 'ConcatCaptions':
        return 'train_dataloader.dataset.datasets.0'
    return 'train_dataloader.dataset'


def train_stage(stage: Stage, seed: int, root: Path, size: Size, finished: Dict[str, Run],
                log: Callable[[str], None]) -> Run:
    """Train one stage (or reuse its final checkpoint) and return where its weights are."""
    from ..apis.train import has_checkpoints, train

    config = CONFIG_DIR / stage.config
    if not config.is_file():
        raise ConfigError(f'The demo config {config} is missing from the installed mmtard package: reinstall '
                          f'it (pip install mmtard, or pip install -e . from a clone).')
    cfg = load_config(config)
    options = {**size_options(cfg, size), **stage.options}
    options.update({key: str(finished[source].checkpoint) for key, source in stage.inputs.items()})
    options['log_level'] = 'WARNING'  # the pipeline reports progress itself; mmengine's INFO would drown it
    shapes_cache = str(root / '.cache' / 'shapes')
    options[f'{shapes_key(cfg)}.cache_dir'] = shapes_cache
    options['val_dataloader.dataset.cache_dir'] = shapes_cache
    settings = fingerprint([cfg.to_dict(), options])
    options['randomness.seed'] = seed
    work_dir = stage_dir(root, stage, seed, settings)
    max_iters = options.get('train_cfg.max_iters', cfg.train_cfg.max_iters)
    checkpoint = final_checkpoint(work_dir, max_iters)
    marker = work_dir / 'stage.json'
    if checkpoint.is_file() and marker.is_file():
        log(f'[dim]reusing[/] {stage.label} (seed {seed}): {checkpoint}')
        seconds = json.loads(marker.read_text())['seconds']
        return Run(stage, seed, work_dir, checkpoint, config, seconds, reused=True)
    log(f'[bold]training[/] {stage.label} (seed {seed}) -> {work_dir}')
    start = time.perf_counter()
    train(config, work_dir=work_dir, resume='auto' if has_checkpoints(work_dir) else None, cfg_options=options)
    seconds = time.perf_counter() - start
    marker.write_text(json.dumps({'seconds': seconds, 'options': options}, indent=2, default=str) + '\n')
    return Run(stage, seed, work_dir, checkpoint, config, seconds, reused=False)


def train_all(root: Path, seeds: List[int], size: Size, log: Callable[[str], None],
              stages: Optional[List[Stage]] = None) -> List[Run]:
    """Every stage in order: base and teachers once, students once per seed."""
    runs: List[Run] = []
    finished: Dict[str, Run] = {}
    for stage in stages or STAGES:
        for seed in (seeds if stage.kind == 'student' else seeds[:1]):
            run = train_stage(stage, seed, root, size, finished, log)
            runs.append(run)
            finished.setdefault(stage.name, run)
    return runs
