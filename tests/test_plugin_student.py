"""A plugin made of nothing but the student module of docs/interfaces.md, installed from outside the
repository, trains, exports and is evaluated by `--model` with the three commands and no other edit."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image

from mmtard.checkpoint import read_checkpoint
from mmtard.evaluation.results import read_results

from shared_inputs import TINY, interface_examples

PYPROJECT = '''
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "mmtard-torchvision-student"
version = "0.1.0"
dependencies = ["mmtard"]

[project.entry-points."mmtard.plugins"]
torchvision_student = "mmtard_torchvision_student"

[tool.setuptools]
packages = ["mmtard_torchvision_student"]
'''
#: Two iterations of the tiny config, its student replaced by the plugin's (32 px, random weights).
TRAIN = ['-o', 'train_cfg.max_iters=2', '-o', 'train_cfg.val_interval=2', '-o', 'default_hooks.checkpoint.interval=2',
         '-o', 'train_dataloader.batch_size=8', '-o', 'train_dataloader.dataset.num_samples=32',
         '-o', 'val_dataloader.dataset.num_samples=8', '-o', 'model.student.type=TorchvisionEncoder',
         '-o', 'model.student.arch=resnet18', '-o', 'model.student.image_size=32',
         '-o', 'model.student.text_tower.arch=mmtard-tiny-vit']


@pytest.fixture(scope='module')
def plugin_env(tmp_path_factory):
    """The doc's student module as a distribution of its own, pip-installed into a folder outside the
    repository that subprocesses see on PYTHONPATH."""
    source, site = tmp_path_factory.mktemp('plugin'), tmp_path_factory.mktemp('plugin-site')
    (source / 'mmtard_torchvision_student').mkdir()
    (source / 'mmtard_torchvision_student' / '__init__.py').write_text(interface_examples()['TorchvisionEncoder'])
    (source / 'pyproject.toml').write_text(textwrap.dedent(PYPROJECT))
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', '--no-build-isolation',
                    '--target', str(site), str(source)], check=True)
    return {**os.environ, 'PYTHONPATH': str(site)}


def mmtard(env, cwd, *args):
    result = subprocess.run([sys.executable, '-m', 'mmtard', *map(str, args)], cwd=cwd, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.slow
def test_a_plugin_student_trains_exports_and_evaluates_by_name(plugin_env, tmp_path):
    mmtard(plugin_env, tmp_path, 'train', TINY, '--work-dir', 'run', *TRAIN)
    exported = mmtard(plugin_env, tmp_path, 'export', 'run/iter_2.pth', '--format', 'torchvision',
                      '--out', 'student.pt')
    assert "torchvision.models.get_model('resnet18', num_classes=64)" in exported

    # the file holds exactly the trained backbone and projection, and plain torchvision loads it strictly
    trained = read_checkpoint(str(tmp_path / 'run' / 'iter_2.pth'))['state_dict']
    weights = torch.load(tmp_path / 'student.pt')
    for key, value in weights.items():
        expected = {'fc.weight': trained['student.proj.weight'],
                    'fc.bias': torch.zeros(64)}.get(key, trained.get(f'student.backbone.{key}'))
        assert expected is not None and torch.equal(value, expected), key
    torchvision.models.get_model('resnet18', num_classes=64).load_state_dict(weights)

    for label in ('red', 'blue'):
        (tmp_path / 'photos' / label).mkdir(parents=True)
        for index in range(2):
            Image.new('RGB', (32, 32), label).save(tmp_path / 'photos' / label / f'{index}.png')
    mmtard(plugin_env, tmp_path, 'eval', '--model', 'torchvision:resnet18', '--pretrained', 'student.pt',
           '--text-tower', 'mmtard-tiny-vit', '--dataset', 'photos', '--eps', 1, '--n-clean', 4, '--n-robust', 2,
           '--attack', 'pgd', '--n-iter', 1, '--out', 'eval')
    [row] = read_results(tmp_path / 'eval')
    assert (row.model, Path(row.pretrained).name, row.dataset) == ('torchvision:resnet18', 'student.pt', 'photos')
    assert (row.n, row.n_robust, row.attack_iterations, row.eps) == (4, 2, 1, 1.0)  # --n-iter set PGD's steps
    assert 0.0 <= row.robust_acc <= row.attacked_clean_acc <= 1.0
