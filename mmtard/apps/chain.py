"""The miniature's training chain: base CLIPs -> clean and robust teachers -> students, per seed.

Every stage is an ordinary config in ``mmtard/apps/configs/`` (installed with the package) that
``mmtard train`` runs alone; the chain only fills in the checkpoints of earlier stages, the seed and
(for the test suite) a smaller size. A seed is a whole chain: each seed trains its own base CLIPs
and teachers, so seed-to-seed spread covers the teachers' variance too, not only the students'. A
stage whose final checkpoint exists is reused, so a rerun costs only the report; chain seed 0's
pretraining stages ship with the package (:mod:`mmtard.apps.shipped`) unless asked to train them.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

import torch

from ..atomic_files import write_bytes_atomic
from ..config import load_config
from ..errors import ConfigError
from ..evaluation.hashing import fingerprint
from ..evaluation.results import RESULTS_JSON
from .shipped import shipped_file, unpack

CONFIG_DIR = Path(__file__).resolve().parent / 'configs'  # package data: works from any install
#: The student's base CLIP and, pretrained separately with its own seed, the teachers' larger one.
STUDENT_ARCH, TEACHER_ARCH = 'mmtard-tiny-vit', 'mmtard-small-vit'
#: Added to the chain seed for the teachers' base CLIP, so its data order is not the student base's.
TEACHER_SEED_OFFSET = 100


@dataclass(frozen=True)
class Stage:
    """One training run of the chain.

    ``inputs`` maps a config key to the stage whose final checkpoint it receives; ``kind`` is
    'base', 'teacher' or 'student'; ``options`` are config overrides on top of the stage's config file
    (a study's variants); ``seed_offset`` is added to the chain seed for this stage's randomness.
    """

    name: str
    label: str
    config: str
    kind: str
    inputs: Dict[str, str] = field(default_factory=dict)
    options: Dict[str, Any] = field(default_factory=dict)
    seed_offset: int = 0


def robust_teacher_options(eps: float) -> Dict[str, Any]:
    """PMG-AFT trained at ``eps`` (1/255 units) with its config's PGD-3 shape: step 2.5 eps / 3."""
    return {'model.attack.eps': eps, 'model.attack.step_size': 2.5 * eps / 3}


def student_eps_options(eps: float) -> Dict[str, Any]:
    """A student trained (and validated) at ``eps`` instead of its config's 4/255."""
    return {'model.attack.eps': eps, 'model.val_attack.eps': eps}


STUDENT_INPUTS = {'model.student.pretrained': 'base'}
TEACHER_BASE_INPUTS = {'model.student.pretrained': 'teacher-base'}
TEACHER_INPUTS = {**STUDENT_INPUTS, 'model.teachers.0.encoder.pretrained': 'clean-teacher',
                  'model.teachers.1.encoder.pretrained': 'robust-teacher'}
BASE = Stage('base', 'base CLIP (student)', 'clip-pretrain_tiny-vit_none_no-attack_1200it_shapes-mnist.py', 'base')
TEACHER_BASE = Stage('teacher-base', 'base CLIP (teachers, 3.7x wider)',
                     'clip-pretrain_small-vit_none_no-attack_1200it_shapes-mnist.py', 'base',
                     seed_offset=TEACHER_SEED_OFFSET)
CLEAN_TEACHER = Stage('clean-teacher', 'clean teacher', 'clean-finetune_small-vit_none_no-attack_400it_shapes.py',
                      'teacher', TEACHER_BASE_INPUTS)
ROBUST_TEACHER = Stage('robust-teacher', 'PMG-AFT teacher', 'pmg-aft_small-vit_frozen-base_pgd3-eps4_500it_shapes.py',
                       'teacher', TEACHER_BASE_INPUTS)
UPSTREAM = (BASE, TEACHER_BASE, CLEAN_TEACHER, ROBUST_TEACHER)
STUDENTS = (
    Stage('undefended', 'undefended student', 'clean-finetune_tiny-vit_none_no-attack_500it_shapes.py', 'student',
          STUDENT_INPUTS),
    Stage('single-ard', 'single-teacher ARD', 'single-teacher-ard_tiny-vit_small-pmg-aft_pgd5-eps4_500it_shapes.py',
          'student', {**STUDENT_INPUTS, 'model.teacher.pretrained': 'robust-teacher'}),
    Stage('mmtard-reference', 'MMT-ARD (reference cosine)',
          'mmtard_tiny-vit_small-clean-pmg-aft_pgd5-eps4_500it_shapes.py', 'student', TEACHER_INPUTS),
    Stage('mmtard-dynamic', 'MMT-ARD (dynamic confidence)',
          'mmtard-dynamic-confidence_tiny-vit_small-clean-pmg-aft_pgd5-eps4_500it_shapes.py', 'student',
          TEACHER_INPUTS),
)
#: The embedded demo's chain.
STAGES = UPSTREAM + STUDENTS


@dataclass
class Size:
    """How big the chain runs: ``full`` is the README's, ``smoke`` is the test suite's miniature."""

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
            raise ConfigError(f'Unknown size {name!r}; use one of {sorted(sizes)}.')
        return sizes[name]


@dataclass
class Run:
    """A finished training run: trained now, reused from an earlier run, or unpacked from the package.

    ``recipe`` fingerprints what makes its weights wherever they are stored: the stage's config and
    overrides, its seed and its inputs' recipes.
    """

    stage: Stage
    seed: int
    work_dir: Path
    checkpoint: Path
    config: Path
    seconds: float
    origin: str  # 'trained', 'reused' or 'shipped'
    recipe: str

    def evaluation_results(self, section: Dict[str, Any]) -> Path:
        """Where the run's evaluation under ``section`` (an ``evaluation`` section) writes its rows:
        other settings, other folder."""
        return self.work_dir / 'eval' / fingerprint(section) / RESULTS_JSON


def stage_dir(root: Path, stage: Stage, seed: int, settings: str) -> Path:
    """``<root>/<stage>/<settings fingerprint>/seed<k>``: changed settings never reuse (or overwrite) a
    run made with other ones; changed upstream checkpoints change the fingerprint too."""
    return root / stage.name / settings / f'seed{seed}'


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


def stage_options(stage: Stage, root: Path, size: Size, inputs: Dict[str, 'Run']) -> Tuple[Any, Dict[str, Any]]:
    """The stage's config and every override the chain applies to it (seed excluded)."""
    config = CONFIG_DIR / stage.config
    if not config.is_file():
        raise ConfigError(f'The stage config {config} is missing from the installed mmtard package: reinstall '
                          f'it (pip install mmtard, or pip install -e . from a clone).')
    cfg = load_config(config)
    options = {**size_options(cfg, size), **stage.options}
    options.update({key: str(inputs[source].checkpoint) for key, source in stage.inputs.items()})
    options['log_level'] = 'WARNING'  # the chain reports progress itself; mmengine's INFO would drown it
    shapes_cache = str(root / '.cache' / 'shapes')
    options[f'{shapes_key(cfg)}.cache_dir'] = shapes_cache
    options['val_dataloader.dataset.cache_dir'] = shapes_cache
    return cfg, options


def recipe(stage: Stage, seed: int, size: Size, cfg: Any, inputs: Dict[str, Run]) -> str:
    """:attr:`Run.recipe`: the stage's settings without the paths where this chain stores things."""
    return fingerprint([cfg.to_dict(), {**size_options(cfg, size), **stage.options}, seed + stage.seed_offset,
                        {key: inputs[source].recipe for key, source in sorted(stage.inputs.items())}])


def _planned(stage: Stage, seed: int, root: Path, size: Size, inputs: Dict[str, Run]
             ) -> Tuple[Dict[str, Any], str, Path, Path]:
    """The stage's training options, recipe, work dir and final checkpoint in this chain."""
    cfg, options = stage_options(stage, root, size, inputs)
    settings = fingerprint([cfg.to_dict(), options])
    made_by = recipe(stage, seed, size, cfg, inputs)
    options['randomness.seed'] = seed + stage.seed_offset
    work_dir = stage_dir(root, stage, seed, settings)
    max_iters = options.get('train_cfg.max_iters', cfg.train_cfg.max_iters)
    return options, made_by, work_dir, work_dir / f'iter_{max_iters}.pth'


def _finished(stage: Stage, seed: int, made_by: str, work_dir: Path, checkpoint: Path) -> Optional[Run]:
    """The run its marker records, once the final checkpoint and the marker (written last) exist."""
    marker = work_dir / 'stage.json'
    if not (checkpoint.is_file() and marker.is_file()):
        return None
    record = json.loads(marker.read_text())
    return Run(stage, seed, work_dir, checkpoint, CONFIG_DIR / stage.config, record['seconds'],
               'shipped' if record.get('shipped') else 'reused', made_by)


def finished_run(stage: Stage, seed: int, root: Path, size: Size, inputs: Dict[str, Run]) -> Optional[Run]:
    """The stage's run if an earlier run of the chain finished it (trained or unpacked), else None."""
    _, made_by, work_dir, checkpoint = _planned(stage, seed, root, size, inputs)
    return _finished(stage, seed, made_by, work_dir, checkpoint)


def train_stage(stage: Stage, seed: int, root: Path, size: Size, inputs: Dict[str, Run],
                log: Callable[[str], None], use_shipped: bool) -> Run:
    """Train one stage of chain ``seed`` (or reuse its final checkpoint, or unpack the package's weights
    made by the same recipe unless ``use_shipped`` is false); ``inputs`` holds the runs of the stages
    it starts from, by stage name."""
    from ..apis.train import has_checkpoints, train

    options, made_by, work_dir, checkpoint = _planned(stage, seed, root, size, inputs)
    finished = _finished(stage, seed, made_by, work_dir, checkpoint)
    if finished is not None:
        log(f'[dim]reusing[/] {stage.label} (seed {seed}): {checkpoint}')
        return finished
    marker = work_dir / 'stage.json'
    config = CONFIG_DIR / stage.config
    shipped = shipped_file(stage.name, seed, size.name, made_by, log) if use_shipped else None
    if shipped is not None:
        log(f'[bold]unpacking[/] {stage.label} (seed {seed}), shipped with mmtard ([dim]--from-scratch trains it[/])'
            f' -> {work_dir}')
        start = time.perf_counter()
        unpack(shipped['path'], checkpoint, shipped.get('left_out_teachers', ()),
               load_config(config, options).pretty_text)
        seconds, origin = time.perf_counter() - start, 'shipped'
    else:
        log(f'[bold]training[/] {stage.label} (seed {seed}) -> {work_dir}')
        start = time.perf_counter()
        train(config, work_dir=work_dir, resume='auto' if has_checkpoints(work_dir) else None, cfg_options=options)
        seconds, origin = time.perf_counter() - start, 'trained'
    done = {'seconds': seconds, 'options': options, 'recipe': made_by, 'shipped': origin == 'shipped'}
    write_bytes_atomic(marker, (json.dumps(done, indent=2, default=str) + '\n').encode())  # a kill never halves it
    return Run(stage, seed, work_dir, checkpoint, config, seconds, origin, made_by)


def train_job(stage: Stage, seed: int, inputs: Dict[str, Run], threads: int, root: Path, size: Size,
              log: Callable[[str], None], use_shipped: bool) -> Tuple[Run]:
    """:func:`run_jobs`'s work for a training-only job."""
    torch.set_num_threads(threads)  # parallel workers must not oversubscribe the cores
    return (train_stage(stage, seed, root, size, inputs, log, use_shipped),)

