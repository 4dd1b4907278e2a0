"""A learning-rate schedule that ends elsewhere than training is said before training, and
--stretch-schedule moves its end: for a shortened config and for a resumed run that is extended."""
import shutil

from click.testing import CliRunner

from mmtard.cli.main import cli
from mmtard.engine.schedule_end import check_config_schedule, schedule_end
from mmengine.config import Config

from shared_inputs import FAST, TINY, load_checkpoint


def schedule(max_iters, end):
    return Config(dict(train_cfg=dict(type='IterBasedTrainLoop', max_iters=max_iters),
                       param_scheduler=[dict(type='LinearLR', by_epoch=False, begin=0, end=2),
                                        dict(type='CosineAnnealingLR', by_epoch=False, begin=2, end=end, T_max=end - 2)]))


def test_the_schedule_end_is_checked_against_the_loop():
    assert check_config_schedule(schedule(20, 20), stretch=False) is None
    longer = check_config_schedule(schedule(30, 20), stretch=False)
    assert 'iterations 20-30 train at the schedule\'s final learning rate' in longer and '--stretch-schedule' in longer
    shorter = check_config_schedule(schedule(20, 100), stretch=False)
    assert 'training stops at iteration 20, 80 iterations before the schedule ends' in shorter
    cfg = schedule(30, 20)
    assert check_config_schedule(cfg, stretch=True) is None
    assert (cfg.param_scheduler[1]['begin'], cfg.param_scheduler[1]['end'], cfg.param_scheduler[1]['T_max']) == (3, 30, 27)
    assert cfg.param_scheduler[0]['end'] == 3, 'the warm-up keeps its share of training'
    assert schedule_end([dict(end=float('inf'), by_epoch=False)], by_epoch=False) is None, 'follows the loop'


def run(*args):
    return CliRunner().invoke(cli, ['train', str(TINY), *map(str, args)], catch_exceptions=False)


def scheduler_ends(path):
    return [state['end'] for state in load_checkpoint(path)['param_schedulers']]


def test_a_resumed_run_extended_is_warned_and_stretched_on_request(tmp_path):
    first = run('--work-dir', tmp_path, *FAST)
    assert first.exit_code == 0, first.output
    assert 'training stops at iteration 4, 96 iterations before the schedule ends' in first.output
    stretched = run('--work-dir', tmp_path / 'stretched', *FAST, '--stretch-schedule')
    assert stretched.exit_code == 0 and 'warning:' not in stretched.output
    assert scheduler_ends(tmp_path / 'stretched' / 'iter_4.pth') == [1, 4]  # 10 and 100 of 100, scaled
    shutil.copytree(tmp_path / 'stretched', tmp_path / 'copy')
    longer = [*FAST, '-o', 'train_cfg.max_iters=6']
    warned = run('--work-dir', tmp_path / 'copy', '--resume', *longer)
    assert warned.exit_code == 0, warned.output
    assert 'iterations 4-6 train at the schedule\'s final learning rate' in ' '.join(warned.output.split())
    extended = run('--work-dir', tmp_path / 'stretched', '--resume', *longer, '--stretch-schedule')
    assert extended.exit_code == 0, extended.output
    assert 'now ends at 6 instead of 4' in extended.output
    assert scheduler_ends(tmp_path / 'stretched' / 'iter_6.pth')[-1] == 6


def test_resuming_beyond_the_runs_end_is_refused_and_its_end_is_fine(tmp_path):
    """A checkpoint past max_iters would train nothing and say 'done'; at max_iters (a run killed after
    its last checkpoint) it has nothing left to do and finishes."""
    first = run('--work-dir', tmp_path, *FAST, '--stretch-schedule')
    assert first.exit_code == 0, first.output
    before = sorted(p.name for p in tmp_path.glob('iter_*.pth'))
    shorter = run('--work-dir', tmp_path, '--resume', *FAST, '-o', 'train_cfg.max_iters=2', '--stretch-schedule')
    text = ' '.join(shorter.output.split())
    assert shorter.exit_code == 2 and 'is at iteration 4, beyond this run\'s end (train_cfg.max_iters=2)' in text, text
    assert 'Traceback' not in shorter.output and sorted(p.name for p in tmp_path.glob('iter_*.pth')) == before
    again = run('--work-dir', tmp_path, '--resume', *FAST, '--stretch-schedule')
    assert again.exit_code == 0, again.output
