"""A diverging run stops at once, keeps only checkpoints from before the divergence, and its advice
works as written: resuming with --lr-from-config and a lower -o lr continues at the lower lr."""
import re
import shutil

import pytest
import torch
from click.testing import CliRunner

from mmtard.cli.main import cli
from mmtard.weighting import ReferenceCosineWeighting

from shared_inputs import TINY, load_checkpoint, train_tiny

SETTINGS = ['-o', 'train_cfg.max_iters=4', '-o', 'train_cfg.val_interval=100', '-o', 'default_hooks.checkpoint.interval=1',
            '-o', 'default_hooks.checkpoint.max_keep_ckpts=10', '-o', 'train_dataloader.batch_size=8',
            '-o', 'train_dataloader.dataset.num_samples=16', '-o', 'val_dataloader.dataset.num_samples=8',
            '-o', 'model.attack.steps=1', '-o', 'model.val_attack.steps=1']
CONFIG_LR = 5e-4  # the tiny schedule's



def diverging_at(step, monkeypatch, weights=False):
    """Make the loss (or, with ``weights``, the student's weights) non-finite from call ``step`` on."""
    original, calls = ReferenceCosineWeighting.forward, []

    def forward(self, terms, labels):
        calls.append(1)
        out = original(self, terms, labels)
        if len(calls) >= step:
            if weights:  # a finite loss whose gradient is NaN (d sqrt(u)/du at 0 is inf, times du = 0)
                out.loss = out.loss + torch.sqrt(out.loss - out.loss)
            else:
                out.loss = out.loss + float('inf')
        return out

    monkeypatch.setattr(ReferenceCosineWeighting, 'forward', forward)


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    return train_tiny(tmp_path_factory.mktemp('nan') / 'full', SETTINGS)


def test_a_non_finite_loss_stops_and_the_advice_resumes_at_a_lower_lr(uninterrupted, tmp_path, monkeypatch):
    work = tmp_path / 'diverged'
    diverging_at(3, monkeypatch)
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(work), *SETTINGS])
    text = ' '.join(result.output.split())
    assert result.exit_code == 2 and 'The training loss became inf at iteration 3' in text, text
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_1.pth', 'iter_2.pth']
    command = re.search(r'continue from it with: (mmtard train .*?)$', text).group(1)
    assert f'--resume {work / "iter_2.pth"} {" ".join(SETTINGS)} --lr-from-config ' \
           f'-o optim_wrapper.optimizer.lr={CONFIG_LR / 10:g}' in command
    monkeypatch.undo()
    assert ' '.join(SETTINGS) in command  # the run's own options: it continues to max_iters=4, not the config's 100
    result = CliRunner().invoke(cli, command.split()[1:], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lowered = load_checkpoint(work / 'iter_4.pth')['optimizer']['param_groups']
    full = load_checkpoint(uninterrupted / 'iter_4.pth')['optimizer']['param_groups']
    assert [g['lr'] for g in lowered] == pytest.approx([g['lr'] / 10 for g in full], rel=1e-6)
    assert lowered[0]['initial_lr'] == pytest.approx(CONFIG_LR / 10)


def test_without_lr_from_config_the_checkpoints_lr_wins(uninterrupted, tmp_path):
    work = tmp_path / 'plain'
    shutil.copytree(uninterrupted, work)
    for name in ('iter_3.pth', 'iter_4.pth'):
        (work / name).unlink()
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(work), '--resume', str(work / 'iter_2.pth'),
                                      *SETTINGS, '-o', 'optim_wrapper.optimizer.lr=1e-9'], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert load_checkpoint(work / 'iter_4.pth')['optimizer']['param_groups'][0]['lr'] == \
        load_checkpoint(uninterrupted / 'iter_4.pth')['optimizer']['param_groups'][0]['lr']


def test_non_finite_weights_are_never_saved(tmp_path, monkeypatch):
    work = tmp_path / 'nan-weights'
    diverging_at(3, monkeypatch, weights=True)
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(work), *SETTINGS])
    text = ' '.join(result.output.split())
    assert result.exit_code == 2 and 'Traceback' not in text, text
    assert 'The trained weights became non-finite (NaN or inf) by iteration 3' in text, text[-1500:]
    assert f'--resume {work / "iter_2.pth"} {" ".join(SETTINGS)} --lr-from-config' in text
    saved = sorted(p.name for p in work.glob('*.pth'))
    assert saved == ['iter_1.pth', 'iter_2.pth']
    assert all(torch.isfinite(v).all() for v in load_checkpoint(work / 'iter_2.pth')['state_dict'].values()
               if v.is_floating_point())


def test_lr_from_config_without_resume_is_refused(tmp_path):
    result = CliRunner().invoke(cli, ['train', str(TINY), '--work-dir', str(tmp_path / 'w'), '--lr-from-config'])
    assert result.exit_code == 2 and 'applies to a resumed run' in result.output
    assert not (tmp_path / 'w').exists()


def test_the_advice_skips_checkpoints_of_diverged_weights_and_never_sends_back_to_one(tmp_path):
    """Weights near 1e29 are finite: resuming from them diverges again, and the advice would repeat forever."""
    from mmtard.engine.hooks import sane_weights
    from mmtard.work_dir import resume_advice

    work = tmp_path / 'w'
    work.mkdir()
    torch.save({'state_dict': {'student.w': torch.ones(3)}}, work / 'iter_1.pth')
    torch.save({'state_dict': {'student.w': torch.full((3,), 1e29)}}, work / 'iter_2.pth')
    advice = resume_advice(work, 'cfg.py', cfg_options={'train_cfg.max_iters': 8}, extra='--lr-from-config',
                           accept=sane_weights, kind='sane')
    assert f"The newest sane checkpoint is '{work / 'iter_1.pth'}'" in advice
    assert advice.endswith(f'--resume {work / "iter_1.pth"} --overwrite -o train_cfg.max_iters=8 --lr-from-config '
                           f'(--overwrite: the run saves the later iter_2.pth again, replacing them)')
    (work / 'iter_1.pth').unlink()
    advice = resume_advice(work, 'cfg.py', accept=sane_weights, kind='sane')
    assert 'No sane checkpoint is left' in advice and '--overwrite' in advice and '--resume' not in advice
