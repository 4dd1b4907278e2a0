"""What `mmtard train` prints: no environment/config dump unless --verbose, one progress display on a
terminal (mmengine's lines through it, never glued to it), optional TensorBoard / W&B backends."""
import importlib.util

import pytest
from click.testing import CliRunner
from mmengine.config import Config

from mmtard.apis.train import add_log_backends
from mmtard.cli.main import cli
from mmtard.engine.hooks import validation_count

from shared_inputs import TINY

FAST = ['-o', 'train_cfg.max_iters=4', '-o', 'train_cfg.val_interval=2', '-o', 'train_dataloader.batch_size=8',
        '-o', 'train_dataloader.dataset.num_samples=16', '-o', 'val_dataloader.dataset.num_samples=16',
        '-o', 'val_dataloader.batch_size=8', '-o', 'model.attack.steps=1', '-o', 'model.val_attack.steps=1',
        '-o', 'default_hooks.checkpoint.interval=4', '-o', 'default_hooks.logger.interval=2']


@pytest.fixture(scope='module')
def force_bar():
    """``-o custom_hooks.<i>.force=True`` for the config's RichProgressHook: a bar off a terminal too."""
    from mmtard.config import resolve_config

    hooks = [hook['type'] for hook in resolve_config(str(TINY)).custom_hooks]
    return ['-o', f'custom_hooks.{hooks.index("RichProgressHook")}.force=True']


def test_default_output_is_quiet_and_the_config_is_saved(tmp_path):
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(tmp_path / 'w'), *FAST])
    assert result.exit_code == 0, result.output
    assert 'System environment' not in result.output and 'Config:' not in result.output
    assert 'Hooks will be executed' not in result.output and 'Reach the end of the dataloader' not in result.output
    assert 'Iter(train) [4/4]' in result.output, 'no bar off a terminal: the interval lines show progress'
    assert (tmp_path / 'w' / TINY.name).is_file()
    log = next((tmp_path / 'w').glob('*/*.log')).read_text()
    assert 'System environment' in log, 'the log file keeps everything'


def test_verbose_prints_the_environment(tmp_path):
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(tmp_path / 'w'), '--verbose', *FAST])
    assert result.exit_code == 0, result.output
    assert 'System environment' in result.output and 'Config:' in result.output


def test_the_progress_display_covers_validation_and_replaces_mmengines_lines(tmp_path, force_bar):
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(tmp_path / 'w'), *FAST,
                                      *force_bar])
    assert result.exit_code == 0, result.output
    assert result.output.count('validation at iteration') == 2  # after iterations 2 and 4
    assert 'Iter(train)' not in result.output and 'eta:' not in result.output, 'one ETA: the bar\'s'
    assert '4/4 it' in result.output


@pytest.mark.parametrize('after, until, interval, begin, expected', [
    (0, 100, 50, 1, 2), (0, 10, 3, 1, 4),  # 3, 6, 9 and the last iteration
    (50, 100, 50, 1, 1), (0, 10, 3, 7, 2), (0, 5, 0, 1, 0)])
def test_validation_count_follows_mmengines_loop(after, until, interval, begin, expected):
    class Loop:
        val_interval, val_begin = interval, begin

    assert validation_count(Loop(), after, until) == expected


def test_log_backend_without_its_package_is_explained_before_anything_is_written(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None if name == 'wandb' else real(name, *a))
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(tmp_path / 'w'), '--log-backend', 'wandb'])
    assert result.exit_code == 2 and "needs the 'wandb' package" in result.output and 'pip install wandb' in result.output
    assert not (tmp_path / 'w').exists()


def test_log_backends_are_added_beside_the_local_one(monkeypatch):
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: object())
    cfg = Config(dict())
    add_log_backends(cfg, ['tensorboard', 'wandb'])
    assert [b['type'] for b in cfg.visualizer['vis_backends']] == ['LocalVisBackend', 'TensorboardVisBackend',
                                                                   'WandbVisBackend']


def test_the_progress_display_is_closed_when_training_stops_with_an_error(tmp_path, monkeypatch, force_bar):
    """mmengine calls no hook on an error: left running, the display would keep the cursor hidden."""
    import sys

    from mmtard.engine.hooks import RichProgressHook
    from mmtard.weighting import ReferenceCosineWeighting

    original_forward = ReferenceCosineWeighting.forward

    def diverging(self, terms, labels):
        out = original_forward(self, terms, labels)
        out.loss = out.loss + float('inf')
        return out

    monkeypatch.setattr(ReferenceCosineWeighting, 'forward', diverging)
    closed = []
    original_close = RichProgressHook.close
    monkeypatch.setattr(RichProgressHook, 'close', lambda self: (closed.append(self._progress is not None),
                                                                 original_close(self)))
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(tmp_path / 'w'), *FAST,
                                      *force_bar])
    assert result.exit_code == 2 and 'The training loss became inf' in result.output
    assert closed == [True]
    assert type(sys.stdout).__name__ != 'FileProxy'


def test_two_runs_started_in_the_same_second_keep_their_own_logs(tmp_path, monkeypatch):
    """mmengine keys its logger, message hub and visualizer by a name made from the start second: a
    second run in the same process and second must not write its lines to the first's stream and file."""
    import time

    second = time.localtime()
    monkeypatch.setattr(time, 'localtime', lambda *args: second)
    outputs = []
    for name in ('first', 'second'):
        result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(tmp_path / name), *FAST])
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    assert all('Iter(train) [4/4]' in output for output in outputs)
    for name in ('first', 'second'):
        log = next((tmp_path / name).glob('*/*.log')).read_text()
        assert log.count('Iter(train) [4/4]') == 1, f'{name} run\'s log holds exactly its own lines'
