"""`mmtard eval` through click's test runner: a missing dataset or checkpoint is one clear line."""
import pytest
from click.testing import CliRunner

from mmtard.cli.eval import eval_command

from eval_helpers import write_config

pytestmark = pytest.mark.usefixtures('one_thread')  # the tiny model is fastest on one thread


def run(*args):
    return CliRunner().invoke(eval_command, [str(a) for a in args])


def test_missing_dataset_is_a_clear_error_without_traceback(tmp_path):
    missing = tmp_path / 'data' / 'cifar-like'
    config = write_config(tmp_path / 'eval_cfg.py', f"evaluation = dict(datasets=[dict(type='ImageFolderDataset', "
                                                    f"root={str(missing)!r}, split='val', image_size=32)])\n")
    result = run(config, '--out', tmp_path / 'out')
    assert result.exit_code == 2, result.output
    assert str(missing / 'val') in result.output.replace('\n', '') and 'class' in result.output
    assert 'Traceback' not in result.output


def test_missing_checkpoint_is_a_clear_error(tmp_path, shapes):
    config = write_config(tmp_path / 'eval_cfg.py', f'evaluation = dict(datasets=[{shapes(8)!r}])\n')
    result = run(config, '--checkpoint', tmp_path / 'nope.pth')
    assert result.exit_code == 2 and 'no such file' in result.output and 'Traceback' not in result.output


def test_eval_prints_plan_cost_and_results(tmp_path, shapes):
    config = write_config(tmp_path / 'eval_cfg.py', f"evaluation = dict(datasets=[{shapes(16)!r}], n_clean=16, "
                                                    f"n_robust=8, eps=[2], batch_size=8, "
                                                    f"attack=dict(type='AutoAttack', n_iter=2))\n")
    result = run(config, '--out', tmp_path / 'out', '--preset', 'quick', '-o', 'evaluation.batch_size=4')
    assert result.exit_code == 0, result.output
    text = ' '.join(result.output.split())
    # --preset quick (256 clean / 64 robust, capped at the 16 images): 16 clean forwards
    # + 16 attacked x (APGD-CE 2 it. x 5 restarts + APGD-T 9 targets x 2 it., each APGD run also
    # evaluating its start): 16 + 16 x (3 x 5 + 9 x 3) = 688
    for expected in ('evaluation plan', 'At most 688 forward+backward passes', 'mmtard evaluation', 'Results in'):
        assert expected in text
    assert 'APGD-CE (2 it, 5 restarts) + APGD-T (9 targets, 2 it) [reduced]' in (tmp_path / 'out' / 'results.md').read_text()


def test_eval_prints_the_warnings_the_evaluation_reports(tmp_path, shapes):
    config = write_config(tmp_path / 'eval_cfg.py', f'evaluation = dict(datasets=[{shapes(8)!r}], eps=[])\n')
    result = run(config, '--out', tmp_path / 'out')
    assert result.exit_code == 0, result.output
    assert 'warning: no --checkpoint, and model.student names no pretrained weights' in ' '.join(result.output.split())


def test_the_terminal_display_shows_plan_cost_resumption_and_results_and_serves_many_evaluations(tmp_path):
    import io

    from rich.console import Console

    from mmtard.cli.eval_display import RichEvaluationProgress
    from mmtard.evaluation.benchmark import BatchEvent, Plan, PlanRow
    from mmtard.evaluation.results import BenchmarkResult

    # 16 clean forwards + 8 attacked x 2 eps x (15 + 27) stage passes = 688; 688 / 4 per batch x 0.5 s = 86 s
    row = PlanRow('a', 'classification', 10, 16, 8, [1.0, 2.0], {'apgd-ce': 15, 'apgd-t': 27}, 'AA [reduced]')
    plan = Plan(datasets=[], rows=[row], seconds_per_batch=0.5, batch_size=4, batches=8, reused=3)
    result = BenchmarkResult(dataset='a', split='test', task='classification', n=16, n_robust=8, eps=1.0,
                             attack='AA [reduced]', clean_acc=0.75, robust_acc=0.25)
    console = Console(record=True, width=300, file=io.StringIO())
    with RichEvaluationProgress(console) as display:
        for _ in range(2):  # the demo shows every evaluation through one display
            display.warning('images are [resized]')
            display.planned(plan, tmp_path)
            display.batch(BatchEvent('a', 'clean', 0.0, 0, 2, reused=False))
            assert [task.completed for task in display._bar.tasks] == [1]
            display.finished([result], tmp_path)
    text = ' '.join(console.export_text().split())
    assert text.count('warning: images are [resized]') == 2  # text, not rich markup
    assert 'evaluation plan' in text and 'AA [reduced]' in text and '688' in text
    assert 'At most 688 forward+backward passes of one image; one batch of 4 took 0.5 s, so at most about 86 s' in text
    assert f'Resuming: 3 finished batches in {tmp_path / "partial.jsonl"}' in text
    assert text.count('mmtard evaluation') == 2 and text.count(f'Results in {tmp_path}') == 2
