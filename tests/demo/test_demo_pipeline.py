"""The embedded demo at its 'smoke' size: every stage, the report's schema, the figure, the cache."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmtard.cli.main import cli
from mmtard.demo.report import COLUMNS
from mmtard.demo.stages import STAGES
from mmtard.evaluation.results import field_names

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope='module')
def demo_dir(tmp_path_factory):
    """The smoke demo, run by a non-editable install of mmtard (its stage configs are package data),
    from a folder that holds no repository."""
    work, site = tmp_path_factory.mktemp('demo'), tmp_path_factory.mktemp('site')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', '--no-build-isolation',
                    '--target', str(site), str(REPO)], check=True)
    env = {**os.environ, 'PYTHONPATH': str(site)}
    where = subprocess.run([sys.executable, '-c', 'import mmtard.demo.stages as s; print(s.CONFIG_DIR)'], cwd=work,
                           env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert Path(where).is_relative_to(site), f'the installed copy must run, not the repository ({where})'
    result = subprocess.run([sys.executable, '-m', 'mmtard', 'demo', '--work-dir', str(work), '--size', 'smoke'],
                            cwd=work, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return work


def test_every_stage_trained_and_evaluated(demo_dir):
    rows = json.loads((demo_dir / 'results.json').read_text())
    assert {row['stage'] for row in rows} == {stage.name for stage in STAGES}
    assert {row['dataset'] for row in rows} == {'shapes-seen-51', 'held-out-13', 'held-out-among-64', 'mnist-digits'}
    assert {row['eps'] for row in rows} == {1.0, 2.0, 4.0}, "the paper's evaluation radii"
    names = {row['attack'] for row in rows}
    assert len(names) == 1 and '[reduced]' in names.pop(), 'a reduced attack is never called AutoAttack'
    for row in rows:
        assert set(field_names()) <= set(row), 'rows keep the evaluation suite schema'
        assert 0.0 <= row['clean_acc'] <= 1.0 and 0.0 <= row['robust_acc'] <= 1.0
        assert row['n_robust'] == len(row['sample_indices'])
    for stage in STAGES:
        markers = list((demo_dir / stage.name).glob('*/seed0/stage.json' if stage.kind == 'student' else '*/stage.json'))
        assert len(markers) == 1


def test_report_and_figure(demo_dir):
    report = (demo_dir / 'report.md').read_text()
    for title, *_ in COLUMNS:
        assert title in report
    assert 'What was measured' in report and 'chance' in report
    assert 'single-teacher ARD' in report and 'MMT-ARD (dynamic confidence)' in report
    assert 'PMG-AFT teacher' in report, "the robust teacher's own accuracy is reported"
    shares = report.split('## Per-term loss shares')[1].split('##')[0]
    for label in ('single-teacher ARD', 'MMT-ARD (reference cosine)', 'MMT-ARD (dynamic confidence)'):
        assert label in shares
    assert 'clean ' in shares and 'robust ' in shares and '%' in shares
    png = (demo_dir / 'demo.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10_000


def test_rerun_reuses_every_stage_and_evaluation(demo_dir, monkeypatch):
    import mmtard.apis.evaluate as evaluate_api
    import mmtard.apis.train as train_api

    def forbidden(*args, **kwargs):
        raise AssertionError('a finished stage or evaluation ran again')

    monkeypatch.setattr(train_api, 'train', forbidden)
    monkeypatch.setattr(evaluate_api, 'evaluate', forbidden)
    before = (demo_dir / 'results.json').read_text()
    result = CliRunner().invoke(cli, ['demo', '--work-dir', str(demo_dir), '--size', 'smoke'], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert 'reusing' in result.output
    assert (demo_dir / 'results.json').read_text() == before
