"""Run the embedded demo: the plain function behind `mmtard demo`, an application on top of ``mmtard.apis``."""
from __future__ import annotations

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
from .scoring import benchmark, score_run


def default_demo_dir(size: str) -> Path:
    """``work_dirs/demo`` for the full demo, ``work_dirs/demo-<size>`` otherwise: a smoke run never
    replaces the full demo's report."""
    return Path('work_dirs') / ('demo' if size == 'full' else f'demo-{size}')


def demo_job(stage: Stage, seed: int, inputs: Dict[str, Run], threads: int, root: Path, size: Size,
             section: Dict[str, Any], use_shipped: bool) -> Tuple[Run, List[Dict[str, Any]], float]:
    """:func:`~mmtard.apps.jobs.run_jobs`'s work: train a stage (or reuse or unpack it), then evaluate it
    on ``section``; returns the run, its result rows and the evaluation's seconds."""
    torch.set_num_threads(threads)  # parallel workers must not oversubscribe the cores
    console = Console()
    run = train_stage(stage, seed, root, size, inputs, console.print, use_shipped)
    start = time.perf_counter()
    records = score_run(run, section)
    seconds = time.perf_counter() - start
    console.print(f'[bold]evaluated[/] {stage.label} (seed {seed}) in {seconds:.0f} s')
    rows = [{'stage': stage.name, 'label': stage.label, 'kind': stage.kind, 'model_seed': seed, **record.as_dict()}
            for record in records]
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
    todo = [(stage, seed) for seed in range(seeds) for stage in STAGES]
    section = benchmark(chosen, root / '.cache' / 'shapes')

    def evaluated(stage: Stage, seed: int, inputs: Dict[str, Run]) -> bool:
        run = finished_run(stage, seed, root, chosen, inputs)
        return run is not None and run.evaluation_results(section).is_file()

    done = run_jobs(todo, demo_job, (root, chosen, section, not from_scratch), jobs, console.print,
                    already_done=evaluated)
    runs = [done[(stage.name, seed)][0] for stage, seed in todo]
    rows = [row for stage, seed in todo for row in done[(stage.name, seed)][1]]
    evaluation_seconds = {(stage.name, seed): done[(stage.name, seed)][2] for stage, seed in todo}
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
