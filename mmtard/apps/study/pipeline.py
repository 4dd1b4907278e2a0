"""Run the study: per chain its base CLIPs and teachers, every arm's students, their evaluation, the
study's data (what the report is made from) and the report."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from rich.console import Console

from ...errors import ConfigError, did_you_mean
from ...plugins import ensure_plugins_loaded
from ..chain import Run, Size, Stage, train_stage
from ..jobs import run_jobs
from ..scoring import SEEN, HELD13, benchmark, score_run
from . import step_cost
from .arms import BASELINE, INDEPENDENT, MAIN, SAME_BASE, TEACHER_ARCHS, UPSTREAM, Arm, chains_of, priority, study_arms
from .data import collect, write_data
from .efficiency import VALIDATIONS, read_curve


@dataclass
class StudySize:
    """The study's budget on top of a chain size: the students' iterations, validation images and
    attacked samples."""

    chain: Size
    student_iters: int
    val_samples: int
    n_robust: int

    @classmethod
    def named(cls, name: str) -> 'StudySize':
        sizes = {'full': (150, 256, 400), 'smoke': (4, 16, 16)}
        if name not in sizes:
            raise ConfigError(f'Unknown study size {name!r}; use one of {sorted(sizes)}.')
        return cls(Size.named(name), *sizes[name])


def select_arms(arms: Sequence[Arm], names: Optional[Sequence[str]]) -> List[Arm]:
    """The arms to run, by arm or method name; every comparison needs the baseline of its group."""
    if not names:
        return list(arms)
    known = list(dict.fromkeys([arm.name for arm in arms] + [arm.method for arm in arms]))
    for name in names:
        if name not in known:
            raise ConfigError(f'Unknown study arm {name!r}.{did_you_mean(name, known)} Arms (or whole methods): '
                              f'{", ".join(known)}.')
    chosen = [arm for arm in arms if arm.name in names or arm.method in names]
    for group in {arm.group for arm in chosen}:
        if not any(arm.method == BASELINE and arm.group == group for arm in chosen):
            raise ConfigError(f'--arm must include the baseline {BASELINE!r} (or its arm for train eps {group[0]}, '
                              f'{group[1]} teachers, budget {group[2]}x): every figure compares with it.')
    return chosen


def arm_options(interval: int, val_samples: int) -> Dict[str, Any]:
    """Study-wide overrides: validate on ``val_samples`` images (and log the timer's window) every
    ``interval`` iterations."""
    return {'train_cfg.val_interval': interval, 'default_hooks.logger.interval': interval,
            'log_processor.window_size': interval, 'val_dataloader.dataset.num_samples': val_samples}


#: The report in the work dir, and its data (beside its figures, in a folder named as its stem): the
#: layout of the committed docs/study.md.
REPORT, DATA = 'study.md', 'study/data'


def upstream_jobs(arms: Sequence[Arm], chains: int) -> List[Tuple[Stage, int]]:
    """(stage, chain seed) for every base CLIP and teacher some student learns from: chain k only
    trains what the arms that run on it (:func:`~.arms.chains_of`) start from."""
    needed: Dict[int, set] = {}
    for arm in arms:
        for chain in range(chains_of(arm, chains)):
            needed.setdefault(chain, set()).update(arm.stage.inputs.values())
    for names in needed.values():
        for stage in reversed(UPSTREAM):  # a teacher's own inputs (its base CLIP) come before it
            if stage.name in names:
                names.update(stage.inputs.values())
    return [(stage, chain) for chain in sorted(needed) for stage in UPSTREAM if stage.name in needed[chain]]


def study_job(stage: Stage, seed: int, inputs: Dict[str, Run], threads: int, roots: Tuple[Path, Path],
              size: StudySize, arms: Dict[str, Arm], use_shipped: bool) -> Tuple[Run, List[Dict[str, Any]]]:
    """:func:`~mmtard.apps.jobs.run_jobs`'s work: train a stage (or reuse it); score an arm's student."""
    torch.set_num_threads(threads)  # parallel workers must not oversubscribe the cores
    console = Console()
    upstream_root, root = roots
    if stage.name not in arms:
        return train_stage(stage, seed, upstream_root, size.chain, inputs, console.print, use_shipped), []
    arm = arms[stage.name]
    run = train_stage(stage, seed, root, size.chain, inputs, console.print, use_shipped)
    console.print(f'[bold]evaluating[/] {stage.label} (seed {seed})')
    records = score_run(run, study_benchmark(size, root))
    info = {'arm': arm.name, 'method': arm.method, 'label': stage.label, 'family': arm.family,
            'parameter': arm.parameter, 'value': arm.value, 'train_eps': arm.train_eps, 'teachers': arm.teachers,
            'teacher_arch': TEACHER_ARCHS[arm.teachers], 'teacher_base': 'student base' if arm.teachers == SAME_BASE
            else 'separately pretrained', 'budget': arm.budget, 'model_seed': seed, 'chain_seed': inputs_seed(inputs)}
    return run, [{**info, **record.as_dict()} for record in records]


def inputs_seed(inputs: Dict[str, Run]) -> int:
    """The chain seed a student learned from (that of the runs it starts from)."""
    return next(iter(inputs.values())).seed


def study_benchmark(size: StudySize, root: Path) -> Dict[str, Any]:
    """Seen classes (the frontier) and the 13 held-out combinations (zero-shot), at the paper's eps."""
    return benchmark(size.chain, root / '.cache' / 'shapes', datasets=(SEEN, HELD13), n_robust=size.n_robust)


def run_study(work_dir: Optional[Union[str, Path]] = None, chains: int = 5, size: str = 'full',
              demo_dir: Optional[Union[str, Path]] = None, arms: Optional[Sequence[str]] = None, jobs: int = 2,
              from_scratch: bool = False, console: Optional[Console] = None,
              command: str = '') -> Dict[str, Path]:
    """Train and evaluate every arm on its chains (:func:`~.arms.chains_of`: the headline methods on all
    ``chains``; student seed k learns from chain k); write the study's data into ``work_dir/study/data``
    (default ``work_dirs/study[-<size>]``), then the report and figures from those data alone. Each
    chain's base CLIPs and teachers are trained in ``demo_dir`` (default the demo's folder for this
    size, so the demo and the study share chain 0). Finished runs and evaluations are reused, so a
    rerun only rebuilds the data and report. ``arms`` picks arms or whole methods by name; ``jobs``
    trains that many at once; ``from_scratch`` trains chain 0's pretraining stages instead of unpacking
    the package's; ``command`` is recorded in the data as the command that made them.
    """
    from ..demo import default_demo_dir

    if min(chains, jobs) < 1:
        raise ConfigError(f'--chains and --jobs must be at least 1; got {chains} and {jobs}.')
    chosen = StudySize.named(size)
    interval = max(1, chosen.student_iters // VALIDATIONS)
    all_arms = [replace(arm, stage=replace(arm.stage, options={**arm.stage.options, **arm_options(interval, chosen.val_samples)}))
                for arm in study_arms(chosen.student_iters)]
    chosen_arms = select_arms(all_arms, arms)
    ensure_plugins_loaded()
    console = console or Console()
    root = Path(work_dir) if work_dir is not None else Path('work_dirs') / ('study' if size == 'full' else f'study-{size}')
    upstream_root = Path(demo_dir) if demo_dir is not None else default_demo_dir(size)
    root.mkdir(parents=True, exist_ok=True)
    start, load_before = time.perf_counter(), os.getloadavg()
    jobs_list: List[Tuple[Stage, int]] = []
    for tier in sorted({priority(arm) for arm in chosen_arms}):  # a study cut short has the verdict first
        tier_arms = [arm for arm in chosen_arms if priority(arm) == tier]
        jobs_list += [job for job in upstream_jobs(tier_arms, chains) if job not in jobs_list]
        # within a tier the longest runs first: less idle at the end
        jobs_list += [(arm.stage, seed) for arm in sorted(tier_arms, key=lambda arm: -arm.budget)
                      for seed in range(chains_of(arm, chains))]
    upstream = [job for job in jobs_list if job[0].kind != 'student']
    done = run_jobs(jobs_list, study_job, ((upstream_root, root), chosen, {a.name: a for a in chosen_arms}, not from_scratch),
                    jobs, console.print)
    rows = [row for arm in chosen_arms for seed in range(chains_of(arm, chains)) for row in done[(arm.name, seed)][1]]
    runs = {arm.name: [done[(arm.name, seed)][0] for seed in range(chains_of(arm, chains))] for arm in chosen_arms}
    upstream_runs: Dict[str, List[Run]] = {}
    for stage, chain in upstream:
        upstream_runs.setdefault(stage.name, []).append(done[(stage.name, chain)][0])
    curves = {name: [read_curve(run.work_dir, interval) for run in arm_runs] for name, arm_runs in runs.items()}
    if not (root / 'step_cost.json').is_file():  # measured once, when no run trains beside it
        timed = [arm for arm in chosen_arms if arm.method in MAIN and arm.group == (4, INDEPENDENT, 1)]
        if timed:
            inputs = {name: runs[0] for name, runs in upstream_runs.items()}
            step_cost.write(step_cost.measure(timed, inputs, root, chosen.chain), root)
    data = collect(rows, chosen_arms, runs, curves, upstream_runs, root,
                   dict(command=command or f'mmtard study --size {size} --chains {chains} --jobs {jobs}', size=size,
                        chains=chains, jobs=jobs, student_iters=chosen.student_iters, val_samples=chosen.val_samples,
                        interval=interval, seconds=time.perf_counter() - start,
                        load_average=[load_before, os.getloadavg()]))
    write_data(data, root / DATA)
    from .report import write_report  # the report reads only the data just written

    outputs = write_report(data, root / REPORT)
    console.print(f'Report: {outputs["report"]}  ({time.perf_counter() - start:.0f} s)', highlight=False)
    return outputs
