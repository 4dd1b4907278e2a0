"""Every training config builds its model and runs one step: tiny ones always, paper-size ones when slow.

A config is put in a group by its name (``..._shapes`` tiny, ``..._imagenet`` paper size); what it holds
is checked to agree, so a misnamed paper-size config cannot slip into the fast suite, nor a tiny one be
stepped only when the slow tests run."""
from pathlib import Path

import pytest
import torch
from mmengine.registry import init_default_scope

from mmtard.config import load_config, with_random_weights
from mmtard.registry import MODELS

REPO = Path(__file__).resolve().parents[2]
CHAIN_CONFIGS = REPO / 'mmtard' / 'apps' / 'configs'  # the demo's and study's stages ship inside the package
CONFIGS = sorted(p for root in (REPO / 'configs', CHAIN_CONFIGS) for p in root.rglob('*.py') if '_base_' not in p.parts)
TINY = [p for p in CONFIGS if '_shapes' in p.stem]
PAPER = [p for p in CONFIGS if '_imagenet' in p.stem]
#: What each group may hold: encoder architectures (students, teachers, text towers) and datasets.
TINY_ARCHS = {'mmtard-tiny-vit', 'mmtard-small-vit'}
PAPER_ARCHS = {'ViT-B-32', 'ViT-L-14', 'RN50', 'RN101', 'resnet50'}
TINY_DATA = {'ShapesDataset', 'ConcatCaptions', 'ClassCaptions', 'MNISTDigits'}
PAPER_DATA = {'ImageFolderDataset'}
#: The only parameter outside the student that a training step may update.
CONTRASTIVE_TEMPERATURE = 'log_temperature'


def values_of(node, key):
    """Every value of ``key`` anywhere in a nested config."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key and isinstance(v, str):
                yield v
            yield from values_of(v, key)
    elif isinstance(node, (list, tuple)):
        for item in node:
            yield from values_of(item, key)


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
    updated = {name for name, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert any(name.startswith('student.') for name in updated), 'the step must train the student'
    frozen = sorted(n for n in updated if not n.startswith('student.') and n != CONTRASTIVE_TEMPERATURE)
    assert frozen == [], f'teachers and frozen originals must get no gradient: {frozen[:3]}'


def test_every_config_is_tiny_or_paper_size():
    assert not set(TINY) & set(PAPER)
    assert set(TINY) | set(PAPER) == set(CONFIGS), 'a config outside both groups would never be stepped'


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: p.name)
def test_group_matches_the_models_and_data_the_config_holds(path):
    cfg = load_config(path)
    archs = set(values_of(cfg.model.to_dict(), 'arch'))
    data = set(values_of(cfg.train_dataloader.dataset.to_dict(), 'type'))
    archs_allowed, data_allowed = (TINY_ARCHS, TINY_DATA) if path in TINY else (PAPER_ARCHS, PAPER_DATA)
    assert archs and archs <= archs_allowed, f'{path.name} is named for its group but builds {sorted(archs)}'
    assert data and data <= data_allowed, f'{path.name} is named for its group but trains on {sorted(data)}'


def test_every_paper_algorithm_has_a_tiny_config_stepped_in_the_fast_suite():
    """A paper config is only stepped under --slow; its algorithm must still run on every push."""
    algorithm = lambda path: path.stem.split('_')[0]  # noqa: E731
    assert {algorithm(p) for p in PAPER} - {algorithm(p) for p in TINY} == set()


@pytest.mark.parametrize('path', TINY, ids=lambda p: p.name)
def test_tiny_config_builds_and_steps(path):
    one_step(path, batch_size=3)


@pytest.mark.slow
@pytest.mark.parametrize('path', PAPER, ids=lambda p: p.name)
def test_paper_config_builds_and_steps_on_cpu(path):
    one_step(path, batch_size=1)
