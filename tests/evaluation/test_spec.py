"""The evaluation section: presets, budget precedence, per-dataset attacks, clear errors."""
from pathlib import Path

import pytest

from mmtard.config import load_config
from mmtard.errors import ConfigError
from mmtard.evaluation.benchmark import evaluation_subset
from mmtard.evaluation.attack_choice import attack_config, build_attack
from mmtard.evaluation.hashing import derived_seed
from mmtard.evaluation.spec import PRESETS, SAMPLINGS, benchmark_spec

REPO = Path(__file__).resolve().parents[2]
SHAPES = dict(type='ShapesDataset', split='test', classes='held_out', num_samples=16)


def test_presets_set_the_protocols():
    # the MMT-ARD release: ImageNet 5000 val images all attacked (clip_robustbench.py), zero-shot sets
    # clean on the whole split and attacked on the first 1000 of CLIP_benchmark's seeded shuffle
    assert PRESETS['mmt-ard-release'] == dict(n_clean=None, n_robust=1000, eps=[1, 2, 4], sampling='random',
                                              datasets={'imagenet': dict(n_clean=5000, n_robust=5000)})
    assert PRESETS['quick'] == dict(n_clean=256, n_robust=64, eps=[2], sampling='class-balanced-random', datasets={})


def test_config_budgets_override_its_preset_and_the_cli_preset_overrides_both():
    section = dict(datasets=[SHAPES], preset='mmt-ard-release', n_robust=10, sampling='first-n')
    spec = benchmark_spec(section)
    assert (spec.n_clean, spec.n_robust, spec.eps, spec.preset, spec.sampling) == (
        None, 10, [1.0, 2.0, 4.0], 'mmt-ard-release', 'first-n')
    spec = benchmark_spec(section, preset='quick')
    assert (spec.n_clean, spec.n_robust, spec.eps, spec.preset, spec.sampling) == (
        256, 64, [2.0], 'quick', 'class-balanced-random')


def test_release_preset_attacks_all_5000_imagenet_images_and_1000_of_each_zero_shot_set():
    section = dict(datasets=[dict(name='imagenet', dataset=SHAPES), dict(name='cifar10', dataset=SHAPES)])
    spec = benchmark_spec(section, preset='mmt-ard-release')
    assert (spec.budget('imagenet'), spec.budget('cifar10'), spec.sampling) == ((5000, 5000), (None, 1000), 'random')
    assert benchmark_spec(section, preset='paper').preset == 'mmt-ard-release'  # the old name still answers
    # a count the config sets is the user's choice for every dataset; the preset's ImageNet one yields to it
    own = benchmark_spec(dict(section, preset='mmt-ard-release', n_robust=10))
    assert (own.budget('imagenet'), own.budget('cifar10')) == ((5000, 10), (None, 10))
    with pytest.raises(ConfigError, match="n_robust=6000 exceeds n_clean=5000 for dataset 'imagenet'"):
        benchmark_spec(dict(section, preset='mmt-ard-release', n_robust=6000))


def test_evaluation_subsets_follow_the_sampling():
    labels = [i // 10 for i in range(100)]  # ten classes in order, as a class-folder dataset lists them
    assert evaluation_subset(100, labels, 20, 0, 'first-n') == list(range(20))
    balanced = evaluation_subset(100, labels, 20, 0, 'class-balanced-random')
    assert sorted({labels[i] for i in balanced}) == list(range(10)) and len(balanced) == 20
    assert all(sum(labels[i] == c for i in balanced) == 2 for c in range(10))
    random = evaluation_subset(100, labels, 20, 0, 'random')
    assert len(set(random)) == 20 and random == sorted(random) and random != list(range(20))
    for sampling in SAMPLINGS:  # nested: the robust samples are among the clean ones
        assert set(evaluation_subset(100, labels, 10, 3, sampling)) <= set(evaluation_subset(100, labels, 50, 3,
                                                                                             sampling))
        assert evaluation_subset(100, labels, None, 3, sampling) == list(range(100))
    assert evaluation_subset(100, None, 20, 0, 'class-balanced-random') == random  # no labels: plain random


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
    assert attack.passes_per_sample(10) == {'apgd-ce': 505, 'apgd-t': 909}  # (100 steps + the start) x 5 restarts; x 9 targets


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
    (dict(datasets=[SHAPES], preset='mmt-ard'), "Did you mean 'mmt-ard-release'"),
    (dict(datasets=[SHAPES], sampling='first'), "Did you mean 'first-n'"),
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


def test_templates_option_takes_a_literal_template_or_a_json_list(tmp_path):
    import pytest

    from mmtard.errors import ConfigError
    from mmtard.evaluation.dataset_names import template_option

    assert template_option('a photo of a {}.') == ['a photo of a {}.']
    assert template_option('["a photo of a {}.", "a sketch of a {}."]') == ['a photo of a {}.', 'a sketch of a {}.']
    assert template_option('openai_imagenet') == 'openai_imagenet'  # a set name, checked later
    (tmp_path / 'mine.txt').write_text('a {} here\n')
    assert template_option(str(tmp_path / 'mine.txt')) == ['a {} here']
    for bad, message in (("['a {}']", 'double quotes inside'), ('[]', 'non-empty JSON list of strings')):
        with pytest.raises(ConfigError, match=message):
            template_option(bad)
