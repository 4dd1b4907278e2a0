"""Resume is bit-exact wherever the run was stopped: at an epoch boundary, mid-epoch, after a validation."""
import shutil

import pytest
import torch
from click.testing import CliRunner

from mmtard.cli.main import cli

from shared_inputs import TINY, load_checkpoint, train_tiny

# 24 samples in batches of 8: an epoch is 3 iterations; validation (with a random-start attack) after 4.
SETTINGS = ['-o', 'train_cfg.max_iters=7', '-o', 'train_cfg.val_interval=4', '-o', 'default_hooks.checkpoint.interval=1',
            '-o', 'default_hooks.checkpoint.max_keep_ckpts=10', '-o', 'train_dataloader.batch_size=8',
            '-o', 'train_dataloader.dataset.num_samples=24', '-o', 'val_dataloader.dataset.num_samples=8',
            '-o', 'model.attack.steps=1', '-o', 'model.val_attack.steps=1', '-o', 'model.val_attack.random_start=True']



def tensors(node, prefix=''):
    """Every tensor in a (nested) checkpoint, by path."""
    if isinstance(node, torch.Tensor):
        return {prefix: node}
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, (list, tuple)) else ()
    return {k: v for key, value in items for k, v in tensors(value, f'{prefix}.{key}').items()}


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp('exact') / 'full', SETTINGS)


@pytest.mark.parametrize('stop_at', [3, 4, 5], ids=['epoch-boundary', 'after-validation', 'mid-epoch'])
def test_resume_is_bit_exact(uninterrupted, tmp_path, stop_at):
    work = tmp_path / 'resumed'
    shutil.copytree(uninterrupted, work)
    for later in range(stop_at + 1, 8):  # as if killed right after checkpoint `stop_at`
        (work / f'iter_{later}.pth').unlink()
    (work / 'last_checkpoint').write_text(str(work / f'iter_{stop_at}.pth'))
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(work), '--resume', *SETTINGS],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    full, resumed = load_checkpoint(uninterrupted / 'iter_7.pth'), load_checkpoint(work / 'iter_7.pth')
    assert full['param_schedulers'] == resumed['param_schedulers']
    for part in ('state_dict', 'optimizer'):
        expected, actual = tensors(full[part]), tensors(resumed[part])
        assert expected.keys() == actual.keys() and expected
        differing = [key for key in expected if not torch.equal(expected[key], actual[key])]
        assert not differing, f'{len(differing)} of {len(expected)} {part} tensors differ, e.g. {differing[:3]}'
    assert full['meta']['random_state']['torch'].equal(resumed['meta']['random_state']['torch'])


def test_a_truncated_last_checkpoint_is_removed_and_resume_continues_from_the_newest_complete_one(uninterrupted,
                                                                                                tmp_path):
    work = tmp_path / 'cut'
    shutil.copytree(uninterrupted, work)
    last = work / 'iter_7.pth'
    last.write_bytes(last.read_bytes()[:5000])  # a save killed half-way (before saves were atomic)
    (work / 'last_checkpoint').write_text(str(last))
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(work), '--resume', *SETTINGS],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert 'left incomplete by an interrupted save' in ' '.join(result.output.split())
    full, resumed = tensors(load_checkpoint(uninterrupted / 'iter_7.pth')['state_dict']), tensors(load_checkpoint(last)['state_dict'])
    assert full.keys() == resumed.keys() and all(torch.equal(full[k], resumed[k]) for k in full)


def test_a_kill_during_the_only_checkpoint_write_needs_no_overwrite(tmp_path):
    """What a kill leaves: half an iter_N.pth (an mmengine save in place) or a hidden temporary (ours)."""
    work = tmp_path / 'killed'
    work.mkdir()
    (work / 'iter_1.pth').write_bytes(b'PK\x03\x04 half a zip')
    (work / '.iter_2.pth.999999999.tmp').write_bytes(b'PK\x03\x04 half')
    fast = [*SETTINGS[:1], 'train_cfg.max_iters=2', *SETTINGS[2:]]
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(work), *fast], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_1.pth', 'iter_2.pth']
    assert not list(work.glob('.*.tmp')) and load_checkpoint(work / 'iter_2.pth')['meta']['iter'] == 2


def test_ctrl_c_names_the_checkpoint_to_resume_from(uninterrupted, tmp_path, monkeypatch):
    from mmtard.engine.runner import MMTardRunner

    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(MMTardRunner, 'train', interrupted)
    work = tmp_path / 'w'
    shutil.copytree(uninterrupted, work)
    before = sorted(p.name for p in work.glob('*.pth'))
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(work), '--resume', *SETTINGS])
    assert result.exit_code == 130 and 'Training was interrupted' in result.output
    text = ' '.join(result.output.split())
    assert f'--resume {work / "iter_7.pth"}' in text and 'Traceback' not in result.output
    assert ' '.join(f'{a}' for a in SETTINGS) in text, 'the run\'s -o options are part of the command'
    assert sorted(p.name for p in work.glob('*.pth')) == before


def test_a_full_disk_while_saving_removes_the_partial_file_and_names_the_complete_one(uninterrupted, tmp_path,
                                                                                        monkeypatch):
    import errno
    import time

    from mmtard.engine.runner import MMTardRunner

    work = tmp_path / 'full-disk'
    shutil.copytree(uninterrupted, work)

    def disk_full(self):
        time.sleep(0.01)
        (work / 'iter_8.pth').write_bytes(b'PK\x03\x04 half a zip')
        raise OSError(errno.ENOSPC, 'No space left on device', str(work / 'iter_8.pth'))

    monkeypatch.setattr(MMTardRunner, 'train', disk_full)
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(work), '--resume', *SETTINGS])
    text = ' '.join(result.output.split())
    assert result.exit_code == 2 and 'No space left on device' in text and 'Traceback' not in text, text
    assert 'iter_8.pth' in text and 'was removed' in text and f'--resume {work / "iter_7.pth"}' in text
    assert not (work / 'iter_8.pth').exists() and (work / 'iter_7.pth').is_file()
