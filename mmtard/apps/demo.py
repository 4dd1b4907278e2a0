"""Run the embedded demo: the plain function behind `mmtard demo`, an application on top of ``mmtard.apis``."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Dict, Optional, Union

from rich.console import Console

from ..apis.eval_progress import EvaluationProgress
from ..errors import ConfigError
from ..plugins import ensure_plugins_loaded
from .chain import STAGES, Size, run_jobs, train_job
from .demo_report import figure, markdown_report, summary_table
from .scoring import benchmark, score_run


def default_demo_dir(size: str) -> Path:
    """``work_dirs/demo`` for the full demo, ``work_dirs/demo-<size>`` otherwise: a smoke run never
    replaces the full demo's report."""
    return Path('work_dirs') / ('demo' if size == 'full' else f'demo-{size}')


def run_demo(work_dir: Optional[Union[str, os.PathLike]] = None, seeds: int = 1, size: str = 'full',
             console: Optional[Console] = None,
             evaluation_progress: Optional[EvaluationProgress] = None) -> Dict[str, Path]:
    """Train and evaluate the chain for ``seeds`` chain seeds; write results.json, report.md and demo.png
    into ``work_dir`` (default: :func:`default_demo_dir`). ``evaluation_progress`` sees every evaluation.

    Finished stages and evaluations are reused, so a rerun only rebuilds the report.
    """
    if seeds < 1:
        raise ConfigError(f'--seeds must be at least 1, got {seeds}.')
    ensure_plugins_loaded()
    console = console or Console()
    root = Path(work_dir) if work_dir is not None else default_demo_dir(size)
    root.mkdir(parents=True, exist_ok=True)
    chosen = Size.named(size)
    start = time.perf_counter()
    jobs = [(stage, seed) for seed in range(seeds) for stage in STAGES]
    done = run_jobs(jobs, train_job, (root, chosen, console.print), 1, console.print)
    runs = [done[(stage.name, seed)][0] for stage, seed in jobs]
    eval_start = time.perf_counter()
    section = benchmark(chosen, root / '.cache' / 'shapes')
    rows = []
    for run in runs:
        console.print(f'[bold]evaluating[/] {run.stage.label} (seed {run.seed})')
        rows += [{'stage': run.stage.name, 'label': run.stage.label, 'kind': run.stage.kind, 'model_seed': run.seed,
                  **record.as_dict()} for record in score_run(run, section, evaluation_progress)]
    timings = {'evaluation': time.perf_counter() - eval_start, 'total': time.perf_counter() - start}
    outputs = {'results': root / 'results.json', 'report': root / 'report.md', 'figure': root / 'demo.png'}
    outputs['results'].write_text(json.dumps(rows, indent=2) + '\n')
    outputs['report'].write_text(markdown_report(rows, runs, seeds, timings, chosen.name))
    figure(rows, runs, outputs['figure'])
    wide = Console(file=console.file, width=max(console.width, 160))  # many columns: never squeeze them
    wide.print(summary_table(rows))
    console.print(f'Report: {outputs["report"]}  figure: {outputs["figure"]}  rows: {outputs["results"]}  '
                  f'({timings["total"]:.0f} s)', highlight=False)
    return outputs
