"""Every training config builds its model and runs one step: tiny ones always, paper-size ones when slow."""
from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope

from mmtard.config import load_config, with_random_weights
from mmtard.registry import MODELS

REPO = Path(__file__).resolve().parents[1]
CHAIN_CONFIGS = REPO / 'mmtard' / 'apps' / 'configs'  # the demo's and study's stages ship inside the package
CONFIGS = sorted(p for root in (REPO / 'configs', CHAIN_CONFIGS) for p in root.rglob('*.py') if '_base_' not in p.parts)
TINY = [p for p in CONFIGS if '_shapes' in p.stem]
PAPER = [p for p in CONFIGS if '_imagenet' in p.stem]


def one_step(path, batch_size):
    init_default_scope('mmtard')
    cfg = load_config(path)
    model_cfg = with_random_weights(cfg.model.to_dict())
    if 'attack' in model_cfg:
        model_cfg['attack'].update(steps=1)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.set_classes(['cat', 'dog', 'bird'], ['a photo of a {}.'])
    size = model.student.image_size
    labels = torch.tensor([0, 1, 2][:batch_size])
    captions = [f'a photo of a {name}.' for name in ['cat', 'dog', 'bird'][:batch_size]]
    out = model(torch.rand(batch_size, 3, size, size), label=labels, mode='loss', caption=captions)
    out['loss'].backward()
    assert torch.isfinite(out['loss'])
    assert any(p.grad is not None for p in model.student.parameters())


def test_every_config_is_tiny_or_paper_size():
    assert not set(TINY) & set(PAPER)
    assert set(TINY) | set(PAPER) == set(CONFIGS), 'a config outside both groups would never be stepped'


@pytest.mark.parametrize('path', TINY, ids=lambda p: p.name)
def test_tiny_config_builds_and_steps(path):
    one_step(path, batch_size=3)


@pytest.mark.slow
@pytest.mark.parametrize('path', PAPER, ids=lambda p: p.name)
def test_paper_config_builds_and_steps_on_cpu(path):
    one_step(path, batch_size=1)
