"""`mmtard plot`: a thin wrapper over :func:`mmtard.apis.plot.plot_training`."""
from __future__ import annotations

from typing import Optional

import click

from .common import console, friendly_errors


@click.command('plot')
@click.argument('work_dir', type=click.Path(file_okay=False))
@click.option('--out', type=click.Path(dir_okay=False), default=None,
              help='PNG to write (default: WORK_DIR/training.png).')
@friendly_errors
def plot_command(work_dir: str, out: Optional[str]) -> None:
    """Plot the loss terms, learning rate and clean/robust accuracy of the training run in WORK_DIR."""
    from ..apis.plot import plot_training

    path = plot_training(work_dir, out)
    console.print(f'[green]plotted[/]: {path}', highlight=False, soft_wrap=True)
