"""Run the embedded demo: the plain function behind `mmtard demo`, an application on top of ``mmtard.apis``."""
from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import torch
from rich.console import Console

from ..errors import ConfigError
from ..plugins import ensure_plugins_loaded
from .chain import STAGES, Run, Size, Stage, finished_run, train_stage
from .jobs import run_jobs
from .demo_report import figure, markdown_report, summary_table
from .scoring import DATASETS, benchmark, dataset_section, known_rows, score_run


def default_demo_dir(size: str) -> Path:
    """``work_dirs/demo`` for the full demo, ``work_dirs/demo-<size>`` otherwise: a smoke run never
    replaces the full demo's report."""
    return Path('work_dirs') / ('demo' if size == 'full' else f'demo-{size}')


#: The ``kind`` of an evaluation job (:func:`evaluation_job`).
EVALUATION = 'evaluation'


def evaluation_job(stage: Stage, dataset: str) -> Stage:
    """The job that evaluates ``stage``'s run on one dataset, apart from its training and its other
    datasets: a free worker evaluates one model while the other trains, and the last jobs are short, so
    neither worker idles long at the end."""
    return Stage(f'{stage.name}:{EVALUATION}:{dataset}', f'{stage.label} on {dataset}', stage.config, EVALUATION,
                 inputs={'evaluated': stage.name})


def evaluated_dataset(job: Stage) -> str:
    """The dataset an :func:`evaluation_job` evaluates on."""
    return job.name.rsplit(':', 1)[1]


def evaluation_known(job: Stage, run: Run, section: Dict[str, Any]) -> bool:
    """Whether ``job``'s rows of ``run`` are there to read back (finished, or shipped with the package)."""
    part = dataset_section(section, evaluated_dataset(job))
    return run.evaluation_results(part).is_file() or known_rows(run, part, whole=section) is not None


#: What the demo's distilled students leave out: the teachers' accuracy on the student's adversarial
#: examples at each validation (``val_teacher_transfer``), which ``mmtard study`` reports and the
#: demo's report does not (about 1 s of each of a student's 2 s validations).
DEMO_STUDENT_OPTIONS = {'model.val_teacher_transfer': False}


def demo_stage(stage: Stage) -> Stage:
    """``stage`` as the demo trains it: a student that learns from teachers without their transfer
    diagnostics (:data:`DEMO_STUDENT_OPTIONS`)."""
    distilled = stage.kind == 'student' and any('teacher' in key for key in stage.inputs)
    return dataclasses.replace(stage, options={**stage.options, **DEMO_STUDENT_OPTIONS}) if distilled else stage


def demo_jobs(seeds: int) -> List[Tuple[Stage, int]]:
    """Every stage's training, then every evaluation (per dataset), for ``seeds`` chain seeds. A free
    worker takes the first job whose inputs are done, so the students train from the last listed (the
    MMT-ARD variants, the slowest) to the first, and the short jobs fill the end."""
    stages = [demo_stage(stage) for stage in STAGES]
    trains = [stage for stage in stages if stage.kind != 'student'] + [s for s in stages if s.kind == 'student'][::-1]
    return ([(stage, seed) for seed in range(seeds) for stage in trains]
            + [(evaluation_job(stage, dataset), seed) for seed in range(seeds) for stage in trains
               for dataset in DATASETS])


def demo_job(stage: Stage, seed: int, inputs: Dict[str, Run], threads: int, root: Path, size: Size,
             section: Dict[str, Any], use_shipped: bool) -> Tuple[Any, ...]:
    """:func:`~mmtard.apps.jobs.run_jobs`'s work: train a stage (or reuse or unpack it), returning its run;
    or, for an :func:`evaluation_job`, evaluate the run it names on its dataset of ``section`` (or read
    the rows back), returning the run, its result rows and the evaluation's seconds."""
    torch.set_num_threads(threads)  # parallel workers must not oversubscribe the cores
    console = Console()
    if stage.kind != EVALUATION:
        return (train_stage(stage, seed, root, size, inputs, console.print, use_shipped),)
    run = inputs[stage.inputs['evaluated']]
    known = evaluation_known(stage, run, section)
    start = time.perf_counter()
    records = score_run(run, dataset_section(section, evaluated_dataset(stage)), whole=section)
    seconds = time.perf_counter() - start
    if not known:
        console.print(f'[bold]evaluated[/] {run.stage.label} (seed {seed}) on {evaluated_dataset(stage)} in '
                      f'{seconds:.0f} s')
    rows = [{'stage': run.stage.name, 'label': run.stage.label, 'kind': run.stage.kind, 'model_seed': seed,
             **record.as_dict()} for record in records]
    return run, rows, seconds


def run_demo(work_dir: Optional[Union[str, os.PathLike]] = None, seeds: int = 1, size: str = 'full',
             from_scratch: bool = False, jobs: int = 2, console: Optional[Console] = None) -> Dict[str, Path]:
    """Train and evaluate the chain for ``seeds`` chain seeds; write results.json, report.md and demo.png
    into ``work_dir`` (default: :func:`default_demo_dir`).

    Chain seed 0's base CLIPs and teachers come with the package unless ``from_scratch``; ``jobs``
    stages train and evaluate at once, each in its own process (tiny models gain more from that than
    from threads); finished stages and evaluations are reused, so a rerun only rebuilds the report.
    """
    if seeds < 1 or jobs < 1:
        raise ConfigError(f'--seeds and --jobs must be at least 1, got {seeds} and {jobs}.')
    ensure_plugins_loaded()
    console = console or Console()
    root = Path(work_dir) if work_dir is not None else default_demo_dir(size)
    root.mkdir(parents=True, exist_ok=True)
    chosen = Size.named(size)
    start = time.perf_counter()
    section = benchmark(chosen, root / '.cache' / 'shapes')

    def already_done(stage: Stage, seed: int, inputs: Dict[str, Run]) -> bool:
        if stage.kind == EVALUATION:  # read back in this process, as the package's rows of a shipped stage
            return evaluation_known(stage, inputs[stage.inputs['evaluated']], section)
        return finished_run(stage, seed, root, chosen, inputs) is not None

    done = run_jobs(demo_jobs(seeds), demo_job, (root, chosen, section, not from_scratch), jobs, console.print,
                    already_done=already_done)
    todo = [(stage, seed) for seed in range(seeds) for stage in STAGES]  # the report's order
    evaluations = {(stage.name, seed): [done[(evaluation_job(stage, dataset).name, seed)] for dataset in DATASETS]
                   for stage, seed in todo}
    runs = [evaluations[(stage.name, seed)][0][0] for stage, seed in todo]
    rows = [row for stage, seed in todo for part in evaluations[(stage.name, seed)] for row in part[1]]
    evaluation_seconds = {key: sum(part[2] for part in parts) for key, parts in evaluations.items()}
    total = time.perf_counter() - start
    outputs = {'results': root / 'results.json', 'report': root / 'report.md', 'figure': root / 'demo.png'}
    outputs['results'].write_text(json.dumps(rows, indent=2) + '\n')
    outputs['report'].write_text(markdown_report(rows, runs, seeds, evaluation_seconds, total, jobs, chosen.name))
    figure(rows, runs, outputs['figure'])
    wide = Console(file=console.file, width=max(console.width, 160))  # many columns: never squeeze them
    wide.print(summary_table(rows))
    console.print(f'Report: {outputs["report"]}  figure: {outputs["figure"]}  rows: {outputs["results"]}  '
                  f'({total:.0f} s)', highlight=False)
    return outputs
