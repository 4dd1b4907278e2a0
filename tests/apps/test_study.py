"""`mmtard study`: arm construction, arm selection, the report's figures against data made by hand,
regeneration from the data alone, and the pipeline at smoke size on the demo's chain."""
import json
import re

import pytest
from click.testing import CliRunner

from mmtard.apps.chain import STUDENT_ARCH, TEACHER_ARCH
from mmtard.apps.scoring import EVAL_EPS, HELD13, SEEN
from mmtard.apps.study.arms import (CONTROL_CHAINS, GAP, GAP_EPS, INDEPENDENT, ROBUST_TEACHER_EPS2, SAME_BASE,
                                    chains_of, priority, study_arms)
from mmtard.apps.study.data import read_data, write_data
from mmtard.apps.study.pipeline import select_arms, upstream_jobs
from mmtard.apps.study.report import StudyData, interpolate, markdown_report, report_from_data
from mmtard.cli.main import cli
from mmtard.errors import ConfigError
from mmtard.evaluation.results import field_names

METHODS = ('ard', 'mmtard-clean5')


def test_arms_cover_both_radii_same_base_teachers_the_gap_and_a_converged_budget():
    arms = {arm.name: arm for arm in study_arms(iters=200)}
    for eps in (2, 4):
        arm = arms[f'mmtard-clean5-eps{eps}']
        assert arm.stage.options['model.attack.eps'] == eps and arm.stage.options['model.val_attack.eps'] == eps
    assert arms['mmtard-clean5-eps2'].stage.inputs['model.teachers.1.encoder.pretrained'] == ROBUST_TEACHER_EPS2.name
    assert arms['mmtard-clean5-eps4'].stage.inputs['model.teachers.1.encoder.pretrained'] == 'robust-teacher'
    same = arms['clean-x-eps4-same-base']
    assert same.teachers == SAME_BASE
    assert same.stage.inputs['model.teachers.0.encoder.pretrained'] == 'same-base-clean-teacher'
    assert same.stage.inputs['model.teachers.1.encoder.pretrained'] == 'same-base-robust-teacher'
    assert same.stage.options['model.teachers.1.encoder.arch'] == STUDENT_ARCH
    assert arms['ard-eps4-same-base'].stage.options['model.teacher.arch'] == STUDENT_ARCH
    gap = arms['mmtard-clean5-eps4-gap']
    assert gap.teachers == GAP and gap.stage.inputs['model.teachers.1.encoder.pretrained'] == f'robust-teacher-eps{GAP_EPS}'
    assert gap.stage.inputs['model.teachers.0.encoder.pretrained'] == 'clean-teacher'
    assert 'model.teachers.1.encoder.arch' not in gap.stage.options, 'gap teachers are the independent architecture'
    long = arms['ard-eps4-4x']
    assert long.stage.options['train_cfg.max_iters'] == 800 and long.stage.options['param_scheduler'][1]['end'] == 800
    assert len(arms) == len(set(arms)), 'stage names are unique: each arm has its own folder'
    assert arms['clean-x-eps4'].stage.config.startswith('mmtard-clean-x_')


def test_chains_and_priorities_put_the_verdict_first():
    arms = {arm.name: arm for arm in study_arms(iters=200)}
    assert {name for name, arm in arms.items() if chains_of(arm, 5) == 5} == {
        f'{m}-eps{e}' for m in ('ard', 'mmtard-clean5', 'clean-x') for e in (2, 4)}
    assert chains_of(arms['clean-x-eps4-same-base'], 5) == CONTROL_CHAINS == chains_of(arms['ard-eps4-4x'], 5)
    assert chains_of(arms['clean-x-eps4-gap'], 2) == 2 and chains_of(arms['dynamic-beta0-eps4'], 5) == 1
    assert [priority(arms[n]) for n in ('ard-eps2', 'ard-eps4-gap', 'ard-eps4-4x', 'mmtard-clean25-eps4')] == [0, 1, 2, 3]


def test_arm_selection_errors():
    arms = study_arms(iters=200)
    with pytest.raises(ConfigError, match="Did you mean 'mmtard-clean5'"):
        select_arms(arms, ['ard', 'mmtard-clean6'])
    with pytest.raises(ConfigError, match="must include the baseline 'ard'"):
        select_arms(arms, ['mmtard-clean5'])
    with pytest.raises(ConfigError, match="must include the baseline 'ard'"):
        select_arms(arms, ['ard-eps2', 'mmtard-clean5-eps4'])
    assert {a.name for a in select_arms(arms, ['ard-eps4', 'mmtard-clean5-eps4'])} == {'ard-eps4', 'mmtard-clean5-eps4'}


def test_each_chain_trains_only_what_its_students_use():
    arms = select_arms(study_arms(iters=4), ['ard', 'mmtard-clean5'])
    jobs = upstream_jobs(arms, chains=5)
    chains = {chain: [stage.name for stage, c in jobs if c == chain] for chain in range(5)}
    assert chains[0] == chains[2] == ['base', 'teacher-base', 'clean-teacher', 'robust-teacher', 'robust-teacher-eps2',
                                      f'robust-teacher-eps{GAP_EPS}', 'same-base-clean-teacher',
                                      'same-base-robust-teacher']
    assert chains[3] == chains[4] == ['base', 'teacher-base', 'clean-teacher', 'robust-teacher', 'robust-teacher-eps2'], \
        'the control arms run on 3 chains, so chains 3 and 4 train neither gap nor same-base teachers'


def test_frontier_interpolation():
    points = [(0.6, 0.30), (0.8, 0.20)]
    assert interpolate(points, 0.7) == pytest.approx(0.25)
    assert interpolate(list(reversed(points)), 0.6) == pytest.approx(0.30)
    assert interpolate(points, 0.9) is None, 'no extrapolation outside the sweep'


# ----------------------------------------------------------------------------- the report, by hand
SAMPLES = 10
ITERS = 4  # the arms' base budget: study_arms(4) names them


def bits(correct):
    return '1' * correct + '0' * (SAMPLES - correct)


#: Per arm, per chain: seen (clean, robust at 1, 2, 4/255) and held13 (clean, robust ...) as correct counts.
COUNTS = {
    'ard-eps4': [((6, 5, 2, 0), (9, 4, 3, 2)), ((8, 3, 2, 0), (9, 4, 3, 2))],
    'mmtard-clean5-eps4': [((7, 9, 8, 2), (9, 4, 3, 2)), ((9, 9, 8, 4), (9, 4, 3, 2))],
    'clean-x-eps4': [((6, 5, 2, 0), (9, 4, 3, 2)), ((8, 3, 2, 0), (9, 4, 3, 2))],
    'ard-clean1-eps4': [((8, 6, 5, 4), (9, 5, 4, 3))],
    'ard-eps4-same-base': [((6, 5, 4, 3), (9, 4, 3, 2))],
    'mmtard-clean5-eps4-same-base': [((7, 5, 4, 1), (9, 4, 3, 2))],
    'clean-x-eps4-same-base': [((7, 5, 4, 9), (9, 4, 3, 2))],
}
#: Each chain's last validation of every arm (the transfer diagnostics).
DIAGNOSTICS = {
    'mmtard-clean5-eps4': [dict(teacher_robust_clean_acc=0.9, teacher_robust_adv_acc=0.5, teacher_clean_clean_acc=0.95,
                                teacher_clean_adv_acc=0.1, train_attack_acc=0.3),
                           dict(teacher_robust_clean_acc=0.9, teacher_robust_adv_acc=0.3, teacher_clean_clean_acc=0.85,
                                teacher_clean_adv_acc=0.3, train_attack_acc=0.1)],
    'mmtard-clean5-eps4-same-base': [dict(teacher_robust_clean_acc=0.7, teacher_robust_adv_acc=0.2,
                                          teacher_clean_clean_acc=0.8, teacher_clean_adv_acc=0.1)],
}
PGD7 = {'type': 'PGD', 'steps': 7, 'eps': 4}


def fake_data():
    rows, runs, curves = [], {}, {}
    for arm, chains in COUNTS.items():
        runs[arm], curves[arm] = [], []
        for chain, per_dataset in enumerate(chains):
            for dataset, (clean, *robust) in zip((SEEN, HELD13), per_dataset):
                for eps, correct in zip(EVAL_EPS, robust):
                    rows.append({'arm': arm, 'dataset': dataset, 'eps': float(eps), 'model_seed': chain, 'n': SAMPLES,
                                 'n_robust': SAMPLES, 'attack': 'AutoAttack custom [reduced]',
                                 'clean_acc': clean / SAMPLES, 'robust_acc': correct / SAMPLES,
                                 'sample_indices': list(range(SAMPLES)), 'clean_correct': bits(clean),
                                 'robust_correct': bits(correct)})
            runs[arm].append({'chain': chain, 'origin': 'trained', 'seconds': 1.0, 'val_attack': PGD7,
                              'loss_shares': {'robust': 0.75, 'clean': 0.25},
                              'last_validation': DIAGNOSTICS.get(arm, [{}] * 2)[chain]})
            curves[arm].append({'iters': [1, 2, 3, 4], 'seconds': [1.0, 2.0, 3.0, 4.0], 'clean': [0.8] * 4,
                                'robust': [0.1, 0.2, 0.32 + 0.05 * chain, 0.4], 'seconds_per_iter': 1.0})
    upstream = {'robust-teacher': {'label': 'PMG-AFT teacher', 'runs': [
                    {'chain': 0, 'origin': 'shipped', 'seconds': 0.1, 'last_validation': {}, 'val_attack': PGD7},
                    {'chain': 1, 'origin': 'trained', 'seconds': 12.0, 'val_attack': PGD7,
                     'last_validation': {'clean_acc': 0.8, 'robust_acc': 0.4}}]},
                'robust-teacher-eps2': {'label': 'PMG-AFT teacher at 2/255', 'runs': [
                    {'chain': 0, 'origin': 'trained', 'seconds': 10.4, 'val_attack': PGD7,
                     'last_validation': {'clean_acc': 0.85, 'robust_acc': 0.5}}]}}
    meta = {'command': 'mmtard study --chains 2', 'commit': 'abc1234', 'date': '2026-12-07', 'machine': 'a test',
            'seconds': 5.0, 'jobs': 1, 'chains': 2, 'size': 'smoke', 'student_iters': ITERS, 'val_samples': 16,
            'interval': 1, 'load_average': [[0.5, 0.4, 0.3], [1.5, 1.4, 1.3]], 'arms': list(COUNTS)}
    step_cost = {'description': 'Timed side by side.', 'median_seconds': {'ard': 0.1, 'mmtard-clean5': 0.25}}
    return {'results': rows, 'curves': curves, 'runs': runs, 'upstream': upstream, 'step_cost': step_cost,
            'meta': meta}


def table(report, heading):
    """The body rows of the first table under the heading that starts with ``heading``."""
    lines = report.split('\n')
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith('#')), len(lines))
    return [line for line in lines[start:end] if line.startswith('|')][2:]


@pytest.fixture(scope='module')
def fake_report():
    return markdown_report(StudyData(fake_data()))


INDEPENDENT4 = 'train eps 4/255, independent teachers (mmtard-small-vit)'


def test_verdict_is_the_chain_interval_of_the_rows(fake_report):
    """Robust at 4/255: per-chain differences (2, 4 of 10 samples): mean 0.3, their variance 0.02 over 2
    chains 0.01; the shared samples' differences (1, 1, .5, .5, 0 x6) have variance 1.6/9, over 10
    samples 0.0177778; t(1) = 12.706205: half-width 12.706205 * sqrt(0.0277778) = 2.12, clipped."""
    verdict = table(fake_report, '## Verdict')
    release = next(line for line in verdict if line.startswith('| MMT-ARD, 50 / 5 (release) vs single-teacher ARD')
                   and INDEPENDENT4 in line)
    cells = [c.strip() for c in release.strip('|').split('|')]
    assert cells[2] == '2'
    assert cells[3] == '+30.0 [-100.0, +100.0] (tie)', 'clipped to the possible range'
    assert cells[5] == '+0.0 [+0.0, +0.0] (tie)', 'identical held-out clean outcomes'
    same_base = next(line for line in verdict if 'clean-x vs' not in line and 'same-base' in line
                     and line.startswith('| MMT-ARD, 50 / 5'))
    assert '| 1 (sampling only) |' in same_base


def test_no_better_or_worse_word_whose_printed_interval_holds_zero(fake_report):
    found = re.findall(r'([+-]\d+\.\d) \[([+-]\d+\.\d), ([+-]\d+\.\d)\] \((better|worse|tie)\)', fake_report)
    assert found
    for _, low, high, word in found:
        expected = 'better' if float(low) > 0 else 'worse' if float(high) < 0 else 'tie'
        assert word == expected, (low, high, word)
    for line in fake_report.split('\n'):  # the summary's 'better on ...' / 'worse on ...' lists
        for word, items in re.findall(r'(better|worse) on ([^;.]*(?:\.\d[^;.]*)*)', line):
            for low, high in re.findall(r'\[([+-]\d+\.\d), ([+-]\d+\.\d)\]', items):
                assert (float(low) > 0) if word == 'better' else (float(high) < 0), line


def test_transfer_test_reads_clean_x_minus_the_release_with_same_base_teachers(fake_report):
    """Seen robust at 4/255, one chain: clean-x 9 of 10 against the release's 1 of 10: +80 points, sampling only."""
    assert '**The transfer explanation is supported.**' in fake_report
    assert '+80.0 [' in fake_report.split('## The transfer test')[1].split('\n## ')[0]
    data = fake_data()
    data['results'] = [dict(r, robust_correct=bits(1), robust_acc=0.1) if r['arm'] == 'clean-x-eps4-same-base' else r
                       for r in data['results']]
    assert '**The transfer explanation is not supported.**' in markdown_report(StudyData(data))
    assert ('the robust teacher scores 90.0% on x and 40.0% on the release student\'s training x_adv (a 50.0-point '
            'drop, mean over 2 chains)') in fake_report


def test_teacher_table_labels_every_chain_and_says_what_has_no_log(fake_report):
    assert table(fake_report, '## Teachers') == [
        '| PMG-AFT teacher | not logged (shipped), 80.0 | not logged, 40.0 (PGD-7 at 4/255) | 0 s, 12 s |',
        '| PMG-AFT teacher at 2/255 | 85.0 | 50.0 (PGD-7 at 4/255) | 10 s |']


def test_frontier_and_efficiency_come_from_the_rows_and_curves(fake_report):
    frontier = table(fake_report, f'### {INDEPENDENT4}')
    assert frontier[0] == ('| single-teacher ARD | clean-term weight = 0 | 2 | 70.0 ± 14.1 | 40.0 ± 14.1 | 20.0 ± 0.0 '
                           '| 0.0 ± 0.0 | 90.0 ± 0.0 | 40.0 ± 0.0 | 30.0 ± 0.0 | 20.0 ± 0.0 |')
    races = table(fake_report, '## Training efficiency')
    assert races[0] == f'| MMT-ARD, 50 / 5 (release) | {INDEPENDENT4} | 0 | 40.0 / 40.0 | 4 / 4 = 1.00x ' \
                       f'| 4 / 4 = 1.00x | 3 / 3 = 1.00x | 1.00x |'
    assert table(fake_report, '### Step cost') == ['| single-teacher ARD | 100.0 | 1.00 |',
                                                   '| MMT-ARD, 50 / 5 (release) | 250.0 | 2.50 |']


def test_report_states_what_intervals_cover_and_how_many_it_reads(fake_report):
    text = ' '.join(fake_report.split())
    verdict_rows = len(table(fake_report, '## Verdict'))
    assert f'The verdict reads {4 * verdict_rows} intervals: at 95% each, about {0.2 * verdict_rows:.1f} of them' in text
    assert 'Regenerate: `mmtard study --from-data docs/study/data --out docs/study.md`' in fake_report
    assert 'at commit `abc1234` on 2026-12-07' in fake_report and '0.50 / 1.50' in fake_report


def test_report_regenerates_from_written_data_alone(tmp_path, fake_report):
    folder = write_data(fake_data(), tmp_path / 'study' / 'data')
    assert read_data(folder)['results'] == fake_data()['results']
    written = report_from_data(folder, tmp_path / 'copy.md')
    assert written['report'].read_text() == fake_report
    assert (tmp_path / 'study' / 'frontier.png').read_bytes()[:4] == b'\x89PNG'
    (folder / 'runs.json').unlink()
    result = CliRunner().invoke(cli, ['study', '--from-data', str(folder), '--out', str(tmp_path / 'x.md')])
    assert result.exit_code != 0 and 'runs.json is missing' in result.output and 'Traceback' not in result.output


def test_the_committed_report_is_its_data_regenerated(tmp_path):
    """docs/study.md names its Regenerate command; run on the committed data it gives the page again."""
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / 'docs'
    page = (docs / 'study.md').read_text()
    command = re.search(r'^Regenerate: `(.+)`$', page, flags=re.M).group(1).split()
    assert command[:2] == ['mmtard', 'study'] and command[command.index('--out') + 1] == 'docs/study.md'
    command[command.index('--from-data') + 1] = str(docs / 'study' / 'data')
    command[command.index('--out') + 1] = str(tmp_path / 'study.md')
    result = CliRunner().invoke(cli, command[1:])
    assert result.exit_code == 0, result.output
    assert (tmp_path / 'study.md').read_text() == page


def study_args(work):
    args = ['study', '--size', 'smoke', '--chains', '1', '--jobs', '1', '--work-dir', str(work),
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


def test_study_data_name_radius_teachers_and_budget(study_dir):
    data = read_data(study_dir / 'study' / 'data')
    rows = data['results']
    assert {row['method'] for row in rows} == set(METHODS)
    assert {(row['train_eps'], row['teachers'], row['budget']) for row in rows} == {
        (2, INDEPENDENT, 1), (4, INDEPENDENT, 1), (4, SAME_BASE, 1), (4, GAP, 1), (4, INDEPENDENT, 4)}
    for row in rows:
        assert set(field_names()) <= set(row)
        assert '[reduced]' in row['attack']
        assert row['teacher_arch'] == (STUDENT_ARCH if row['teachers'] == SAME_BASE else TEACHER_ARCH)
        assert len(row['robust_correct']) == row['n_robust'] and len(row['clean_correct']) == row['n']
    assert {row['eps'] for row in rows} == {1.0, 2.0, 4.0}
    for name, (curve,) in data['curves'].items():
        assert len(curve['iters']) >= 2 and curve['iters'] == sorted(curve['iters'])
    release = data['runs']['mmtard-clean5-eps4'][0]
    assert release['val_attack']['eps'] == 4 and 'teacher_robust_adv_acc' in release['last_validation']
    gap = data['upstream'][f'robust-teacher-eps{GAP_EPS}']['runs'][0]
    assert gap['val_attack']['eps'] == 4, 'the validation attack is the config\'s, not the training radius'
    assert data['meta']['command'].startswith('mmtard') and data['meta']['chains'] == 1


def test_study_report_is_its_data_regenerated(study_dir, tmp_path):
    report = (study_dir / 'study.md').read_text()
    written = report_from_data(study_dir / 'study' / 'data', tmp_path / 'again.md')
    assert written['report'].read_text() == report
    assert '(sampling only)' in report, 'one chain: every interval is sampling-only'
    for name in ('frontier.png', 'efficiency.png', 'converged.png'):
        png = (study_dir / 'study' / name).read_bytes()
        assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10_000


def test_study_rerun_trains_and_evaluates_nothing(study_dir, monkeypatch):
    import mmtard.apis.evaluate as evaluate_api
    import mmtard.apis.train as train_api

    def forbidden(*args, **kwargs):
        raise AssertionError('a finished run or evaluation ran again')

    monkeypatch.setattr(train_api, 'train', forbidden)
    monkeypatch.setattr(evaluate_api, 'evaluate', forbidden)
    before = (study_dir / 'study' / 'data' / 'results.json').read_text()
    result = CliRunner().invoke(cli, study_args(study_dir), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (study_dir / 'study' / 'data' / 'results.json').read_text() == before


def test_the_readme_quotes_only_the_reports_intervals():
    """README's 'What it finds' quotes the committed report: every interval it prints is one of the
    report's, with the same word beside it."""
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    section = (repo / 'README.md').read_text().split('## What it finds')[1].split('\n## ')[0]
    report = (repo / 'docs' / 'study.md').read_text()
    quoted = re.findall(r'[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\](?: \((?:better|worse|tie)\))?', section)
    assert quoted, 'the section quotes intervals'
    for interval in quoted:
        assert interval in report, f'README quotes {interval!r}, which docs/study.md does not print'
