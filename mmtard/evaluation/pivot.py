"""The papers' table: one row per model, weights and threat model, a column per dataset and their
average, in Markdown, CSV and LaTeX (`mmtard results table`).

Rows come from finished evaluations (measured) and, on request, from the model zoo (quoted: the
averages the checkpoints' authors report, marked with their source, never mixed with what mmtard
measured). A model's 'clean' row holds clean accuracy; each 'Linf e/255' row robust accuracy at that
radius (a row per attack where a model was attacked at one radius by several). The average is over
the zero-shot datasets (all but ImageNet, as the papers average) and is left out ('-') for a row
missing one of them, rather than averaged over fewer.
"""
from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..errors import ConfigError, did_you_mean
from ..zoo import ZooModel
from .intervals import wilson_half_width
from .results import BenchmarkResult, decimals_for, percent

#: Left out of the average, as the robust-CLIP papers average the zero-shot datasets only.
NOT_ZERO_SHOT = ('imagenet',)
TABLE_FORMATS = {'.md': 'markdown', '.csv': 'csv', '.tex': 'latex'}
MEASURED = 'measured'


@dataclass
class PivotRow:
    """One table row: ``values`` per dataset and ``average`` as printed percentages ('-': none)."""

    model: str
    setting: str
    source: str
    values: Dict[str, str] = field(default_factory=dict)
    average: str = '-'


@dataclass
class PivotTable:
    datasets: List[str]
    rows: List[PivotRow]
    average_over: List[str]
    notes: List[str]

    @property
    def average_name(self) -> str:
        return 'average' if self.average_over == self.datasets else 'zero-shot average'


def _identity(record: BenchmarkResult) -> Tuple[str, str, str, str]:
    """What makes a table row's model: its weights, and the prompts its zero-shot head was built from."""
    return record.model, record.pretrained, record.model_checksum, record.prompts


def _run_names(runs: Sequence[Path]) -> List[str]:
    """Each run folder's first path component below the folder all runs share (the demo's stage, a
    sweep's arm); '' for a run that is that folder."""
    resolved = [Path(run).resolve() for run in runs]
    common = Path(os.path.commonpath(resolved))
    return [run.relative_to(common).parts[0] if run != common else '' for run in resolved]


def _labels(records: Sequence[BenchmarkResult], runs: Sequence[Path]) -> Dict[Tuple[str, str, str, str], str]:
    """'arch weights (run)' per model: the run folder's distinguishing name where the runs have them
    (the demo's stages); weights of the same name in one run folder are told apart by their checksums,
    the same weights under other prompts (a prompt ablation) by the prompts' fingerprint."""
    where: Dict[Tuple[str, str, str, str], str] = {}
    for record, name in zip(records, _run_names(runs) if runs else [''] * len(records)):
        where.setdefault(_identity(record), name)
    labels = {}
    for identity, name in where.items():
        label = ' '.join(p for p in identity[:2] if p) or 'model'
        labels[identity] = f'{label} ({name})' if name and len(set(where.values())) > 1 else label
    shared = {label for label in labels.values() if list(labels.values()).count(label) > 1}
    prompts = {i[:3]: {j[3] for j in labels if j[:3] == i[:3]} for i in labels}
    out = {}
    for i, label in labels.items():
        if len(prompts[i[:3]]) > 1:
            out[i] = f'{label} [prompts {i[3][:8] or "unrecorded"}]'
        else:
            out[i] = f'{label} [{i[2][:8]}]' if label in shared or label == 'model' else label
    return out


def _threat(record: BenchmarkResult) -> str:
    return f'{record.norm or "Linf"} {record.eps_255 or f"{record.eps:g}/255"}'


def _average(values: Dict[str, Tuple[float, int]], over: Sequence[str]) -> str:
    if not over or any(d not in values for d in over):
        return '-'
    return f'{100 * sum(values[d][0] for d in over) / len(over):.1f}'


def cell_text(accuracy: Optional[float], n: int, interval: bool) -> str:
    """A measured cell: the accuracy in percent, with ``interval`` '± h', h half the width of its 95%
    Wilson interval."""
    text = percent(accuracy, n)
    if not interval or accuracy is None:
        return text
    return f'{text} ± {100 * wilson_half_width(accuracy, n):.{max(decimals_for(n) - 2, 0)}f}'


def short_source(source: str) -> str:
    """A citation short enough for a table cell: a GitHub or Hugging Face address as owner/name, else
    the text up to its first parenthesis or comma; the full source goes to the notes."""
    match = re.match(r'https?://(?:www\.)?(?:github\.com|huggingface\.co)/([^/\s]+/[^/\s)]+)', source)
    if match:
        return match.group(1)
    return re.split(r'[(,]', source, maxsplit=1)[0].strip() or source


def _choose(found: List[str], wanted: Sequence[str], what: str, option: str) -> List[str]:
    """``wanted`` in its order (all of ``found`` when empty); a name not found is refused, with the names."""
    for name in wanted:
        if name not in found:
            raise ConfigError(f'{option} {name!r}: no {what} of that name in these evaluations.'
                              f'{did_you_mean(name, found)} Choose among: {", ".join(found)}.')
    return list(wanted) or found


def place_cell(cells: Dict, key: object, value: Tuple[float, int], what: str) -> None:
    """Put a measured (accuracy, samples) at ``key``, refusing a second measurement there that differs: two
    evaluations of the same weights on other samples (another count, seed or sampling) or by another
    attack cannot share one cell, and keeping either would hide the other by the folders' order."""
    found = cells.setdefault(key, value)
    if found != value:
        raise ConfigError(
            f'{what} was measured twice with different results ({percent(*found)}% of {found[1]} samples and '
            f'{percent(*value)}% of {value[1]}): evaluations of the same weights on other samples or by another '
            f'attack cannot share one table cell. Give only one of them, or compare the two with `mmtard results '
            f'compare`.')


def pivot_table(records: Sequence[BenchmarkResult], quoted: Sequence[ZooModel] = (),
                runs: Sequence[Path] = (), interval: bool = False, datasets: Sequence[str] = (),
                models: Sequence[str] = ()) -> PivotTable:
    """The table of ``records`` (each model's clean row, then one per threat model) and the ``quoted``
    zoo models; ``runs``: each record's run folder (`mmtard results merge`'s), naming same-named weights;
    ``interval``: each measured cell with its 95% Wilson half-width; ``datasets`` / ``models``: the
    columns and the models (by their labels) to show, in that order (default: all, as found)."""
    found = list(dict.fromkeys(r.dataset for r in records))
    datasets = _choose(found, datasets, 'dataset', '--dataset')
    average_over = [d for d in datasets if d.lower() not in NOT_ZERO_SHOT] or datasets
    labels = _labels(records, runs)
    attacks: Dict[Tuple[str, str], set] = {}
    for record in records:
        if record.robust_acc is not None:
            attacks.setdefault((labels[_identity(record)], _threat(record)), set()).add(record.attack)
    cells: Dict[Tuple[str, str], Dict[str, Tuple[float, int]]] = {}
    for record in records:
        label = labels[_identity(record)]
        place_cell(cells.setdefault((label, 'clean'), {}), record.dataset, (record.clean_acc, record.n),
                   f'{label}, clean, on {record.dataset}')
        if record.robust_acc is not None:
            threat = _threat(record)  # a model attacked at one radius by several attacks: a row per attack
            setting = threat if len(attacks[(label, threat)]) == 1 else f'{threat}, {record.attack}'
            place_cell(cells.setdefault((label, setting), {}), record.dataset, (record.robust_acc, record.n_robust),
                       f'{label}, {setting}, on {record.dataset}')
    order = _choose(list(dict.fromkeys(label for label, _ in cells)), models, 'model', '--model')
    rows = [PivotRow(label, setting, MEASURED, {d: cell_text(*values[d], interval) for d in values if d in datasets},
                     _average(values, average_over))
            for wanted in order for (label, setting), values in cells.items() if label == wanted]
    for model in quoted:
        reported = model.reported
        source = f'quoted: {short_source(reported["source"])}'
        rows.append(PivotRow(model.name, 'clean', source, average=f'{reported["clean"]:.1f}'))
        rows += [PivotRow(model.name, f'Linf {eps}/255', source, average=f'{value:.1f}')
                 for eps, value in reported['robust'].items()]
    protocols: Dict[str, List[str]] = {}
    for record in records:
        if record.attack:
            shown = protocols.setdefault(f'{record.attack}, {record.n_robust} attacked samples ({record.sampling})', [])
            shown += [labels[_identity(record)]] if labels[_identity(record)] not in shown else []
    every = set(labels.values())
    notes = [f'{"every measured model" if set(shown) == every else ", ".join(shown)}: {protocol}'
             for protocol, shown in protocols.items() if set(shown) & set(order)]
    excluded = [d for d in datasets if d not in average_over]
    notes.append(f'{"average" if average_over == datasets else "zero-shot average"}: the mean over '
                 f'{", ".join(average_over)}' + (f' ({", ".join(excluded)} left out: not zero-shot, as the papers '
                                                 f'average)' if excluded else '') + '; "-" where a row lacks one')
    notes += [f'{m.name}: {m.reported["dataset"]} as reported ({m.reported["source"]})' for m in quoted]
    if interval:
        notes.append('± : half the width of the 95% Wilson (binomial) interval of each measured accuracy, over the '
                     'samples it was measured on; it counts sampling error only')
    return PivotTable(datasets, rows, average_over, notes)


def _cells(table: PivotTable) -> Tuple[List[str], List[List[str]]]:
    header = ['model', 'threat model', *table.datasets, table.average_name, 'source']
    return header, [[r.model, r.setting, *(r.values.get(d, '-') for d in table.datasets), r.average, r.source]
                    for r in table.rows]


def markdown(table: PivotTable) -> str:
    header, rows = _cells(table)
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
    lines += [''] + [f'- {note}' for note in table.notes]
    return '\n'.join(lines) + '\n'


def csv_text(table: PivotTable) -> str:
    header, rows = _cells(table)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator='\n')
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


_LATEX_SPECIAL = {'\\': r'\textbackslash{}', '&': r'\&', '%': r'\%', '$': r'\$', '#': r'\#', '_': r'\_',
                  '{': r'\{', '}': r'\}', '~': r'\textasciitilde{}', '^': r'\textasciicircum{}', '±': r'$\pm$'}


def _latex(text: str) -> str:
    return ''.join(_LATEX_SPECIAL.get(c, c) for c in text)


def latex(table: PivotTable) -> str:
    """A complete booktabs table (\\usepackage{booktabs}): numbers right-aligned, the notes (attacks,
    sample counts, [reduced] budgets, what the average covers, full sources) in its caption."""
    header, rows = _cells(table)
    caption = 'Clean and robust accuracy (\\%). ' + ' '.join(_latex(note.rstrip('.')) + '.' for note in table.notes)
    lines = [r'\begin{table}[t]', r'\centering', r'\caption{' + caption + '}', r'\label{tab:mmtard-results}',
             r'\begin{tabular}{ll' + 'r' * (len(header) - 3) + 'l}', r'\toprule',
             ' & '.join(_latex(h) for h in header) + r' \\', r'\midrule']
    lines += [' & '.join(_latex(c) for c in row) + r' \\' for row in rows]
    lines += [r'\bottomrule', r'\end{tabular}', r'\end{table}']
    return '\n'.join(lines) + '\n'


def render(table: PivotTable, fmt: str) -> str:
    return {'markdown': markdown, 'csv': csv_text, 'latex': latex}[fmt](table)


def table_format(out: Optional[Path]) -> str:
    """The format an output file's suffix asks for (Markdown without a file)."""
    if out is None:
        return 'markdown'
    fmt = TABLE_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ConfigError(f'--out {str(out)!r}: the table is written as Markdown (.md), CSV (.csv) or LaTeX (.tex); '
                          f'give a file name ending in one of them.')
    return fmt
