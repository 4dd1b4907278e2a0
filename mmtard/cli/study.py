"""`mmtard study`: the paper's claims measured as frontiers, over seeds, on the demo's miniature."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from .common import console, friendly_errors, load_plugins_reporting_failures


@click.command('study')
@click.option('--work-dir', type=click.Path(file_okay=False), default=None,
              help='Where the arms, evaluations and the report go; finished runs are reused '
                   '(default: work_dirs/study, or work_dirs/study-smoke for --size smoke).')
@click.option('--demo-dir', type=click.Path(file_okay=False), default=None,
              help="Where each seed's base CLIPs and teachers are (or are trained): default the demo's own folder.")
@click.option('--chains', type=click.IntRange(min=1), default=5, show_default=True,
              help='Independent chains (base CLIPs and teachers, each with its own seed; student seed k learns '
                   'from chain k). The headline methods run on every chain, the same-base, teacher-gap and '
                   'converged arms on up to 3, sweep points and variants on the first.')
@click.option('--size', type=click.Choice(['full', 'smoke']), default='full', show_default=True,
              help="'smoke' is a minutes-long miniature (what the test suite runs).")
@click.option('--arm', 'arms', multiple=True,
              help="Run only these arms or methods (repeat the option; the baseline 'ard' of each group must be "
                   "one). Default: all.")
@click.option('--jobs', type=click.IntRange(min=1), default=2, show_default=True,
              help='Runs trained at once, each in its own process with its share of the CPU threads.')
@click.option('--from-scratch', is_flag=True,
              help="Train chain seed 0's base CLIPs and teachers too, instead of unpacking the weights that ship "
                   'with mmtard (made by the same configs; a recipe that no longer matches is always trained).')
@click.option('--from-data', type=click.Path(file_okay=False), default=None,
              help='Train and evaluate nothing: rebuild the report and figures from a data folder a study wrote '
                   '(e.g. docs/study/data).')
@click.option('--out', type=click.Path(dir_okay=False), default=None,
              help="With --from-data: the report's path (default: study.md beside the data folder); its figures "
                   'go to a study/ folder beside it.')
@friendly_errors
def study_command(work_dir: Optional[str], demo_dir: Optional[str], chains: int, size: str, arms: Tuple[str, ...],
                  jobs: int, from_scratch: bool, from_data: Optional[str], out: Optional[str]) -> None:
    """Single-teacher ARD vs MMT-ARD: clean/robust frontiers, zero-shot, and steps to a robustness target."""
    import sys
    from pathlib import Path

    if from_data is not None:
        from ..apps.study.report import report_from_data

        written = report_from_data(Path(from_data), Path(out) if out else None)
        console.print(f'Report: {written["report"]}', highlight=False)
        return
    if out is not None:
        raise click.UsageError('--out names where --from-data writes its report; a study run writes '
                               'study.md in --work-dir.')
    from ..apps.study.pipeline import run_study

    load_plugins_reporting_failures()
    run_study(work_dir, chains=chains, size=size, demo_dir=demo_dir, arms=arms, jobs=jobs, from_scratch=from_scratch,
              console=console, command=' '.join(['mmtard', *sys.argv[1:]]))
