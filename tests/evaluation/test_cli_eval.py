"""`mmtard eval` through click's test runner: a missing dataset or checkpoint is one clear line."""
from click.testing import CliRunner

from mmtard.cli.eval import eval_command

from eval_helpers import write_config


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
