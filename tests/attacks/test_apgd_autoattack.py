"""APGD's schedule, AutoAttack's compositions and FAB's projection."""
import pytest
import torch

from mmtard.attacks import APGD, VERSIONS, AutoAttack, CrossEntropy
from mmtard.attacks.apgd import checkpoint_lengths
from mmtard.attacks.fab import project_to_hyperplane_linf
from mmtard.attacks.square import square_fraction
from mmtard.errors import ConfigError


def test_checkpoints_follow_the_paper():
    # p_j: 0, .22, .41, .57, .70, .80, .87, .93, .99 -> gaps 22, 19, 16, 13, 10, 7, 6, 6 for 100 iterations
    assert checkpoint_lengths(100) == [22, 19, 16, 13, 10, 7, 6, 6]
    assert checkpoint_lengths(10) == [2, 1, 1, 1, 1, 1, 1, 1, 1]


def test_square_schedule():
    assert square_fraction(0.8, 0, 5000) == 0.8
    assert square_fraction(0.8, 100, 5000) == 0.2  # 2% of the budget: p_init / 4
    assert square_fraction(0.8, 4999, 5000) == 0.8 / 512


def test_apgd_step_size_is_halved_on_a_flat_objective():
    """A zero gradient never raises the loss, so every checkpoint halves and the point never moves
    away from the (random) start: the adversarial point stays where it started."""
    images = torch.rand(4, 3, 8, 8)
    attack = APGD(8, n_iter=20, seed=0)
    flat = attack.perturb(lambda x: torch.zeros(x.shape[0], 3) + 0 * x.sum(), images, CrossEntropy(torch.zeros(4, dtype=torch.long)))
    assert (flat.adv - images).abs().amax() <= 8 / 255 + 1e-6


@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_versions_report_their_stages_in_order(version, trained):
    model, images, labels = trained
    result = AutoAttack(8, version=version, n_iter=5, n_queries=20, seed=0).evaluate(model, images[:32], labels[:32])
    assert tuple(result.per_attack) == VERSIONS[version]


def test_each_stage_only_attacks_remaining_samples(trained):
    model, images, labels = trained
    images, labels = images[:64], labels[:64]
    clean = (model(images).argmax(1) == labels).float().mean().item()
    result = AutoAttack(8, attacks=['apgd-ce', 'square', 'apgd-t'], n_iter=20, n_queries=50, seed=0).evaluate(
        model, images, labels)
    values = list(result.per_attack.values())
    assert values == sorted(values, reverse=True) and values[0] < clean


@pytest.mark.parametrize('kwargs, message', [
    (dict(version='standart'), "Did you mean 'standard'"),
    (dict(attacks=['apgd-ce', 'apgd-tt']), "Did you mean 'apgd-t'"),
    (dict(attacks=[]), 'no stage'),
    (dict(attacks=['apgd-ce', 'apgd-ce']), 'twice'),
    (dict(version='standard', norm='L2'), "version='custom'"),
])
def test_autoattack_config_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        AutoAttack(8, **kwargs)


def test_targeted_stage_needs_four_classes():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
    images, labels = torch.rand(8, 3, 2, 2), torch.zeros(8, dtype=torch.long)
    with pytest.raises(ConfigError, match="version='apgd-ce'"):
        AutoAttack(8, version='custom', n_iter=5).evaluate(model, images, labels)
    AutoAttack(8, version='apgd-ce', n_iter=5).evaluate(model, images, labels)


def test_fab_projection_is_exact_and_minimal():
    torch.manual_seed(0)
    point, w = torch.rand(6, 3, 4, 4), torch.randn(6, 3, 4, 4)
    change = torch.randn(6) * 0.5
    d = project_to_hyperplane_linf(point, w, change)
    assert torch.allclose((w * d).flatten(1).sum(1), change, atol=1e-4)
    assert ((point + d) >= -1e-6).all() and ((point + d) <= 1 + 1e-6).all()
    # minimal: a uniformly shrunk budget cannot reach the hyperplane
    t = d.flatten(1).abs().amax(1)
    direction = w.flatten(1).sign() * change.sign()[:, None]
    room = torch.where(direction > 0, 1 - point.flatten(1), point.flatten(1))
    shrunk = (w.flatten(1).abs() * torch.minimum(room, 0.99 * t[:, None])).sum(1)
    assert (shrunk < change.abs()).all()
