"""One training run per work dir: a second run is refused naming the first; a dead run's lock is taken over."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mmtard.cli.main import cli
from mmtard.errors import ConfigError
from mmtard.work_dir import LOCK_FILE, WorkDirInUseError, check_output_dir, work_dir_lock

from shared_inputs import TINY, load_checkpoint

FAST = ['-o', 'train_cfg.max_iters=6', '-o', 'train_cfg.val_interval=6', '-o', 'default_hooks.checkpoint.interval=2',
        '-o', 'default_hooks.checkpoint.max_keep_ckpts=5', '-o', 'train_dataloader.batch_size=8',
        '-o', 'train_dataloader.dataset.num_samples=32', '-o', 'val_dataloader.dataset.num_samples=16',
        '-o', 'model.attack.steps=1', '-o', 'model.val_attack.steps=1']


def test_a_second_lock_names_the_holder_and_the_lock_goes_with_its_run(tmp_path):
    with work_dir_lock(tmp_path / 'w'):
        holder = json.loads((tmp_path / 'w' / LOCK_FILE).read_text())
        assert holder['pid'] == os.getpid()
        with pytest.raises(WorkDirInUseError, match=f"in use by another training run \\(process {os.getpid()} on host"):
            with work_dir_lock(tmp_path / 'w'):
                pass
    assert not (tmp_path / 'w').exists(), 'a folder made only for the lock is removed with it'
    with work_dir_lock(tmp_path / 'w'):  # free again
        pass


def test_a_dead_runs_lock_is_taken_over_with_a_message(tmp_path):
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True)
    pid = int(dead.stdout)
    (tmp_path / LOCK_FILE).write_text(json.dumps({'pid': pid, 'host': 'h', 'started': '2026-01-01T00:00:00'}))
    (tmp_path / 'iter_2.pth').write_bytes(b'kept')
    messages = []
    with work_dir_lock(tmp_path, notify=messages.append):
        assert json.loads((tmp_path / LOCK_FILE).read_text())['pid'] == os.getpid()
    assert len(messages) == 1 and 'stale lock' in messages[0] and f'process {pid}' in messages[0]
    assert not (tmp_path / LOCK_FILE).exists() and (tmp_path / 'iter_2.pth').read_bytes() == b'kept'


@pytest.mark.parametrize('make, path, message', [
    (None, '', 'is an empty string'),
    ('file', 'f', "'f' is a file"),
    ('file', 'f/run', "would be inside 'f', which is a file"),
])
def test_impossible_output_folders_are_refused(tmp_path, monkeypatch, make, path, message):
    monkeypatch.chdir(tmp_path)
    if make:
        Path('f').write_text('x')
    with pytest.raises(ConfigError, match=message):
        check_output_dir(path, 'work dir')


def test_two_concurrent_trains_the_second_is_refused_and_the_first_finishes_intact(tmp_path):
    work = tmp_path / 'shared'
    first = subprocess.Popen([sys.executable, '-m', 'mmtard', 'train', str(TINY), '--work-dir', str(work), *FAST],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lock = work / LOCK_FILE
    deadline = time.monotonic() + 120
    while not (lock.is_file() and lock.read_text().strip()) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert first.poll() is None, first.communicate()[0]
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(work), *FAST])
    output = first.communicate(timeout=300)[0]
    assert first.returncode == 0, output
    assert result.exit_code == 2, result.output
    assert f'in use by another training run (process {first.pid}' in result.output
    assert 'Traceback' not in result.output
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_2.pth', 'iter_4.pth', 'iter_6.pth']
    assert load_checkpoint(work / 'iter_6.pth')['meta']['iter'] == 6
    assert not lock.exists()


def test_resume_of_a_copied_work_dir_reads_the_copys_checkpoint(tmp_path):
    """mmengine's last_checkpoint holds an absolute path: a copied work dir would resume from the original."""
    from mmtard.apis.train import prepare_config

    work = tmp_path / 'copy'
    work.mkdir()
    torch.save({'meta': {'iter': 4}}, work / 'iter_4.pth')  # a complete file: a cut-short one is never resumed
    (work / 'last_checkpoint').write_text(str(tmp_path / 'original' / 'iter_4.pth'))
    cfg = prepare_config(str(TINY), work_dir=work, resume='auto')
    assert cfg.resume and cfg.load_from == str(work / 'iter_4.pth')
    (work / 'iter_4.pth').unlink()
    (work / 'last_checkpoint').write_text(str(tmp_path / 'gone.pth'))
    with pytest.raises(Exception, match='holds no checkpoint to resume from'):
        prepare_config(str(TINY), work_dir=work, resume='auto')


def test_resume_advice_to_an_earlier_checkpoint_adds_overwrite_and_works_when_followed(tmp_path):
    """Resuming iter_2 saves iter_4 again: the advice says --overwrite, and that command is accepted."""
    from mmtard.apis.train import check_work_dir
    from mmtard.errors import RunDirectoryExistsError
    from mmtard.work_dir import later_checkpoints, resume_advice

    for iteration in (2, 4, 10):
        torch.save({'meta': {'iter': iteration}}, tmp_path / f'iter_{iteration}.pth')
        os.utime(tmp_path / f'iter_{iteration}.pth', ns=(iteration * 10**9, iteration * 10**9))
    (tmp_path / 'iter_12.pth').write_bytes(b'PK cut short')  # incomplete: a save a kill cut short
    assert later_checkpoints(tmp_path, tmp_path / 'iter_2.pth') == [tmp_path / 'iter_4.pth', tmp_path / 'iter_10.pth']
    assert later_checkpoints(tmp_path, tmp_path / 'iter_10.pth') == []
    advice = resume_advice(tmp_path, 'cfg.py', accept=lambda path: path.name == 'iter_2.pth', kind='sane',
                           cfg_options={'train_cfg.max_iters': 8})
    assert (f"--resume {tmp_path / 'iter_2.pth'} --overwrite -o train_cfg.max_iters=8 (--overwrite: the run saves "
            f"the later iter_4.pth, iter_10.pth again, replacing them)") in advice
    assert '--overwrite' not in resume_advice(tmp_path, 'cfg.py', exclude=[tmp_path / 'iter_12.pth'])
    check_work_dir(tmp_path, str(tmp_path / 'iter_2.pth'), overwrite=True)  # the advice, followed literally
    with pytest.raises(RunDirectoryExistsError, match='later checkpoints iter_4.pth, iter_10.pth'):
        check_work_dir(tmp_path, str(tmp_path / 'iter_2.pth'), overwrite=False)
    check_work_dir(tmp_path, str(tmp_path / 'iter_10.pth'), overwrite=False)
