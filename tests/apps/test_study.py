"""`mmtard study`: arm construction, arm selection, and the pipeline at smoke size on the demo's chain."""
import json

import pytest
from click.testing import CliRunner

from mmtard.apps.chain import STUDENT_ARCH, TEACHER_ARCH
from mmtard.apps.study.arms import INDEPENDENT, SAME_BASE, study_arms
from mmtard.apps.study.pipeline import select_arms
from mmtard.apps.study.report import interpolate
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
    efficiency = report.split('## Training efficiency')[1].split('\n## ')[0]
    assert efficiency.count('x |') >= 4, 'a ratio per seed and target'
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
