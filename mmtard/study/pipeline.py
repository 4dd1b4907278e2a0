"""Run the study: the demo's base and teachers, every arm for every seed, evaluation, report."""
from __future__ import annotations

import json
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from rich.console import Console

from ..demo.pipeline import default_demo_dir
from ..demo.scoring import EVAL_EPS, HELD13, LOGIT_SCALE, SEEN, demo_attack, score_run
from ..config import load_config
from ..demo.stages import CONFIG_DIR, Run, Size, scaled_iters, train_all, train_stage
from ..errors import ConfigError, did_you_mean
from ..plugins import ensure_plugins_loaded
from .arms import ARMS, BASELINE, UPSTREAM, WEAK_TEACHER, Arm
from .efficiency import Curve, read_curve
from .report import figures, markdown_report

#: Validations along each run (the efficiency curves); the logger's window matches their interval.
VALIDATIONS = 10


@dataclass
class StudySize:
    """The study's budget on top of a demo size: seeds, and the attacked samples per dataset."""

    demo: Size
    n_robust: int

    @classmethod
    def named(cls, name: str) -> 'StudySize':
        robust = {'full': 256, 'smoke': 16}
        if name not in robust:
            raise ConfigError(f'Unknown study size {name!r}; use one of {sorted(robust)}.')
        return cls(Size.named(name), robust[name])


def select_arms(names: Optional[Sequence[str]]) -> List[Arm]:
    """The arms to run, in the study's order; every claim is measured against the baseline."""
    if not names:
        return list(ARMS)
    known = [arm.name for arm in ARMS]
    for name in names:
        if name not in known:
            raise ConfigError(f'Unknown study arm {name!r}.{did_you_mean(name, known)} Arms: {", ".join(known)}.')
    if BASELINE not in names:
        raise ConfigError(f'--arm must include the baseline {BASELINE!r}: every figure compares with it.')
    return [arm for arm in ARMS if arm.name in names]


def validation_interval(arms: Sequence[Arm], size: Size) -> int:
    """Every arm validates this often: VALIDATIONS times along the students' budget."""
    budgets = {load_config(CONFIG_DIR / arm.stage.config).train_cfg.max_iters for arm in arms}
    if len(budgets) != 1:
        raise ConfigError(f'The study compares arms at one training budget; their configs have {sorted(budgets)}.')
    return max(1, scaled_iters(budgets.pop(), size) // VALIDATIONS)


def arm_options(interval: int) -> Dict[str, Any]:
    """Study-wide overrides: validate (and log the timer's window) every ``interval`` iterations."""
    return {'train_cfg.val_interval': interval, 'default_hooks.logger.interval': interval,
            'log_processor.window_size': interval}


def study_benchmark(size: StudySize, cache_dir: Path) -> Dict[str, Any]:
    """Seen classes (the frontier) and the 13 held-out combinations (zero-shot), at the paper's eps."""
    shapes = dict(type='ShapesDataset', split='test', num_samples=size.demo.eval_clean, cache_dir=str(cache_dir))
    return dict(datasets=[dict(name=SEEN, dataset=dict(shapes, classes='seen')),
                          dict(name=HELD13, dataset=dict(shapes, classes='held_out'))],
                eps=list(EVAL_EPS), n_clean=size.demo.eval_clean, n_robust=size.n_robust,
                attack=demo_attack(size.demo), batch_size=250, seed=0, logit_scale=LOGIT_SCALE,
                cache_dir=str(cache_dir.parent / 'text'))


def train_and_score(arm: Arm, seed: int, root: Path, size: StudySize, finished: Dict[str, Run], interval: int,
                    threads: int) -> Tuple[Run, List[Dict[str, Any]]]:
    """Train one arm for one seed (or reuse it) and evaluate it; runs in a worker process."""
    torch.set_num_threads(threads)  # parallel workers must not oversubscribe the cores
    console = Console()
    stage = replace(arm.stage, options={**arm.stage.options, **arm_options(interval)})
    run = train_stage(stage, seed, root, size.demo, finished, console.print)
    console.print(f'[bold]evaluating[/] {arm.stage.label} (seed {seed})')
    records = score_run(run, study_benchmark(size, root / '.cache' / 'shapes'), console)
    rows = [{'arm': arm.name, 'label': arm.stage.label, 'family': arm.family, 'parameter': arm.parameter,
             'value': arm.value, 'model_seed': seed, **record.as_dict()} for record in records]
    return run, rows


def train_arms(arms: Sequence[Arm], seeds: int, root: Path, size: StudySize, finished: Dict[str, Run],
               interval: int, jobs: int) -> Tuple[Dict[str, List[Run]], List[Dict[str, Any]]]:
    """Every (arm, seed) in ``jobs`` worker processes, each with its share of the CPU threads."""
    tasks = [(arm, seed) for arm in arms for seed in range(seeds)]
    threads = max(1, (os.cpu_count() or 1) // jobs)
    if jobs == 1:
        results = [train_and_score(arm, seed, root, size, finished, interval, threads) for arm, seed in tasks]
    else:
        context = multiprocessing.get_context('spawn')  # a fork of a process with torch threads can hang
        with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
            futures = [pool.submit(train_and_score, arm, seed, root, size, finished, interval, threads)
                       for arm, seed in tasks]
            results = [future.result() for future in futures]
    runs: Dict[str, List[Run]] = {arm.name: [] for arm in arms}
    rows: List[Dict[str, Any]] = []
    for (arm, _), (run, arm_rows) in zip(tasks, results):
        runs[arm.name].append(run)
        rows.extend(arm_rows)
    return runs, rows


def run_study(work_dir: Optional[Union[str, Path]] = None, seeds: int = 3, size: str = 'full',
              demo_dir: Optional[Union[str, Path]] = None, arms: Optional[Sequence[str]] = None, jobs: int = 2,
              console: Optional[Console] = None) -> Dict[str, Path]:
    """Train and evaluate every arm for ``seeds`` seeds; write results.json, curves.json, report.md and
    the figures into ``work_dir`` (default ``work_dirs/study[-<size>]``). The base CLIP and teachers
    are the demo's (``demo_dir``, default the demo's folder for this size), trained there if missing.
    Finished runs and evaluations are reused, so a rerun only rebuilds the report. ``arms`` picks a
    subset by name (it must include the baseline, 'ard'); ``jobs`` trains that many runs at once.
    """
    if seeds < 1 or jobs < 1:
        raise ConfigError(f'--seeds and --jobs must be at least 1, got {seeds} and {jobs}.')
    chosen_arms = select_arms(arms)
    ensure_plugins_loaded()
    console = console or Console()
    chosen = StudySize.named(size)
    root = Path(work_dir) if work_dir is not None else Path('work_dirs') / ('study' if size == 'full' else f'study-{size}')
    upstream_root = Path(demo_dir) if demo_dir is not None else default_demo_dir(size)
    root.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    finished = {run.stage.name: run for run in train_all(upstream_root, [0], chosen.demo, console.print,
                                                         stages=list(UPSTREAM))}
    if any(WEAK_TEACHER.name in arm.stage.inputs.values() for arm in chosen_arms):
        finished[WEAK_TEACHER.name] = train_stage(WEAK_TEACHER, 0, root, chosen.demo, finished, console.print)
    interval = validation_interval(chosen_arms, chosen.demo)
    runs, rows = train_arms(chosen_arms, seeds, root, chosen, finished, interval, jobs)
    curves: Dict[str, List[Curve]] = {name: [read_curve(run.work_dir, interval) for run in arm_runs]
                                      for name, arm_runs in runs.items()}
    teachers = {name: run.seconds for name, run in finished.items()}
    outputs = {'results': root / 'results.json', 'curves': root / 'curves.json', 'report': root / 'report.md',
               'frontier': root / 'frontier.png', 'efficiency': root / 'efficiency.png'}
    outputs['results'].write_text(json.dumps(rows, indent=2) + '\n')
    outputs['curves'].write_text(json.dumps({name: [c.__dict__ for c in value] for name, value in curves.items()},
                                            indent=2) + '\n')
    figures(rows, curves, outputs['frontier'], outputs['efficiency'])
    seconds = time.perf_counter() - start
    outputs['report'].write_text(markdown_report(rows, curves, list(range(seeds)), chosen, interval, seconds, teachers))
    console.print(f'Report: {outputs["report"]}  figures: {outputs["frontier"]}, {outputs["efficiency"]}  '
                  f'({seconds:.0f} s)', highlight=False)
    return outputs
