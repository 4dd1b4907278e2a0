"""`mmtard study`: arm construction, arm selection, the report's figures against rows, logs and curves made
by hand, and the pipeline at smoke size on the demo's chain."""
import json
import re

import pytest
from click.testing import CliRunner

from mmtard.apps.chain import BASE, ROBUST_TEACHER, STUDENT_ARCH, TEACHER_ARCH, Run
from mmtard.apps.scoring import EVAL_EPS, HELD13, SEEN
from mmtard.apps.study.arms import INDEPENDENT, ROBUST_TEACHER_EPS2, SAME_BASE, study_arms
from mmtard.apps.study.efficiency import Curve
from mmtard.apps.study.pipeline import StudySize, seeds_of, select_arms, upstream_jobs
from mmtard.apps.study.report import group_title, interpolate, markdown_report
from mmtard.cli.main import cli
from mmtard.errors import ConfigError
from mmtard.evaluation.results import field_names

METHODS = ('ard', 'mmtard-clean5')


def test_arms_cover_both_radii_same_base_teachers_and_a_longer_budget():
    arms = {arm.name: arm for arm in study_arms(iters=200)}
    for eps in (2, 4):
        arm = arms[f'mmtard-clean5-eps{eps}']
        assert arm.stage.options['model.attack.eps'] == eps and arm.stage.options['model.val_attack.eps'] == eps
    assert arms['mmtard-clean5-eps2'].stage.inputs['model.teachers.1.encoder.pretrained'] == 'robust-teacher-eps2'
    assert arms['mmtard-clean5-eps4'].stage.inputs['model.teachers.1.encoder.pretrained'] == 'robust-teacher'
    same = arms['mmtard-clean5-eps4-same-base']
    assert same.teachers == SAME_BASE
    assert same.stage.inputs['model.teachers.0.encoder.pretrained'] == 'same-base-clean-teacher'
    assert same.stage.options['model.teachers.0.encoder.arch'] == STUDENT_ARCH
    assert same.stage.options['model.teachers.1.encoder.arch'] == STUDENT_ARCH
    ard_same = arms['ard-eps4-same-base']
    assert ard_same.stage.inputs['model.teacher.pretrained'] == 'same-base-robust-teacher'
    assert ard_same.stage.options['model.teacher.arch'] == STUDENT_ARCH
    assert arms['ard-eps4'].teachers == INDEPENDENT
    long = arms['mmtard-clean5-eps4-2x']
    assert long.stage.options['train_cfg.max_iters'] == 400
    assert long.stage.options['param_scheduler'][1]['end'] == 400
    assert len(arms) == len(set(arms)), 'stage names are unique: each arm has its own folder'
    clean_x = arms['clean-x-eps4']
    assert clean_x.stage.config.startswith('mmtard-clean-x_')


def test_arm_selection_errors():
    arms = study_arms(iters=200)
    with pytest.raises(ConfigError, match="Did you mean 'mmtard-clean5'"):
        select_arms(arms, ['ard', 'mmtard-clean6'])
    with pytest.raises(ConfigError, match="must include the baseline 'ard'"):
        select_arms(arms, ['mmtard-clean5'])
    with pytest.raises(ConfigError, match="must include the baseline 'ard'"):
        select_arms(arms, ['ard-eps2', 'mmtard-clean5-eps4'])
    assert {a.name for a in select_arms(arms, ['ard-eps4', 'mmtard-clean5-eps4'])} == {'ard-eps4', 'mmtard-clean5-eps4'}


def test_frontier_interpolation():
    points = [(0.6, 0.30), (0.8, 0.20)]
    assert interpolate(points, 0.7) == pytest.approx(0.25)
    assert interpolate(list(reversed(points)), 0.6) == pytest.approx(0.30)
    assert interpolate(points, 0.9) is None, 'no extrapolation outside the sweep'


# ----------------------------------------------------------------------------- the report, by hand
#: Per arm and dataset, each seed's (clean, robust at 1/255, 2/255, 4/255) accuracy.
SCORES = {
    'ard-eps4': {SEEN: [(0.6, 0.5, 0.2, 0.0), (0.8, 0.3, 0.2, 0.0)], HELD13: [(1.0, 0.4, 0.3, 0.2)] * 2},
    'ard-clean1-eps4': {SEEN: [(0.8, 0.6, 0.5, 0.4)], HELD13: [(0.9, 0.5, 0.4, 0.3)]},
    'mmtard-clean5-eps4': {SEEN: [(0.7, 1.0, 1.0, 1.0), (0.9, 1.0, 1.0, 1.0)],
                           HELD13: [(0.0, 0.0, 0.0, 0.3), (0.0, 0.0, 0.0, 0.5)]},
    'mmtard-clean5-eps4-2x': {SEEN: [(0.9, 0.8, 0.7, 0.6)], HELD13: [(0.5, 0.4, 0.3, 0.2)]},
}
#: Rows stored without per-sample outcomes (as old results are): their differences get no interval.
NO_OUTCOMES = {('ard-eps4', SEEN, 'clean'), ('mmtard-clean5-eps4', HELD13, 'robust')}
SAMPLES = 10
#: Each run's last validation: the transfer diagnostics, or a teacher's own accuracies.
VALIDATION = {
    ('ard-eps4', 0): dict(teacher_robust_clean_acc=0.9, teacher_robust_adv_acc=0.7, train_attack_acc=0.2),
    ('ard-eps4', 1): dict(teacher_robust_clean_acc=0.7, teacher_robust_adv_acc=0.5, train_attack_acc=0.4),
    ('mmtard-clean5-eps4', 0): dict(teacher_robust_clean_acc=0.9, teacher_robust_adv_acc=0.5,
                                    teacher_clean_clean_acc=0.95, teacher_clean_adv_acc=0.1, train_attack_acc=0.3),
    ('mmtard-clean5-eps4', 1): dict(teacher_robust_clean_acc=0.9, teacher_robust_adv_acc=0.3,
                                    teacher_clean_clean_acc=0.85, teacher_clean_adv_acc=0.3, train_attack_acc=0.1),
    ('base', 0): dict(clean_acc=0.9),
    ('robust-teacher', 0): dict(clean_acc=0.8, robust_acc=0.4),
    ('robust-teacher-eps2', 0): dict(clean_acc=0.85, robust_acc=0.5),
}
#: Each run's training losses (the first seed's give the loss shares).
LOSSES = {('ard-eps4', 0): dict(loss_robust=2.0), ('ard-clean1-eps4', 0): dict(loss_robust=1.0, loss_clean=1.0),
          ('mmtard-clean5-eps4', 0): dict(loss_robust=3.0, loss_clean=1.0)}


#: The fake runs' validation attack steps (not the real configs' 10: labels are read, never typed).
VAL_STEPS = 7


def outcome_bits(accuracy):
    correct = round(accuracy * SAMPLES)
    return '1' * correct + '0' * (SAMPLES - correct)


def fake_rows():
    rows = []
    for arm, datasets in SCORES.items():
        for dataset, seeds in datasets.items():
            for seed, (clean, *robust) in enumerate(seeds):
                for eps, accuracy in zip(EVAL_EPS, robust):
                    rows.append({
                        'arm': arm, 'dataset': dataset, 'eps': float(eps), 'model_seed': seed, 'n': SAMPLES,
                        'n_robust': SAMPLES, 'attack': 'AutoAttack custom [reduced]', 'clean_acc': clean,
                        'robust_acc': accuracy, 'sample_indices': list(range(SAMPLES)),
                        'clean_correct': '' if (arm, dataset, 'clean') in NO_OUTCOMES else outcome_bits(clean),
                        'robust_correct': '' if (arm, dataset, 'robust') in NO_OUTCOMES else outcome_bits(accuracy)})
    return rows


def fake_run(stage, seed, root, seconds=0.0):
    work_dir = root / stage.name / f'seed{seed}'
    records = [{**LOSSES.get((stage.name, seed), {}), 'loss': 1.0, 'step': 10},
               {**{f'zero_shot/{k}': v for k, v in VALIDATION.get((stage.name, seed), {}).items()}, 'step': 10}]
    (work_dir / '20260101_000000' / 'vis_data').mkdir(parents=True)
    (work_dir / '20260101_000000' / 'vis_data' / 'scalars.json').write_text(
        ''.join(json.dumps(r) + '\n' for r in records))
    (work_dir / 'config.py').write_text(f"model = dict(val_attack=dict(type='PGD', steps={VAL_STEPS}))\n")
    return Run(stage, seed, work_dir, work_dir / 'last.pth', work_dir / 'config.py', seconds, 'trained', '')


def table(report, heading):
    """The body rows of the first table under the heading that starts with ``heading``."""
    lines = report.split('\n')
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith('#')), len(lines))
    return [line for line in lines[start:end] if line.startswith('|')][2:]


@pytest.fixture(scope='module')
def fake_report(tmp_path_factory):
    """The report of four arms written from hand-made rows, logs and curves."""
    root = tmp_path_factory.mktemp('study')
    all_arms = {arm.name: arm for arm in study_arms(iters=4)}
    arms = [all_arms[name] for name in SCORES]
    runs = {arm.name: [fake_run(arm.stage, seed, root) for seed in range(len(SCORES[arm.name][SEEN]))]
            for arm in arms}
    upstream = {stage.name: [fake_run(stage, 0, root, seconds)]
                for stage, seconds in ((BASE, 30.4), (ROBUST_TEACHER, 12.0), (ROBUST_TEACHER_EPS2, 10.4))}
    fast = Curve([10, 20, 30], [1.0, 2.0, 3.0], [0.8] * 3, [0.20, 0.37, 0.40], 0.1)
    slow = Curve([10, 20, 30], [2.0, 4.0, 6.0], [0.8] * 3, [0.30, 0.33, 0.36], 0.2)
    even = Curve([10, 20, 30], [1.0, 2.0, 3.0], [0.8] * 3, [0.10, 0.20, 0.30], 0.1)
    curves = {'ard-eps4': [fast, even], 'mmtard-clean5-eps4': [slow, even]}
    (root / 'step_cost.json').write_text(json.dumps(
        {'description': 'Timed side by side.', 'median_seconds': {'ard': 0.1, 'mmtard-clean5': 0.25}}))
    return markdown_report(fake_rows(), arms, runs, curves, upstream, StudySize.named('smoke'), (2, 1), 5.0, root,
                           interval=10, jobs=1)


def test_report_verdict_is_the_paired_difference_of_its_rows(fake_report):
    """Robust: every sample right against every sample wrong (an interval of one point); clean and the
    zero-shot robust column: rows without outcomes (mean only, a tie); zero-shot clean: the reverse."""
    group = 'train eps 4/255, independent teachers (mmtard-small-vit)'
    assert table(fake_report, '## Verdict') == [
        f'| MMT-ARD, 50 / 5 (release) | {group} | +100.0 [+100.0, +100.0] (better) | +10.0 (tie) '
        f'| -100.0 [-100.0, -100.0] (worse) | +20.0 (tie) |']


def test_report_frontier_and_budget_are_the_mean_and_std_of_its_rows(fake_report):
    assert table(fake_report, '### train eps 4/255, independent teachers') == [
        '| single-teacher ARD | clean-term weight = 0 | 70.0 ± 14.1 | 40.0 ± 14.1 | 20.0 ± 0.0 | 0.0 ± 0.0 '
        '| 100.0 ± 0.0 | 40.0 ± 0.0 | 30.0 ± 0.0 | 20.0 ± 0.0 |',
        '| ARD + 1 x clean term | clean-term weight = 1 | 80.0 | 60.0 | 50.0 | 40.0 | 90.0 | 50.0 | 40.0 | 30.0 |',
        '| MMT-ARD, 50 / 5 (release) | clean coefficient = 5 | 80.0 ± 14.1 | 100.0 ± 0.0 | 100.0 ± 0.0 '
        '| 100.0 ± 0.0 | 0.0 ± 0.0 | 0.0 ± 0.0 | 0.0 ± 0.0 | 40.0 ± 14.1 |']
    assert table(fake_report, '### Twice the budget') == [
        '| MMT-ARD, 50 / 5 (release) | 1x | 80.0 ± 14.1 | 100.0 ± 0.0 |',
        '| MMT-ARD, 50 / 5 (release) | 2x | 90.0 | 60.0 |']


def test_report_reads_ards_frontier_at_the_arms_clean_accuracy(fake_report):
    """Seed 0: ARD's points (60, 0) and (80, 40) read at 70 give 20, so 100 - 20 = +80; seed 1 has one ARD
    point only (the swept arm ran one seed), so no value; zero-shot: robust 100 is outside ARD's 0-40."""
    assert table(fake_report, '### At matched clean accuracy') == [
        "| MMT-ARD, 50 / 5 (release) | +80.0 (per seed) | outside ARD's sweep | 1 / 2, 0 / 2 |"]


def test_report_transfer_diagnostics_are_seed_means_of_the_last_validation(fake_report):
    group = 'train eps 4/255, independent teachers (mmtard-small-vit)'
    assert table(fake_report, '## Transfer') == [
        f'| single-teacher ARD | {group} | 80.0 | 60.0 | - | - | 30.0 | robust 100% |',
        f'| ARD + 1 x clean term | {group} | - | - | - | - | - | clean 50%, robust 50% |',
        f'| MMT-ARD, 50 / 5 (release) | {group} | 90.0 | 40.0 | 90.0 | 20.0 | 20.0 | clean 25%, robust 75% |']
    assert ("robust accuracy minus ARD's is +100.0 [+100.0, +100.0] points; on the MMT-ARD student's training "
            "x_adv its robust teacher scores 40.0% against 90.0% on x (a 50.0-point drop") in fake_report


def test_report_efficiency_counts_iterations_to_each_target(fake_report):
    """Seed 0: finals 40 and 36, so the targets are 36, 32.4 and 27; seed 1: identical curves."""
    group = 'train eps 4/255, independent teachers (mmtard-small-vit)'
    assert table(fake_report, '## Training efficiency') == [
        f'| MMT-ARD, 50 / 5 (release) | {group} | 0 | 40.0 / 36.0 | 20 / 30 = 0.67x | 20 / 20 = 1.00x '
        f'| 20 / 10 = 2.00x | 0.33x |',
        f'| MMT-ARD, 50 / 5 (release) | {group} | 1 | 30.0 / 30.0 | 30 / 30 = 1.00x | 30 / 30 = 1.00x '
        f'| 30 / 30 = 1.00x | 1.00x |']
    assert table(fake_report, '### Step cost') == ['| single-teacher ARD | 100.0 | 1.00 |',
                                                   '| MMT-ARD, 50 / 5 (release) | 250.0 | 2.50 |']


def test_report_teachers_and_measured_counts_come_from_the_runs_and_rows(fake_report):
    assert table(fake_report, '## Teachers') == [
        '| base CLIP (student) | 90.0 | - | 30 s |',
        '| PMG-AFT teacher | 80.0 | 40.0 (PGD-7 4/255) | 12 s |',
        '| PMG-AFT teacher at 2/255 | 85.0 | 50.0 (PGD-7 2/255) | 10 s |']
    assert table(fake_report, '## What was measured') == ['| shapes-seen-51 | 51 | 10 | 10 |',
                                                         '| held-out-13 | 13 | 10 | 10 |']
    assert '`mmtard study --size smoke --seeds 2 --chain-seeds 1`: 4 arms.' in fake_report
    assert 'under AutoAttack custom [reduced].' in fake_report
    assert "final validation robust accuracies (PGD-7 at the" in fake_report
    assert ('`ard-eps4`, `mmtard-clean5-eps4` ran student seeds [0, 1], every other arm the first 1; student seed '
            'k learned from chain k mod 1') in ' '.join(fake_report.split())
    assert 'NOT covered: one chain' in fake_report


def test_main_arms_run_every_seed_and_each_chain_trains_only_what_its_students_use():
    arms = select_arms(study_arms(iters=4), ['ard', 'mmtard-clean5'])
    size = StudySize.named('smoke')
    assert {arm.name for arm in arms if seeds_of(arm, 2, size) == 2} == {
        'ard-eps2', 'mmtard-clean5-eps2', 'ard-eps4', 'mmtard-clean5-eps4'}
    jobs = upstream_jobs(arms, seeds=2, chain_seeds=2, size=size)
    chains = {chain: [stage.name for stage, c in jobs if c == chain] for chain in (0, 1)}
    assert chains[0] == ['base', 'teacher-base', 'clean-teacher', 'robust-teacher', 'robust-teacher-eps2',
                         'same-base-clean-teacher', 'same-base-robust-teacher']
    assert chains[1] == ['base', 'teacher-base', 'clean-teacher', 'robust-teacher', 'robust-teacher-eps2'], \
        'same-base and 2x arms run seed 0 only, so chain 1 trains no same-base teacher'
    assert {stage.name for stage, _ in upstream_jobs(arms, seeds=2, chain_seeds=1, size=size)} == set(chains[0])


def study_args(work, seeds=1):
    args = ['study', '--size', 'smoke', '--seeds', str(seeds), '--jobs', '1', '--work-dir', str(work),
            '--demo-dir', str(work.parent)]
    for method in METHODS:
        args += ['--arm', method]
    return args


@pytest.fixture(scope='module')
def study_dir(smoke_demo):
    """The study of two methods in every group, on the smoke demo's chain (its base and teachers reused)."""
    work = smoke_demo / 'study'
    result = CliRunner().invoke(cli, study_args(work), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return work


def test_study_rows_name_radius_and_teachers(study_dir):
    rows = json.loads((study_dir / 'results.json').read_text())
    assert {row['method'] for row in rows} == set(METHODS)
    assert {(row['train_eps'], row['teachers'], row['budget']) for row in rows} == {
        (2, INDEPENDENT, 1), (4, INDEPENDENT, 1), (4, SAME_BASE, 1), (4, INDEPENDENT, 2)}
    for row in rows:
        assert set(field_names()) <= set(row)
        assert '[reduced]' in row['attack']
        assert row['teacher_arch'] == (TEACHER_ARCH if row['teachers'] == INDEPENDENT else STUDENT_ARCH)
        assert row['teacher_base'] in ('separately pretrained', 'student base')
        assert len(row['robust_correct']) == row['n_robust'] and len(row['clean_correct']) == row['n']
    assert {row['eps'] for row in rows} == {1.0, 2.0, 4.0}
    curves = json.loads((study_dir / 'curves.json').read_text())
    for name, (curve,) in curves.items():
        assert len(curve['iters']) >= 2 and curve['iters'] == sorted(curve['iters'])


def test_study_report_has_intervals_transfer_and_races(study_dir):
    report = (study_dir / 'report.md').read_text()
    verdict = report.split('## Verdict')[1].split('\n## ')[0]
    intervals = sum(line.count('[') for line in verdict.splitlines() if line.startswith('| MMT-ARD'))
    assert intervals == 4 * 4, 'four comparisons (one per group), each with four intervals'
    transfer = report.split('## Transfer')[1].split('\n## ')[0]
    assert "robust teacher on the student's training x_adv" in transfer
    table_rows = [line for line in transfer.splitlines() if line.startswith('| ') and 'ARD' in line]
    assert len(table_rows) == 6, 'each 1x-budget arm has its diagnostics'
    assert all(line.count(' - ') == 0 for line in table_rows if 'MMT-ARD' in line), 'both teachers diagnosed'
    races = [line.split(' | ') for line in table(report, '## Training efficiency')]
    groups = [(2, INDEPENDENT, 1), (4, INDEPENDENT, 1), (4, SAME_BASE, 1), (4, INDEPENDENT, 2)]
    assert sorted(cells[1] for cells in races) == sorted(map(group_title, groups)), 'one race per group (one seed)'
    for cells in races:
        assert all(re.fullmatch(r'(\d+|-) / (\d+|-) = (\d+\.\d\dx|-)', cell) for cell in cells[4:7]), cells
    for name in ('frontier.png', 'efficiency.png'):
        png = (study_dir / name).read_bytes()
        assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10_000


def test_study_rerun_trains_and_evaluates_nothing(study_dir, monkeypatch):
    import mmtard.apis.evaluate as evaluate_api
    import mmtard.apis.train as train_api

    def forbidden(*args, **kwargs):
        raise AssertionError('a finished run or evaluation ran again')

    monkeypatch.setattr(train_api, 'train', forbidden)
    monkeypatch.setattr(evaluate_api, 'evaluate', forbidden)
    before = (study_dir / 'results.json').read_text()
    result = CliRunner().invoke(cli, study_args(study_dir), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (study_dir / 'results.json').read_text() == before
