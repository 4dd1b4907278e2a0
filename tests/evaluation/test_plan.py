"""The evaluation section: presets, budget precedence, per-dataset attacks, clear errors."""
from pathlib import Path

import pytest

from mmtard.config import load_config
from mmtard.errors import ConfigError
from mmtard.evaluation.plan import PRESETS, attack_config, benchmark_spec, derived_seed, stage_passes, build_attack

REPO = Path(__file__).resolve().parents[2]
SHAPES = dict(type='ShapesDataset', split='test', classes='held_out', num_samples=16)


def test_presets_set_the_field_protocol():
    assert PRESETS['paper'] == dict(n_clean=None, n_robust=1000, eps=[1, 2, 4])
    assert PRESETS['quick'] == dict(n_clean=256, n_robust=64, eps=[2])


def test_config_budgets_override_its_preset_and_the_cli_preset_overrides_both():
    section = dict(datasets=[SHAPES], preset='paper', n_robust=10)
    spec = benchmark_spec(section)
    assert (spec.n_clean, spec.n_robust, spec.eps, spec.preset) == (None, 10, [1.0, 2.0, 4.0], 'paper')
    spec = benchmark_spec(section, preset='quick')
    assert (spec.n_clean, spec.n_robust, spec.eps, spec.preset) == (256, 64, [2.0], 'quick')


def test_defaults_are_autoattack_custom_and_the_validation_set_is_the_fallback():
    spec = benchmark_spec(None, fallback_dataset=SHAPES)
    assert spec.attack == dict(type='AutoAttack', version='custom')
    assert [d.name for d in spec.datasets] == ['ShapesDataset'] and spec.datasets[0].dataset == SHAPES


def test_tasks_with_fewer_than_four_classes_get_apgd_ce_only():
    spec = benchmark_spec(dict(datasets=[SHAPES]))
    entry = spec.datasets[0]
    assert attack_config(spec, entry, 2)['version'] == 'apgd-ce'
    assert attack_config(spec, entry, 3)['version'] == 'apgd-ce'  # APGD-T's targeted DLR needs 4 classes
    assert attack_config(spec, entry, 4)['version'] == 'custom'
    attack = build_attack(attack_config(spec, entry, 10), eps=2, seed=0)
    assert stage_passes(attack, 10) == {'apgd-ce': 505, 'apgd-t': 909}  # (100 steps + the start) x 5 restarts; x 9 targets


def test_explicit_attack_version_needs_autoattack():
    spec = benchmark_spec(dict(datasets=[dict(dataset=SHAPES, attack_version='standard')],
                               attack=dict(type='APGD', loss='ce')))
    with pytest.raises(ConfigError, match='AutoAttack'):
        attack_config(spec, spec.datasets[0], 10)


@pytest.mark.parametrize('section, message', [
    (dict(datasets=[SHAPES], n_robus=3), "Did you mean 'n_robust'"),
    (dict(datasets=[dict(dataset=SHAPES, clasnames=['a'])], ), "Did you mean 'classnames'"),
    (dict(datasets=[SHAPES, SHAPES]), 'more than once'),
    (dict(datasets=[SHAPES], eps=[0.0078]), 'pixel units'),
    (dict(datasets=[SHAPES], preset='papr'), "Did you mean 'paper'"),
    (dict(), 'names no dataset'),
])
def test_bad_sections_are_explained(section, message):
    with pytest.raises(ConfigError, match=message):
        benchmark_spec(section)


def test_attack_seed_depends_only_on_its_inputs():
    assert derived_seed(0, 'cifar10', 2.0, 3) == derived_seed(0, 'cifar10', 2.0, 3)
    assert len({derived_seed(0, 'cifar10', 2.0, b) for b in range(50)}) == 50


@pytest.mark.parametrize('name', ['paper_zero_shot.py', 'shapes_quick.py'])
def test_shipped_benchmarks_resolve(name):
    cfg = load_config(REPO / 'configs' / '_base_' / 'evaluation' / name)
    spec = benchmark_spec(cfg.evaluation)
    assert spec.datasets and spec.preset in PRESETS


def test_options_without_a_type_tune_the_default_attack():
    spec = benchmark_spec(dict(datasets=[SHAPES], attack=dict(n_iter=10)))
    assert spec.attack == dict(type='AutoAttack', version='custom', n_iter=10)


def test_more_attacked_than_clean_samples_is_refused():
    with pytest.raises(ConfigError, match='n_robust=64 exceeds n_clean=32'):
        benchmark_spec(dict(datasets=[SHAPES], n_clean=32, n_robust=64))
