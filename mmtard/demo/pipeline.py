"""Run the embedded demo: the plain function behind `mmtard demo`, an application on top of ``mmtard.apis``."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Dict, Optional, Union

from rich.console import Console

from ..errors import ConfigError
from ..plugins import ensure_plugins_loaded
from .report import figure, markdown_report, summary_table
from .scoring import score_all
from .stages import Size, train_all


def default_demo_dir(size: str) -> Path:
    """``work_dirs/demo`` for the full demo, ``work_dirs/demo-<size>`` otherwise: a smoke run never
    replaces the full demo's report."""
    return Path('work_dirs') / ('demo' if size == 'full' else f'demo-{size}')


def run_demo(work_dir: Optional[Union[str, os.PathLike]] = None, seeds: int = 1, size: str = 'full',
             console: Optional[Console] = None) -> Dict[str, Path]:
    """Train and evaluate the chain; write results.json, report.md and demo.png into ``work_dir``
    (default: :func:`default_demo_dir`).

    Finished stages and evaluations are reused, so a rerun only rebuilds the report.
    """
    if seeds < 1:
        raise ConfigError(f'--seeds must be at least 1, got {seeds}.')
    ensure_plugins_loaded()
    console = console or Console()
    root = Path(work_dir) if work_dir is not None else default_demo_dir(size)
    root.mkdir(parents=True, exist_ok=True)
    chosen = Size.named(size)
    seed_list = list(range(seeds))
    start = time.perf_counter()
    runs = train_all(root, seed_list, chosen, console.print)
    eval_start = time.perf_counter()
    rows = score_all(runs, root, chosen, console, console.print)
    timings = {'evaluation': time.perf_counter() - eval_start}
    timings['total'] = time.perf_counter() - start
    outputs = {'results': root / 'results.json', 'report': root / 'report.md', 'figure': root / 'demo.png'}
    outputs['results'].write_text(json.dumps(rows, indent=2) + '\n')
    outputs['report'].write_text(markdown_report(rows, runs, seed_list, timings, chosen.name))
    figure(rows, runs, outputs['figure'])
    wide = Console(file=console.file, width=max(console.width, 160))  # ten columns: never squeeze them
    wide.print(summary_table(rows))
    console.print(f'Report: {outputs["report"]}  figure: {outputs["figure"]}  rows: {outputs["results"]}  '
                  f'({timings["total"]:.0f} s)', highlight=False)
    return outputs
