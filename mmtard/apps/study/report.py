"""The study's report, written from its rows, runs and curves: verdicts with intervals, frontiers,
the transfer diagnostic, steps to target, and figures. Nothing in it is typed by hand: counts, radii,
attacks, budgets and arm lists come from the results and the arms that ran."""
from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ...datasets.shapes import CLASS_SELECTIONS
from ..analysis import (Difference, cell, last_validation, loss_shares, markdown_table, paired_difference, per_seed,
                        select, summarise, validation_attack)
from ..chain import Run
from ..scoring import EVAL_EPS, HELD13, SEEN
from .arms import BASELINE, INDEPENDENT, MAIN, METHODS, RELEASE, SAME_BASE, TEACHER_ARCHS, Arm, runs_every_seed
from .efficiency import TARGET_FRACTIONS, Curve, races

#: The paper's claims for a ViT-B-32 student over single-teacher distillation.
PAPER_CLAIMS = 'robust accuracy +4.32 points, zero-shot accuracy +3.5 points, 2.3x training efficiency'
LABELS = {m.method: m.label for m in METHODS}


def rows_of(rows: Sequence[Dict[str, Any]], arm: Arm, dataset: str, eps: float) -> Dict[int, Dict[str, Any]]:
    return select(rows, 'arm', arm.name, dataset, eps)


def counterpart(arms: Sequence[Arm], arm: Arm, method: str) -> Optional[Arm]:
    """The arm of ``method`` in ``arm``'s group (same radius, teachers and budget)."""
    return next((a for a in arms if a.method == method and a.group == arm.group), None)


def versus(rows: Sequence[Dict[str, Any]], a: Arm, b: Arm, dataset: str, eps: float) -> Optional[Difference]:
    return paired_difference(rows_of(rows, a, dataset, eps), rows_of(rows, b, dataset, eps), eps)


def group_title(group: Tuple[int, str, int]) -> str:
    eps, teachers, budget = group
    return (f'train eps {eps}/255, {teachers} teachers ({TEACHER_ARCHS[teachers]})'
            + ('' if budget == 1 else f', {budget}x budget'))


# ----------------------------------------------------------------------------- verdicts
def verdict_table(rows: Sequence[Dict[str, Any]], arms: Sequence[Arm]) -> str:
    """Each main method against single-teacher ARD of its group, in the paper's terms."""
    specs = (('robust (seen, train eps)', SEEN, None), ('clean (seen)', SEEN, 0), ('zero-shot (held13)', HELD13, 0),
             ('zero-shot robust (held13, train eps)', HELD13, None))
    lines = []
    for arm in arms:
        base = counterpart(arms, arm, BASELINE)
        if arm.method == BASELINE or arm.method not in MAIN or base is None:
            continue
        cells = []
        for _, dataset, eps in specs:
            diff = versus(rows, arm, base, dataset, arm.train_eps if eps is None else eps)
            cells.append('-' if diff is None else f'{diff.text()} ({_word(diff)})')
        lines.append([LABELS[arm.method], group_title(arm.group), *cells])
    return markdown_table(['method', 'vs ARD in', *(title for title, *_ in specs)], lines, numeric_from=2)


def _word(diff: Difference) -> str:
    return {'beats': 'better', 'does NOT beat': 'worse'}.get(diff.verdict(), 'tie')


# ----------------------------------------------------------------------------- frontier
def frontier_table(rows: Sequence[Dict[str, Any]], arms: Sequence[Arm]) -> str:
    columns = [('seen clean', SEEN, 0), *((f'seen R@{k}', SEEN, k) for k in EVAL_EPS),
               ('held13 clean', HELD13, 0), *((f'held13 R@{k}', HELD13, k) for k in EVAL_EPS)]
    lines = []
    for arm in arms:
        values = [per_seed(rows, 'arm', arm.name, dataset, eps) for _, dataset, eps in columns]
        lines.append([LABELS[arm.method], f'{arm.parameter} = {arm.value:g}',
                      *(cell([v[k] for k in sorted(v)]) for v in values)])
    return markdown_table(['arm', 'parameter', *(c[0] for c in columns)], lines, numeric_from=2)


def interpolate(points: Sequence[Tuple[float, float]], x: float) -> Optional[float]:
    """y at x on the piecewise-linear frontier through ``points`` (None outside their x range)."""
    points = sorted(points)
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[0][1] if len(points) == 1 and points[0][0] == x else None


def matched(rows: Sequence[Dict[str, Any]], arms: Sequence[Arm], arm: Arm, x_spec: Tuple[str, float],
            y_spec: Tuple[str, float]) -> List[float]:
    """Per seed: the arm's y minus single-teacher ARD's frontier (its sweep of the clean-term weight in
    the arm's group, piecewise linear) read at the arm's x; seeds outside the sweep give no value."""
    family = [a for a in arms if a.family == arms_family(BASELINE) and a.group == arm.group]
    xs, ys = per_seed(rows, 'arm', arm.name, *x_spec), per_seed(rows, 'arm', arm.name, *y_spec)
    diffs = []
    for seed in sorted(set(xs) & set(ys)):
        points = []
        for a in family:
            ax, ay = per_seed(rows, 'arm', a.name, *x_spec), per_seed(rows, 'arm', a.name, *y_spec)
            if seed in ax and seed in ay:
                points.append((ax[seed], ay[seed]))
        y = interpolate(points, xs[seed]) if points else None
        if y is not None:
            diffs.append(ys[seed] - y)
    return diffs


def arms_family(method: str) -> str:
    return next(m.family for m in METHODS if m.method == method)


def matched_table(rows: Sequence[Dict[str, Any]], arms: Sequence[Arm]) -> str:
    lines = []
    for arm in arms:
        if arm.family == arms_family(BASELINE):
            continue
        eps = arm.train_eps
        robust = matched(rows, arms, arm, (SEEN, 0), (SEEN, eps))
        zero_shot = matched(rows, arms, arm, (SEEN, eps), (HELD13, 0))
        seeds = len(per_seed(rows, 'arm', arm.name, SEEN, 0))
        lines.append([LABELS[arm.method], points_text(robust), points_text(zero_shot),
                      f'{len(robust)} / {seeds}, {len(zero_shot)} / {seeds}'])
    return markdown_table(['arm', 'robust (seen, train eps) vs ARD at the same clean accuracy',
                           'held13 zero-shot vs ARD at the same robust accuracy', 'seeds inside ARD\'s sweep'],
                          lines)


def points_text(diffs: Sequence[float]) -> str:
    if not diffs:
        return 'outside ARD\'s sweep'
    return ', '.join(f'{100 * d:+.1f}' for d in diffs) + ' (per seed)'


# ----------------------------------------------------------------------------- teachers and transfer
def teacher_table(upstream: Dict[str, List[Run]]) -> str:
    """Each base CLIP's and teacher's last validation (clean, and robust at its own training eps)."""
    lines = []
    for name, runs in upstream.items():
        values = [last_validation(run.work_dir) for run in runs]
        clean = [v['clean_acc'] for v in values if 'clean_acc' in v]
        robust = [v['robust_acc'] for v in values if 'robust_acc' in v]
        eps = runs[0].stage.options.get('model.attack.eps', 4) if robust else None
        lines.append([runs[0].stage.label, cell(clean),
                      cell(robust) + (f' ({validation_attack(runs[0].config)} {eps:g}/255)' if robust else ''),
                      ', '.join(f'{run.seconds:.0f} s' for run in runs)])
    return markdown_table(['model', 'val clean', 'val robust at its train eps', 'training time per seed'], lines)


TRANSFER_KEYS = (('teacher_robust_clean_acc', 'robust teacher on x'),
                 ('teacher_robust_adv_acc', "robust teacher on the student's training x_adv"),
                 ('teacher_clean_clean_acc', 'clean teacher on x'),
                 ('teacher_clean_adv_acc', "clean teacher on the student's training x_adv"),
                 ('train_attack_acc', 'student on its training x_adv'))


def transfer_rows(arms: Sequence[Arm], runs: Dict[str, List[Run]]) -> List[Dict[str, Any]]:
    """Per arm: the last validation's diagnostics (mean over seeds) and the loss shares (first seed)."""
    out = []
    for arm in arms:
        if arm.budget != 1:
            continue
        values = [last_validation(run.work_dir) for run in runs[arm.name]]
        means = {key: statistics.fmean(v[key] for v in values) for key, _ in TRANSFER_KEYS
                 if values and all(key in v for v in values)}
        shares = loss_shares(runs[arm.name][0].work_dir)
        out.append({'arm': arm, **means, 'shares': shares})
    return out


def transfer_table(diagnostics: Sequence[Dict[str, Any]]) -> str:
    lines = []
    for d in diagnostics:
        arm = d['arm']
        shares = ', '.join(f'{name} {100 * value:.0f}%' for name, value in sorted(d['shares'].items())) or '-'
        lines.append([LABELS[arm.method], group_title(arm.group),
                      *(f'{100 * d[key]:.1f}' if key in d else '-' for key, _ in TRANSFER_KEYS), shares])
    return markdown_table(['arm', 'group', *(title for _, title in TRANSFER_KEYS), 'loss shares (seed 0)'], lines,
                          numeric_from=2)


def transfer_findings(rows: Sequence[Dict[str, Any]], arms: Sequence[Arm],
                      diagnostics: Sequence[Dict[str, Any]]) -> List[str]:
    """Does transfer to the robust teacher explain MMT-ARD's robustness gap to ARD? Compared between
    independent and same-base teachers at the radius where both ran."""
    out = []
    by_arm = {d['arm'].name: d for d in diagnostics}
    for teachers in (INDEPENDENT, SAME_BASE):
        release = next((a for a in arms if a.method == RELEASE and a.teachers == teachers and a.budget == 1
                        and a.train_eps == 4), None)
        base = counterpart(arms, release, BASELINE) if release else None
        if release is None or base is None or release.name not in by_arm:
            continue
        gap = versus(rows, release, base, SEEN, 4)
        d = by_arm[release.name]
        if gap is None or 'teacher_robust_adv_acc' not in d:
            continue
        drop = d['teacher_robust_clean_acc'] - d['teacher_robust_adv_acc']
        out.append(f'{teachers} teachers ({TEACHER_ARCHS[teachers]}), train eps 4/255: the release MMT-ARD\'s '
                   f'robust accuracy minus ARD\'s is {gap.text()} points; on the MMT-ARD student\'s training x_adv its '
                   f'robust teacher scores {100 * d["teacher_robust_adv_acc"]:.1f}% against '
                   f'{100 * d["teacher_robust_clean_acc"]:.1f}% on x (a {100 * drop:.1f}-point drop: the share of its '
                   f'x_adv targets that transfer corrupts).')
    return out


# ----------------------------------------------------------------------------- efficiency
def efficiency_table(arms: Sequence[Arm], curves: Dict[str, List[Curve]]) -> str:
    """Per main method, group and seed: iterations to each target (ARD / method = ratio)."""
    lines = []
    for arm in arms:
        base = counterpart(arms, arm, BASELINE)
        if arm.method == BASELINE or arm.method not in MAIN or base is None:
            continue
        by_fraction = [races(curves[base.name], curves[arm.name], (base.name, arm.name), f) for f in TARGET_FRACTIONS]
        for seed_races in zip(*by_fraction):
            finals = [f'{100 * curve.robust[-1]:.1f}' for curve in (curves[base.name][seed_races[0].seed],
                                                                  curves[arm.name][seed_races[0].seed])]
            cells = [f'{_int(r.iters[base.name])} / {_int(r.iters[arm.name])} = {_ratio(r.ratio(base.name, arm.name))}'
                     for r in seed_races]
            lines.append([LABELS[arm.method], group_title(arm.group), seed_races[0].seed, ' / '.join(finals), *cells,
                          _ratio(seed_races[0].ratio(base.name, arm.name, 'seconds'))])
    return markdown_table(['method', 'group', 'seed', 'final val robust %, ARD / method',
                           *(f'{100 * f:.0f}% target: iterations ARD / method' for f in TARGET_FRACTIONS),
                           'training-seconds ratio, 100% target'], lines, numeric_from=2)


def _int(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.0f}'


def _ratio(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.2f}x'


def budget_table(rows: Sequence[Dict[str, Any]], arms: Sequence[Arm]) -> str:
    """The main methods at 1x and 2x budget (4/255, independent teachers): does the ranking hold?"""
    lines = []
    for arm in arms:
        if arm.budget == 1 or arm.method not in MAIN:
            continue
        short = next((a for a in arms if a.method == arm.method and a.budget == 1 and a.train_eps == arm.train_eps
                      and a.teachers == arm.teachers), None)
        for a in (short, arm):
            if a is None:
                continue
            robust, clean = (per_seed(rows, 'arm', a.name, SEEN, e) for e in (a.train_eps, 0))
            lines.append([LABELS[a.method], f'{a.budget}x', cell(list(clean.values())), cell(list(robust.values()))])
    return markdown_table(['method', 'budget', 'seen clean', 'seen robust at train eps'], lines, numeric_from=1)


def step_cost_text(root: Path) -> str:
    """The side-by-side step cost (``mmtard study --step-cost``), if it was measured."""
    path = root / 'step_cost.json'
    if not path.is_file():
        return ('Not measured in this run (`mmtard study --step-cost` times the main methods\' training steps '
                'side by side in one process).')
    data = json.loads(path.read_text())
    base = data['median_seconds'][BASELINE]
    lines = [[LABELS.get(name, name), f'{1000 * value:.1f}', f'{value / base:.2f}']
             for name, value in data['median_seconds'].items()]
    return (f'{data["description"]}\n\n'
            + markdown_table(['method', 'median ms per step', 'cost / ARD\'s'], lines))


# ----------------------------------------------------------------------------- figures
def figures(rows: Sequence[Dict[str, Any]], arms: Sequence[Arm], runs: Dict[str, List[Run]],
            curves: Dict[str, List[Curve]], frontier_path: Path, efficiency_path: Path) -> None:
    """frontier.png: clean vs robust at each train eps (lines join a family's sweep; hollow: same-base
    teachers); efficiency.png: validation robust accuracy of the main methods along iterations."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    radii = sorted({arm.train_eps for arm in arms})
    colours = {m.family: f'C{i}' for i, m in enumerate(dict((m.family, m) for m in METHODS).values())}
    fig, axes = plt.subplots(1, len(radii), figsize=(6.5 * len(radii), 5.2), squeeze=False)
    for ax, eps in zip(axes[0], radii):
        for arm in (a for a in arms if a.train_eps == eps and a.budget == 1):
            xs, ys = per_seed(rows, 'arm', arm.name, SEEN, 0), per_seed(rows, 'arm', arm.name, SEEN, eps)
            seeds = sorted(set(xs) & set(ys))
            if not seeds:
                continue
            (mx, sx), (my, sy) = summarise([xs[s] for s in seeds]), summarise([ys[s] for s in seeds])
            hollow = arm.teachers == SAME_BASE
            ax.errorbar(100 * mx, 100 * my, xerr=100 * sx, yerr=100 * sy, fmt='o', color=colours[arm.family],
                        mfc='white' if hollow else colours[arm.family], capsize=3,
                        label=f'{LABELS[arm.method]}' + (' (same-base teachers)' if hollow else ''))
        for family, colour in colours.items():
            line = sorted((100 * statistics.fmean(per_seed(rows, 'arm', a.name, SEEN, 0).values()),
                           100 * statistics.fmean(per_seed(rows, 'arm', a.name, SEEN, eps).values()))
                          for a in arms if a.family == family and a.group == (eps, INDEPENDENT, 1)
                          and per_seed(rows, 'arm', a.name, SEEN, eps))
            if len(line) > 1:
                ax.plot(*zip(*line), '-', color=colour, alpha=0.5)
        ax.set_xlabel('clean accuracy, seen classes (%)')
        ax.set_ylabel(f'robust accuracy at {eps}/255, seen classes (%)')
        ax.set_title(f'students trained at {eps}/255')
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=6, loc='upper left', bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(frontier_path, dpi=120)
    plt.close(fig)

    groups = sorted({arm.group for arm in arms if arm.teachers == INDEPENDENT})
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4.8), squeeze=False)
    for ax, group in zip(axes[0], groups):
        for arm in (a for a in arms if a.group == group and a.method in MAIN):
            logged = [c for c in curves[arm.name] if c.iters]
            if not logged:
                continue
            length = min(len(c.iters) for c in logged)
            robust = [100 * statistics.fmean(c.robust[k] for c in logged) for k in range(length)]
            ax.plot(logged[0].iters[:length], robust, '-o', markersize=3, label=LABELS[arm.method])
        ax.set_xlabel('training iteration')
        plotted = next(a for a in arms if a.group == group and a.method in MAIN)
        ax.set_ylabel(f'validation robust accuracy, {validation_attack(runs[plotted.name][0].config)} '
                      f'at {group[0]}/255 (%)')
        ax.set_title(group_title(group), fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(efficiency_path, dpi=120)
    plt.close(fig)


# ----------------------------------------------------------------------------- the report
def seeds_text(arms: Sequence[Arm], seeds: int, chain_seeds: int, extra_arm_seeds: int) -> str:
    """Which arms ran which student seeds and chains, and so which variance the intervals count."""
    every_seed = [f'`{arm.name}`' for arm in arms if runs_every_seed(arm)]
    if seeds == 1 or not every_seed:
        ran = 'Every arm ran student seed 0 on chain 0 (a chain: both base CLIPs and all teachers).'
    else:
        ran = (f'{", ".join(every_seed)} ran student seeds {list(range(seeds))}, every other arm the first '
               f'{extra_arm_seeds}; student seed k learned from chain k mod {chain_seeds} (a chain: both base CLIPs '
               f'and all teachers, trained with its own seed).')
    if chain_seeds == 1:
        return ran + ' The teachers\' and base CLIPs\' own seed-to-seed variance is NOT covered: one chain.'
    return ran + ' The intervals of the arms that ran every seed include the chains\' variance; the others\' do not.'


def markdown_report(rows: Sequence[Dict[str, Any]], arms: Sequence[Arm], runs: Dict[str, List[Run]],
                    curves: Dict[str, List[Curve]], upstream: Dict[str, List[Run]], size: Any,
                    seeds: Tuple[int, int], seconds: float, root: Path, interval: int, jobs: int) -> str:
    """The whole report; ``seeds`` is (student seeds, chain seeds)."""
    counts = {row['dataset']: (row['n'], row['n_robust']) for row in rows if row['eps']}
    attack = rows[0]['attack'] if rows else '-'
    diagnostics = transfer_rows(arms, runs)
    groups = sorted({arm.group for arm in arms if arm.budget == 1})
    measured = markdown_table(['dataset', 'classes', 'clean samples', 'attacked samples'],
                              [[name, len(CLASS_SELECTIONS['seen' if name == SEEN else 'held_out']), n, k]
                               for name, (n, k) in counts.items()])
    frontiers = '\n\n'.join(f'### {group_title(group)}\n\n{frontier_table(rows, [a for a in arms if a.group == group])}'
                            for group in groups)
    seeds, chain_seeds = seeds
    val_attack = validation_attack(next(iter(runs.values()))[0].config) if runs else '-'

    return f"""# Does MMT-ARD beat single-teacher distillation? The paper's claims in miniature

`mmtard study --size {size.chain.name} --seeds {seeds} --chain-seeds {chain_seeds}`: {len(arms)} arms. The
student is a tiny CLIP ({TEACHER_ARCHS[SAME_BASE]}); both teachers come from a separately pretrained,
larger CLIP ({TEACHER_ARCHS[INDEPENDENT]}), as the paper's ViT-L-14 teachers are larger than and
independent of its ViT-B-32 student; the same-base arms use teachers made from the student's own base
CLIP instead. The paper claims, for a ViT-B-32 student over single-teacher adversarial distillation:
{PAPER_CLAIMS}. Students train for {size.student_iters} iterations (the 2x arms {2 * size.student_iters})
with PGD (step 1/255, momentum 0.9) at their train eps; robust accuracy is measured at
{', '.join(f'{k}/255' for k in EVAL_EPS)} under {attack}.

{seeds_text(arms, seeds, chain_seeds, size.extra_arm_seeds)} Intervals are 95% two-level
bootstrap intervals of the paired difference (student seeds, then the test samples, the same samples
for both models): they count sampling error and seed-to-seed spread of the students. "better" /
"worse" means the whole interval is above / below 0; everything else is a tie at this precision.

## Verdict against single-teacher ARD (points, difference [95% interval])

{verdict_table(rows, arms)}

## Transfer: what corrupts the robust teacher's targets

Each validation also ran the student's own training attack on the validation images and scored
each teacher on them: the robust teacher's accuracy on x_adv is how often the target it hands an
MMT-ARD student (which it scores on x_adv) is still right. Last validation, mean over seeds.

{transfer_table(diagnostics)}

{chr(10).join('- ' + line for line in transfer_findings(rows, arms, diagnostics))}

## Frontiers (accuracy %, mean ± std over seeds)

"R@k": robust accuracy at k/255; "held13": zero-shot accuracy on the 13 colour-shape combinations no
stage trained on.

{frontiers}

### At matched clean accuracy

Single-teacher ARD's frontier (its sweep of the clean-term weight, piecewise linear, per seed) read at
each arm's clean accuracy (and, for zero-shot, at its robust accuracy); no extrapolation outside it.

{matched_table(rows, [a for a in arms if a.budget == 1])}

## Training efficiency

Per seed, the target is the lower of the two arms' final validation robust accuracies ({val_attack} at the
train eps on {size.val_samples} validation images, every {interval} iterations) and
fractions of it, so both arms reach it. Ratio > 1: the method needs fewer iterations (seconds) than ARD.
Training seconds come from runs trained {jobs} at a time; the side-by-side step cost below is the
reliable per-step figure.

{efficiency_table(arms, curves)}

### Step cost, side by side

{step_cost_text(root)}

### Twice the budget

{budget_table(rows, arms)}

## Teachers and base models

{teacher_table(upstream)}

## What was measured

{measured}

Every row: `results.json` (the evaluation schema plus arm, method, train_eps, teachers, teacher_arch,
teacher_base, budget, model_seed, and per-sample outcomes); curves: `curves.json`. Whole run:
{seconds:.0f} s (finished runs reused count nothing).
"""


def write_report(root: Path, rows: Sequence[Dict[str, Any]], arms: Sequence[Arm], runs: Dict[str, List[Run]],
                 curves: Dict[str, List[Curve]], upstream: Dict[str, List[Run]], size: Any,
                 seeds: Tuple[int, int], seconds: float, interval: int, jobs: int) -> Dict[str, Path]:
    outputs = {'results': root / 'results.json', 'curves': root / 'curves.json', 'report': root / 'report.md',
               'frontier': root / 'frontier.png', 'efficiency': root / 'efficiency.png'}
    outputs['results'].write_text(json.dumps(list(rows), indent=2) + '\n')
    outputs['curves'].write_text(json.dumps({name: [c.__dict__ for c in value] for name, value in curves.items()},
                                            indent=2) + '\n')
    figures(rows, arms, runs, curves, outputs['frontier'], outputs['efficiency'])
    outputs['report'].write_text(markdown_report(rows, arms, runs, curves, upstream, size, seeds, seconds, root,
                                                         interval, jobs))
    return outputs
