"""`mmtard train` end to end on the tiny config: trains, saves, refuses to overwrite, resumes; DDP on CPU."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from mmtard.cli.main import cli

from shared_inputs import FAST, TINY, load_checkpoint, train_tiny

REPO = Path(__file__).resolve().parents[2]



@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp('run') / 'tiny', FAST)


def test_train_saves_checkpoints_and_metrics(trained):
    assert (trained / 'iter_4.pth').is_file() and (trained / 'last_checkpoint').is_file()
    state = load_checkpoint(trained / 'iter_4.pth')
    assert state['meta']['iter'] == 4
    assert any(k.startswith('student.') for k in state['state_dict'])


def test_a_second_run_does_not_overwrite(trained):
    before = (trained / 'iter_4.pth').stat().st_mtime_ns
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(trained), *FAST])
    assert result.exit_code == 2 and '--resume' in result.output and 'Traceback' not in result.output
    assert (trained / 'iter_4.pth').stat().st_mtime_ns == before


def test_resume_continues_from_the_checkpoint(trained, tmp_path):
    work = tmp_path / 'resumed'
    shutil.copytree(trained, work)
    args = ['train', str(TINY), '--work-dir', str(work), '--resume', str(work / 'iter_2.pth'), *FAST,
            '-o', 'train_cfg.max_iters=6']
    refused = CliRunner().invoke(cli, args)  # it would save iter_4.pth again over the later one
    assert refused.exit_code == 2 and 'later checkpoints iter_4.pth' in refused.output
    result = CliRunner().invoke(cli, [*args, '--overwrite'], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert load_checkpoint(work / 'iter_6.pth')['meta']['iter'] == 6


def test_resume_without_checkpoint_is_explained(tmp_path):
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(tmp_path / 'empty'), '--resume'])
    assert result.exit_code == 2 and 'holds no checkpoint' in result.output


def test_unknown_component_in_config_is_explained(tmp_path):
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(tmp_path / 'w'), *FAST,
                                      '-o', 'model.weighting.type=ReferenceCosineWieghting'])
    assert result.exit_code == 2
    assert "Did you mean 'ReferenceCosineWeighting'" in result.output and 'Traceback' not in result.output


def two_process_run(work_dir, *extra):
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', '--master_port=29517',
                    str(REPO / 'tests' / 'distributed_check.py'), str(TINY), str(work_dir), *extra],
                   check=True, capture_output=True, env=env, timeout=300)
    checksums = [(work_dir / f'rank{r}.sha256').read_text() for r in (0, 1)]
    assert checksums[0] == checksums[1]
    return checksums[0]


@pytest.fixture(scope='module')
def two_process_checksum(tmp_path_factory):
    return two_process_run(tmp_path_factory.mktemp('ddp'))


def test_two_nodes_of_one_process_train_as_two_processes_of_one_node(tmp_path, two_process_checksum):
    """Two torchrun nodes (static rendezvous on 127.0.0.1, one process each) take ranks 0 and 1 of the
    same gloo group as one node's two processes: the same weights, bit for bit."""
    from shared_inputs import two_nodes

    two_nodes(str(REPO / 'tests' / 'distributed_check.py'), str(TINY), str(tmp_path / 'nodes'))
    assert {(tmp_path / 'nodes' / f'rank{r}.sha256').read_text() for r in (0, 1)} == {two_process_checksum}


def test_two_process_cpu_ddp_keeps_replicas_identical(two_process_checksum):
    assert two_process_checksum  # the replicas' checksums agreed (two_process_run)


def test_two_processes_share_one_clean_teacher_cache_file_and_train_as_without_it(tmp_path, two_process_checksum):
    """Each rank computes the clean teacher's outputs of its share of epoch 1 into one file; in epoch 2
    each reads rows the other rank computed; the weights are those of the run without the cache."""
    assert two_process_run(tmp_path / 'cached', 'cache') == two_process_checksum
    ranks = [json.loads((tmp_path / 'cached' / f'rank{r}.cache.json').read_text()) for r in (0, 1)]
    assert ranks[0]['file'] == ranks[1]['file'] and ranks[0]['inode'] == ranks[1]['inode']
    assert [p.name for p in (tmp_path / 'cached' / 'clean_teacher_cache').iterdir()] == ['clean.rows']
    assert sorted(ranks[0]['computed'] + ranks[1]['computed']) == list(range(32))  # each output computed once
    for mine, other in (ranks, ranks[::-1]):
        assert set(mine['read']) & (set(other['computed']) - set(mine['computed']))  # read the other's rows


def test_resume_reproduces_the_uninterrupted_run(trained, tmp_path):
    """Data order, attack noise and optimizer state all continue: the same weights after iteration 4."""
    work = tmp_path / 'again'
    shutil.copytree(trained, work)
    for name in ('iter_4.pth', 'last_checkpoint'):
        (work / name).unlink()
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(work), '--resume', str(work / 'iter_2.pth'),
                                      *FAST], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    uninterrupted, resumed = load_checkpoint(trained / 'iter_4.pth')['state_dict'], load_checkpoint(work / 'iter_4.pth')['state_dict']
    assert uninterrupted.keys() == resumed.keys()
    assert all(torch.equal(uninterrupted[k], resumed[k]) for k in uninterrupted)


def test_resuming_another_runs_checkpoint_into_a_used_work_dir_is_refused(trained, tmp_path):
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'iter_1.pth').write_bytes((trained / 'iter_2.pth').read_bytes())
    before = (trained / 'iter_4.pth').stat().st_mtime_ns
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(trained), '--resume',
                                      str(other / 'iter_1.pth'), *FAST])
    assert result.exit_code == 2 and 'continues another run' in result.output
    assert (trained / 'iter_4.pth').stat().st_mtime_ns == before


@pytest.mark.parametrize('content, option, message', [
    (b'', '--resume', 'Could not'),  # empty: torch.load raises EOFError, which click would turn into "Aborted!"
    (b'not a checkpoint', '--resume', 'Could not'),
    ('state_dict_of_other_keys', 'load_from', 'does not fit'),  # mmengine alone would log them and train anyway
])
def test_unusable_checkpoints_are_explained(tmp_path, content, option, message):
    bad = tmp_path / 'bad.pth'
    if isinstance(content, bytes):
        bad.write_bytes(content)
    else:
        torch.save({'state_dict': {'a': torch.zeros(1)}, 'meta': {}}, bad)
    work = tmp_path / 'w'
    args = ['--resume', str(bad)] if option == '--resume' else ['-o', f'load_from={bad}']
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(work), *FAST, *args])
    assert result.exit_code == 2, result.output
    assert message in result.output and 'bad.pth' in result.output and 'Traceback' not in result.output
    assert not list(work.glob('*.pth'))


def test_a_distributed_launcher_outside_its_launcher_is_explained(tmp_path, monkeypatch):
    monkeypatch.delenv('RANK', raising=False)
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(tmp_path / 'w'), '--launcher', 'pytorch'])
    assert result.exit_code == 2 and 'torchrun' in result.output and 'RANK' in result.output


@pytest.mark.parametrize('option, message', [
    ('train_cfg.max_iters=-1', 'train_cfg.max_iters=-1 must be a whole number >= 1'),  # mmengine: trains nothing
    ('train_dataloader.batch_size=-4', 'batch_size=-4 must be a whole number >= 1'),
    ('train_dataloader.num_workers=-1', 'num_workers=-1 must be a whole number >= 0'),
    ('optim_wrapper.optimizer.lr=abc', "lr='abc' must be a finite number > 0"),
    ('model.attack.momentum=high', "momentum='high' must be a number in"),
    ('model.attack.random_start=maybe', "random_start='maybe' must be True or False"),
    ('model.weighting.coefficients.clean=five', 'must map teacher names to finite non-negative numbers'),
    ('model.attack.eps=-3', 'eps=-3 is negative'),
    ('model.val_attack.norm=L3', "norm='L3' is not a supported threat model"),
])
def test_bad_values_are_explained_before_the_runner_starts(tmp_path, option, message):
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(tmp_path / 'w'), *FAST, '-o', option])
    assert result.exit_code == 2, result.output
    assert message in result.output and 'Traceback' not in result.output
    assert not (tmp_path / 'w').exists(), 'refused before mmengine made the work dir'
    assert 'System environment' not in result.output


def test_resume_written_before_the_config_still_reads_the_config(tmp_path):
    result = CliRunner().invoke(cli, ['train', '--resume', str(TINY), '--work-dir', str(tmp_path / 'empty')])
    assert result.exit_code == 2 and 'holds no checkpoint to resume' in result.output  # the config was read
    result = CliRunner().invoke(cli, ['train', '--work-dir', str(tmp_path / 'empty')])
    assert result.exit_code == 2 and "Missing argument 'CONFIG'" in result.output
