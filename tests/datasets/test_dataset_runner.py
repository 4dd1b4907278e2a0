import pytest
import torch
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

import mmtard.datasets  # noqa: F401  (registers the datasets)
from mmtard.registry import DATASETS


@pytest.mark.parametrize('name', ['ShapesDataset', 'ImageFolderDataset', 'TorchvisionDataset',
                                  'CaptionCSVDataset', 'MNISTDigits'])
def test_registered(name):
    assert DATASETS.get(name).__name__ == name


def test_runner_builds_a_dataloader():
    DefaultScope.get_instance('mmtard-test-datasets', scope_name='mmtard')
    cfg = dict(batch_size=8, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
               collate_fn=dict(type='default_collate'),
               dataset=dict(type='ShapesDataset', split='val', num_samples=16, return_caption=True))
    batch = next(iter(Runner.build_dataloader(cfg, seed=0)))
    assert batch['inputs'].shape == (8, 3, 32, 32) and batch['inputs'].dtype == torch.float32
    assert batch['label'].dtype == torch.int64 and len(batch['caption']) == 8
