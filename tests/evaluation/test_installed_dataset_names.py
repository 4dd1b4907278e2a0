"""Benchmark dataset names resolve from a pip install of mmtard, with no repository in sight: the
benchmark that defines them is package data, and the repository's config is a `_base_` of it."""
import json
import subprocess
import sys
from pathlib import Path

from mmtard.config import load_config
from mmtard.evaluation.dataset_names import PAPER_BENCHMARK

REPO = Path(__file__).resolve().parents[2]
RESOLVE = ('import json; from mmtard.evaluation.dataset_names import dataset_entries; '
           'print(json.dumps(dataset_entries(["cifar10", "caltech101"], "{root}")))')


def test_the_repository_config_is_the_packaged_benchmark():
    repo = load_config(REPO / 'configs' / '_base_' / 'evaluation' / 'paper_zero_shot.py').evaluation.to_dict()
    packaged = load_config(PAPER_BENCHMARK).evaluation.to_dict()
    assert PAPER_BENCHMARK.is_relative_to(REPO / 'mmtard') and repo == packaged
    assert [entry['name'] for entry in packaged['datasets']][:2] == ['imagenet', 'cifar10']


def test_names_resolve_from_a_non_editable_install(installed_mmtard, tmp_path):
    data = tmp_path / 'data'
    printed = subprocess.run([sys.executable, '-c', RESOLVE.format(root=data)], cwd=tmp_path,
                             env=installed_mmtard.env, capture_output=True, text=True, check=True).stdout
    cifar10, caltech101 = json.loads(printed)
    assert cifar10 == dict(name='cifar10', dataset=dict(type='TorchvisionDataset', name='CIFAR10',
                                                        root=str(data / 'cifar10'), split='test'))
    assert caltech101 == dict(name='caltech101', dataset=dict(type='ImageFolderDataset', root=str(data / 'caltech101'),
                                                              classnames='caltech101', templates='caltech101'))


def test_eval_by_dataset_name_from_a_non_editable_install_asks_for_the_data(installed_mmtard, tmp_path):
    """`mmtard eval --dataset cifar10` gets as far as the data: it names the folder to put CIFAR10 in."""
    result = subprocess.run([sys.executable, '-m', 'mmtard', 'eval', '--model', 'mmtard-tiny-vit', '--dataset',
                             'cifar10', '--data-root', str(tmp_path / 'data'), '--eps', '1', '--n-clean', '2',
                             '--n-robust', '1', '--out', str(tmp_path / 'out')],
                            cwd=tmp_path, env=installed_mmtard.env, capture_output=True, text=True)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert 'CIFAR10 (test split) was not found' in output and str(tmp_path / 'data' / 'cifar10') in output, output
    assert 'benchmark dataset name' not in output and 'Traceback' not in output, output
