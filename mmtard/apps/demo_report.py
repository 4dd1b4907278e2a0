"""The demo's outputs: a terminal table, a markdown report with a verdict table, and a figure. Counts,
radii, attacks, architectures and budgets are read from the rows and runs, never typed."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

from rich.table import Table

from ..datasets.shapes import CLASS_SELECTIONS
from ..config import load_config
from .analysis import cell, loss_shares, markdown_table, paired_difference, per_seed, select, summarise, validation_curves
from .chain import STAGES, STUDENT_ARCH, TEACHER_ARCH, Run
from .scoring import CHANCE, EVAL_EPS, HELD13, HELD64, MNIST, SEEN

TRAIN_EPS = EVAL_EPS[-1]
BASELINE = 'single-ard'
DISTILLED = ('single-ard', 'mmtard-reference', 'mmtard-dynamic')

#: (column title, dataset, eps; 0 for clean accuracy). "R@k" is robust accuracy at k/255.
COLUMNS: Tuple[Tuple[str, str, int], ...] = (
    ('seen', SEEN, 0), *((f'seen R@{k}', SEEN, k) for k in EVAL_EPS),
    ('held13', HELD13, 0), *((f'held13 R@{k}', HELD13, k) for k in EVAL_EPS),
    ('held64', HELD64, 0),
    ('MNIST', MNIST, 0), (f'MNIST R@{TRAIN_EPS}', MNIST, TRAIN_EPS),
)


def values(rows: Sequence[Dict[str, Any]], stage: str, dataset: str, eps: int) -> List[float]:
    found = per_seed(rows, 'stage', stage, dataset, eps)
    return [found[k] for k in sorted(found)]


def models_in(rows: Sequence[Dict[str, Any]]) -> List[Tuple[str, str]]:
    present = {row['stage'] for row in rows}
    return [(s.name, s.label) for s in STAGES if s.name in present]


def summary_table(rows: Sequence[Dict[str, Any]]) -> Table:
    table = Table(title='MMT-ARD in miniature: accuracy (%); R@k = robust accuracy at k/255')
    table.add_column('model', no_wrap=True)
    for title, *_ in COLUMNS:
        table.add_column(title, justify='right')
    for name, label in models_in(rows):
        table.add_row(label, *[cell(values(rows, name, *spec)) for _, *spec in COLUMNS])
    return table


def results_table(rows: Sequence[Dict[str, Any]]) -> str:
    return markdown_table(['model', *(title for title, *_ in COLUMNS)],
                          [[label, *(cell(values(rows, name, *spec)) for _, *spec in COLUMNS)]
                           for name, label in models_in(rows)])


def verdict_table(rows: Sequence[Dict[str, Any]]) -> str:
    """Each MMT-ARD student against single-teacher ARD: the paired difference and its 95% interval."""
    specs = [('seen clean', SEEN, 0), *((f'seen R@{k}', SEEN, k) for k in EVAL_EPS),
             ('held13 zero-shot', HELD13, 0), (f'held13 R@{TRAIN_EPS}', HELD13, TRAIN_EPS)]
    labels = dict(models_in(rows))
    lines = []
    for student in DISTILLED[1:]:
        if student not in labels or BASELINE not in labels:
            continue
        cells = []
        for _, dataset, eps in specs:
            diff = paired_difference(select(rows, 'stage', student, dataset, eps),
                                     select(rows, 'stage', BASELINE, dataset, eps), eps)
            cells.append('-' if diff is None else f'{diff.text()} {diff.word()}')
        lines.append([labels[student], *cells])
    return markdown_table(['vs single-teacher ARD', *(title for title, *_ in specs)], lines)


def shares_table(runs: Sequence[Run]) -> str:
    """Per-term loss shares of the distilled students."""
    lines = []
    for run in runs:
        if run.stage.name in DISTILLED:
            shares = loss_shares(run.work_dir)
            lines.append([run.stage.label, run.seed,
                          ', '.join(f'{name} {100 * value:.1f}%' for name, value in sorted(shares.items())) or '-'])
    return markdown_table(['student', 'seed', "share of each teacher's term in the loss"], lines, numeric_from=1)


def figure(rows: Sequence[Dict[str, Any]], runs: Sequence[Run], path: Path) -> None:
    """Left: clean vs robust accuracy per model; right: students' accuracy along training steps."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.6))
    colors = {label: f'C{i}' for i, (_, label) in enumerate(models_in(rows))}  # one colour per model, both panels
    for name, label in models_in(rows):
        clean, robust = values(rows, name, SEEN, 0), values(rows, name, SEEN, TRAIN_EPS)
        if clean and robust:
            (cx, cs), (ry, rs) = summarise(clean), summarise(robust)
            left.errorbar(100 * cx, 100 * ry, xerr=100 * cs, yerr=100 * rs, fmt='o', capsize=3, label=label,
                          color=colors[label])
    left.set_xlabel('clean accuracy, seen classes (%)')
    left.set_ylabel(f'robust accuracy at {TRAIN_EPS}/255 (%)')
    left.set_title('clean vs robust accuracy')
    left.legend(fontsize=7)
    left.grid(alpha=0.3)
    for run in runs:
        if run.stage.kind != 'student' or run.seed != 0:
            continue
        points = validation_curves(run.work_dir)
        for key, style in (('clean_acc', '-'), ('robust_acc', '--')):
            if points.get(key):
                steps, accs = zip(*points[key])
                right.plot(steps, [100 * v for v in accs], style, color=colors.get(run.stage.label),
                           label=f'{run.stage.label} ({"clean" if key == "clean_acc" else "robust, PGD-10"})')
    right.set_xlabel('training step')
    right.set_ylabel('validation accuracy (%)')
    right.set_title('students along training (seed 0)')
    right.legend(fontsize=6, loc='upper center', bbox_to_anchor=(0.5, -0.14), ncol=2)
    right.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def shipped_note(runs: Sequence[Run]) -> str:
    """What 'shipped' in the stage table means, when a stage was."""
    if not any(run.origin == 'shipped' for run in runs):
        return ''
    return ("\n'shipped': chain seed 0's pretraining weights that come with mmtard, made by these same stage configs "
            "(the time is the unpacking), with the rows of their evaluation under this same protocol (read, not "
            "recomputed); `mmtard demo --from-scratch` trains and evaluates them.\n")


def markdown_report(rows: Sequence[Dict[str, Any]], runs: Sequence[Run], seeds: int,
                    evaluation_seconds: Dict[Tuple[str, int], float], total: float, jobs: int, size_name: str) -> str:
    counts = {row['dataset']: (row['n'], row['n_robust']) for row in rows if row['eps']}
    classes = {SEEN: len(CLASS_SELECTIONS['seen']), HELD13: len(CLASS_SELECTIONS['held_out']),
               HELD64: len(CLASS_SELECTIONS['all']), MNIST: 10}
    attack = rows[0]['attack'] if rows else '-'
    student = next(run for run in runs if run.stage.name == BASELINE)
    cfg = load_config(student.config)
    stage_times = markdown_table(['stage', 'seed', 'training', 'evaluation', ''],
                                 [[run.stage.label, run.seed, f'{run.seconds:.0f} s',
                                   f'{evaluation_seconds[(run.stage.name, run.seed)]:.0f} s', run.origin]
                                  for run in runs])
    measured = markdown_table(['dataset', 'classes', 'clean samples', 'attacked samples', 'chance'],
                              [[name, classes[name], n, k, f'{100 * CHANCE[name]:.1f}%']
                               for name, (n, k) in counts.items()])
    return f"""# MMT-ARD in miniature (mmtard demo, size '{size_name}')

The students are a tiny CLIP ({STUDENT_ARCH}) trained contrastively on synthetic captioned shapes and
real MNIST digits. Both teachers come from a separately pretrained, larger CLIP ({TEACHER_ARCH}): a
clean teacher (cross-entropy fine-tuning) and a robust teacher (PMG-AFT, the release's kind). Four
students with one budget: undefended, single-teacher ARD (the release's baseline), MMT-ARD with the
release's weighting and with dynamic-confidence weighting. Chain seeds: {list(range(seeds))} (a seed
retrains everything; values are mean ± std over seeds).

Where the miniature departs from the paper: students train at {cfg.model.attack.eps}/255 with PGD-{cfg.model.attack.steps}
(step {cfg.model.attack.step_size}/255, momentum {cfg.model.attack.momentum}) instead of PGD-10, for
{cfg.train_cfg.max_iters} steps at batch {cfg.train_dataloader.batch_size}; {classes[SEEN]} training classes at
logit scale {cfg.model.logit_scale:g} instead of 1000 at 100; robust accuracy under {attack}.

## Results (accuracy, %)

"R@k": robust accuracy at k/255. Held-out classes are colour-shape combinations no stage trained on:
"held13" scores them among themselves, "held64" among all {classes[HELD64]} classes.

{results_table(rows)}

## Verdict (points, paired difference and 95% interval over {'the chain seeds and ' if seeds > 1 else ''}the test samples)

{verdict_table(rows)}

"better" / "worse": the whole interval is above / below 0; else a tie at this sample size. {'A t interval over the chain seeds, widened by the sampling error of the test samples they share.' if seeds > 1 else 'One chain: the interval counts the test samples only, not the spread between chains.'}
`mmtard study` compares the methods along frontiers, at both training radii, over several chains.

## Per-term loss shares

{shares_table(runs)}

## What was measured

{measured}

## Time

{stage_times}
{shipped_note(runs)}
Whole pipeline this run: {total:.0f} s, {jobs} job{'s' if jobs > 1 else ''} at a time (a stage's training is a job, and
its evaluation on each dataset; a reused evaluation counts the time to read it).
Figure: `demo.png`; all rows: `results.json` (the evaluation schema plus stage and model_seed).
"""
