"""Bad input, as a careful user would try it: every case gets a clear error (or the right behaviour),
never a traceback, and nothing is written or lost.

Each case runs through click's test runner or the Python API in this process (the behaviour is the
same as the installed command's, without a process start per case). For each refused case the test
asserts the exit code, the message, that no 'Traceback' is printed, and that the case's folder is
byte for byte as it was (a snapshot of every file's name, size and modification time).
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Sequence

import pytest
import torch
from click.testing import CliRunner

from mmtard.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
TINY = str(REPO / 'configs' / 'mmtard' / 'mmtard_tiny-vit_tiny-clean-robust_pgd3-eps4_100it_shapes.py')


def write(path: str, content) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        Path(path).write_bytes(content)
    else:
        Path(path).write_text(content)


def config_file(body: str, name: str = 'cfg.py') -> Callable[[], None]:
    """A config that inherits the tiny one and adds ``body``."""
    return lambda: write(name, f'_base_ = [{TINY!r}]\n{body}\n')


def a_checkpoint(path: str) -> None:
    """A complete (zip) file: one cut short by a kill is not an earlier run's checkpoint."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({'meta': {'iter': 2}}, path)


def an_earlier_run() -> None:
    a_checkpoint('run/iter_2.pth')
    write('run/last_checkpoint', str(Path('run/iter_2.pth').resolve()))


def a_run_with_later_checkpoints() -> None:
    a_checkpoint('run/iter_2.pth')
    a_checkpoint('run/iter_4.pth')
    write('run/last_checkpoint', str(Path('run/iter_4.pth').resolve()))


def another_runs_checkpoint() -> None:
    an_earlier_run()
    a_checkpoint('other/iter_1.pth')


@contextlib.contextmanager
def work_dir_in_use():
    from mmtard.work_dir import work_dir_lock

    with work_dir_lock('run', notify=lambda message: None):
        yield


@contextlib.contextmanager
def evaluation_in_progress():
    from mmtard.work_dir import EVALUATION_LOCK, EVALUATION_LOCK_FILE, work_dir_lock

    with work_dir_lock('ev', notify=lambda message: None, lock_file=EVALUATION_LOCK_FILE, refusal=EVALUATION_LOCK):
        yield


@dataclass
class Case:
    id: str
    args: List[str]
    messages: Sequence[str]
    setup: Optional[Callable[[], None]] = None
    holding: Optional[Callable[[], contextlib.AbstractContextManager]] = None
    exit_code: int = 2
    env: dict = field(default_factory=dict)


def train(*args: str) -> List[str]:
    return ['train', TINY, '--work-dir', 'run', *args]


def option(*pairs: str) -> List[str]:
    return [arg for pair in pairs for arg in ('-o', pair)]


CLI_CASES = [
    # --cfg-options syntax and keys
    Case('unbalanced-bracket', train(*option('model.attack.eps=[1,')), ["'[1,' cannot be parsed", 'balanced']),
    Case('unbalanced-paren', train(*option('model.attack.eps=(1,2')), ['cannot be parsed']),
    Case('dict-value', train(*option('model.attack=dict(eps=2)')), ['model.attack is a component', 'one by one']),
    Case('component-to-number', train(*option('model.weighting=5')), ['model.weighting is a component']),
    Case('no-equals', train('-o', 'model.attack.eps'), ['KEY=VALUE']),
    Case('empty-key', train('-o', '=5'), ['KEY=VALUE']),
    Case('leftover-max-iters', train(*option('max_iters=5')), ["'max_iters' is a variable of the config file",
                                                               '-o train_cfg.max_iters=...']),
    Case('leftover-attack', train(*option('attack.eps=2')), ['-o model.attack.eps=... instead']),
    Case('key-nothing-reads', train(*option('foo=1')), ["'foo' is not a setting of this config"]),
    Case('misspelt-component-key', train(*option('model.atack.eps=2')), ["Did you mean 'attack'"]),
    Case('misspelt-loop-key', train(*option('train_cfg.max_iter=5')), ["Did you mean 'max_iters'"]),
    Case('misspelt-type', train(*option('model.weighting.type=ReferenceCosineWieghting')),
         ["Did you mean 'ReferenceCosineWeighting'"]),
    Case('unknown-type', train(*option('model.attack.type=FGSM')), ["model.attack.type='FGSM' is not a registered",
                                                                    'mmtard list']),
    Case('list-index-out-of-range', train(*option('model.teachers.5.name=x')), ['cannot be applied to this config']),
    # attack budgets and options
    Case('eps-negative', train(*option('model.attack.eps=-3')), ['eps=-3 is negative']),
    Case('eps-pixel-units-4', train(*option('model.attack.eps=0.0157')), ['Write eps=4 for 4/255']),
    Case('eps-pixel-units-8', train(*option('model.attack.eps=0.03')), ['Write eps=8 for 8/255',
                                                                         'allow_sub_unit_eps=True']),
    Case('eps-below-a-grey-level', train(*option('model.attack.eps=0.5')), ['allow_sub_unit_eps=True']),
    Case('eps-whole-range', train(*option('model.attack.eps=300')), ['more than the whole range']),
    Case('eps-nan', train(*option('model.attack.eps=nan')), ['not a finite number']),
    Case('eps-string', train(*option('model.attack.eps=four')), ['not a finite number']),
    Case('val-eps-pixel-units', train(*option('model.val_attack.eps=0.0314')), ['Write eps=8 for 8/255']),
    Case('step-size-pixel-units', train(*option('model.attack.step_size=0.0078')), ['Write step_size=2 for 2/255']),
    Case('step-size-negative', train(*option('model.attack.step_size=-1')), ['step_size=-1 is negative']),
    Case('norm-unknown', train(*option('model.val_attack.norm=L3')), ["norm='L3' is not a supported threat model"]),
    Case('norm-case', train(*option('model.attack.norm=linf')), ["Did you mean 'Linf'"]),
    Case('momentum-word', train(*option('model.attack.momentum=high')), ["momentum='high' must be a number in"]),
    Case('momentum-one', train(*option('model.attack.momentum=1.0')), ['momentum=1.0 must be a number in [0, 1)']),
    Case('random-start-word', train(*option('model.attack.random_start=maybe')), ['must be True or False']),
    Case('steps-zero', train(*option('model.attack.steps=0')), ['steps=0 must be a whole number >= 1']),
    Case('steps-fraction', train(*option('model.attack.steps=2.5')), ['steps=2.5 must be a whole number >= 1']),
    Case('seed-word', train(*option('model.attack.seed=abc')), ["seed='abc' must be a whole number"]),
    Case('nan-policy', train(*option('model.attack.nan_policy=ignore')), ['nan_policy']),
    Case('attack-loss', train(*option('model.attack.loss=xent')), ["loss='xent'"]),
    Case('sub-unit-flag-word', train(*option('model.attack.allow_sub_unit_eps=yes')),
         ['allow_sub_unit_eps=\'yes\' must be True or False']),
    # weightings
    Case('coefficient-word', train(*option('model.weighting.coefficients.clean=five')),
         ['must map teacher names to finite non-negative numbers']),
    Case('coefficient-negative', train(*option('model.weighting.coefficients.clean=-1')),
         ['finite non-negative numbers']),
    Case('coefficient-inf', train(*option('model.weighting.coefficients.clean=inf')), ['finite non-negative numbers']),
    Case('clamp-min-out-of-range', train(*option('model.weighting.clamp_min=2')), ['clamp_min=2 must be a cosine']),
    Case('fixed-weight-negative', train(*option('model.weighting.type=FixedWeighting',
                                                'model.weighting.weights.robust=-1')), ['finite non-negative numbers']),
    Case('mtard-lr-word', train(*option('model.weighting.type=MTARDWeighting', 'model.weighting.lr=abc')),
         ["lr='abc' must be a finite number in [0, 1]"]),
    Case('mtard-no-teachers', train(*option('model.weighting.type=MTARDWeighting', 'model.weighting.teachers=[]')),
         ['must be a non-empty list of teacher names']),
    Case('mtard-teachers-string', train(*option('model.weighting.type=MTARDWeighting',
                                                'model.weighting.teachers=robust')),
         ["teachers='robust' must be a non-empty list"]),
    Case('dynamic-gamma-word', train(*option('model.weighting.type=DynamicConfidenceWeighting',
                                             'model.weighting.gamma=x')), ["gamma='x' must be a finite number"]),
    Case('dynamic-floor-zero', train(*option('model.weighting.type=DynamicConfidenceWeighting',
                                             'model.weighting.hardness_floor=0')), ['hardness_floor must be in (0, 1]']),
    Case('dynamic-center-word', train(*option('model.weighting.type=DynamicConfidenceWeighting',
                                              'model.weighting.center=yes')), ["center='yes' must be True or False"]),
    # run settings
    Case('max-iters-negative', train(*option('train_cfg.max_iters=-1')), ['train_cfg.max_iters=-1 must be a whole']),
    Case('max-iters-zero', train(*option('train_cfg.max_iters=0')), ['train_cfg.max_iters=0 must be a whole']),
    Case('max-iters-word', train(*option('train_cfg.max_iters=abc')), ["max_iters='abc' must be a whole"]),
    Case('batch-size-negative', train(*option('train_dataloader.batch_size=-4')), ['batch_size=-4 must be a whole']),
    Case('batch-size-zero', train(*option('train_dataloader.batch_size=0')), ['batch_size=0 must be a whole']),
    Case('val-batch-size-zero', train(*option('val_dataloader.batch_size=0')), ['batch_size=0 must be a whole']),
    Case('workers-negative', train(*option('train_dataloader.num_workers=-1')), ['num_workers=-1 must be a whole']),
    Case('lr-word', train(*option('optim_wrapper.optimizer.lr=abc')), ["lr='abc' must be a finite number > 0"]),
    Case('lr-zero', train(*option('optim_wrapper.optimizer.lr=0')),
         ['optim_wrapper.optimizer.lr=0 must be a finite number > 0', '0 would train nothing']),
    Case('lr-negative', train(*option('optim_wrapper.optimizer.lr=-1e-4')), ['lr=-0.0001 must be a finite number > 0']),
    Case('lr-nan', train(*option('optim_wrapper.optimizer.lr=nan')),
         ['optim_wrapper.optimizer.lr=nan must be a finite number > 0', 'the release trains at 2e-5']),
    Case('lr-inf', train(*option('optim_wrapper.optimizer.lr=inf')), ['optim_wrapper.optimizer.lr=inf must be']),
    Case('weight-decay-nan', train(*option('optim_wrapper.optimizer.weight_decay=nan')),
         ['optim_wrapper.optimizer.weight_decay=nan must be a finite number >= 0', '0 turns weight decay off']),
    Case('weight-decay-inf', train(*option('optim_wrapper.optimizer.weight_decay=inf')),
         ['weight_decay=inf must be a finite number >= 0']),
    Case('weight-decay-negative', train(*option('optim_wrapper.optimizer.weight_decay=-0.01')),
         ['weight_decay=-0.01 must be a finite number >= 0']),
    Case('val-interval-zero', train(*option('train_cfg.val_interval=0')),
         ['train_cfg.val_interval=0 must be a whole number >= 1']),
    Case('checkpoint-interval-zero', train(*option('default_hooks.checkpoint.interval=0')),
         ['default_hooks.checkpoint.interval=0 must be a whole number >= 1']),
    Case('logger-interval-negative', train(*option('default_hooks.logger.interval=-5')),
         ['default_hooks.logger.interval=-5 must be a whole number >= 1']),
    Case('image-size-zero', train(*option('train_dataloader.dataset.image_size=0')),
         ['train_dataloader.dataset.image_size=0 must be a whole number >= 1']),
    Case('image-size-fraction', train(*option('val_dataloader.dataset.image_size=32.5')),
         ['val_dataloader.dataset.image_size=32.5 must be a whole number >= 1']),
    Case('logit-scale-zero', train(*option('model.logit_scale=0')),
         ['model.logit_scale=0 must be a finite number > 0', 'no class information']),
    Case('logit-scale-nan', train(*option('model.logit_scale=nan')), ['model.logit_scale=nan must be a finite number']),
    Case('num-samples-zero', train(*option('train_dataloader.dataset.num_samples=0')), ['num_samples=0 must be']),
    Case('timm-student-without-text-tower', train(*option('model.student.type=TimmEncoder',
                                                         'model.student.arch=test_resnet')),
         ["model.student (TimmEncoder): missing a required argument: 'text_tower'"]),
    Case('teacher-file-missing', train(*option('model.teachers.1.encoder.pretrained=gone/robust.pt')),
         ["The teacher 'robust' (model.teachers.1.encoder, pretrained='gone/robust.pt') cannot be built",
          'Restore the file, or point -o model.teachers.1.encoder.pretrained=<file> at where it is now']),
    Case('optimizer-unknown', train(*option('optim_wrapper.optimizer.type=Adamw')), ["Did you mean 'AdamW'"]),
    # work dir, resume, overwrite, launcher, flags
    Case('work-dir-empty', ['train', TINY, '--work-dir', ''], ['work dir is an empty string']),
    Case('work-dir-under-a-file', ['train', TINY, '--work-dir', 'afile/run'], ["inside 'afile', which is a file"],
         setup=lambda: write('afile', 'x')),
    Case('work-dir-is-a-file', ['train', TINY, '--work-dir', 'afile'], ['is a file'],
         setup=lambda: write('afile', 'x')),
    Case('resume-and-overwrite', train('--resume', '--overwrite'), ['contradict each other'], setup=an_earlier_run),
    Case('resume-nothing', train('--resume'), ['holds no checkpoint to resume from']),
    Case('resume-missing-file', train('--resume', 'nope.pth'), ["--resume 'nope.pth': no such checkpoint file"]),
    Case('resume-another-run', train('--resume', 'other/iter_1.pth'), ['continues another run'],
         setup=another_runs_checkpoint),
    Case('resume-an-earlier-iteration', train('--resume', 'run/iter_2.pth'),
         ["--resume 'run/iter_2.pth' goes back to an earlier iteration", 'later checkpoints iter_4.pth',
          '--resume alone, or pass --overwrite'], setup=a_run_with_later_checkpoints),
    Case('earlier-run-kept', train(), ['already holds checkpoints of an earlier run', '--resume'], setup=an_earlier_run),
    Case('work-dir-in-use', train(), ['in use by another training run', f'process {os.getpid()}'],
         holding=work_dir_in_use),
    Case('launcher-outside-torchrun', train('--launcher', 'pytorch'), ['torchrun', 'RANK']),
    Case('launcher-unknown', train('--launcher', 'mpirun'), ["Invalid value for '--launcher'"]),
    Case('lr-from-config-without-resume', train('--lr-from-config'), ['applies to a resumed run']),
    Case('log-backend-unknown', train('--log-backend', 'mlflow'), ["Invalid value for '--log-backend'"]),
    Case('log-backend-missing-package', train('--log-backend', 'wandb'), ["needs the 'wandb' package",
                                                                          'pip install wandb']),
    Case('unknown-option', train('--bogus'), ['No such option']),
    Case('missing-config', ['train', '--work-dir', 'run'], ["Missing argument 'CONFIG'"]),
    # config files
    Case('config-missing', ['train', TINY.replace('pgd3', 'pgd4')], ['does not exist', 'Did you mean']),
    Case('config-not-python', ['train', 'cfg.yaml'], ['is not a config'], setup=lambda: write('cfg.yaml', 'a: 1')),
    Case('config-is-a-folder', ['train', 'folder'], ['is a directory'], setup=lambda: Path('folder').mkdir()),
    Case('config-syntax-error', ['train', 'cfg.py'], ['could not be read', 'SyntaxError'],
         setup=lambda: write('cfg.py', 'model = dict(\n')),
    Case('config-raises', ['train', 'cfg.py'], ['could not be read', 'ZeroDivisionError'],
         setup=lambda: write('cfg.py', 'x = 1 / 0\n')),
    Case('config-base-missing', ['train', 'cfg.py'], ['could not be read'],
         setup=lambda: write('cfg.py', "_base_ = ['nowhere.py']\n")),
    Case('config-misspelt-top-level', ['train', 'cfg.py'], ["Did you mean 'train_dataloader'"],
         setup=config_file('train_dataloder = dict(batch_size=2)')),
    Case('config-required-option-missing', ['train', 'cfg.py', '--work-dir', 'run'],
         ["model.attack (PGD): missing a required argument: 'eps'", '-o model.attack.eps=<value>'],
         setup=config_file("model = dict(attack=dict(_delete_=True, type='PGD'))")),
    Case('config-unknown-model', ['train', 'cfg.py', '--work-dir', 'run'], ["Did you mean 'MMTARD'"],
         setup=config_file("model = dict(type='MMTAR')")),
    Case('config-empty-path', ['train', ''], ['empty string']),
    # evaluation
    Case('eval-checkpoint-missing', ['eval', TINY, '--checkpoint', 'nope.pth', '--out', 'ev'], ['no such file']),
    Case('eval-checkpoint-empty', ['eval', TINY, '--checkpoint', 'empty.pth', '--out', 'ev'], ['is empty (0 bytes)'],
         setup=lambda: write('empty.pth', b'')),
    Case('eval-checkpoint-text', ['eval', TINY, '--checkpoint', 'text.pth', '--out', 'ev'],
         ['text.pth', 'not a torch file'], setup=lambda: write('text.pth', 'hello')),
    Case('eval-checkpoint-folder', ['eval', TINY, '--checkpoint', 'folder', '--out', 'ev'], ['is a directory'],
         setup=lambda: Path('folder').mkdir()),
    Case('eval-out-under-a-file', ['eval', TINY, '--out', 'afile/ev'], ["inside 'afile', which is a file"],
         setup=lambda: write('afile', 'x')),
    Case('eval-out-empty', ['eval', TINY, '--out', ''], ['--out folder is an empty string']),
    Case('eval-preset-unknown', ['eval', TINY, '--preset', 'fast'], ["Unknown evaluation preset 'fast'", 'Presets: quick']),
    Case('eval-attack-unknown', ['eval', TINY, '--out', 'ev', '--attack', 'autoatack'],
         ["--attack 'autoatack' names no registered attack", "Did you mean 'autoattack'", 'mmtard list attacks']),
    Case('eval-device-unknown', ['eval', TINY, '--device', 'gpu0', '--out', 'ev'], ["'gpu0' is not a torch device"]),
    Case('eval-device-no-cuda', ['eval', TINY, '--device', 'cuda:3', '--out', 'ev'], ['no usable CUDA GPU']),
    Case('eval-eps-pixel-units', ['eval', TINY, '--out', 'ev', *option('evaluation.eps=[0.0314]')],
         ['Write evaluation.eps=8 for 8/255']),
    Case('eval-n-robust-zero', ['eval', TINY, '--out', 'ev', *option('evaluation.n_robust=0')],
         ['evaluation.n_robust=0 must be a whole number']),
    Case('eval-setting-unknown', ['eval', TINY, '--out', 'ev', *option('evaluation.n_robst=5')],
         ['evaluation.n_robst is not an evaluation setting']),
    Case('eval-out-in-use', ['eval', TINY, '--out', 'ev'], ['in use by another evaluation', 'give another --out'],
         holding=evaluation_in_progress),
    Case('eval-preset-overrides-an-option', ['eval', TINY, '--out', 'ev', '--preset', 'quick',
                                             *option('evaluation.n_robust=4')],
         ['-o evaluation.n_robust=... would change nothing', '-o evaluation.preset=quick']),
    Case('eval-option-the-flags-attack-lacks', ['eval', TINY, '--out', 'ev', '--attack', 'pgd',
                                                *option('evaluation.attack.n_restarts=1')],
         ["PGD (registry 'attack') has no option 'n_restarts'"]),
    Case('eval-datasets-dict-unbalanced', ['eval', TINY, '--out', 'ev', '-o',
                                           "evaluation.datasets=[dict(name='mine', dataset=dict(type='ShapesDataset'"],
         ["the value \"[dict(name='mine', dataset=dict(type='ShapesDataset'\" cannot be parsed",
          'lists of dicts written as Python literals']),
    Case('eval-bad-option', ['eval', TINY, '--out', 'ev', *option('model.attack.eps=[1,')], ['cannot be parsed']),
    # other commands
    Case('export-out-under-a-file', ['export', 'ck.pth', '--format', 'open_clip', '--out', 'afile/x.safetensors'],
         ["The export folder 'afile' is a file, not a folder"], setup=lambda: (write('afile', 'x'), write('ck.pth', b'x'))),
    Case('export-out-folder-missing', ['export', 'ck.pth', '--format', 'open_clip', '--out', 'nowhere/x.safetensors'],
         ["the folder 'nowhere' does not exist"], setup=lambda: write('ck.pth', b'x')),
    Case('cache-teacher-into-a-running-training', ['cache-teacher', TINY, '--work-dir', 'run',
                                                   *option('model.cache_clean_teacher_outputs=True')],
         ['in use by another training run'], holding=work_dir_in_use),
    Case('cache-teacher-work-dir-under-a-file', ['cache-teacher', TINY, '--work-dir', 'afile/run',
                                                 *option('model.cache_clean_teacher_outputs=True')],
         ["inside 'afile', which is a file"], setup=lambda: write('afile', 'x')),
    Case('list-unknown-registry', ['list', 'weightngs'], ["Did you mean 'weightings'"]),
    Case('list-unknown-format', ['list', '--format', 'xml'], ["Invalid value for '--format'"]),
    Case('config-show-bad-option', ['config', 'show', TINY, '-o', 'model.attack.eps'], ['KEY=VALUE']),
    Case('config-show-leftover-key', ['config', 'show', TINY, '-o', 'max_iters=3'], ['train_cfg.max_iters']),
    Case('plot-no-folder', ['plot', 'nowhere'], ["'nowhere' is not a folder"]),
    Case('plot-nothing-logged', ['plot', 'folder'], ['holds no logged training scalars'],
         setup=lambda: Path('folder').mkdir()),
    Case('plot-out-under-a-file', ['plot', 'run', '--out', 'afile/p.png'], ["'afile' is a file"],
         setup=lambda: (write('afile', 'x'), write('run/1/vis_data/scalars.json', '{"loss": 1, "iter": 1, "step": 1}\n'))),
    Case('unknown-command', ['trian'], ["No such command 'trian'"]),
]


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else 'dir'
            for p in sorted(root.rglob('*'))}


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv('RANK', raising=False)
    return tmp_path


@pytest.mark.parametrize('case', CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_bad_command_line_input(case, in_tmp):
    if case.setup:
        case.setup()
    with case.holding() if case.holding else contextlib.nullcontext():
        before = snapshot(in_tmp)
        result = CliRunner().invoke(cli, case.args)
        after = snapshot(in_tmp)
    text = ' '.join(result.output.split())
    assert result.exit_code == case.exit_code, text
    for message in case.messages:
        assert ' '.join(message.split()) in text, text
    assert 'Traceback' not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert after == before, 'nothing written, nothing lost'


@pytest.mark.parametrize('pair', ['optim_wrapper.optimizer.lr=nan', 'optim_wrapper.optimizer.weight_decay=-1',
                                  'train_cfg.val_interval=0', 'model.logit_scale=inf'])
def test_run_settings_are_refused_before_any_component_is_built(pair, in_tmp, monkeypatch):
    import mmtard.apis.train as train_api
    from mmtard.errors import ConfigError

    def built(*args, **kwargs):
        raise AssertionError('a component was built before the run settings were checked')

    monkeypatch.setattr(train_api, 'check_component_values', built)  # builds the attacks and weightings
    monkeypatch.setattr(train_api, 'build_runner', built)
    with pytest.raises(ConfigError, match=f'^{re.escape(pair)} must be a (finite|whole) number'):
        train_api.train(TINY, work_dir='run', cfg_options=[pair])


def test_zero_weight_decay_is_a_setting_not_an_error(in_tmp):
    from mmtard.apis.train import prepare_config

    cfg = prepare_config(TINY, 'run', cfg_options={'optim_wrapper.optimizer.weight_decay': 0})
    assert cfg.optim_wrapper.optimizer.weight_decay == 0


# ------------------------------------------------------------------ the Python API


@dataclass
class ApiCase:
    id: str
    call: Callable[[], object]
    messages: Sequence[str]


def _train(**kwargs):
    from mmtard.apis.train import train

    return lambda: train(kwargs.pop('config', TINY), **{'work_dir': 'run', **kwargs})


def _evaluate(**kwargs):
    from mmtard.apis.evaluate import evaluate

    return lambda: evaluate(TINY, **{'out_dir': 'ev', **kwargs})


def _eval_flags(**kwargs):
    from mmtard.apis.eval_flags import EvalFlags

    return lambda: EvalFlags(**kwargs)


def _export(*args):
    from mmtard.apis.export import export

    return lambda: export(*args)


def _merge(*args):
    from mmtard.apis.merge_results import merge_results

    return lambda: merge_results(*args)


API_CASES = [
    ApiCase('eval-flags-eps-string', _eval_flags(eps='16'), ["eps='16' must be a list of numbers", 'eps=[16]']),
    ApiCase('eval-flags-eps-number', _eval_flags(eps=16), ['eps=16 must be a list of numbers']),
    ApiCase('eval-flags-datasets-string', _eval_flags(datasets='name'), ["datasets='name' must be a list",
                                                                          "datasets=['name']"]),
    ApiCase('eval-flags-n-robust-string', _eval_flags(n_robust='5'), ["n_robust='5' must be a whole number"]),
    ApiCase('eval-flags-pretrained-number', _eval_flags(pretrained=3), ['pretrained=3 must be a path']),
    ApiCase('eval-flags-logit-scale-string', _eval_flags(logit_scale='20'), ["logit_scale='20' must be a finite"]),
    ApiCase('evaluate-overwrite-string', _evaluate(overwrite='no'), ["overwrite='no' must be True or False"]),
    ApiCase('evaluate-flags-dict', _evaluate(flags={'eps': [1]}), ['must be an EvalFlags', 'not a dict']),
    ApiCase('evaluate-model-key-none', _evaluate(model_key=None), ['model_key (e.g.', 'must be a non-empty string']),
    ApiCase('evaluate-checkpoint-number', _evaluate(checkpoint=5), ['checkpoint=5 must be a path']),
    ApiCase('evaluate-out-dir-number', _evaluate(out_dir=5), ['out_dir=5 must be a path']),
    ApiCase('train-work-dir-number', _train(work_dir=7), ['work_dir=7 must be a path']),
    ApiCase('train-overwrite-string', _train(overwrite='yes'), ["overwrite='yes' must be True or False"]),
    ApiCase('export-checkpoint-number', _export(123, 'open_clip'), ['checkpoint=123 must be a path', 'not an int']),
    ApiCase('merge-folders-string', _merge('ev'), ["folders='ev' must be a list of folders"]),
    ApiCase('merge-folders-number', _merge([3]), ['folders item=3 must be a path']),
    ApiCase('train-resume-int', _train(resume=123), ["resume=123 must be None, 'auto'"]),
    ApiCase('train-resume-true-without-checkpoints', _train(resume=True), ['holds no checkpoint to resume from']),
    ApiCase('train-config-int', _train(config=42), ['config=42 must be a config file path']),
    ApiCase('train-cfg-options-int', _train(cfg_options=5), ['cfg_options=5 must be a dict']),
    ApiCase('train-cfg-options-strings', _train(cfg_options=['model.attack.eps=-3']), ['eps=-3 is negative']),
    ApiCase('train-work-dir-empty', _train(work_dir=''), ['work dir is an empty string']),
    ApiCase('train-launcher-unknown', _train(launcher='foo'), ["Unknown launcher 'foo'"]),
    ApiCase('train-log-backend-unknown', _train(log_backends=['mlflow']), ["--log-backend 'mlflow' is not one of"]),
    ApiCase('evaluate-cfg-options-strings', _evaluate(cfg_options=['model.attack.eps=0.03']),
            ['Write eps=8 for 8/255']),
    ApiCase('evaluate-cfg-options-bad-string', _evaluate(cfg_options=['model.attack.eps']), ['KEY=VALUE']),
]


@pytest.mark.parametrize('case', API_CASES, ids=[c.id for c in API_CASES])
def test_bad_python_api_input(case, in_tmp):
    from mmtard.errors import MMTardError

    before = snapshot(in_tmp)
    with pytest.raises(MMTardError) as err:
        case.call()
    for message in case.messages:
        assert message in str(err.value)
    assert snapshot(in_tmp) == before


# ------------------------------------------------------------------ data files


def _caption_csv(content: bytes):
    def build():
        from mmtard.registry import DATASETS

        write('captions.csv', content)
        DATASETS.build(dict(type='CaptionCSVDataset', csv_file='captions.csv'))
    return build


def _image(size, content: Optional[bytes] = None):
    def build():
        from PIL import Image

        from mmtard.datasets.preprocess import load_image

        if content is None:
            Image.new('RGB', size).save('img.png')
        else:
            write('img.png', content)
        load_image('img.png', 32)
    return build


DATA_CASES = [
    ApiCase('caption-csv-latin-1', _caption_csv('filepath,caption\na.png,caf\u00e9 au lait\n'.encode('latin-1')),
            ['not utf-8 text', 'line 2', 'iconv']),
    ApiCase('caption-csv-no-column', _caption_csv(b'path,text\na.png,a cat\n'), ["has no column 'filepath'"]),
    ApiCase('caption-csv-no-rows', _caption_csv(b'filepath,caption\n'), ['has a header but no rows']),
    ApiCase('caption-csv-empty-captions', _caption_csv(b'filepath,caption\na.png,\nb.png, \nc.png,a cat\n'),
            ['has 2 empty captions (line 2, 3', 'all empty scores 100%']),
    ApiCase('image-1x1', _image((1, 1)), ['is 1x1 px', 'below 8 px']),
    ApiCase('image-7x100', _image((7, 100)), ['is 7x100 px']),
    ApiCase('image-not-an-image', _image(None, b'not a png'), ['cannot be read']),
    ApiCase('image-empty', _image(None, b''), ['cannot be read']),
]


@pytest.mark.parametrize('case', DATA_CASES, ids=[c.id for c in DATA_CASES])
def test_bad_data_files(case, in_tmp):
    from mmtard.errors import MMTardError

    with pytest.raises(MMTardError) as err:
        case.call()
    for message in case.messages:
        assert message in str(err.value)


def test_a_null_line_in_partial_results_is_skipped_and_the_rest_kept(in_tmp):
    from mmtard.evaluation.partial import PartialResults

    good = {'key': {'model_checksum': 'abc', 'batch': 0}, 'value': {'correct': 3}}
    write('partial.jsonl', '\n'.join([json.dumps(good), 'null', '[1, 2]', '{"key": null}', '"text"']) + '\n')
    partial = PartialResults(Path('partial.jsonl'), 'abc')
    assert len(partial) == 1 and partial.get({'model_checksum': 'abc', 'batch': 0}) == {'correct': 3}


def test_an_evaluation_section_replaced_with_delete_is_accepted(in_tmp):
    from mmtard.config import resolve_config
    from mmtard.evaluation.spec import benchmark_spec

    config_file("evaluation = dict(_delete_=True, preset='quick', datasets=[dict(name='mine', dataset=dict("
                "type='ShapesDataset', split='test', classes='seen', num_samples=20))])")()
    spec = benchmark_spec(resolve_config('cfg.py').get('evaluation'), None)
    assert [d.name for d in spec.datasets] == ['mine']


def test_sub_unit_eps_is_accepted_when_the_config_says_so(in_tmp):
    result = CliRunner().invoke(cli, ['config', 'show', TINY, '-o', 'model.attack.eps=0.5',
                                      '-o', 'model.attack.allow_sub_unit_eps=True'])
    assert result.exit_code == 0, result.output
    from mmtard.registry import ATTACKS

    assert ATTACKS.build(dict(type='PGD', eps=0.5, step_size=0.25, allow_sub_unit_eps=True)).eps == 0.5 / 255


def test_a_plugin_that_exits_on_import_is_a_warning_and_commands_still_work(in_tmp, monkeypatch, isolated_registries):
    from plugin_helpers import activate, make_distribution

    activate(make_distribution(in_tmp / 'site', 'exiting-plugin', {'bye': 'exiting_mod'},
                               {'exiting_mod': 'import sys\nsys.exit(3)\n'}), monkeypatch)
    result = CliRunner().invoke(cli, ['list', 'weightings'])
    assert result.exit_code == 0, result.output
    assert 'exiting-plugin' in result.output and 'failed to load' in result.output and 'SystemExit' in result.output
    assert 'FixedWeighting' in result.output


def test_resuming_a_checkpoint_without_the_students_weights_is_refused(in_tmp):
    """mmengine resumes non-strictly: it would exit 0 with a random student."""
    from mmtard.config import resolve_config
    from mmtard.registry import MODELS

    model = MODELS.build(resolve_config(TINY).model)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith('student.')}
    Path('run').mkdir()
    torch.save({'state_dict': state, 'meta': {'epoch': 0, 'iter': 2}}, 'run/iter_2.pth')
    before = snapshot(in_tmp / 'run')
    result = CliRunner().invoke(cli, ['train', TINY, '--work-dir', 'run', '--resume', 'run/iter_2.pth'])
    text = ' '.join(result.output.split())
    assert result.exit_code == 2 and 'student.' in text and 'Traceback' not in text, text
    assert {k: v for k, v in snapshot(in_tmp / 'run').items() if k.endswith('.pth')} == \
        {k: v for k, v in before.items() if k.endswith('.pth')}


def test_ctrl_c_during_an_evaluation_says_how_to_continue(in_tmp, monkeypatch):
    import mmtard.apis.evaluate

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(mmtard.apis.evaluate, 'evaluate', interrupted)
    result = CliRunner().invoke(cli, ['eval', TINY, '--out', 'ev'])
    assert result.exit_code == 130 and 'run the same command again' in result.output
    assert 'Traceback' not in result.output and 'Aborted' not in result.output


def test_resuming_a_weights_only_file_says_it_holds_no_training_state(in_tmp):
    from mmtard.config import resolve_config
    from mmtard.registry import MODELS

    Path('run').mkdir()
    torch.save({'state_dict': MODELS.build(resolve_config(TINY).model).state_dict()}, 'run/iter_5.pth')
    result = CliRunner().invoke(cli, ['train', TINY, '--work-dir', 'run', '--resume', 'run/iter_5.pth'])
    text = ' '.join(result.output.split())
    assert result.exit_code == 2 and 'holds weights but not the training state' in text and 'Traceback' not in text
    assert "-o load_from=run/iter_5.pth" in text and not list(Path('run').glob('iter_[!5]*.pth'))


def test_a_student_whose_input_size_differs_from_the_data_says_so():
    from types import SimpleNamespace

    from mmtard.engine.hooks import input_size_note
    from mmtard.models.encoders import TimmEncoder

    student = TimmEncoder('test_resnet', text_tower=dict(arch='mmtard-tiny-vit'))  # timm's pretrained_cfg: 160 px
    note = input_size_note(SimpleNamespace(student=student), SimpleNamespace(image_size=32))
    assert 'takes 160 px inputs and the training images are 32 px' in note and 'model.student.image_size=32' in note
    assert '25x the pixels' in note
    assert input_size_note(SimpleNamespace(student=student), SimpleNamespace(image_size=160)) == ''


def test_a_class_name_mapping_with_names_no_folder_has_is_warned(in_tmp):
    from mmtard.datasets.templates import folder_classnames

    write('names.json', json.dumps({'cat': 'a cat', 'dog': 'a dog', 'dgo': 'a dog, misspelt'}))
    with pytest.warns(UserWarning, match=r"maps 1 name that the photos has no folder for \('dgo'\)"):
        assert folder_classnames(['cat', 'dog'], 'names.json', 'the photos') == ['a cat', 'a dog']


def test_a_plugin_raising_keyboard_interrupt_on_import_is_named(in_tmp, monkeypatch, isolated_registries):
    from plugin_helpers import activate, make_distribution

    activate(make_distribution(in_tmp / 'site', 'interrupting-plugin', {'stop': 'interrupting_mod'},
                               {'interrupting_mod': 'raise KeyboardInterrupt\n'}), monkeypatch)
    result = CliRunner().invoke(cli, ['list', 'weightings'])
    text = ' '.join(result.output.split())
    assert result.exit_code == 130 and "plugin 'stop' of distribution 'interrupting-plugin'" in text, text
    assert 'MMTARD_DISABLE_PLUGINS=1' in text
    assert 'Traceback' not in result.output


def test_a_list_of_dicts_is_taken_from_the_command_line(in_tmp):
    from mmtard.config import parse_cfg_options

    datasets = "[dict(name='mine', dataset=dict(type='ShapesDataset', split='test', num_samples=20)), {'type': 'X'}]"
    assert parse_cfg_options([f'evaluation.datasets={datasets}']) == {'evaluation.datasets': [
        {'name': 'mine', 'dataset': {'type': 'ShapesDataset', 'split': 'test', 'num_samples': 20}}, {'type': 'X'}]}
    result = CliRunner().invoke(cli, ['config', 'show', TINY, '-o', f'evaluation.datasets={datasets[:-15]}]'])
    assert result.exit_code == 0 and "name='mine'" in result.output, result.output


@pytest.mark.parametrize('number', [errno.EROFS, errno.EACCES])
def test_a_read_only_folder_is_named_without_a_traceback(tmp_path, monkeypatch, number):
    """Whatever command meets a read-only file system or a permission error gets one paragraph naming the place."""
    import mmtard.apis.merge_results as merge_api

    def refused(*args, **kwargs):
        raise OSError(number, os.strerror(number), str(tmp_path / 'ro' / 'table.md'))

    monkeypatch.setattr(merge_api, 'results_table', refused)
    result = CliRunner().invoke(cli, ['results', 'table', '--zoo', 'all', '-o', str(tmp_path / 'ro' / 'table.md')])
    assert result.exit_code == 2 and 'Traceback' not in result.output
    assert f"Cannot write '{tmp_path / 'ro' / 'table.md'}'" in ' '.join(result.output.split())
    assert ('read-only file system' if number == errno.EROFS else 'may not be written') in result.output
