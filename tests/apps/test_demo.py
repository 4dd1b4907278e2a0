"""The embedded demo at its 'smoke' size: every stage, the report's schema, the figure, the cache."""
import dataclasses
import json
import shutil

from click.testing import CliRunner

from mmtard.apps.chain import STAGES, STUDENT_ARCH, TEACHER_ARCH
from mmtard.apps.demo_report import COLUMNS
from mmtard.cli.main import cli
from mmtard.evaluation.results import field_names


def test_every_stage_trained_and_evaluated(smoke_demo):
    rows = json.loads((smoke_demo / 'results.json').read_text())
    assert {row['stage'] for row in rows} == {stage.name for stage in STAGES}
    assert {row['dataset'] for row in rows} == {'shapes-seen-51', 'held-out-13', 'held-out-among-64', 'mnist-digits'}
    assert {row['eps'] for row in rows} == {1.0, 2.0, 4.0}, "the paper's evaluation radii"
    names = {row['attack'] for row in rows}
    assert len(names) == 1 and '[reduced]' in names.pop(), 'a reduced attack is never called AutoAttack'
    for row in rows:
        assert set(field_names()) <= set(row), 'rows keep the evaluation suite schema'
        assert 0.0 <= row['clean_acc'] <= 1.0 and 0.0 <= row['robust_acc'] <= 1.0
        assert row['n_robust'] == len(row['sample_indices']) == len(row['robust_correct'])
        assert row['robust_correct'].count('1') == round(row['robust_acc'] * row['n_robust'])
        assert row['clean_correct'].count('1') == round(row['clean_acc'] * row['n'])
    for stage in STAGES:
        assert len(list((smoke_demo / stage.name).glob('*/seed0/stage.json'))) == 1


def test_teachers_are_larger_and_pretrained_apart_from_the_student(smoke_demo):
    configs = {stage.name: json.loads(next((smoke_demo / stage.name).glob('*/seed0/stage.json')).read_text())['options']
               for stage in STAGES}
    assert 'teacher-base' in configs['robust-teacher']['model.student.pretrained']
    assert 'teacher-base' in configs['clean-teacher']['model.student.pretrained']
    assert '/base/' in configs['single-ard']['model.student.pretrained']
    assert configs['teacher-base']['randomness.seed'] != configs['base']['randomness.seed']
    report = (smoke_demo / 'report.md').read_text()
    assert STUDENT_ARCH in report and TEACHER_ARCH in report


def test_report_and_figure(smoke_demo):
    report = (smoke_demo / 'report.md').read_text()
    for title, *_ in COLUMNS:
        assert title in report
    assert 'What was measured' in report and 'chance' in report
    verdict = report.split('## Verdict')[1].split('##')[0]
    for label in ('MMT-ARD (reference cosine)', 'MMT-ARD (dynamic confidence)'):
        assert label in verdict
    assert verdict.count('[') >= 2 * 6, 'every comparison has its interval'
    assert 'PMG-AFT teacher' in report, "the robust teacher's own accuracy is reported"
    shares = report.split('## Per-term loss shares')[1].split('##')[0]
    for label in ('single-teacher ARD', 'MMT-ARD (reference cosine)', 'MMT-ARD (dynamic confidence)'):
        assert label in shares
    assert 'clean ' in shares and 'robust ' in shares and '%' in shares
    png = (smoke_demo / 'demo.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10_000


def test_rerun_reuses_every_stage_and_evaluation(smoke_demo, monkeypatch):
    import mmtard.apis.evaluate as evaluate_api
    import mmtard.apis.train as train_api

    def forbidden(*args, **kwargs):
        raise AssertionError('a finished stage or evaluation ran again')

    monkeypatch.setattr(train_api, 'train', forbidden)
    monkeypatch.setattr(evaluate_api, 'evaluate', forbidden)
    before = (smoke_demo / 'results.json').read_text()
    result = CliRunner().invoke(cli, ['demo', '--work-dir', str(smoke_demo), '--size', 'smoke', '--jobs', '1'],
                                catch_exceptions=False)  # one process: the patches above reach the work
    assert result.exit_code == 0, result.output
    assert 'reusing' in result.output
    assert (smoke_demo / 'results.json').read_text() == before


def test_the_demo_prints_no_warning_a_user_cannot_act_on(smoke_demo):
    """mmengine's start-method switch in the chain's spawned workers and its dataset-metainfo notice are
    expected; a newcomer reads them as faults."""
    output = (smoke_demo / 'demo-output.txt').read_text()
    assert 'UserWarning' not in output and 'Multi-processing start method' not in output
    assert 'has no metainfo' not in output


def test_each_evaluation_on_each_dataset_is_its_own_job_after_every_training():
    """A free worker evaluates one model while the other trains, and the last jobs are short:
    evaluations are jobs of their own, one per model and dataset, each waiting on its stage's training
    only, listed after every training (the slowest students first)."""
    from mmtard.apps.demo import EVALUATION, demo_jobs, evaluated_dataset
    from mmtard.apps.scoring import DATASETS

    jobs = demo_jobs(2)
    kinds = [stage.kind == EVALUATION for stage, _ in jobs]
    assert kinds == sorted(kinds) and sum(kinds) == 2 * len(STAGES) * len(DATASETS)
    trained = [(stage.name, seed) for stage, seed in jobs if stage.kind != EVALUATION]
    assert sorted(trained) == sorted((stage.name, seed) for stage in STAGES for seed in range(2))
    evaluations = [(stage.inputs['evaluated'], evaluated_dataset(stage), seed) for stage, seed in jobs
                   if stage.kind == EVALUATION]
    assert sorted(evaluations) == sorted((stage.name, dataset, seed) for stage in STAGES for dataset in DATASETS
                                         for seed in range(2))
    for stage, seed in jobs:
        if stage.kind == EVALUATION:
            assert list(stage.inputs.values()) == [stage.name.split(':')[0]]
    students = [name for name, seed in trained if seed == 0 and name in {s.name for s in STAGES if s.kind == 'student'}]
    assert students == [s.name for s in STAGES if s.kind == 'student'][::-1]
    for position, (stage, seed) in enumerate(jobs):  # every input is listed before the job that needs it
        listed = {(s.name, k) for s, k in jobs[:position]}
        assert all((name, seed) in listed for name in stage.inputs.values())


def test_a_models_rows_per_dataset_are_its_rows_of_the_whole_evaluation(smoke_demo, tmp_path, monkeypatch):
    """Each dataset's evaluation job gives the rows one evaluation of every dataset gives (its attacks
    are seeded by dataset, radius and batch), and an evaluation of the whole section made by an earlier
    demo is read back per dataset, not computed again."""
    import mmtard.apis.evaluate as evaluate_api
    from mmtard.apps.chain import Size, finished_run
    from mmtard.apps.demo import demo_stage
    from mmtard.apps.scoring import DATASETS, benchmark, dataset_section, score_run

    size = Size.named('smoke')
    section = benchmark(size, smoke_demo / '.cache' / 'shapes')
    runs = {}
    for stage in map(demo_stage, STAGES):  # in dependency order
        runs[stage.name] = finished_run(stage, 0, smoke_demo, size, {k: runs[k] for k in stage.inputs.values()})
    student = runs['mmtard-reference']
    whole = [record.as_dict() for record in score_run(student, section)]  # evaluated now, every dataset at once
    parts = [record.as_dict() for dataset in DATASETS
             for record in score_run(student, dataset_section(section, dataset))]
    assert [row['dataset'] for row in parts] == [row['dataset'] for row in whole] and len(whole) == 4 * 3

    def outcome(row):
        return {k: v for k, v in row.items() if k != 'time_s'}

    assert [outcome(row) for row in parts] == [outcome(row) for row in whole]
    copied = tmp_path / 'student'
    shutil.copytree(student.work_dir, copied, ignore=shutil.ignore_patterns('eval'))
    earlier = dataclasses.replace(student, work_dir=copied)
    whole_file = earlier.evaluation_results(section)
    whole_file.parent.mkdir(parents=True)
    shutil.copy(student.evaluation_results(section), whole_file)

    def forbidden(*args, **kwargs):
        raise AssertionError('an evaluation made by an earlier demo was computed again')

    monkeypatch.setattr(evaluate_api, 'evaluate', forbidden)
    read = [record.as_dict() for dataset in DATASETS
            for record in score_run(earlier, dataset_section(section, dataset), whole=section)]
    assert [outcome(row) for row in read] == [outcome(row) for row in whole]


def test_the_demos_distilled_students_leave_out_the_transfer_diagnostics_only(smoke_demo):
    """The demo's report never shows the teachers' accuracy on the students' adversarial examples (the
    study's diagnostic), so its distilled students do not compute it; nothing else changes."""
    from mmtard.apps.demo import DEMO_STUDENT_OPTIONS, demo_stage

    for stage in STAGES:
        options = json.loads(next((smoke_demo / stage.name).glob('*/seed0/stage.json')).read_text())['options']
        distilled = stage.name in ('single-ard', 'mmtard-reference', 'mmtard-dynamic')
        assert (options.get('model.val_teacher_transfer') is False) == distilled, stage.name
        assert demo_stage(stage) == (stage if not distilled else
                                     dataclasses.replace(stage, options={**stage.options, **DEMO_STUDENT_OPTIONS}))
        logs = list((smoke_demo / stage.name).glob('*/seed0/*/vis_data/scalars.json'))
        if distilled:  # the metric its validation would log (tests/models cover the diagnostic itself)
            assert len(logs) == 1 and 'zero_shot/robust_acc' in logs[0].read_text()
            assert 'teacher_robust_adv_acc' not in logs[0].read_text()
