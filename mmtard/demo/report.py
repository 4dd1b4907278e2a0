"""The demo's outputs: a terminal table, results.json, a markdown report with margins, and a figure."""
from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from rich.table import Table

from .stages import STAGES, Run

SEEN, HELD13, HELD64, MNIST = 'shapes-seen-51', 'held-out-13', 'held-out-among-64', 'mnist-digits'
CHANCE = {SEEN: 1 / 51, HELD13: 1 / 13, HELD64: 1 / 64, MNIST: 1 / 10}
ROBUST_STUDENTS = ('single-ard', 'mmtard-reference', 'mmtard-dynamic')

#: (column title, dataset, attack family or None for clean accuracy, eps)
COLUMNS: Tuple[Tuple[str, str, Optional[str], int], ...] = (
    ('seen', SEEN, None, 0),
    ('seen PGD4', SEEN, 'pgd', 4), ('seen PGD8', SEEN, 'pgd', 8),
    ('seen AA4', SEEN, 'autoattack', 4), ('seen AA8', SEEN, 'autoattack', 8),
    ('held13', HELD13, None, 0), ('held13 AA8', HELD13, 'autoattack', 8),
    ('held64', HELD64, None, 0),
    ('MNIST', MNIST, None, 0), ('MNIST AA8', MNIST, 'autoattack', 8),
)


def metric_values(rows: Sequence[Dict[str, Any]], model: str, dataset: str, family: Optional[str],
                  eps: int) -> List[float]:
    """One value per seed: clean accuracy (family None) or robust accuracy under family at eps."""
    values = {}
    for row in rows:
        if row['model'] != model or row['dataset'] != dataset:
            continue
        if family is None and row['attack_family'] == 'autoattack' and row['eps'] == 8:
            values[row['model_seed']] = row['clean_acc']
        elif family is not None and row['attack_family'] == family and row['eps'] == eps:
            values[row['model_seed']] = row['robust_acc']
    return [values[k] for k in sorted(values)]


def summarise(values: Sequence[float]) -> Tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) > 1 else 0.0)


def cell(values: Sequence[float]) -> str:
    if not values:
        return '-'
    mean, std = summarise(values)
    return f'{100 * mean:.1f}' + (f' ± {100 * std:.1f}' if len(values) > 1 else '')


def models_in(rows: Sequence[Dict[str, Any]]) -> List[Tuple[str, str]]:
    present = {row['model']: row['label'] for row in rows}
    return [(s.name, s.label) for s in STAGES if s.name in present]


def summary_table(rows: Sequence[Dict[str, Any]]) -> Table:
    table = Table(title='MMT-ARD in miniature: accuracy (%); AA = APGD-CE + APGD-T, eps in 1/255')
    table.add_column('model', no_wrap=True)
    for title, *_ in COLUMNS:
        table.add_column(title, justify='right')
    for name, label in models_in(rows):
        table.add_row(label, *[cell(metric_values(rows, name, *spec)) for _, *spec in COLUMNS])
    return table


def markdown_summary(rows: Sequence[Dict[str, Any]]) -> str:
    lines = ['| model | ' + ' | '.join(title for title, *_ in COLUMNS) + ' |',
             '|---|' + '---:|' * len(COLUMNS)]
    for name, label in models_in(rows):
        lines.append(f'| {label} | ' + ' | '.join(cell(metric_values(rows, name, *spec)) for _, *spec in COLUMNS)
                     + ' |')
    return '\n'.join(lines)


def margin(rows: Sequence[Dict[str, Any]], a: str, b: str, spec: Tuple[str, Optional[str], int]) -> Optional[float]:
    va, vb = metric_values(rows, a, *spec), metric_values(rows, b, *spec)
    if not va or not vb:
        return None
    return statistics.fmean(va) - statistics.fmean(vb)


def findings(rows: Sequence[Dict[str, Any]]) -> List[str]:
    """Plain statements of the margins, including where MMT-ARD does not beat the baseline."""
    names = dict(models_in(rows))
    out = []
    robust_spec = (SEEN, 'autoattack', 8)
    for student in ROBUST_STUDENTS:
        diff = margin(rows, student, 'undefended', robust_spec)
        if diff is not None:
            out.append(f'{names[student]} vs undefended student, robust accuracy (seen classes, APGD-CE + APGD-T '
                       f'at 8/255): {100 * diff:+.1f} points.')
    comparisons = [('seen clean', (SEEN, None, 0)), ('seen robust (AA 8)', robust_spec),
                   ('held-out-13 zero-shot clean', (HELD13, None, 0)),
                   ('held-out-13 zero-shot robust (AA 8)', (HELD13, 'autoattack', 8)),
                   ('held-out among 64 clean', (HELD64, None, 0)), ('MNIST robust (AA 8)', (MNIST, 'autoattack', 8))]
    for student in ('mmtard-reference', 'mmtard-dynamic'):
        if student not in names or 'single-ard' not in names:
            continue
        for title, spec in comparisons:
            diff = margin(rows, student, 'single-ard', spec)
            if diff is None:
                continue
            verdict = 'beats' if diff > 0.005 else 'does NOT beat' if diff < -0.005 else 'ties with'
            out.append(f'{names[student]} {verdict} single-teacher ARD on {title}: {100 * diff:+.1f} points.')
    for name, label in models_in(rows):
        held = metric_values(rows, name, HELD13, None, 0)
        if held:
            out.append(f'{label}: zero-shot accuracy on the 13 never-trained classes {100 * statistics.fmean(held):.1f}% '
                       f'(chance {100 * CHANCE[HELD13]:.1f}%).')
    return out


def val_curves(runs: Iterable[Run]) -> Dict[str, Dict[str, List[Tuple[int, float]]]]:
    """Validation clean and robust accuracy of each student along its training steps (first seed)."""
    curves: Dict[str, Dict[str, List[Tuple[int, float]]]] = {}
    for run in runs:
        if run.stage.kind != 'student' or run.stage.label in curves:
            continue
        files = sorted(run.work_dir.glob('*/vis_data/scalars.json'))
        points: Dict[str, List[Tuple[int, float]]] = defaultdict(list)
        for file in files:
            for line in file.read_text().splitlines():
                record = json.loads(line)
                for key in ('clean_acc', 'robust_acc'):
                    if f'zero_shot/{key}' in record:
                        points[key].append((int(record['step']), float(record[f'zero_shot/{key}'])))
        curves[run.stage.label] = {k: sorted(set(v)) for k, v in points.items()}
    return curves


def figure(rows: Sequence[Dict[str, Any]], runs: Sequence[Run], path: Path) -> None:
    """Left: clean vs robust accuracy per model; right: students' accuracy along training steps."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.6))
    colors = {label: f'C{i}' for i, (_, label) in enumerate(models_in(rows))}  # one colour per model, both panels
    for name, label in models_in(rows):
        clean = metric_values(rows, name, SEEN, None, 0)
        robust = metric_values(rows, name, SEEN, 'autoattack', 8)
        if clean and robust:
            (cx, cs), (ry, rs) = summarise(clean), summarise(robust)
            left.errorbar(100 * cx, 100 * ry, xerr=100 * cs, yerr=100 * rs, fmt='o', capsize=3, label=label,
                          color=colors[label])
    left.set_xlabel('clean accuracy, seen classes (%)')
    left.set_ylabel('robust accuracy, APGD-CE + APGD-T 8/255 (%)')
    left.set_title('clean vs robust accuracy')
    left.legend(fontsize=7)
    left.grid(alpha=0.3)
    for i, (label, points) in enumerate(val_curves(runs).items()):
        color = colors.get(label, f'C{len(colors) + i}')
        for key, style in (('clean_acc', '-'), ('robust_acc', '--')):
            if points.get(key):
                steps, values = zip(*points[key])
                right.plot(steps, [100 * v for v in values], style, color=color,
                           label=f'{label} ({"clean" if key == "clean_acc" else "robust, PGD-5 8/255"})')
    right.set_xlabel('training step')
    right.set_ylabel('validation accuracy (%)')
    right.set_title('students along training')
    right.legend(fontsize=6, loc='upper center', bbox_to_anchor=(0.5, -0.14), ncol=2)
    right.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown_report(rows: Sequence[Dict[str, Any]], runs: Sequence[Run], seeds: Sequence[int],
                    timings: Dict[str, float], size_name: str) -> str:
    n_clean = {row['dataset']: row['n'] for row in rows}
    n_robust = {row['dataset']: row['n_robust'] for row in rows}
    stage_times = '\n'.join(f'| {run.stage.label} | {run.seed} | {run.seconds:.0f} s | '
                            f'{"reused" if run.reused else "trained"} |' for run in runs)
    counts = '\n'.join(f'| {name} | {n_clean[name]} | {n_robust.get(name, 0)} | {100 * CHANCE.get(name, 0):.1f}% |'
                       for name in n_clean)
    return f"""# MMT-ARD in miniature (mmtard demo, size '{size_name}')

A tiny CLIP (64-d, 2-layer ViT, 32 px) is trained contrastively on synthetic captioned shapes and
real MNIST digits, then fine-tuned into a clean teacher and a TeCoA robust teacher; four students
with the same budget and seed start from it: undefended (clean fine-tuning), single-teacher ARD,
and MMT-ARD with the release's weighting and with dynamic-confidence weighting. Every model is
evaluated by mmtard's evaluation suite. Seeds of the students: {list(seeds)}
({len(seeds)} seed{'s' if len(seeds) != 1 else ''}; `--seeds N` repeats them, values are mean ± std).
Teachers and the base model are trained once.

## Results (accuracy, %)

"AA" is APGD-CE + APGD-T (AutoAttack 'custom', reduced iterations for a CPU); "PGD" is PGD with
random start; eps in 1/255. Held-out classes are colour-shape combinations never used in any
training stage: "held-13" scores them among themselves, "held-64" among all 64 classes.

{markdown_summary(rows)}

## What this shows

{chr(10).join('- ' + line for line in findings(rows))}

## What was measured

| dataset | clean samples | attacked samples | chance |
|---|---:|---:|---:|
{counts}

Robust accuracy is measured on the first attacked samples of each dataset (a fixed, seeded subset
recorded in results.json). With a few hundred samples, one sample is 0.2-0.4 points and
differences of a few points between students are within seed-to-seed noise: read the ± columns,
and run more seeds (`--seeds 3`) before concluding.

## Time

| stage | seed | time | |
|---|---:|---:|---|
{stage_times}

Evaluation: {timings.get('evaluation', 0):.0f} s. Whole pipeline this run: {timings.get('total', 0):.0f} s.

Figure: `demo.png` (left: clean vs robust accuracy; right: the students' validation accuracy,
clean and under PGD-5 at 8/255, along training). All rows: `results.json` (the evaluation
suite's schema plus model, model_seed and attack_family).
"""
