"""The study's report and figures, made from its data folder alone (:mod:`.data`): verdicts with
intervals that say what they cover, the transfer test, the teacher-gap regime, the converged budget,
frontiers, steps to target, teachers. Nothing in it is typed by hand: counts, radii, attacks, budgets,
chains and every 'better' / 'worse' / 'supported' come from the data and the arms that ran."""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ...datasets.shapes import CLASS_SELECTIONS
from ...evaluation.intervals import Interval
from ..analysis import cell, markdown_table, paired_difference, per_seed, select, summarise
from ..scoring import EVAL_EPS, HELD13, SEEN
from .arms import (BASELINE, CONVERGED_BUDGET, GAP, GAP_EPS, HEADLINE, INDEPENDENT, METHODS, RELEASE, SAME_BASE,
                   TEACHER_ARCHS, UPSTREAM, Arm, study_arms)
from .data import read_data
from .efficiency import TARGET_FRACTIONS, Curve, races

#: The paper's claims for a ViT-B-32 student over single-teacher distillation (points, and x).
PAPER_ROBUST, PAPER_ZERO_SHOT, PAPER_EFFICIENCY = 4.32, 3.5, 2.3
LABELS = {m.method: m.label for m in METHODS}
CLEAN_X = 'clean-x'
#: The comparisons the verdict reads in every group where both arms ran: (method, against).
COMPARISONS = ((RELEASE, BASELINE), (CLEAN_X, BASELINE), (CLEAN_X, RELEASE), ('dynamic-beta0', BASELINE))
#: The verdict's columns: title, dataset, eps (None: the arm's train eps).
METRICS = (('robust (seen, train eps)', SEEN, None), ('clean (seen)', SEEN, 0), ('zero-shot (held13)', HELD13, 0),
           ('zero-shot robust (held13, train eps)', HELD13, None))
#: Where a report's figures go, beside it; the Markdown links them by this relative path.
FIGURES = 'study'
REGENERATE = 'mmtard study --from-data docs/study/data --out docs/study.md'


class StudyData:
    """The data folder's contents with the arms they name."""

    def __init__(self, data: Dict[str, Any]):
        self.meta = data['meta']
        self.rows: List[Dict[str, Any]] = data['results']
        known = {arm.name: arm for arm in study_arms(self.meta['student_iters'])}
        self.arms: List[Arm] = [known[name] for name in self.meta['arms'] if name in known]
        self.runs: Dict[str, List[Dict[str, Any]]] = data['runs']
        self.curves = {name: [Curve(**c) for c in value] for name, value in data['curves'].items()}
        order = [stage.name for stage in UPSTREAM]  # the chain's order, whatever order the JSON keeps
        self.upstream: Dict[str, Dict[str, Any]] = dict(sorted(
            data['upstream'].items(), key=lambda item: order.index(item[0]) if item[0] in order else len(order)))
        self.step_cost: Optional[Dict[str, Any]] = data.get('step_cost')

    def chains(self, arm: Arm) -> int:
        return len(self.runs.get(arm.name, []))

    def arm(self, method: str, group: Tuple[int, str, int]) -> Optional[Arm]:
        return next((a for a in self.arms if a.method == method and a.group == group), None)

    def versus(self, a: Arm, b: Arm, dataset: str, eps: Optional[float]) -> Optional[Interval]:
        eps = a.train_eps if eps is None else eps
        return paired_difference(select(self.rows, 'arm', a.name, dataset, eps),
                                 select(self.rows, 'arm', b.name, dataset, eps), eps)

    def val_attack(self, arm: Arm) -> str:
        attack = next((run['val_attack'] for run in self.runs.get(arm.name, []) if run['val_attack']), None)
        return attack_label(attack)


def attack_label(attack: Optional[Dict[str, Any]]) -> str:
    """'PGD-10 at 4/255' from a recorded validation attack."""
    if not attack:
        return 'no attack recorded'
    return f"{attack['type']}-{attack['steps']} at {attack['eps']:g}/255"


def group_title(group: Tuple[int, str, int]) -> str:
    eps, teachers, budget = group
    teachers_text = {INDEPENDENT: f'independent teachers ({TEACHER_ARCHS[INDEPENDENT]})',
                     SAME_BASE: f'same-base teachers ({TEACHER_ARCHS[SAME_BASE]})',
                     GAP: f'independent teachers, robust one at {GAP_EPS}/255 (gap regime)'}[teachers]
    return f'train eps {eps}/255, {teachers_text}' + ('' if budget == 1 else f', {budget}x budget')


def cell_text(diff: Optional[Interval]) -> str:
    return '-' if diff is None else f'{diff.text()} ({diff.word()})'


# ----------------------------------------------------------------------------- verdicts
def comparisons(study: StudyData) -> List[Tuple[Arm, Arm]]:
    """(arm, against) for every comparison whose two arms ran, group by group."""
    out = []
    for group in sorted({arm.group for arm in study.arms}, key=lambda g: (g[2], g[1] != INDEPENDENT, g[1], g[0])):
        for method, against in COMPARISONS:
            a, b = study.arm(method, group), study.arm(against, group)
            if a is not None and b is not None:
                out.append((a, b))
    return out


def shared_chains(study: StudyData, a: Arm, b: Arm) -> int:
    return len(set(per_seed(study.rows, 'arm', a.name, SEEN, 0)) & set(per_seed(study.rows, 'arm', b.name, SEEN, 0)))


def chains_text(study: StudyData, a: Arm, b: Arm) -> str:
    """The verdict's chains cell: '5', or '1 (sampling only)'."""
    shared = shared_chains(study, a, b)
    return f'{shared}' + (' (sampling only)' if shared == 1 else '')


def on_chains(study: StudyData, a: Arm, b: Arm) -> str:
    """'on 5 chains', or 'on 1 chain (sampling-only interval)'."""
    shared = shared_chains(study, a, b)
    return f'on {shared} chains' if shared > 1 else 'on 1 chain (sampling-only interval)'



def verdict_table(study: StudyData, pairs: Sequence[Tuple[Arm, Arm]]) -> str:
    lines = [[f'{LABELS[a.method]} vs {LABELS[b.method]}', group_title(a.group), chains_text(study, a, b),
              *(cell_text(study.versus(a, b, dataset, eps)) for _, dataset, eps in METRICS)] for a, b in pairs]
    return markdown_table(['comparison', 'setting', 'chains', *(title for title, *_ in METRICS)], lines,
                          numeric_from=2)


def summary_line(study: StudyData, a: Arm, b: Arm) -> str:
    """One comparison in words; each word is its interval's, so no sentence says more than the data."""
    by_word: Dict[str, List[str]] = {'better': [], 'worse': [], 'tie': []}
    for title, dataset, eps in METRICS:
        diff = study.versus(a, b, dataset, eps)
        if diff is not None:
            by_word[diff.word()].append(f'{title.split(" (")[0]} {diff.text()}' + _where(title))
    lead = {'better': 'better on', 'worse': 'worse on', 'tie': 'a tie on'}
    parts = [f'{lead[word]} {", ".join(items)}' for word, items in by_word.items() if items]
    return f'{LABELS[a.method]} vs {LABELS[b.method]}, {group_title(a.group)}, {on_chains(study, a, b)}: ' + \
        '; '.join(parts) + '.'



def _where(title: str) -> str:
    return ' (held-out)' if 'held13' in title else ''


# ----------------------------------------------------------------------------- the transfer test
def transfer_test(study: StudyData) -> List[str]:
    """Same-base teachers: does the robust teacher on clean x (clean-x) recover what the release's
    MMT-ARD loses? The hypothesis is 'transfer corrupts the robust teacher's targets on the student's
    x_adv'; it predicts clean-x - release > 0 in robust accuracy with same-base teachers."""
    group = (4, SAME_BASE, 1)
    release, clean_x = study.arm(RELEASE, group), study.arm(CLEAN_X, group)
    if release is None or clean_x is None:
        return ['Not run: the transfer test needs the release and clean-x arms with same-base teachers.']
    lines = []
    primary = study.versus(clean_x, release, SEEN, None)
    held = study.versus(clean_x, release, HELD13, None)
    verdict = 'supported' if primary is not None and primary.word() == 'better' else 'not supported'
    lines.append(f'**The transfer explanation is {verdict}.** With same-base teachers, clean-x (robust teacher on '
                 f'clean x, out of transfer\'s reach) minus the release (robust teacher on the student\'s x_adv), '
                 f'robust accuracy on the seen classes at 4/255, {on_chains(study, clean_x, release)}: '
                 f'{cell_text(primary)} (held-out robust: {cell_text(held)}). The explanation predicts this '
                 f'difference to be above 0.')
    for teachers in (INDEPENDENT, SAME_BASE):
        arm = study.arm(RELEASE, (4, teachers, 1))
        values = diagnostics(study, arm) if arm else {}
        if 'teacher_robust_adv_acc' in values and 'teacher_robust_clean_acc' in values:
            drop = values['teacher_robust_clean_acc'] - values['teacher_robust_adv_acc']
            lines.append(f'{group_title((4, teachers, 1))}: the robust teacher scores '
                         f'{100 * values["teacher_robust_clean_acc"]:.1f}% on x and '
                         f'{100 * values["teacher_robust_adv_acc"]:.1f}% on the release student\'s training x_adv '
                         f'(a {100 * drop:.1f}-point drop, mean over {study.chains(arm)} chain'
                         f'{"s" if study.chains(arm) > 1 else ""}).')
    return lines


def diagnostics(study: StudyData, arm: Arm) -> Dict[str, float]:
    """The last validation's diagnostics of an arm, mean over its chains (keys every chain has)."""
    values = [run['last_validation'] for run in study.runs.get(arm.name, [])]
    keys = set.intersection(*(set(v) for v in values)) if values else set()
    return {key: statistics.fmean(v[key] for v in values) for key in keys}


# ----------------------------------------------------------------------------- the teacher gap
def gap_lines(study: StudyData) -> List[str]:
    """The gap regime: how far its robust teacher trails the clean one on clean images, per chain, and
    what the comparisons say there."""
    arm = study.arm(RELEASE, (4, GAP, 1)) or study.arm(CLEAN_X, (4, GAP, 1))
    if arm is None:
        return ['Not run: the gap regime\'s arms are not in this study\'s data.']
    gaps = [run['last_validation']['teacher_clean_clean_acc'] - run['last_validation']['teacher_robust_clean_acc']
            for run in study.runs[arm.name]
            if {'teacher_clean_clean_acc', 'teacher_robust_clean_acc'} <= set(run['last_validation'])]
    values = diagnostics(study, arm)
    lines = [f'The robust teacher is PMG-AFT trained at {GAP_EPS}/255 (twice the students\' radius) instead of '
             f'4/255: a larger radius is the lever that costs a robust model clean accuracy, as the paper\'s '
             f'robust ViT-L-14 trails its clean teacher. On clean validation images of the seen classes it scores '
             f'{100 * values.get("teacher_robust_clean_acc", float("nan")):.1f}% against the clean teacher\'s '
             f'{100 * values.get("teacher_clean_clean_acc", float("nan")):.1f}%: a gap of '
             + ', '.join(f'{100 * g:.1f}' for g in gaps) + ' points on each chain (independent regime: '
             + _independent_gap(study) + ').']
    lines += [summary_line(study, a, b) for a, b in comparisons(study) if a.teachers == GAP]
    return lines


def _independent_gap(study: StudyData) -> str:
    arm = study.arm(RELEASE, (4, INDEPENDENT, 1))
    values = diagnostics(study, arm) if arm else {}
    if not {'teacher_clean_clean_acc', 'teacher_robust_clean_acc'} <= set(values):
        return 'not measured'
    return f'{100 * (values["teacher_clean_clean_acc"] - values["teacher_robust_clean_acc"]):.1f} points'


# ----------------------------------------------------------------------------- the converged budget
def converged_lines(study: StudyData) -> List[str]:
    """Has ARD stopped improving at the long budget? Its validation robust accuracy over the last two
    quarters of the run, per chain; then the comparison at that budget."""
    ard = study.arm(BASELINE, (4, INDEPENDENT, CONVERGED_BUDGET))
    if ard is None or not study.curves.get(ard.name):
        return [f'Not run: ARD and the release at {CONVERGED_BUDGET}x the budget are not in this study\'s data '
                f'(`mmtard study` runs them after the verdict\'s, transfer and gap arms).']
    rises = []
    for curve in study.curves[ard.name]:
        if len(curve.robust) < 4:
            continue
        quarter = [curve.robust[round(len(curve.robust) * f) - 1] for f in (0.5, 0.75, 1.0)]
        rises.append((quarter[1] - quarter[0], quarter[2] - quarter[1]))
    lines = [f'ARD at {CONVERGED_BUDGET}x the budget ({CONVERGED_BUDGET * study.meta["student_iters"]} iterations): '
             f'its validation robust accuracy ({study.val_attack(ard)}) changed by '
             + ', '.join(f'{100 * first:+.1f} then {100 * last:+.1f}' for first, last in rises)
             + ' points over the third and the last quarter of training, chain by chain (figure: converged.png).']
    lines += [summary_line(study, a, b) for a, b in comparisons(study) if a.budget == CONVERGED_BUDGET]
    return lines


# ----------------------------------------------------------------------------- frontiers and tables
def frontier_table(study: StudyData, arms: Sequence[Arm]) -> str:
    columns = [('seen clean', SEEN, 0), *((f'seen R@{k}', SEEN, k) for k in EVAL_EPS),
               ('held13 clean', HELD13, 0), *((f'held13 R@{k}', HELD13, k) for k in EVAL_EPS)]
    lines = []
    for arm in arms:
        values = [per_seed(study.rows, 'arm', arm.name, dataset, eps) for _, dataset, eps in columns]
        lines.append([LABELS[arm.method], f'{arm.parameter} = {arm.value:g}', study.chains(arm),
                      *(cell([v[k] for k in sorted(v)]) for v in values)])
    return markdown_table(['arm', 'parameter', 'chains', *(c[0] for c in columns)], lines, numeric_from=2)


def interpolate(points: Sequence[Tuple[float, float]], x: float) -> Optional[float]:
    """y at x on the piecewise-linear frontier through ``points`` (None outside their x range)."""
    points = sorted(points)
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 <= x <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[0][1] if len(points) == 1 and points[0][0] == x else None


def matched(study: StudyData, arm: Arm, x_spec: Tuple[str, float], y_spec: Tuple[str, float]) -> List[float]:
    """Per chain: the arm's y minus single-teacher ARD's frontier (its sweep of the clean-term weight in
    the arm's group, piecewise linear) read at the arm's x; chains outside the sweep give no value."""
    family = [a for a in study.arms if a.family == LABELS_FAMILY[BASELINE] and a.group == arm.group]
    xs, ys = per_seed(study.rows, 'arm', arm.name, *x_spec), per_seed(study.rows, 'arm', arm.name, *y_spec)
    diffs = []
    for seed in sorted(set(xs) & set(ys)):
        points = []
        for a in family:
            ax, ay = per_seed(study.rows, 'arm', a.name, *x_spec), per_seed(study.rows, 'arm', a.name, *y_spec)
            if seed in ax and seed in ay:
                points.append((ax[seed], ay[seed]))
        y = interpolate(points, xs[seed]) if len(points) > 1 else None
        if y is not None:
            diffs.append(ys[seed] - y)
    return diffs


LABELS_FAMILY = {m.method: m.family for m in METHODS}


def matched_table(study: StudyData) -> str:
    swept = [a for a in study.arms if a.family == LABELS_FAMILY[BASELINE] and a.method != BASELINE]
    if not swept:
        return ('Not run: ARD\'s sweep (its arm with a clean term) is not in this study\'s data, so ARD has one point '
                'per radius and no frontier to read.')
    lines = []
    for arm in study.arms:
        if arm.family == LABELS_FAMILY[BASELINE] or arm.budget != 1 or arm.teachers != INDEPENDENT:
            continue
        robust = matched(study, arm, (SEEN, 0), (SEEN, arm.train_eps))
        zero_shot = matched(study, arm, (SEEN, arm.train_eps), (HELD13, 0))
        chains = len(per_seed(study.rows, 'arm', arm.name, SEEN, 0))
        lines.append([LABELS[arm.method], f'{arm.train_eps}/255', points_text(robust), points_text(zero_shot),
                      f'{len(robust)} / {chains}, {len(zero_shot)} / {chains}'])
    return markdown_table(['arm', 'train eps', 'robust (seen, train eps) vs ARD at the same clean accuracy',
                           'held13 zero-shot vs ARD at the same robust accuracy', 'chains inside ARD\'s sweep'],
                          lines)


def points_text(diffs: Sequence[float]) -> str:
    if not diffs:
        return 'outside ARD\'s sweep'
    return ', '.join(f'{100 * d:+.1f}' for d in diffs) + ' (per chain, no interval)'


TRANSFER_KEYS = (('teacher_robust_clean_acc', 'robust teacher on x'),
                 ('teacher_robust_adv_acc', "robust teacher on the student's training x_adv"),
                 ('teacher_clean_clean_acc', 'clean teacher on x'),
                 ('teacher_clean_adv_acc', "clean teacher on the student's training x_adv"),
                 ('train_attack_acc', 'student on its training x_adv'))


def transfer_table(study: StudyData) -> str:
    lines = []
    for arm in study.arms:
        if arm.budget != 1:
            continue
        values = diagnostics(study, arm)
        shares = study.runs[arm.name][0]['loss_shares'] if study.runs.get(arm.name) else {}
        lines.append([LABELS[arm.method], group_title(arm.group), study.chains(arm),
                      *(f'{100 * values[key]:.1f}' if key in values else '-' for key, _ in TRANSFER_KEYS),
                      ', '.join(f'{name} {100 * value:.0f}%' for name, value in sorted(shares.items())) or '-'])
    return markdown_table(['arm', 'group', 'chains', *(title for _, title in TRANSFER_KEYS), 'loss shares (chain 0)'],
                          lines, numeric_from=2)


def efficiency_table(study: StudyData) -> str:
    """Per main comparison against ARD and chain: iterations to each target (ARD / method = ratio)."""
    lines = []
    for a, b in comparisons(study):
        if b.method != BASELINE:
            continue
        by_fraction = [races(study.curves[b.name], study.curves[a.name], (b.name, a.name), f)
                       for f in TARGET_FRACTIONS]
        for seed_races in zip(*by_fraction):
            seed = seed_races[0].seed
            finals = [f'{100 * study.curves[name][seed].robust[-1]:.1f}' for name in (b.name, a.name)]
            cells = [f'{_int(r.iters[b.name])} / {_int(r.iters[a.name])} = {_ratio(r.ratio(b.name, a.name))}'
                     for r in seed_races]
            lines.append([LABELS[a.method], group_title(a.group), seed, ' / '.join(finals), *cells,
                          _ratio(seed_races[0].ratio(b.name, a.name, 'seconds'))])
    return markdown_table(['method', 'group', 'chain', 'final val robust %, ARD / method',
                           *(f'{100 * f:.0f}% target: iterations ARD / method' for f in TARGET_FRACTIONS),
                           'training-seconds ratio, 100% target'], lines, numeric_from=2)


def iteration_ratios(study: StudyData, method: str) -> List[float]:
    """The method's iteration ratios to ARD (100% target) over every chain of the independent groups."""
    ratios = []
    for a, b in comparisons(study):
        if a.method == method and b.method == BASELINE and a.teachers == INDEPENDENT and a.budget == 1:
            for r in races(study.curves[b.name], study.curves[a.name], (b.name, a.name), 1.0):
                if r.ratio(b.name, a.name) is not None:
                    ratios.append(r.ratio(b.name, a.name))
    return ratios


def _int(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.0f}'


def _ratio(value: Optional[float]) -> str:
    return '-' if value is None else f'{value:.2f}x'


def step_cost_text(study: StudyData) -> str:
    data = study.step_cost
    if not data:
        return 'Not measured in this run.'
    base = data['median_seconds'][BASELINE]
    order = [m.method for m in METHODS]  # the methods' order, whatever order the JSON keeps
    timed = sorted(data['median_seconds'].items(), key=lambda item: order.index(item[0]) if item[0] in order else 99)
    lines = [[LABELS.get(name, name), f'{1000 * value:.1f}', f'{value / base:.2f}'] for name, value in timed]
    return f'{data["description"]}\n\n' + markdown_table(['method', 'median ms per step', 'cost / ARD\'s'], lines)


def teacher_table(study: StudyData) -> str:
    """Each base CLIP's and teacher's last validation, chain by chain (in chain order, '-' where a chain
    has no such figure), each robust figure with the attack and radius that measured it; stages
    unpacked from the package have no log and say so."""
    lines = []
    for entry in study.upstream.values():
        clean, robust = [], []
        for run in entry['runs']:
            values = run['last_validation']
            if not values:
                clean.append(f'not logged ({run["origin"]})')
                robust.append('not logged')
                continue
            clean.append(f'{100 * values["clean_acc"]:.1f}' if 'clean_acc' in values else '-')
            robust.append(f'{100 * values["robust_acc"]:.1f} ({attack_label(run["val_attack"])})'
                          if 'robust_acc' in values else '-')
        labels = {text[text.index('('):] for text in robust if text.endswith(')') and '(' in text}
        if len(labels) == 1:  # one attack for every chain: name it once
            robust = [text.replace(f' {next(iter(labels))}', '') for text in robust]
            robust[-1] += f' {next(iter(labels))}'
        lines.append([entry['label'], ', '.join(clean),
                      '-' if all(text in ('-', 'not logged') for text in robust) else ', '.join(robust),
                      ', '.join(f'{run["seconds"]:.0f} s' for run in entry['runs'])])
    return markdown_table(['model', 'val clean, chain 0, 1, ...', 'val robust, chain 0, 1, ... (attack)',
                           'training time, chain 0, 1, ...'], lines)


# ----------------------------------------------------------------------------- figures
def figures(study: StudyData, folder: Path) -> Dict[str, Path]:
    """frontier.png: clean vs robust at each train eps (lines join a family's sweep; hollow: same-base
    teachers, squares: gap regime); efficiency.png: validation robust accuracy of the headline methods
    along iterations; converged.png: the same at the converged budget."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f'{name}.png' for name in ('frontier', 'efficiency', 'converged')}
    radii = sorted({arm.train_eps for arm in study.arms})
    colours = {m.family: f'C{i}' for i, m in enumerate(dict((m.family, m) for m in METHODS).values())}
    fig, axes = plt.subplots(1, len(radii), figsize=(6.5 * len(radii), 5.2), squeeze=False)
    for ax, eps in zip(axes[0], radii):
        for arm in (a for a in study.arms if a.train_eps == eps and a.budget == 1):
            xs, ys = per_seed(study.rows, 'arm', arm.name, SEEN, 0), per_seed(study.rows, 'arm', arm.name, SEEN, eps)
            seeds = sorted(set(xs) & set(ys))
            if not seeds:
                continue
            (mx, sx), (my, sy) = summarise([xs[s] for s in seeds]), summarise([ys[s] for s in seeds])
            ax.errorbar(100 * mx, 100 * my, xerr=100 * sx, yerr=100 * sy, fmt='s' if arm.teachers == GAP else 'o',
                        color=colours[arm.family], mfc='white' if arm.teachers == SAME_BASE else colours[arm.family],
                        capsize=3, label=LABELS[arm.method] + {INDEPENDENT: '', SAME_BASE: ' (same-base teachers)',
                                                               GAP: ' (gap regime)'}[arm.teachers])
        for family, colour in colours.items():
            line = sorted((100 * statistics.fmean(per_seed(study.rows, 'arm', a.name, SEEN, 0).values()),
                           100 * statistics.fmean(per_seed(study.rows, 'arm', a.name, SEEN, eps).values()))
                          for a in study.arms if a.family == family and a.group == (eps, INDEPENDENT, 1)
                          and per_seed(study.rows, 'arm', a.name, SEEN, eps))
            if len(line) > 1:
                ax.plot(*zip(*line), '-', color=colour, alpha=0.5)
        ax.set_xlabel('clean accuracy, seen classes (%)')
        ax.set_ylabel(f'robust accuracy at {eps}/255, seen classes (%)')
        ax.set_title(f'students trained at {eps}/255 (mean ± std over chains)')
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=6, loc='upper left', bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(paths['frontier'], dpi=120)
    plt.close(fig)
    for name, budget in (('efficiency', 1), ('converged', CONVERGED_BUDGET)):
        groups = sorted({a.group for a in study.arms if a.teachers == INDEPENDENT and a.budget == budget})
        fig, axes = plt.subplots(1, max(1, len(groups)), figsize=(6 * max(1, len(groups)), 4.8), squeeze=False)
        for ax, group in zip(axes[0], groups):
            plotted = [a for a in study.arms if a.group == group and a.method in HEADLINE and study.curves.get(a.name)]
            for arm in plotted:
                logged = [c for c in study.curves[arm.name] if c.iters]
                length = min(len(c.iters) for c in logged)
                robust = [100 * statistics.fmean(c.robust[k] for c in logged) for k in range(length)]
                ax.plot(logged[0].iters[:length], robust, '-o', markersize=3,
                        label=f'{LABELS[arm.method]} ({len(logged)} chains)')
            ax.set_xlabel('training iteration')
            ax.set_ylabel(f'validation robust accuracy, {study.val_attack(plotted[0]) if plotted else ""} (%)')
            ax.set_title(group_title(group), fontsize=9)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(paths[name], dpi=120)
        plt.close(fig)
    return paths


# ----------------------------------------------------------------------------- the report
def provenance(study: StudyData) -> str:
    meta = study.meta
    loads = ', '.join(f'{before:.2f} / {after:.2f}' for before, after in zip(*meta['load_average']))
    trained = [run for runs in study.runs.values() for run in runs if run['origin'] != 'shipped']
    trained += [run for entry in study.upstream.values() for run in entry['runs'] if run['origin'] != 'shipped']
    evaluation = sum(row.get('time_s', 0.0) for row in study.rows)
    return (f'Made by `{meta["command"]}` at commit `{meta["commit"]}` on {meta["date"]}, on {meta["machine"]}: '
            f'{meta["seconds"]:.0f} s for this invocation ({meta["jobs"]} runs at a time; runs an earlier invocation '
            f'finished are reused and count nothing here). Load averages (1, 5, 15 min) at its start / end: {loads}. '
            f'The runs behind the data took {sum(run["seconds"] for run in trained) / 3600:.1f} h of training '
            f'({len(trained)} runs; stages unpacked from the package not counted) and {evaluation / 3600:.1f} h of '
            f'evaluation, summed over runs that ran '
            f'{meta["jobs"]} at a time.')


def paper_lines(study: StudyData) -> List[str]:
    """The paper's three claims against the headline intervals and the iteration ratios."""
    lines = []
    for eps in sorted({a.train_eps for a in study.arms if a.group == (a.train_eps, INDEPENDENT, 1)}):
        release, ard = study.arm(RELEASE, (eps, INDEPENDENT, 1)), study.arm(BASELINE, (eps, INDEPENDENT, 1))
        if release is None or ard is None:
            continue
        robust, zero_shot = study.versus(release, ard, SEEN, None), study.versus(release, ard, HELD13, 0)
        lines.append(f'At {eps}/255 the paper\'s +{PAPER_ROBUST} robust points are '
                     f'{_inside(robust, PAPER_ROBUST)} the release\'s interval {robust.text()}, and its '
                     f'+{PAPER_ZERO_SHOT} zero-shot points {_inside(zero_shot, PAPER_ZERO_SHOT)} {zero_shot.text()}.')
    ratios = iteration_ratios(study, RELEASE)
    if ratios:
        lines.append(f'Its {PAPER_EFFICIENCY}x training efficiency: ARD\'s iterations over the release\'s, to reach the '
                     f'lower of the two final validation robust accuracies, have median {statistics.median(ratios):.2f}x '
                     f'({min(ratios):.2f}x-{max(ratios):.2f}x; {sum(r >= PAPER_EFFICIENCY for r in ratios)} of '
                     f'{len(ratios)} chain-radius pairs reach {PAPER_EFFICIENCY}x).')
    return lines


def _inside(diff: Interval, claim: float) -> str:
    low, high = diff.points(diff.low), diff.points(diff.high)
    return 'inside' if low <= claim <= high else 'outside'


def markdown_report(study: StudyData) -> str:
    meta, rows, arms = study.meta, study.rows, study.arms
    pairs = comparisons(study)
    counts = {row['dataset']: (row['n'], row['n_robust']) for row in rows if row['eps']}
    attack = rows[0]['attack'] if rows else '-'
    headline = [(a, b) for a, b in pairs if a.teachers == INDEPENDENT and a.budget == 1 and a.method in HEADLINE]
    intervals = len(pairs) * len(METRICS)
    chains = max((study.chains(a) for a in arms), default=0)
    sampling_only = [f'{LABELS[a.method]} vs {LABELS[b.method]} ({group_title(a.group)})' for a, b in pairs
                     if chains_text(study, a, b).endswith('(sampling only)')]
    groups = sorted({arm.group for arm in arms}, key=lambda g: (g[2], g[1] != INDEPENDENT, g[1], g[0]))
    frontiers = '\n\n'.join(f'### {group_title(group)}\n\n{frontier_table(study, [a for a in arms if a.group == group])}'
                            for group in groups)
    measured = markdown_table(['dataset', 'classes', 'clean samples', 'attacked samples'],
                              [[name, len(CLASS_SELECTIONS['seen' if name == SEEN else 'held_out']), n, k]
                               for name, (n, k) in counts.items()])
    bullet = '\n'.join
    return f"""# Does MMT-ARD beat single-teacher distillation? The paper's claims in miniature

Regenerate: `{REGENERATE}`

{provenance(study)} The data behind every table and figure are in [study/data](study/data)
(per-sample outcomes of every evaluation, validation curves and diagnostics of every run; the
format is described in `mmtard/apps/study/data.py`); the command above rebuilds this page and its
figures from them, training and evaluating nothing.

The student is a tiny CLIP ({TEACHER_ARCHS[SAME_BASE]}); its teachers come from a separately pretrained,
larger CLIP ({TEACHER_ARCHS[INDEPENDENT]}), as the paper's ViT-L-14 teachers are larger than and independent
of its ViT-B-32 student. A chain is both base CLIPs and all teachers, trained with the chain's own seed;
student seed k learns from chain k. Students train {meta['student_iters']} iterations at batch 128 (under one
pass over the 20,000 training images; the converged arms {CONVERGED_BUDGET}x that) with PGD (step 1/255,
momentum 0.9) at their train eps; robust accuracy is measured at {', '.join(f'{k}/255' for k in EVAL_EPS)}
under {attack}.

**What the intervals cover.** Where a comparison ran on several chains its interval is a t interval over
the per-chain paired differences (chains - 1 degrees of freedom) widened by the sampling error of the
test samples every chain shares (`mmtard.evaluation.intervals.chain_interval`): it covers the spread between
chains (base CLIPs, teachers and student seed together) and the test samples, not other datasets,
architectures or the full-size models. Comparisons on one chain carry a sampling-only interval (marked
"sampling only"): it says nothing about another seed. "better" / "worse": the whole interval, as printed,
lies above / below 0; anything else is a tie at this precision. The verdict reads {intervals} intervals:
at 95% each, about {intervals * 0.05:.1f} of them would exclude 0 by chance even if no method differed from
another, so a single "better" or "worse" alone is weak evidence.

## What it says, in short

Every sentence below is generated from the verdict table's intervals.

{bullet('- ' + summary_line(study, a, b) for a, b in headline)}
- {bullet(paper_lines(study)).replace(chr(10), chr(10) + '- ')}
- The transfer test: {' '.join(transfer_test(study))}
- The paper's teacher gap: {' '.join(gap_lines(study))}
- The converged budget: {' '.join(converged_lines(study))}
- Not covered: {', '.join(sampling_only) or 'nothing'} ran on one chain (sampling-only intervals); the
  same-base, gap and converged arms on up to {max((study.chains(a) for a in arms if a.teachers != INDEPENDENT
                                                  or a.budget != 1), default=0)} chains, the headline on {chains}.
  Miniature limits: 64-d student CLIP, synthetic shapes, 51 seen classes at logit scale 20, PGD-5
  training, reduced APGD on {max((k for _, k in counts.values()), default=0)} attacked samples per dataset.

![frontier]({FIGURES}/frontier.png)

![efficiency]({FIGURES}/efficiency.png)

## Verdict (points, difference [95% interval])

{verdict_table(study, pairs)}

## The transfer test

{bullet(transfer_test(study))}

Each validation also ran the student's own training attack on the validation images and scored each
teacher on them: the robust teacher's accuracy on x_adv is how often the target it hands an MMT-ARD
student (which it scores on x_adv) is still right. Last validation, mean over chains.

{transfer_table(study)}

## The paper's teacher gap

{bullet(gap_lines(study))}

## The converged budget

{bullet(converged_lines(study))}

![converged]({FIGURES}/converged.png)

## Frontiers (accuracy %, mean ± std over chains)

"R@k": robust accuracy at k/255; "held13": zero-shot accuracy on the 13 colour-shape combinations no
stage trained on.

{frontiers}

### At matched clean accuracy

Single-teacher ARD's frontier (its sweep of the clean-term weight, piecewise linear, chain by chain) read
at each arm's clean accuracy (and, for zero-shot, at its robust accuracy); no extrapolation outside it.

{matched_table(study)}

## Training efficiency

Per chain, the target is the lower of the two arms' final validation robust accuracies (the validation
attack on {meta['val_samples']} validation images, every {meta['interval']} iterations) and fractions of
it, so both arms reach it. Ratio > 1: the method needs fewer iterations (seconds) than ARD. Training
seconds come from runs trained {meta['jobs']} at a time; the side-by-side step cost below is the reliable
per-step figure.

{efficiency_table(study)}

### Step cost, side by side

{step_cost_text(study)}

## Teachers and base models

Last validation of each stage (its own validation images and attack, named beside each figure).

{teacher_table(study)}

## What was measured

{measured}
"""


def write_report(data: Dict[str, Any], out: Path) -> Dict[str, Path]:
    """The report of ``data`` at ``out`` and its figures in a ``study/`` folder beside it."""
    study = StudyData(data)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = figures(study, out.parent / FIGURES)
    out.write_text(markdown_report(study))
    return {'report': out, **paths}


def report_from_data(folder: Path, out: Optional[Path] = None) -> Dict[str, Path]:
    """Rebuild the report (default: ``study.md`` beside ``folder``'s parent) from a data folder alone."""
    folder = Path(folder)
    return write_report(read_data(folder), out or folder.parent.parent / 'study.md')
