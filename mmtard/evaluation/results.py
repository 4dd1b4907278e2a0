"""One result schema for every benchmark row, and the files and tables it is written to.

Every number a paper table needs (clean and robust accuracy per dataset and eps, per attack stage,
retrieval recalls) and everything needed to trust it later (sample indices, the model's weights
checksum, seed, mmtard version) sit in one flat record, so JSON, CSV, markdown and the terminal
show the same thing.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from rich.markup import escape
from rich.table import Table

RESULTS_JSON = 'results.json'
RESULTS_CSV = 'results.csv'
RESULTS_MD = 'results.md'
#: Fields the CSV stores as JSON text (they are containers).
_JSON_FIELDS = ('per_attack', 'metrics', 'sample_indices')


@dataclass
class BenchmarkResult:
    """One dataset at one eps.

    ``n``: clean samples; ``n_robust``: attacked samples (``sample_indices``, dataset indices);
    ``sampling``: how both were chosen ('random', 'class-balanced-random' or 'first-n');
    ``eps`` in 1/255 units (0 when no attack ran); ``attack``: the attack's label with its budget
    (e.g. 'AutoAttack custom: APGD-CE (100 it, 5 restarts) + APGD-T (9 targets, 100 it)'), and
    ``attack_reduced`` True, with '[reduced]' in the label, when that budget is below the reference
    AutoAttack's; ``robust_acc`` None without an attack; ``per_attack``: robust accuracy after each
    attack stage. ``metrics``: for classification,
    ``attacked_clean_acc`` (clean accuracy of the attacked samples alone: ``clean_acc`` is over all
    ``n``, as the field reports it); for retrieval, recalls ``i2t_r1`` ... (clean images, their own
    gallery), ``attacked_clean_i2t_r1`` ... and ``robust_i2t_r1`` ... (the attacked images' clean and
    attacked embeddings, against the attacked images' gallery); and ``nan_grads`` when the attack met
    non-finite input gradients (a sign of gradient masking). For retrieval rows ``clean_acc`` /
    ``robust_acc`` are image->text recall@1 on the attacked images' gallery, so the two describe
    the same task and one column summarises every task.
    """

    dataset: str
    split: str
    task: str
    n: int
    n_robust: int
    eps: float
    attack: str
    clean_acc: float
    robust_acc: Optional[float]
    per_attack: Dict[str, float] = field(default_factory=dict)
    metrics: Dict[str, float] = field(default_factory=dict)
    time_s: float = 0.0
    model_checksum: str = ''
    mmtard_version: str = ''
    seed: int = 0
    sample_indices: List[int] = field(default_factory=list)
    attack_reduced: bool = False
    sampling: str = ''

    def as_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, row: Dict[str, Any]) -> 'BenchmarkResult':
        """A record from its dict; fields an older mmtard did not write keep their defaults."""
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls) if f.name in row})


def field_names() -> List[str]:
    return [f.name for f in dataclasses.fields(BenchmarkResult)]


def attacked_clean_acc(record: BenchmarkResult) -> Optional[float]:
    """Clean accuracy of the attacked samples alone (robust accuracy's own baseline): for retrieval
    rows that is ``clean_acc`` itself; None for rows without an attack or from older results."""
    if record.robust_acc is None:
        return None
    return record.clean_acc if record.task == 'retrieval' else record.metrics.get('attacked_clean_acc')


def _mean(values: List[Optional[float]]) -> Optional[float]:
    return None if not values or any(v is None for v in values) else sum(values) / len(values)


def average_rows(records: Sequence[BenchmarkResult]) -> List[Dict[str, Any]]:
    """Mean clean and robust accuracy over datasets, one row per (task, eps)."""
    groups: Dict[tuple, List[BenchmarkResult]] = {}
    for record in records:
        groups.setdefault((record.task, record.eps), []).append(record)
    rows = []
    for (task, eps), group in groups.items():
        attacks = list(dict.fromkeys(r.attack for r in group))  # e.g. APGD-CE alone on a binary dataset
        rows.append({'dataset': 'average', 'task': task, 'eps': eps, 'n': sum(r.n for r in group),
                     'n_robust': sum(r.n_robust for r in group), 'attack': ' / '.join(attacks),
                     'clean_acc': _mean([r.clean_acc for r in group]),
                     'attacked_clean_acc': _mean([attacked_clean_acc(r) for r in group]),
                     'robust_acc': _mean([r.robust_acc for r in group])})
    return rows


def _percent(value: Optional[float]) -> str:
    return '-' if value is None else f'{100 * value:.2f}'


def _table_rows(records: Sequence[BenchmarkResult]) -> List[List[str]]:
    rows = [[r.dataset, r.task, f'{r.eps:g}', str(r.n), str(r.n_robust), r.attack, _percent(r.clean_acc),
             _percent(attacked_clean_acc(r)), _percent(r.robust_acc)] for r in records]
    if len({r.dataset for r in records}) > 1:
        rows += [[a['dataset'], a['task'], f"{a['eps']:g}", str(a['n']), str(a['n_robust']), a['attack'],
                  _percent(a['clean_acc']), _percent(a['attacked_clean_acc']), _percent(a['robust_acc'])]
                 for a in average_rows(records)]
    return rows


#: "clean % attacked": clean accuracy of the n robust samples, the baseline robust % falls from.
_COLUMNS = ('dataset', 'task', 'eps (/255)', 'n', 'n robust', 'attack', 'clean %', 'clean % attacked',
            'robust %')


def markdown_table(records: Sequence[BenchmarkResult]) -> str:
    """GitHub markdown table of the records and, for several datasets, their averages."""
    lines = ['| ' + ' | '.join(_COLUMNS) + ' |', '|' + '---|' * len(_COLUMNS)]
    lines += ['| ' + ' | '.join(row) + ' |' for row in _table_rows(records)]
    return '\n'.join(lines) + '\n'


def rich_table(records: Sequence[BenchmarkResult], title: str = 'mmtard evaluation') -> Table:
    table = Table(title=title)
    for column in _COLUMNS:
        table.add_column(column, overflow='fold', justify='left' if column in ('dataset', 'task', 'attack') else 'right')
    rows = _table_rows(records)
    for i, row in enumerate(rows):
        table.add_row(*map(escape, row), style='bold' if row[0] == 'average' else None,  # '[reduced]' is not markup
                      end_section=i + 1 < len(rows) and rows[i + 1][0] == 'average' and row[0] != 'average')
    return table


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f'.{path.name}.{os.getpid()}.tmp')
    tmp.write_text(text, encoding='utf-8')
    os.replace(tmp, path)


def write_results(records: Sequence[BenchmarkResult], out_dir: Path) -> None:
    """Write results.csv, results.md, then results.json (whose presence marks a finished run)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names = field_names()
    csv_path = out_dir / RESULTS_CSV
    tmp = csv_path.with_name(f'.{csv_path.name}.{os.getpid()}.tmp')
    with open(tmp, 'w', newline='', encoding='utf-8') as f:
        writer = csv.DictWriter(f, fieldnames=names)
        writer.writeheader()
        for record in records:
            row = record.as_dict()
            writer.writerow({k: json.dumps(v) if k in _JSON_FIELDS else ('' if v is None else v)
                             for k, v in row.items()})
    os.replace(tmp, csv_path)
    _write_atomic(out_dir / RESULTS_MD, markdown_table(records))
    _write_atomic(out_dir / RESULTS_JSON, json.dumps([r.as_dict() for r in records], indent=2) + '\n')


def read_results(out_dir: Path) -> List[BenchmarkResult]:
    """The records of a finished evaluation's results.json."""
    with open(Path(out_dir) / RESULTS_JSON, encoding='utf-8') as f:
        return [BenchmarkResult.from_dict(row) for row in json.load(f)]
