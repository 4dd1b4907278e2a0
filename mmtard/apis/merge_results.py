"""Several evaluations in one table and one figure: the function behind `mmtard results merge`, in
the spirit of CLIP_benchmark's `clip_benchmark build`.

Every row already names its model, weights, threat model and attack (docs/results.md), so runs of
different models, datasets and eps merge without a side file: the CSV holds every row (one value per
cell, plus the run folder it came from), the markdown table is robust accuracy per model and eps
(clean accuracy as eps 0) across datasets, and the PNG draws accuracy against eps, one panel per
dataset, one line per model.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

from ..errors import ConfigError
from ..evaluation.pivot import place_cell
from ..evaluation.results import (REPLACED_DIR, RESULTS_JSON, BenchmarkResult, flat_row, model_label, percent,
                                  read_results, write_csv)
from ..value_checks import check_path
from ..work_dir import check_output_dir

TABLE_SUFFIXES = ('.csv', '.md')
PathLike = Union[str, os.PathLike]


def result_files(folders: Sequence[PathLike]) -> List[Path]:
    """The results.json of each folder, or of every finished evaluation below it."""
    found: List[Path] = []
    for folder in map(Path, folders):
        if (folder / RESULTS_JSON).is_file():
            found.append(folder / RESULTS_JSON)
        elif folder.is_dir():
            below = sorted(p for p in folder.rglob(RESULTS_JSON) if REPLACED_DIR not in p.relative_to(folder).parts)
            if not below:
                raise ConfigError(f'{str(folder)!r} holds no finished evaluation ({RESULTS_JSON}, written by '
                                           f'`mmtard eval` when it finishes); pass the --out folders of evaluations.')
            found.extend(below)
        else:
            raise ConfigError(f'{str(folder)!r} is not a folder; pass the --out folders of `mmtard eval` runs '
                                       f'(or folders holding them).')
    return list(dict.fromkeys(found))


def model_identity(run: Path, record: BenchmarkResult) -> str:
    """What tells evaluated models apart: the weights' checksum; for rows of an mmtard too old to write
    one, the evaluation folder and the model's name."""
    return record.model_checksum or f'{run}|{model_label(record)}'


def measurement_key(run: Path, record: BenchmarkResult) -> tuple:
    """Two rows with this key measured the same model on the same samples, threat model and attack."""
    return (model_identity(run, record), record.dataset, record.split, record.task, record.eps, record.attack, record.n,
            record.n_robust, record.sampling, record.seed, record.prompts)


def merge(folders: Sequence[PathLike]) -> List[Tuple[Path, BenchmarkResult]]:
    """Every row of every evaluation under ``folders`` with the run folder it came from. A row measured
    twice (same weights, dataset, eps, attack and samples) is kept once; measured twice with different
    numbers it is refused, naming both files."""
    rows: List[Tuple[Path, BenchmarkResult]] = []
    seen: Dict[tuple, Tuple[Path, BenchmarkResult]] = {}
    for path in result_files(folders):
        for record in read_results(path.parent):
            key = measurement_key(path.parent, record)
            if key not in seen:
                seen[key] = (path, record)
                rows.append((path.parent, record))
            elif (seen[key][1].clean_acc, seen[key][1].robust_acc) != (record.clean_acc, record.robust_acc):
                raise ConfigError(
                    f'{str(seen[key][0])!r} and {str(path)!r} both hold {model_label(record)} on {record.dataset} '
                    f'at eps {record.eps:g} with the same weights (checksum {record.model_checksum[:12] or "-"}), '
                    f'samples and attack, but different accuracies: one table cannot hold both. Merge them '
                    f'separately, or leave the outdated one out.')
    return rows


def row_labels(rows: Sequence[Tuple[Path, BenchmarkResult]]) -> Dict[str, str]:
    """model identity -> its label in tables and figures: :func:`model_label`, with the checksum's
    first characters added where two models would otherwise share a label."""
    labels: Dict[str, str] = {}
    for run, record in rows:
        labels.setdefault(model_identity(run, record), model_label(record))
    shared = {label for label in labels.values() if list(labels.values()).count(label) > 1}
    for run, record in rows:
        identity = model_identity(run, record)
        if labels[identity] in shared:
            labels[identity] = f'{model_label(record)} #{record.model_checksum[:8] or run.name}'
    return labels


def _curves(rows: Sequence[Tuple[Path, BenchmarkResult]]) -> Dict[str, Dict[str, Dict[float, Tuple[float, int]]]]:
    """dataset -> model -> eps -> (accuracy, samples): clean accuracy at eps 0, robust at each eps."""
    curves: Dict[str, Dict[str, Dict[float, Tuple[float, int]]]] = {}
    labels = row_labels(rows)
    for run, record in rows:
        label = labels[model_identity(run, record)]
        points = curves.setdefault(record.dataset, {}).setdefault(label, {})
        place_cell(points, 0.0, (record.clean_acc, record.n), f'{label}, clean, on {record.dataset}')
        if record.robust_acc is not None:
            place_cell(points, record.eps, (record.robust_acc, record.n_robust),
                       f'{label} at eps {record.eps:g}/255 on {record.dataset}')
    return curves


def markdown_summary(rows: Sequence[Tuple[Path, BenchmarkResult]]) -> str:
    """Accuracy % per model and eps (rows) and dataset (columns): clean at eps 0, robust otherwise."""
    curves = _curves(rows)
    datasets = list(curves)
    models = list(dict.fromkeys(model for per_model in curves.values() for model in per_model))
    lines = ['| model | eps (/255) | ' + ' | '.join(datasets) + ' |', '|' + '---|' * (len(datasets) + 2)]
    for model in models:
        eps_values = sorted({eps for per_model in curves.values() for eps in per_model.get(model, {})})
        for eps in eps_values:
            cells = []
            for dataset in datasets:
                point = curves[dataset].get(model, {}).get(eps)
                cells.append('-' if point is None else percent(point[0], point[1]))
            lines.append(f'| {model} | {"clean" if eps == 0 else f"{eps:g}"} | ' + ' | '.join(cells) + ' |')
    labels = row_labels(rows)
    attacks = sorted({(labels[model_identity(run, r)], r.dataset, r.attack, r.n_robust, r.sampling)
                      for run, r in rows if r.attack})
    lines += ['', '| model | dataset | attack | n robust | sampling |', '|---|---|---|---|---|']
    lines += [f'| {m} | {d} | {a} | {n} | {s} |' for m, d, a, n, s in attacks]
    return '\n'.join(lines) + '\n'


def plot_accuracy_vs_eps(rows: Sequence[Tuple[Path, BenchmarkResult]], out: Path) -> Path:
    """PNG: accuracy % against eps (clean at 0), one panel per dataset, one line per model."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    curves = _curves(rows)
    columns = min(len(curves), 4)
    lines = -(-len(curves) // columns)
    fig, axes = plt.subplots(lines, columns, figsize=(4.2 * columns, 3.4 * lines), squeeze=False)
    for ax, (dataset, per_model) in zip(axes.flat, curves.items()):
        for model, points in per_model.items():
            eps = sorted(points)
            ax.plot(eps, [100 * points[e][0] for e in eps], marker='o', label=model)
        ax.set_title(dataset)
        ax.set_xlabel('eps (/255), 0 = clean')
        ax.set_ylabel('accuracy %')
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(curves):]:
        ax.set_visible(False)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def check_output_file(path: Path, option: str, overwrite: bool) -> None:
    """Refuse an output file that would replace an evaluation's own files (results.json/.csv/.md, or a
    figure beside them), or, without ``overwrite``, any file that exists: no command writes over what it
    did not make."""
    if (path.parent / RESULTS_JSON).is_file() and path.name.startswith(('results.', 'evaluation.', 'partial')):
        raise ConfigError(f'{option} {str(path)!r} would replace a file of the evaluation in {str(path.parent)!r}; '
                          f'write it elsewhere.')
    if path.exists() and not overwrite:
        raise ConfigError(f'{option} {str(path)!r} exists; pass --overwrite to replace it, or choose another name.')


def merge_results(folders: Sequence[PathLike], out: Optional[PathLike] = None, plot: Optional[PathLike] = None,
                  overwrite: bool = False) -> Tuple[List[Tuple[Path, BenchmarkResult]], Optional[Path], Path]:
    """Merge the evaluations under ``folders``; write the table ``out`` (.csv: every row flat, with its
    ``run`` folder; .md: the summary table), and the figure ``plot`` (default: ``out`` as .png, else
    ``results.png`` here); an existing file only with ``overwrite``, an evaluation's own never. Returns
    (rows, table path or None, figure path)."""
    if isinstance(folders, (str, os.PathLike)):
        raise ConfigError(f'folders={str(folders)!r} must be a list of folders, e.g. [{str(folders)!r}].')
    for folder in folders:
        check_path(folder, 'folders item')
    check_path(out, 'out', optional=True)
    check_path(plot, 'plot', optional=True)
    if not folders:
        raise ConfigError('Give at least one folder: the --out folders of `mmtard eval` runs (or folders holding them).')
    table = Path(out) if out is not None else None
    if table is not None and table.suffix.lower() not in TABLE_SUFFIXES:
        raise ConfigError(f'-o {str(table)!r}: the table is written as .csv (every row) or .md (the summary); give '
                          f'a file name ending in one of them.')
    figure = Path(plot) if plot is not None else (table.with_suffix('.png') if table is not None else Path('results.png'))
    for path, what, option in ((table, 'table', '-o'), (figure, 'figure', '--plot')):
        if path is not None:
            check_output_dir(path.parent if str(path.parent) else Path('.'), f'{what} folder')
            check_output_file(path, option, overwrite)
    rows = merge(folders)
    if table is not None:
        table.parent.mkdir(parents=True, exist_ok=True)
        if table.suffix.lower() == '.csv':
            labels = row_labels(rows)
            write_csv([{'run': str(run), 'label': labels[model_identity(run, record)], **flat_row(record)}
                       for run, record in rows], table)
        else:
            table.write_text(markdown_summary(rows), encoding='utf-8')
    return rows, table, plot_accuracy_vs_eps(rows, figure)



def results_table(folders: Sequence[PathLike], zoo_names: Sequence[str] = (), out: Optional[PathLike] = None,
                  interval: bool = False, overwrite: bool = False, datasets: Sequence[str] = (),
                  models: Sequence[str] = ()) -> Tuple[int, str, Optional[Path]]:
    """The papers' table of the evaluations under ``folders`` and the ``zoo_names`` quoted beside them
    (:func:`mmtard.evaluation.pivot.pivot_table`), rendered by ``out``'s suffix (Markdown without one) and
    written there (an existing file only with ``overwrite``); ``datasets`` / ``models`` choose and order the
    columns and models. Returns the number of measured rows, the text and the file written (None)."""
    from ..evaluation.pivot import pivot_table, render, table_format
    from ..zoo import select

    if not folders and not zoo_names:
        raise ConfigError('Give the --out folders of `mmtard eval` runs (or folders holding them), and/or --zoo NAME.')
    path = Path(out) if out is not None else None
    fmt = table_format(path)
    if path is not None:
        check_output_file(path, '-o', overwrite)
    rows = merge(folders) if folders else []
    text = render(pivot_table([record for _, record in rows], select(zoo_names), [run for run, _ in rows],
                              interval=interval, datasets=datasets, models=models), fmt)
    if path is not None:
        check_output_dir(path.parent, 'table folder')
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding='utf-8')
    return len(rows), text, path
