"""Two evaluated models compared with their uncertainty: the function behind `mmtard results compare`.

Each side is one or more evaluations (results files, `mmtard eval --out` folders, or a folder holding
several: one per seed). For every dataset and threat model both sides hold, it gives each side's
accuracy, the difference A - B and a 95% paired-bootstrap interval over the shared samples (with
several runs a side, the runs are drawn too: :func:`mmtard.evaluation.intervals.bootstrap_interval`).
Rows scored on different samples cannot be paired and are refused, each with the reason.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import ConfigError
from ..evaluation.intervals import Interval, bootstrap_interval, outcomes
from ..evaluation.results import RESULTS_JSON, BenchmarkResult, read_results
from .merge_results import check_output_file, result_files

PathLike = Union[str, os.PathLike]
FORMATS = ('.md', '.csv', '.json')


@dataclass
class Comparison:
    """One dataset and threat model (``eps`` 0: clean): accuracies, A - B and its 95% interval, as
    fractions; ``n`` samples, ``runs`` the runs of each side."""

    dataset: str
    eps: float
    a: float
    b: float
    difference: float
    low: float
    high: float
    n: int
    runs: Tuple[int, int]
    covers: str

    def interval(self) -> Interval:
        return Interval(self.difference, self.low, self.high, self.n, min(self.runs), self.covers)


def side_runs(paths: Sequence[PathLike], side: str) -> List[List[BenchmarkResult]]:
    """The rows of each evaluation (run) of one side."""
    files: List[Path] = []
    for path in map(Path, paths):
        if path.is_file():
            if path.name != RESULTS_JSON:
                raise ConfigError(f'{side}: {str(path)!r} is not a {RESULTS_JSON}; give an evaluation\'s '
                                  f'{RESULTS_JSON}, its folder, or a folder holding several.')
            files.append(path)
        else:
            files.extend(result_files([path]))
    return [read_results(file.parent) for file in dict.fromkeys(files)]


def _rows_at(runs: List[List[BenchmarkResult]], dataset: str, eps: float) -> List[BenchmarkResult]:
    """Each run's row of ``dataset`` at ``eps`` (for eps 0, any row of the dataset: all share the clean part)."""
    found = []
    for rows in runs:
        match = [r for r in rows if r.dataset == dataset and (r.eps == eps if eps else True)]
        if match:
            found.append(match[0])
    return found


def _samples(row: BenchmarkResult, eps: float) -> tuple:
    """What must be equal for two rows' outcomes to be paired sample by sample."""
    base = (row.split, row.n, row.sampling, row.seed)
    return base + ((row.n_robust, tuple(row.sample_indices)) if eps else ())


def _bits(row: BenchmarkResult, eps: float) -> str:
    return row.robust_correct if eps else row.clean_correct


def compare(a: Sequence[PathLike], b: Sequence[PathLike], paired: bool = False) -> Tuple[List[Comparison], List[str]]:
    """Every dataset and threat model both sides hold, compared; and, for each that cannot be paired,
    why. ``paired``: run k of A pairs with run k of B (seed k of both); else each side's runs are
    drawn on their own. Raises when nothing can be compared."""
    runs_a, runs_b = side_runs(a, 'A'), side_runs(b, 'B')
    if paired and len(runs_a) != len(runs_b):
        raise ConfigError(f'--paired pairs run k of A with run k of B, but A has {len(runs_a)} evaluations and B '
                          f'{len(runs_b)}; give as many of each, or leave --paired out.')
    keys = sorted({(r.dataset, 0.0) for rows in runs_a for r in rows}
                  | {(r.dataset, float(r.eps)) for rows in runs_a for r in rows if r.robust_acc is not None and r.eps})
    results: List[Comparison] = []
    refused: List[str] = []
    for dataset, eps in keys:
        rows_a, rows_b = _rows_at(runs_a, dataset, eps), _rows_at(runs_b, dataset, eps)
        what = f'{dataset} at {"clean" if not eps else f"{eps:g}/255"}'
        if len(rows_a) != len(runs_a) or len(rows_b) != len(runs_b):
            if rows_b:
                refused.append(f'{what}: not in every evaluation of {"A" if len(rows_a) != len(runs_a) else "B"}.')
            continue
        samples = {_samples(row, eps) for row in rows_a + rows_b}
        if len(samples) > 1:
            refused.append(f'{what}: the evaluations scored different samples (their counts, sampling, seed or '
                           f'attacked sample indices differ); evaluate both with the same --n-clean, --n-robust and '
                           f'evaluation seed (-o evaluation.seed=N) to pair them.')
            continue
        if any(not _bits(row, eps) for row in rows_a + rows_b):
            refused.append(f'{what}: a row carries no per-sample outcomes (written by an older mmtard); evaluate '
                           f'it again to get an interval.')
            continue
        side_a, side_b = ([outcomes(_bits(r, eps)) for r in rows] for rows in (rows_a, rows_b))
        interval = bootstrap_interval(side_a, side_b, paired=paired)
        results.append(Comparison(dataset, eps, float(np.mean(side_a)), float(np.mean(side_b)), interval.difference,
                                  interval.low, interval.high, interval.n, (len(rows_a), len(rows_b)), interval.covers))
    if not results:
        reasons = ' '.join(refused) or 'A and B share no dataset.'
        raise ConfigError(f'Nothing to compare: no dataset and threat model can be paired between A and B. {reasons}')
    return results, refused


def _cells(item: Comparison) -> List[str]:
    interval = item.interval()
    return [item.dataset, 'clean' if not item.eps else f'{item.eps:g}/255', f'{100 * item.a:.1f}', f'{100 * item.b:.1f}',
            interval.text(), interval.word(), str(item.n), f'{item.runs[0]} / {item.runs[1]}']


HEADER = ['dataset', 'threat model', 'A %', 'B %', 'A - B [95% interval]', 'A vs B', 'samples', 'runs A / B']


def render(items: Sequence[Comparison], fmt: str) -> str:
    """The comparison as Markdown, CSV or JSON (accuracies as fractions, like results.json)."""
    if fmt == '.json':
        return json.dumps([{**{k: v for k, v in asdict(item).items() if k not in ('runs', 'covers')},
                            'runs_a': item.runs[0], 'runs_b': item.runs[1], 'covers': item.covers}
                           for item in items], indent=2) + '\n'
    if fmt == '.csv':
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator='\n')
        writer.writerow(['dataset', 'eps', 'a', 'b', 'difference', 'low', 'high', 'n', 'runs_a', 'runs_b', 'covers'])
        for item in items:
            writer.writerow([item.dataset, f'{item.eps:g}', f'{item.a:.6f}', f'{item.b:.6f}', f'{item.difference:.6f}',
                             f'{item.low:.6f}', f'{item.high:.6f}', item.n, *item.runs, item.covers])
        return buffer.getvalue()
    lines = ['| ' + ' | '.join(HEADER) + ' |', '|---|---|' + '---:|' * (len(HEADER) - 2)]
    lines += ['| ' + ' | '.join(_cells(item)) + ' |' for item in items]
    covers = sorted({item.covers for item in items})
    return '\n'.join(lines) + (f'\n\n95% paired-bootstrap intervals over {" / ".join(covers)}; "better" / "worse": the '
                               f'whole interval above / below 0.\n')


def output_format(path: Optional[Path]) -> str:
    if path is None:
        return '.md'
    if path.suffix not in FORMATS:
        raise ConfigError(f'-o {str(path)!r}: the comparison is written as Markdown, CSV or JSON; end the name in '
                          f'{", ".join(FORMATS)}.')
    return path.suffix


def compare_results(a: Sequence[PathLike], b: Sequence[PathLike], out: Optional[PathLike] = None,
                    paired: bool = False, overwrite: bool = False) -> Tuple[List[Comparison], List[str], str]:
    """:func:`compare`, rendered by ``out``'s suffix and written there (refusing to replace a file unless
    ``overwrite``, and never an evaluation's own files); returns the comparisons, the refusals and the text."""
    path = Path(out) if out is not None else None
    fmt = output_format(path)
    if path is not None:
        check_output_file(path, '-o', overwrite)
    items, refused = compare(a, b, paired)
    text = render(items, fmt)
    if path is not None:
        from ..atomic_files import write_bytes_atomic
        from ..work_dir import check_output_dir

        check_output_dir(path.parent, 'comparison folder')
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(path, text.encode('utf-8'))
    return items, refused, text
