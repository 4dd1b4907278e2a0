"""What the demo's and the study's reports compute from their runs: training-log readers, per-seed
values, paired differences with their intervals (:mod:`mmtard.evaluation.intervals`), tables."""
from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from ..evaluation.intervals import Interval, chain_interval, outcomes


def logged_scalars(work_dir: Path) -> List[Dict[str, Any]]:
    """Every record the run's mmengine logger wrote (``*/vis_data/scalars.json``), in order. A line cut
    off by a killed run (the last one, unparsable) is skipped, as ``mmtard plot`` skips it."""
    records = []
    for file in sorted(Path(work_dir).glob('*/vis_data/scalars.json')):
        for line in file.read_text().splitlines():
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return records


def loss_shares(work_dir: Path) -> Dict[str, float]:
    """Each teacher's share of the distillation loss, averaged over the logged training steps.

    Fixed coefficients (the release's 50 / 5) were tuned at logit scale 100 over 1000 classes; the
    shares say how they actually balance the teachers at this run's scale and class count. Shares are
    of the summed magnitudes, so a term made negative by negative cosine weights reads as negative.
    """
    sums: Dict[str, float] = defaultdict(float)
    for record in logged_scalars(work_dir):
        for key, value in record.items():
            if key.startswith('loss_'):
                sums[key[len('loss_'):]] += float(value)
    total = sum(abs(value) for value in sums.values())
    return {name: value / total for name, value in sums.items()} if total > 0 else {}


def last_validation(work_dir: Path) -> Dict[str, float]:
    """The last validation's metrics (``zero_shot/<name>``, prefix dropped): accuracies and diagnostics."""
    metrics: Dict[str, float] = {}
    for record in logged_scalars(work_dir):
        if any(key.startswith('zero_shot/') for key in record):
            metrics = {key[len('zero_shot/'):]: float(v) for key, v in record.items() if key.startswith('zero_shot/')}
    return metrics


def validation_curves(work_dir: Path) -> Dict[str, List[Tuple[int, float]]]:
    """Each validation metric along the training steps."""
    points: Dict[str, List[Tuple[int, float]]] = defaultdict(list)
    for record in logged_scalars(work_dir):
        for key, value in record.items():
            if key.startswith('zero_shot/'):
                points[key[len('zero_shot/'):]].append((int(record['step']), float(value)))
    return {key: sorted(set(values)) for key, values in points.items()}


# ----------------------------------------------------------------------------- values per seed
def metric(row: Dict[str, Any], eps: float) -> Tuple[float, str]:
    """(accuracy, per-sample outcome bits) of a result row: clean over all samples (eps 0) or robust."""
    return (row['clean_acc'], row.get('clean_correct', '')) if eps == 0 else \
        (row['robust_acc'], row.get('robust_correct', ''))


def select(rows: Iterable[Dict[str, Any]], key: str, name: str, dataset: str, eps: float) -> Dict[int, Dict[str, Any]]:
    """Rows of model ``name`` (the value of ``key``, e.g. 'stage' or 'arm') on ``dataset``, by seed: the
    row at ``eps`` (any row for eps 0, whose clean accuracy every row of a dataset shares)."""
    out: Dict[int, Dict[str, Any]] = {}
    for row in rows:
        if row[key] == name and row['dataset'] == dataset and (eps == 0 or row['eps'] == eps):
            out.setdefault(row['model_seed'], row)
    return out


def per_seed(rows: Iterable[Dict[str, Any]], key: str, name: str, dataset: str, eps: float) -> Dict[int, float]:
    return {seed: metric(row, eps)[0] for seed, row in select(rows, key, name, dataset, eps).items()}


def summarise(values: Sequence[float]) -> Tuple[float, float]:
    """Mean and sample standard deviation (0 for one value)."""
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def cell(values: Sequence[float]) -> str:
    """Mean ± std over seeds, in percent."""
    if not values:
        return '-'
    mean, std = summarise(values)
    return f'{100 * mean:.1f}' + (f' ± {100 * std:.1f}' if len(values) > 1 else '')


# ----------------------------------------------------------------------------- paired differences
def paired_difference(a: Dict[int, Dict[str, Any]], b: Dict[int, Dict[str, Any]], eps: float) -> Optional[Interval]:
    """a - b over the seeds (chains) both have, run k of each paired, with
    :func:`~mmtard.evaluation.intervals.chain_interval`'s interval (None when no seed is shared). Every row
    must carry its per-sample outcomes on the same samples (refused otherwise)."""
    seeds = sorted(set(a) & set(b))
    if not seeds:
        return None
    differences, indices = [], None
    for seed in seeds:
        bits_a, bits_b = metric(a[seed], eps)[1], metric(b[seed], eps)[1]
        if not bits_a or not bits_b:
            raise ValueError(f'seed {seed}: a row has no per-sample outcomes, so no paired interval can be '
                             f'computed; evaluate again with this mmtard, which records them.')
        seed_indices = [a[seed].get('sample_indices'), b[seed].get('sample_indices')] if eps else [None, None]
        if seed_indices[0] != seed_indices[1] or (indices is not None and seed_indices[0] != indices) \
                or len(bits_a) != len(bits_b):
            raise ValueError(f'seed {seed}: the models were attacked on different samples; a paired comparison '
                             f'needs the same ones (same evaluation seed and counts).')
        indices = seed_indices[0]
        differences.append(outcomes(bits_a) - outcomes(bits_b))
    return chain_interval(differences)


# ----------------------------------------------------------------------------- tables
def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]], numeric_from: int = 1) -> str:
    """A GitHub table; columns from ``numeric_from`` on are right-aligned."""
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + ''.join('---|' if i < numeric_from else '---:|' for i in range(len(header)))]
    lines += ['| ' + ' | '.join(str(value) for value in row) + ' |' for row in rows]
    return '\n'.join(lines)
