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
@click.option('--seeds', type=click.IntRange(min=1), default=2, show_default=True,
              help='Student seeds of the main methods with independent teachers (sweep points, same-base '
                   'and 2x-budget arms run the first).')
@click.option('--chain-seeds', type=click.IntRange(min=1), default=1, show_default=True,
              help='Independent chains (base CLIPs and teachers); student seed k learns from chain k mod this.')
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
@friendly_errors
def study_command(work_dir: Optional[str], demo_dir: Optional[str], seeds: int, chain_seeds: int, size: str,
                  arms: Tuple[str, ...], jobs: int, from_scratch: bool) -> None:
    """Single-teacher ARD vs MMT-ARD: clean/robust frontiers, zero-shot, and steps to a robustness target."""
    from ..apps.study.pipeline import run_study

    load_plugins_reporting_failures()
    run_study(work_dir, seeds=seeds, size=size, demo_dir=demo_dir, arms=arms, jobs=jobs, chain_seeds=chain_seeds,
              from_scratch=from_scratch, console=console)
