"""`mmtard study`: steps-to-target and frontier arithmetic by hand, and the pipeline at smoke size."""
import json

import pytest
from click.testing import CliRunner

from mmtard.cli.main import cli
from mmtard.errors import ConfigError
from mmtard.evaluation.results import field_names
from mmtard.study.efficiency import read_curve, steps_to_target
from mmtard.study.pipeline import select_arms
from mmtard.study.report import interpolate

ARMS = ('ard', 'mmtard-clean1', 'mmtard-clean5')


def write_scalars(work_dir, records):
    folder = work_dir / '20260101_000000' / 'vis_data'
    folder.mkdir(parents=True)
    (folder / 'scalars.json').write_text(''.join(json.dumps(r) + '\n' for r in records))


def test_curve_adds_window_means_into_elapsed_training_time(tmp_path):
    # Logged every 10 iterations with a 10-iteration timer window: 0.5 s and 0.25 s per iteration.
    write_scalars(tmp_path, [
        {'loss': 1.0, 'time': 0.5, 'step': 10}, {'zero_shot/clean_acc': 0.8, 'zero_shot/robust_acc': 0.1, 'step': 10},
        {'loss': 0.9, 'time': 0.25, 'step': 20}, {'zero_shot/clean_acc': 0.7, 'zero_shot/robust_acc': 0.3, 'step': 20},
    ])
    curve = read_curve(tmp_path, interval=10)
    assert curve.iters == [10, 20]
    assert curve.seconds == pytest.approx([5.0, 7.5])
    assert curve.robust == [0.1, 0.3] and curve.clean == [0.8, 0.7]
    assert curve.seconds_per_iter == pytest.approx(7.5 / 20)
    result = steps_to_target([curve, curve], target=0.25)
    assert result.iters == [20, 20] and result.mean_seconds() == pytest.approx(7.5)
    never = steps_to_target([curve], target=0.5)
    assert never.reached == 0 and never.mean_iters() is None


def test_frontier_interpolation():
    points = [(0.6, 0.30), (0.8, 0.20)]
    assert interpolate(points, 0.7) == pytest.approx(0.25)
    assert interpolate(list(reversed(points)), 0.6) == pytest.approx(0.30)
    assert interpolate(points, 0.9) is None, 'no extrapolation outside the sweep'


def test_arm_selection_errors():
    with pytest.raises(ConfigError, match="Did you mean 'mmtard-clean5'"):
        select_arms(['ard', 'mmtard-clean6'])
    with pytest.raises(ConfigError, match="must include the baseline 'ard'"):
        select_arms(['mmtard-clean5'])


@pytest.fixture(scope='module')
def study_dir(tmp_path_factory):
    work = tmp_path_factory.mktemp('study')
    args = ['study', '--size', 'smoke', '--seeds', '1', '--jobs', '1', '--work-dir', str(work / 'study'),
            '--demo-dir', str(work / 'demo')]
    for arm in ARMS:
        args += ['--arm', arm]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return work


def test_study_writes_rows_curves_report_and_figures(study_dir):
    root = study_dir / 'study'
    rows = json.loads((root / 'results.json').read_text())
    assert {row['arm'] for row in rows} == set(ARMS)
    assert {row['eps'] for row in rows} == {1.0, 2.0, 4.0}
    assert {row['dataset'] for row in rows} == {'shapes-seen-51', 'held-out-13'}
    for row in rows:
        assert set(field_names()) <= set(row)
        assert '[reduced]' in row['attack']
    curves = json.loads((root / 'curves.json').read_text())
    for arm in ARMS:
        (curve,) = curves[arm]
        assert len(curve['iters']) >= 2 and curve['iters'] == sorted(curve['iters'])
        assert all(b > a for a, b in zip(curve['seconds'], curve['seconds'][1:]))
    report = (root / 'report.md').read_text()
    for section in ('## Headline', '## Frontier', '### At matched clean accuracy', '## Training efficiency'):
        assert section in report
    assert 'MMT-ARD (release weighting)' in report and 'single-teacher ARD' in report
    for name in ('frontier.png', 'efficiency.png'):
        png = (root / name).read_bytes()
        assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10_000


def test_study_rerun_reuses_every_run(study_dir, monkeypatch):
    import mmtard.apis.evaluate as evaluate_api
    import mmtard.apis.train as train_api

    def forbidden(*args, **kwargs):
        raise AssertionError('a finished run or evaluation ran again')

    monkeypatch.setattr(train_api, 'train', forbidden)
    monkeypatch.setattr(evaluate_api, 'evaluate', forbidden)
    root = study_dir / 'study'
    before = (root / 'results.json').read_text()
    args = ['study', '--size', 'smoke', '--seeds', '1', '--jobs', '1', '--work-dir', str(root),
            '--demo-dir', str(study_dir / 'demo')]
    for arm in ARMS:
        args += ['--arm', arm]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (root / 'results.json').read_text() == before
