"""`mmtard demo`: the embedded offline quick start."""
from __future__ import annotations

from typing import Optional

import click

from .common import console, friendly_errors, load_plugins_reporting_failures


@click.command('demo')
@click.option('--work-dir', type=click.Path(file_okay=False), default=None,
              help='Where every stage, evaluation and the report go; finished stages are reused '
                   '(default: work_dirs/demo, or work_dirs/demo-smoke for --size smoke).')
@click.option('--seeds', type=click.IntRange(min=1), default=1, show_default=True,
              help='Train the whole chain (base CLIPs, teachers, students) with this many seeds.')
@click.option('--size', type=click.Choice(['full', 'smoke']), default='full', show_default=True,
              help="'smoke' is a seconds-long miniature of the pipeline (what the test suite runs).")
@friendly_errors
def demo_command(work_dir: Optional[str], seeds: int, size: str) -> None:
    """Train tiny CLIPs, clean and robust teachers and four students offline, then evaluate them all."""
    from ..apps.demo import run_demo
    from .eval_display import RichEvaluationProgress

    load_plugins_reporting_failures()
    with RichEvaluationProgress(console, tables=False) as evaluation_progress:
        run_demo(work_dir, seeds=seeds, size=size, console=console, evaluation_progress=evaluation_progress)
