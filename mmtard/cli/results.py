"""`mmtard results merge|table|compare`: thin wrappers over :mod:`mmtard.apis` functions."""
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
@click.option('--overwrite', is_flag=True, help='Replace the table or figure if it exists.')
@friendly_errors
def merge_command(folders: Tuple[str, ...], out: Optional[str], plot: Optional[str], overwrite: bool) -> None:
    """Merge the evaluations in FOLDERS (`mmtard eval --out` folders, or folders holding them) into one table
    and one figure."""
    from ..apis.merge_results import markdown_summary, merge_results

    rows, table, figure = merge_results(folders, out, plot, overwrite=overwrite)
    if table is None:
        console.print(markdown_summary(rows), highlight=False, markup=False)
    runs = len({run for run, _ in rows})
    console.print(f'[green]merged[/] {len(rows)} rows of {runs} runs: '
                  f'{f"{table}, " if table is not None else ""}{figure}', highlight=False, soft_wrap=True)


@results_group.command('table')
@click.argument('folders', nargs=-1, type=click.Path(exists=True, file_okay=False))
@click.option('--out', '-o', type=click.Path(dir_okay=False), default=None, metavar='TABLE.md|TABLE.csv|TABLE.tex',
              help='Write the table as Markdown, CSV or LaTeX (by the suffix); default: Markdown on the terminal.')
@click.option('--zoo', 'zoo_names', multiple=True, metavar='NAME|all',
              help='Add the accuracies a published checkpoint\'s authors report (docs/zoo.md), marked as quoted; '
                   'repeat for several, or `all`.')
@click.option('--interval', is_flag=True,
              help='Each measured accuracy with ± half the width of its 95% Wilson (binomial) interval.')
@click.option('--overwrite', is_flag=True, help='Replace the --out file if it exists.')
@click.option('--dataset', 'datasets', multiple=True, metavar='NAME',
              help='The datasets to show, in this order (repeat; default: every one, as found).')
@click.option('--model', 'models', multiple=True, metavar='LABEL',
              help='The measured models to show, by the label the table gives them, in this order (repeat).')
@friendly_errors
def table_command(folders: Tuple[str, ...], out: Optional[str], zoo_names: Tuple[str, ...], interval: bool,
                  overwrite: bool, datasets: Tuple[str, ...], models: Tuple[str, ...]) -> None:
    """The papers' table of the evaluations in FOLDERS: a row per model and threat model (clean, then each
    eps), a column per dataset and their zero-shot average."""
    from ..apis.merge_results import results_table

    count, text, path = results_table(folders, zoo_names, out, interval, overwrite, datasets, models)
    if path is None:
        console.print(text, highlight=False, markup=False, soft_wrap=True)
    else:
        console.print(f'[green]table[/] of {count} rows: {path}', highlight=False, soft_wrap=True)


@results_group.command('compare')
@click.argument('a', type=click.Path(exists=True))
@click.argument('b', type=click.Path(exists=True))
@click.option('--paired', is_flag=True,
              help='A and B hold several evaluations (seeds) that pair up in order (seed k of both from the same '
                   'teachers or data order): draw them in pairs. Default: each side\'s runs drawn on their own.')
@click.option('--out', '-o', type=click.Path(dir_okay=False), default=None, metavar='X.md|X.csv|X.json',
              help='Write the comparison (by the suffix); default: a table on the terminal.')
@click.option('--overwrite', is_flag=True, help='Replace the --out file if it exists.')
@friendly_errors
def compare_command(a: str, b: str, paired: bool, out: Optional[str], overwrite: bool) -> None:
    """Model A against model B: for every dataset and threat model both were evaluated on, each accuracy, the
    difference A - B and its 95% paired-bootstrap interval over the shared samples. A and B: an evaluation's
    results.json, its --out folder, or a folder holding several evaluations (one per seed)."""
    from ..apis.compare_results import compare_results

    items, refused, text = compare_results([a], [b], out, paired=paired, overwrite=overwrite)
    if out is None:
        console.print(text, highlight=False, markup=False, soft_wrap=True)
    for reason in refused:
        console.print(f'[yellow]not compared[/] {reason}', highlight=False, soft_wrap=True)
    if out is not None:
        console.print(f'[green]compared[/] {len(items)} rows: {out}', highlight=False, soft_wrap=True)
