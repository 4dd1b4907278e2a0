"""Every config in configs/ parses, follows the naming scheme, and (slow) builds its model."""
from pathlib import Path

import pytest

from mmtard.config import resolve_config

REPO = Path(__file__).resolve().parents[1]
CHAIN_CONFIGS = REPO / 'mmtard' / 'apps' / 'configs'  # the demo's and study's stages ship inside the package
CONFIGS = sorted(p for root in (REPO / 'configs', CHAIN_CONFIGS) for p in root.rglob('*.py') if '_base_' not in p.parts)
BASE_FILES = sorted(p for root in (REPO / 'configs', CHAIN_CONFIGS) for p in (root / '_base_').rglob('*.py'))


def config_id(path: Path) -> str:
    return str(path.relative_to(REPO))


def test_there_are_configs():
    assert len(CONFIGS) >= 20


@pytest.mark.parametrize('path', CONFIGS, ids=config_id)
def test_config_parses_and_names_a_model(path):
    cfg = resolve_config(path)  # also checks every component's options against its constructor
    assert cfg.model.type
    assert cfg.default_scope == 'mmtard'
    assert cfg.train_dataloader.dataset.type
    if not path.is_relative_to(CHAIN_CONFIGS):  # the chain's stages are scored by the demo and the study
        assert cfg.evaluation.datasets, 'every config names the benchmark `mmtard eval` runs'
    parts = path.stem.split('_')
    assert len(parts) == 6, f'{path.name}: expected {{algorithm}}_{{student}}_{{teachers}}_{{attack}}_{{schedule}}_{{data}}'


@pytest.mark.parametrize('path', BASE_FILES, ids=config_id)
def test_base_files_use_underscores_only(path):
    assert '-' not in path.stem
