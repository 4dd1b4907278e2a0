"""`mmtard results merge`: a thin wrapper over :func:`mmtard.apis.merge_results.merge_results`."""
from __future__ import annotations

from typing import Optional, Tuple

import click

from .common import console, friendly_errors


@click.group('results')
def results_group() -> None:
    """Work with the results of `mmtard eval` runs."""


@results_group.command('merge')
@click.argument('folders', nargs=-1, required=True, type=click.Path(exists=True, file_okay=False))
@click.option('--out', '-o', type=click.Path(dir_okay=False), default=None, metavar='TABLE.csv|TABLE.md',
              help='Write the merged table: .csv every row of every run (one value per cell), .md accuracy per '
                   'model and eps across datasets.')
@click.option('--plot', type=click.Path(dir_okay=False), default=None, metavar='FIGURE.png',
              help='Accuracy against eps per model and dataset (default: the table\'s name as .png, else '
                   'results.png).')
@friendly_errors
def merge_command(folders: Tuple[str, ...], out: Optional[str], plot: Optional[str]) -> None:
    """Merge the evaluations in FOLDERS (`mmtard eval --out` folders, or folders holding them) into one table
    and one figure."""
    from ..apis.merge_results import markdown_summary, merge_results

    rows, table, figure = merge_results(folders, out, plot)
    if table is None:
        console.print(markdown_summary(rows), highlight=False, markup=False)
    runs = len({run for run, _ in rows})
    console.print(f'[green]merged[/] {len(rows)} rows of {runs} runs: '
                  f'{f"{table}, " if table is not None else ""}{figure}', highlight=False, soft_wrap=True)
