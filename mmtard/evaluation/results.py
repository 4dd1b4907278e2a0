"""One result schema for every benchmark row, and the files and tables it is written to.

Every number a paper table needs (clean and robust accuracy per dataset and eps, per attack stage,
retrieval recalls) and everything needed to trust it later (the model and its weights, the threat
model, the attack's budget, how the samples were chosen, seed, mmtard version) sit in one record,
so JSON, CSV, markdown and the terminal show the same thing, and rows of different runs merge
into one table. docs/results.md describes every field.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union, get_args, get_origin, get_type_hints

from ..atomic_files import write_bytes_atomic
from ..errors import ConfigError, error_detail

RESULTS_JSON = 'results.json'
RESULTS_CSV = 'results.csv'
RESULTS_MD = 'results.md'
#: Where ``mmtard eval --overwrite`` moves the results it replaces, so a new run that fails loses nothing;
#: never merged or reported.
REPLACED_DIR = 'replaced'
#: Container fields: the CSV spreads ``per_attack`` and ``metrics`` over one column per key
#: (``per_attack.apgd-ce``, ``metrics.i2t_r5``) and leaves the sample indices to results.json.
_SPREAD_FIELDS = ('per_attack', 'metrics')
_JSON_ONLY_FIELDS = ('sample_indices', 'clean_correct', 'robust_correct')


@dataclass
class EvaluatedModel:
    """What results record about the evaluated model: ``model`` its architecture as the user names it
    (an open_clip or timm name), ``pretrained`` the weights' tag, hf-hub id or file name ('' for none)."""

    model: str = ''
    pretrained: str = ''
    # --- row identity: what besides the weights' file name tells two models apart ---
    weights_folder: str = ''
    model_key: str = ''
    # --- end of row identity ---


def pretrained_label(pretrained: Any) -> str:
    """How results name weights: a file by its name, a tag or hf-hub id as written, none as ''."""
    if pretrained in (None, False):
        return ''
    text = str(pretrained)
    return Path(text).name if os.path.isfile(text) else text


def weights_folder(pretrained: Any) -> str:
    """The name of the folder a weights file sits in (for a checkpoint: its training run's work dir),
    which tells apart the many runs' ``iter_N.pth``; '' for a tag or hf-hub id."""
    if pretrained in (None, False) or not os.path.isfile(str(pretrained)):
        return ''
    return Path(str(pretrained)).resolve().parent.name


def model_source(model: str, pretrained: Any, model_key: str = '') -> EvaluatedModel:
    """How results name a model: architecture, weights, their folder and the encoder within the model."""
    return EvaluatedModel(model, pretrained_label(pretrained), weights_folder(pretrained), model_key)


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
    non-finite input gradients (a sign of gradient masking). For retrieval rows ``clean_acc`` is
    image->text recall@1 of all ``n`` images (their own gallery), ``attacked_clean_acc`` and
    ``robust_acc`` that recall of the attacked images, clean and attacked (the attacked images'
    gallery), so one set of columns summarises every task.

    ``model`` / ``pretrained``: the architecture and the weights' tag or file name (``model_checksum``
    identifies the weights); ``norm``, ``eps`` and ``eps_255`` (e.g. '4/255') the threat model;
    ``attack_iterations`` / ``attack_restarts`` / ``attack_targets`` the attack's budget;
    ``attacked_clean_acc`` the clean accuracy of the ``n_robust`` attacked samples (robust accuracy's
    own baseline); ``preset`` the budget preset the counts came from.
    ``clean_correct`` / ``robust_correct``: per-sample outcomes, '1' right and '0' wrong, of the ``n``
    clean samples and of the ``n_robust`` attacked ones (in ``sample_indices`` order), for paired
    bootstrap confidence intervals ('' where the task gives none).

    Row identity (every mmtard checkpoint is ``iter_N.pth``, so a file name alone mixes models up):
    ``weights_folder`` the name of the folder the weights file sits in (the training run's work dir;
    '' for a tag such as 'openai'), ``model_key`` the encoder evaluated within a config's model
    ('student', 'teachers.robust'; '' for a model named on the command line); with
    ``model_checksum`` they tell models apart (:func:`model_label`). ``logit_scale``: the scale of the
    zero-shot logits the attack's loss saw (accuracy does not depend on it; attack strength does).
    ``prompts``: a fingerprint of the class names and templates the zero-shot head was built from, so
    a prompt ablation of one model is other rows, not a conflict ('' for rows of an older mmtard).
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
    model: str = ''
    pretrained: str = ''
    norm: str = ''
    eps_255: str = ''
    attack_iterations: Optional[int] = None
    attack_restarts: Optional[int] = None
    attack_targets: Optional[int] = None
    attacked_clean_acc: Optional[float] = None
    preset: str = ''
    clean_correct: str = ''
    robust_correct: str = ''
    # --- row identity (see the docstring) and the logit scale: keep these together, after every other field ---
    weights_folder: str = ''
    model_key: str = ''
    logit_scale: Optional[float] = None
    prompts: str = ''
    # --- end of row identity ---

    def as_dict(self) -> Dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, row: Dict[str, Any]) -> 'BenchmarkResult':
        """A record from its dict; fields an older mmtard did not write keep their defaults (an older
        classification row's ``metrics['attacked_clean_acc']`` becomes the field; rows written before
        ``split`` and ``task`` existed were test-split classification, or retrieval when they hold recalls)."""
        row = dict(row)
        metrics = dict(row.get('metrics') or {})
        if row.get('attacked_clean_acc') is None and 'attacked_clean_acc' in metrics:
            row['attacked_clean_acc'] = metrics.pop('attacked_clean_acc')
            row['metrics'] = metrics
        row.setdefault('split', '')
        row.setdefault('task', 'retrieval' if 'i2t_r1' in metrics else 'classification')
        missing = [f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING and f.name not in row]
        if missing:
            raise ValueError(f'the row of dataset {row.get("dataset", "?")!r} lacks {", ".join(missing)}')
        return cls(**{f.name: row[f.name] for f in dataclasses.fields(cls) if f.name in row})


def model_label(record: BenchmarkResult) -> str:
    """A model as tables name it: architecture and weights, the weights with their run folder
    ('mmtard-tiny-vit student_dual/iter_500.pth', 'ViT-B-32 openai'), and the encoder when it is not
    the student ('... [teachers.robust]'); else its checksum."""
    weights = '/'.join(part for part in (record.weights_folder, record.pretrained) if part)
    label = ' '.join(part for part in (record.model, weights) if part)
    if record.model_key not in ('', 'student'):
        label += f' [{record.model_key}]'
    return label or f'model {record.model_checksum[:8]}'


def field_names() -> List[str]:
    return [f.name for f in dataclasses.fields(BenchmarkResult)]


def eps_label(eps: float) -> str:
    """eps in 1/255 units as written in papers: '4/255' ('' for no attack)."""
    return f'{eps:g}/255' if eps else ''


def decimals_for(n: int) -> int:
    """Decimals a fraction measured on ``n`` samples is worth: its resolution is 1/n, so one decimal
    more than 1/n's first significant digit would be noise (64 samples: 2, 1000: 3, 5000: 4)."""
    return max(1, math.ceil(math.log10(n))) if n > 0 else 1


def attacked_clean_acc(record: BenchmarkResult) -> Optional[float]:
    """Clean accuracy of the attacked samples alone (robust accuracy's own baseline); None for rows
    without an attack."""
    return None if record.robust_acc is None else record.attacked_clean_acc


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


def percent(value: Optional[float], n: int) -> str:
    """A fraction measured on ``n`` samples as a percentage with the decimals ``n`` supports."""
    return '-' if value is None else f'{100 * value:.{max(decimals_for(n) - 2, 0)}f}'


def table_rows(records: Sequence[BenchmarkResult]) -> List[List[str]]:
    """The cells of :data:`TABLE_COLUMNS` per record and, for several datasets, per average row."""
    rows = [[r.dataset, r.task, f'{r.eps:g}', str(r.n), str(r.n_robust), r.attack, percent(r.clean_acc, r.n),
             percent(attacked_clean_acc(r), r.n_robust), percent(r.robust_acc, r.n_robust)] for r in records]
    if len({r.dataset for r in records}) > 1:
        rows += [[a['dataset'], a['task'], f"{a['eps']:g}", str(a['n']), str(a['n_robust']), a['attack'],
                  percent(a['clean_acc'], a['n']), percent(a['attacked_clean_acc'], a['n_robust']),
                  percent(a['robust_acc'], a['n_robust'])]
                 for a in average_rows(records)]
    return rows


#: "clean % attacked": clean accuracy of the n robust samples, the baseline robust % falls from.
TABLE_COLUMNS = ('dataset', 'task', 'eps (/255)', 'n', 'n robust', 'attack', 'clean %', 'clean % attacked',
                 'robust %')


def markdown_table(records: Sequence[BenchmarkResult]) -> str:
    """GitHub markdown table of the records and, for several datasets, their averages."""
    lines = ['| ' + ' | '.join(TABLE_COLUMNS) + ' |', '|' + '---|' * len(TABLE_COLUMNS)]
    lines += ['| ' + ' | '.join(row) + ' |' for row in table_rows(records)]
    return '\n'.join(lines) + '\n'


def _write_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode('utf-8'))


def _rounded(value: Any, n: int) -> Any:
    return round(value, decimals_for(n)) if isinstance(value, float) else value


def flat_row(record: BenchmarkResult) -> Dict[str, Any]:
    """One value per key: ``per_attack`` and ``metrics`` spread as ``per_attack.<stage>`` and
    ``metrics.<name>``, the sample indices left out, and accuracies rounded to the decimals their
    sample count supports (measured on the attacked samples: ``n_robust``; else ``n``)."""
    row = {k: v for k, v in record.as_dict().items() if k not in _SPREAD_FIELDS + _JSON_ONLY_FIELDS}
    for key in ('clean_acc',):
        row[key] = _rounded(row[key], record.n)
    for key in ('robust_acc', 'attacked_clean_acc'):
        row[key] = _rounded(row[key], record.n_robust)
    row.update({f'per_attack.{k}': _rounded(v, record.n_robust) for k, v in record.per_attack.items()})
    row.update({f'metrics.{k}': _rounded(v, record.n_robust if k.startswith(('robust_', 'attacked_')) else record.n)
                for k, v in record.metrics.items()})
    return row


def write_csv(rows: Sequence[Dict[str, Any]], path: Path) -> None:
    """Flat rows as CSV (columns: the union of the rows' keys in first-seen order; missing cells empty)."""
    columns = list(dict.fromkeys(key for row in rows for key in row))
    text = io.StringIO(newline='')
    writer = csv.DictWriter(text, fieldnames=columns, restval='')
    writer.writeheader()
    for row in rows:
        writer.writerow({k: '' if v is None else v for k, v in row.items()})
    _write_atomic(path, text.getvalue())


def write_results(records: Sequence[BenchmarkResult], out_dir: Path) -> None:
    """Write results.csv, results.md, then results.json (whose presence marks a finished run)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv([flat_row(record) for record in records], out_dir / RESULTS_CSV)
    _write_atomic(out_dir / RESULTS_MD, markdown_table(records))
    _write_atomic(out_dir / RESULTS_JSON, json.dumps([r.as_dict() for r in records], indent=2) + '\n')


def read_results(out_dir: Path) -> List[BenchmarkResult]:
    """The records of a finished evaluation's results.json; a damaged file is a :class:`ConfigError`
    naming it."""
    path = Path(out_dir) / RESULTS_JSON
    damaged = (f'Delete it and run the evaluation again (`mmtard eval` with the same --out), or leave its folder '
               f'out.')
    try:
        with open(path, encoding='utf-8') as f:
            content = json.load(f)
    except ValueError as err:
        raise ConfigError(f'{str(path)!r} is not valid JSON ({error_detail(err)}): it was cut short or edited. '
                          f'{damaged}') from None
    except OSError as err:
        raise ConfigError(f'{str(path)!r} cannot be read ({error_detail(err)}).') from None
    if not isinstance(content, list) or not all(isinstance(row, dict) for row in content):
        raise ConfigError(f'{str(path)!r} is not an mmtard results file: it holds a {type(content).__name__}, '
                          f'not a list of result rows (objects). {damaged}')
    records = []
    for number, row in enumerate(content, 1):
        try:
            record = BenchmarkResult.from_dict(row)
        except (TypeError, ValueError) as err:
            raise ConfigError(f'{str(path)!r} is not an mmtard results file: {err}. {damaged}') from None
        problem = _not_a_number(record)
        if problem is not None:
            raise ConfigError(f'{str(path)!r}, row {number} of {len(content)} (dataset {row.get("dataset")!r}): '
                              f'{problem}, where `mmtard eval` writes one; the file was edited or written by '
                              f'another program. Put the measured value back if you know it; otherwise: {damaged}')
        records.append(record)
    return records


def _number_fields() -> Dict[str, Tuple[type, bool]]:
    """Each number field of a row (from its type): whether it is a whole number (int) or any (float),
    and whether null is allowed."""
    fields = {}
    for name, hint in get_type_hints(BenchmarkResult).items():
        options = get_args(hint) if get_origin(hint) is Union else (hint,)
        kind = next((option for option in options if option in (int, float)), None)
        if kind is not None:
            fields[name] = (kind, type(None) in options)
    return fields


_NUMBER_FIELDS = _number_fields()


def _not_a_number(record: BenchmarkResult) -> Optional[str]:
    """'clean_acc is "abc", not a number' for the first number field of a row read from JSON that holds
    something else (tables would fail on it far from the file), or None."""
    values = [(name, getattr(record, name), kind, nullable) for name, (kind, nullable) in _NUMBER_FIELDS.items()]
    for name in _SPREAD_FIELDS:
        spread = getattr(record, name)
        if not isinstance(spread, dict):
            return f'{name} is {json.dumps(spread)[:60]}, not an object of numbers'
        values += [(f'{name}[{json.dumps(key)}]', value, float, False) for key, value in spread.items()]
    for name, value, kind, nullable in values:
        if not (value is None and nullable
                or isinstance(value, (int, float) if kind is float else int) and not isinstance(value, bool)):
            return (f'{name} is {json.dumps(value)[:60]}, not {"a whole number" if kind is int else "a number"}'
                    f'{" or null" if nullable else ""}')
    return None
