"""The study's report: frontier tables, matched-clean comparisons, steps to target, and figures."""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..demo.report import cell, summarise
from ..demo.scoring import EVAL_EPS, HELD13, SEEN
from .arms import ARMS, BASELINE, FRONTIER, RELEASE, Arm
from .efficiency import Curve, final_robust, steps_to_target

TRAIN_EPS = EVAL_EPS[-1]
#: The paper's claims for a ViT-B-32 student over single-teacher distillation.
PAPER_CLAIMS = 'robust accuracy +4.32 points, zero-shot accuracy +3.5 points, 2.3x training efficiency'


def values(rows: Sequence[Dict[str, Any]], arm: str, dataset: str, eps: int) -> Dict[int, float]:
    """Per seed: clean accuracy (eps 0) or robust accuracy at eps, of one arm on one dataset."""
    out = {}
    for row in rows:
        if row['arm'] == arm and row['dataset'] == dataset:
            if eps == 0:
                out[row['model_seed']] = row['clean_acc']
            elif row['eps'] == eps:
                out[row['model_seed']] = row['robust_acc']
    return out


def arm_cell(rows: Sequence[Dict[str, Any]], arm: str, dataset: str, eps: int) -> str:
    per_seed = values(rows, arm, dataset, eps)
    return cell([per_seed[k] for k in sorted(per_seed)])


def present(arms: Sequence[Arm], curves: Dict[str, List[Curve]]) -> List[Arm]:
    """The arms this run trained (a study may run a subset)."""
    return [arm for arm in arms if arm.name in curves]


def families(arms: Sequence[Arm]) -> List[str]:
    return list(dict.fromkeys(arm.family for arm in arms if arm.family != 'variant'))


def interpolate(points: Sequence[Tuple[float, float]], x: float) -> Optional[float]:
    """y at x on the piecewise-linear frontier through ``points`` (None outside their x range)."""
    points = sorted(points)
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[0][1] if len(points) == 1 and points[0][0] == x else None


def matched(rows: Sequence[Dict[str, Any]], arm: str, x_spec: Tuple[str, int],
            y_spec: Tuple[str, int]) -> List[float]:
    """Per seed: the arm's y minus the baseline family's frontier read at the arm's x.

    The baseline family (single-teacher ARD, with and without a clean term) is piecewise linear
    through its sweep; seeds where the arm's x lies outside that sweep give no value.
    """
    family = [a.name for a in FRONTIER if a.family == FRONTIER[0].family]
    xs, ys = values(rows, arm, *x_spec), values(rows, arm, *y_spec)
    diffs = []
    for seed in sorted(set(xs) & set(ys)):
        points = [(values(rows, a, *x_spec)[seed], values(rows, a, *y_spec)[seed]) for a in family
                  if seed in values(rows, a, *x_spec) and seed in values(rows, a, *y_spec)]
        y = interpolate(points, xs[seed]) if points else None
        if y is not None:
            diffs.append(ys[seed] - y)
    return diffs


def points_text(diffs: Sequence[float]) -> str:
    if not diffs:
        return 'outside ARD\'s range'
    mean, std = summarise(diffs)
    return f'{100 * mean:+.1f}' + (f' ± {100 * std:.1f}' if len(diffs) > 1 else '')


def frontier_table(rows: Sequence[Dict[str, Any]], arms: Sequence[Arm]) -> str:
    columns = [('seen clean', SEEN, 0), *((f'seen R@{k}', SEEN, k) for k in EVAL_EPS),
               ('held13 clean', HELD13, 0), (f'held13 R@{TRAIN_EPS}', HELD13, TRAIN_EPS)]
    lines = ['| arm | family | parameter | ' + ' | '.join(c[0] for c in columns) + ' |',
             '|---|---|---|' + '---:|' * len(columns)]
    for arm in arms:
        lines.append(f'| {arm.stage.label} | {arm.family} | {arm.parameter} = {arm.value:g} | '
                     + ' | '.join(arm_cell(rows, arm.name, *spec) for _, *spec in columns) + ' |')
    return '\n'.join(lines)


def matched_table(rows: Sequence[Dict[str, Any]], arms: Sequence[Arm]) -> str:
    lines = ['| arm | robust at 4/255 vs ARD at the same clean accuracy | held-out-13 zero-shot vs ARD at the same '
             'robust accuracy | seeds in ARD\'s range |', '|---|---:|---:|---:|']
    for arm in arms:
        if arm.family == FRONTIER[0].family:
            continue
        robust = matched(rows, arm.name, (SEEN, 0), (SEEN, TRAIN_EPS))
        zero_shot = matched(rows, arm.name, (SEEN, TRAIN_EPS), (HELD13, 0))
        seeds = len(values(rows, arm.name, SEEN, 0))
        lines.append(f'| {arm.stage.label} | {points_text(robust)} | {points_text(zero_shot)} | '
                     f'{len(robust)} / {seeds}, {len(zero_shot)} / {seeds} |')
    return '\n'.join(lines)


def _fmt(value: Optional[float], unit: str = '', digits: int = 0) -> str:
    return '-' if value is None else f'{value:.{digits}f}{unit}'


#: Targets, as fractions of single-teacher ARD's final validation robust accuracy: reaching it, and
#: reaching 90% of it (a method that plateaus below the baseline still gets a speed figure).
TARGET_FRACTIONS = (1.0, 0.9)


def efficiency_table(curves: Dict[str, List[Curve]], arms: Sequence[Arm], fraction: float) -> Tuple[str, float]:
    target = fraction * final_robust(curves[BASELINE])
    base = steps_to_target(curves[BASELINE], target)
    base_step = statistics.fmean(base.seconds_per_iter)
    lines = ['| arm | reached (seeds) | iterations to target | seconds to target | iterations ratio | '
             'wall-clock ratio | seconds per step | step-cost ratio |', '|---|---:|---:|---:|---:|---:|---:|---:|']
    for arm in arms:
        result = steps_to_target(curves[arm.name], target)
        iters, seconds = result.mean_iters(), result.mean_seconds()
        step = statistics.fmean(result.seconds_per_iter)
        iters_ratio = base.mean_iters() / iters if iters and base.mean_iters() else None
        wall_ratio = base.mean_seconds() / seconds if seconds and base.mean_seconds() else None
        lines.append(f'| {arm.stage.label} | {result.reached} / {len(result.iters)} | '
                     f'{_fmt(iters)} | {_fmt(seconds, " s", 1)} | {_fmt(iters_ratio, "x", 2)} | '
                     f'{_fmt(wall_ratio, "x", 2)} | {step:.3f} | {step / base_step:.2f} |')
    return '\n'.join(lines), target


def headline(rows: Sequence[Dict[str, Any]], curves: Dict[str, List[Curve]]) -> List[str]:
    """The release's MMT-ARD against single-teacher ARD, in the paper's three terms."""
    out = []
    for title, spec in ((f'robust accuracy at {TRAIN_EPS}/255 (seen classes)', (SEEN, TRAIN_EPS)),
                        ('clean accuracy (seen classes)', (SEEN, 0)),
                        ('zero-shot accuracy (13 held-out classes)', (HELD13, 0)),
                        (f'zero-shot robust accuracy at {TRAIN_EPS}/255 (13 held-out classes)', (HELD13, TRAIN_EPS))):
        a, b = values(rows, RELEASE, *spec), values(rows, BASELINE, *spec)
        diffs = [a[s] - b[s] for s in sorted(a) if s in b]
        if diffs:
            verdict = 'beats' if statistics.fmean(diffs) > 0.005 else 'does NOT beat' if statistics.fmean(diffs) < -0.005 else 'ties with'
            out.append(f'MMT-ARD (release weighting) {verdict} single-teacher ARD on {title}: '
                       f'{points_text(diffs)} points (paired by seed).')
    if RELEASE not in curves:
        return out
    for fraction in TARGET_FRACTIONS:
        target = fraction * final_robust(curves[BASELINE])
        base, mmt = steps_to_target(curves[BASELINE], target), steps_to_target(curves[RELEASE], target)
        what = f'{100 * fraction:.0f}% of single-teacher ARD\'s final validation robust accuracy ({100 * target:.1f}%)'
        if mmt.mean_iters() and base.mean_iters():
            out.append(f'Efficiency: MMT-ARD reaches {what} in {mmt.mean_iters():.0f} iterations against '
                       f'{base.mean_iters():.0f} ({base.mean_iters() / mmt.mean_iters():.2f}x) and in '
                       f'{mmt.mean_seconds():.1f} s against {base.mean_seconds():.1f} s of training '
                       f'({base.mean_seconds() / mmt.mean_seconds():.2f}x).')
        else:
            out.append(f'Efficiency: {what} was reached by MMT-ARD in {mmt.reached} of {len(mmt.iters)} seeds and '
                       f'by single-teacher ARD in {base.reached} of {len(base.iters)} within training, so no '
                       f'steps-to-target ratio can be given at this target.')
    return out


def figures(rows: Sequence[Dict[str, Any]], curves: Dict[str, List[Curve]], frontier_path: Path,
            efficiency_path: Path) -> None:
    """frontier.png: clean vs robust and zero-shot vs robust per family; efficiency.png: validation
    robust accuracy along iterations and along training seconds (mean over seeds)."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.4))
    panels = (((SEEN, 0), 'clean accuracy, seen classes (%)'), ((HELD13, 0), 'zero-shot accuracy, 13 held-out (%)'))
    arms = present(ARMS, curves)
    markers = {family: marker for family, marker in zip(families(arms) + ['variant'], 'osD^v')}
    for ax, (x_spec, x_label) in zip(axes, panels):
        for i, arm in enumerate(arms):
            xs, ys = values(rows, arm.name, *x_spec), values(rows, arm.name, SEEN, TRAIN_EPS)
            seeds = sorted(set(xs) & set(ys))
            if not seeds:
                continue
            (mx, sx), (my, sy) = summarise([xs[s] for s in seeds]), summarise([ys[s] for s in seeds])
            ax.errorbar(100 * mx, 100 * my, xerr=100 * sx, yerr=100 * sy, fmt=markers[arm.family], color=f'C{i}',
                        capsize=3, label=arm.stage.label)
        for j, family in enumerate(families(arms)):
            line = []
            for arm in (a for a in FRONTIER if a.family == family):
                xs, ys = values(rows, arm.name, *x_spec), values(rows, arm.name, SEEN, TRAIN_EPS)
                if xs and ys:
                    line.append((100 * statistics.fmean(xs.values()), 100 * statistics.fmean(ys.values())))
            if len(line) > 1:
                ax.plot(*zip(*sorted(line)), '-', color='grey', alpha=0.4 + 0.2 * j)
        ax.set_xlabel(x_label)
        ax.set_ylabel(f'robust accuracy at {TRAIN_EPS}/255, seen classes (%)')
        ax.grid(alpha=0.3)
    axes[0].set_title('clean / robust frontier (lines join a family\'s sweep)')
    axes[1].set_title('zero-shot / robust frontier')
    _save(fig, axes[1], frontier_path)

    fig, axes = plt.subplots(1, 2, figsize=(13, 5.0))
    target = final_robust(curves[BASELINE])
    for i, arm in enumerate(arms):
        runs = [c for c in curves[arm.name] if c.iters]
        if not runs:
            continue
        length = min(len(c.iters) for c in runs)
        robust = [100 * statistics.fmean(c.robust[k] for c in runs) for k in range(length)]
        seconds = [statistics.fmean(c.seconds[k] for c in runs) for k in range(length)]
        style = '-' if arm.family != 'variant' else ':'
        axes[0].plot(runs[0].iters[:length], robust, style, color=f'C{i}', label=arm.stage.label)
        axes[1].plot(seconds, robust, style, color=f'C{i}', label=arm.stage.label)
    for ax, label in zip(axes, ('training iteration', 'training time, teacher forwards included (s)')):
        ax.axhline(100 * target, color='black', linewidth=0.8, linestyle='--')
        ax.set_xlabel(label)
        ax.set_ylabel(f'validation robust accuracy, PGD-10 {TRAIN_EPS}/255 (%)')
        ax.grid(alpha=0.3)
    axes[0].set_title('robust accuracy along training (dashed: single-teacher ARD\'s final)')
    axes[1].set_title('... and along wall-clock')
    _save(fig, axes[1], efficiency_path)


def _save(fig: Any, legend_axis: Any, path: Path) -> None:
    """One legend beside the right panel, then write and close the figure."""
    import matplotlib.pyplot as plt

    legend_axis.legend(fontsize=6, loc='upper left', bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def markdown_report(rows: Sequence[Dict[str, Any]], curves: Dict[str, List[Curve]], seeds: Sequence[int],
                    size: Any, interval: int, seconds: float, upstream_seconds: Dict[str, float]) -> str:
    arms = present(ARMS, curves)
    tables = [efficiency_table(curves, arms, fraction) for fraction in TARGET_FRACTIONS]
    n_clean = {row['dataset']: row['n'] for row in rows}
    n_robust = {row['dataset']: row['n_robust'] for row in rows}
    attack = rows[0]['attack'] if rows else '-'
    upstream = ', '.join(f'{name} {value:.0f} s' for name, value in upstream_seconds.items())
    return f"""# Does MMT-ARD beat single-teacher distillation? The paper's three claims in miniature

`mmtard study` (size '{size.demo.name}'), seeds {list(seeds)} for every arm; values are mean ± std over
seeds. The paper claims, for a ViT-B-32 student over single-teacher adversarial distillation:
{PAPER_CLAIMS}. This study asks the same questions of the demo's miniature (tiny CLIP, synthetic
shapes, 51 training classes), under the paper's protocol: students train at 4/255 with the
release's attack shape (PGD with momentum, step 1/255; 5 steps instead of 10), the robust teacher
(PMG-AFT) trains at 4/255, robust accuracy is measured at 1, 2 and 4/255. Every student starts
from the same base CLIP with the demo's budget (at size 'full': 500 iterations at batch 128).

## Headline

{chr(10).join('- ' + line for line in headline(rows, curves))}

## Frontier (accuracy, %)

Each family is swept along one parameter, so it traces a clean/robust trade-off rather than one
point; "R@k" is robust accuracy at k/255 under {attack}. "held13" is zero-shot accuracy on 13
colour-shape combinations no stage ever trained on.

{frontier_table(rows, arms)}

### At matched clean accuracy

Single points confound a method with where it sits on the trade-off. Here single-teacher ARD's
frontier (piecewise linear through its sweep of the clean-term weight, per seed) is read at each
arm's clean accuracy (and, for zero-shot, at its robust accuracy); the difference is in points,
mean ± std over the seeds where the arm lies inside ARD's sweep (no extrapolation).

{matched_table(rows, arms)}

## Training efficiency

Targets: single-teacher ARD's final validation robust accuracy, and 90% of it (PGD-10 at
{TRAIN_EPS}/255 on the validation images, every {interval} iterations). For each arm: the iterations
and training seconds (teacher forwards included, validation excluded) at which a seed first
reached the target, the ratios against single-teacher ARD (> 1: faster), and the cost of one
step. A mean is given only when every seed reached the target. Seconds are wall-clock on a shared
machine: the iteration counts are the robust measure.

{chr(10).join(f"### Target {100 * fraction:.0f}%: {100 * target:.1f}%{chr(10)}{chr(10)}{table}{chr(10)}"
              for fraction, (table, target) in zip(TARGET_FRACTIONS, tables))}
## Variants

The last three arms change one thing of the release's MMT-ARD (clean coefficient 5): the robust
teacher scored on clean x as ARD does (instead of x_adv), the attack aimed at the robust teacher
(instead of the clean one), and a weaker robust teacher (PMG-AFT trained at 1/255).

## What was measured

| dataset | clean samples | attacked samples |
|---|---:|---:|
{chr(10).join(f'| {name} | {n_clean[name]} | {n_robust.get(name, 0)} |' for name in n_clean)}

One attacked sample is {100 / max(1, max(n_robust.values(), default=1)):.2f} points; differences smaller than
the ± columns are noise. Figures: `frontier.png`, `efficiency.png`; every row: `results.json` (the
evaluation schema plus arm, family, parameter, value, model_seed); curves: `curves.json`.
Time: {seconds:.0f} s for this run (base CLIP and teachers: {upstream}; reused ones count their first training).
"""
