"""Tiny settings for every registered teacher and student, so tests cover each one quickly.

A test that takes an ``encoder_cfg`` argument runs once per (registered name, tiny config), with
the registry to build it from; a newly registered encoder without an entry in ``TINY_CONFIGS`` fails
``test_every_registered_encoder_has_a_tiny_config``.
"""
import os

import pytest
import torch

# Never let a test reach the network: hub lookups fail fast instead of hanging.
os.environ.setdefault('HF_HUB_OFFLINE', '1')

import mmtard.models.encoders  # noqa: E402,F401  (registers the encoders)
from mmtard.models.encoders import OpenCLIPEncoder  # noqa: E402
from mmtard.registry import STUDENTS, TEACHERS  # noqa: E402

for _registry in (TEACHERS, STUDENTS):  # whatever else mmtard.models registers is covered too
    _registry.import_from_location()

TINY_VIT = 'mmtard-tiny-vit'
TINY_RN = 'mmtard-tiny-rn'

TINY_CONFIGS = {
    'OpenCLIPEncoder': [dict(arch=TINY_VIT), dict(arch=TINY_RN)],
    'TimmEncoder': [dict(arch='test_vit', image_size=32, text_tower=dict(arch=TINY_VIT)),
                    dict(arch='test_resnet', image_size=32, text_tower=dict(arch=TINY_VIT))],
}


def _registered_encoders():
    """(registry, name) for every built-in teacher and student."""
    return [(registry, name) for registry in (TEACHERS, STUDENTS) for name in sorted(registry.module_dict)
            if registry.owner(name) == 'mmtard']


def pytest_generate_tests(metafunc):
    if 'encoder_cfg' in metafunc.fixturenames:
        registries = {}  # a class registered as teacher and student is tested once, built via either
        for registry, name in _registered_encoders():
            registries.setdefault(name, []).append(registry)
        params, ids = [], []
        for name, found in registries.items():
            for cfg in TINY_CONFIGS.get(name, []):
                params.append((found[0], dict(type=name, **cfg)))
                ids.append(f'{"+".join(r.name for r in found)}-{name}-{cfg["arch"]}')
        metafunc.parametrize('encoder_cfg', params, ids=ids)


@pytest.fixture
def registered_encoders():
    return _registered_encoders()


@pytest.fixture
def tiny_configs():
    return TINY_CONFIGS


@pytest.fixture
def classnames():
    return ['red circle', 'blue square', 'green triangle']


@pytest.fixture
def templates():
    return ['a photo of a {}.', 'a drawing of a {}.']


@pytest.fixture
def images() -> torch.Tensor:
    return torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope='session')
def tiny_vit_files(tmp_path_factory) -> dict:
    """Weight files of one random tiny ViT CLIP: full and vision-only, .pt and .safetensors."""
    from safetensors.torch import save_file

    torch.manual_seed(1)
    root = tmp_path_factory.mktemp('tiny_vit_weights')
    state = OpenCLIPEncoder(TINY_VIT).model.state_dict()
    vision = {k[len('visual.'):]: v for k, v in state.items() if k.startswith('visual.')}
    files = {'state': state, 'full_pt': str(root / 'full.pt'), 'full_st': str(root / 'full.safetensors'),
             'vision_pt': str(root / 'vision.pt'), 'vision_st': str(root / 'vision.safetensors'),
             'vision_prefixed_pt': str(root / 'vision_prefixed.pt')}
    torch.save(state, files['full_pt'])
    save_file({k: v.contiguous() for k, v in state.items()}, files['full_st'])
    torch.save(vision, files['vision_pt'])
    save_file({k: v.contiguous() for k, v in vision.items()}, files['vision_st'])
    torch.save({f'visual.{k}': v for k, v in vision.items()}, files['vision_prefixed_pt'])
    return files
