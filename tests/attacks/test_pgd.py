"""PGD options: the release's momentum rule, minimisation, step size."""
import pytest
import torch
from torch import nn

from mmtard.attacks import PGD, CrossEntropy, SquaredL2
from mmtard.errors import ConfigError

torch.manual_seed(0)
MODEL = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 10))
IMAGES = torch.rand(8, 3, 8, 8)
LABELS = torch.arange(8)


def test_linf_momentum_of_the_release_equals_sign_pgd_where_gradients_are_nonzero():
    """v = sign(mu * v + sign(g)) with mu < 1 is sign(g) wherever g != 0 (documented in PGD)."""
    plain = PGD(4, steps=5, step_size=1, seed=0).perturb(MODEL, IMAGES, CrossEntropy(LABELS)).adv
    momentum = PGD(4, steps=5, step_size=1, momentum=0.9, seed=0).perturb(MODEL, IMAGES, CrossEntropy(LABELS)).adv
    assert torch.equal(plain, momentum)


def test_l2_momentum_changes_the_path():
    target = torch.zeros(8, 10)
    plain = PGD(64, norm='L2', steps=5, seed=0).perturb(MODEL, IMAGES, SquaredL2(target)).adv
    momentum = PGD(64, norm='L2', steps=5, momentum=0.9, seed=0).perturb(MODEL, IMAGES, SquaredL2(target)).adv
    assert not torch.allclose(plain, momentum)


def test_maximize_false_descends():
    objective = CrossEntropy(LABELS)
    adv = PGD(8, steps=10, maximize=False, random_start=False).perturb(MODEL, IMAGES, objective).adv
    with torch.no_grad():
        assert (objective(MODEL(adv)) < objective(MODEL(IMAGES))).all()


def test_without_random_start_the_first_step_is_one_signed_gradient_step():
    x = IMAGES.clone().requires_grad_(True)
    grad, = torch.autograd.grad(CrossEntropy(LABELS)(MODEL(x)).sum(), x)
    expected = (IMAGES + grad.sign() / 255).clamp(0, 1)
    adv = PGD(4, steps=1, step_size=1, random_start=False).perturb(MODEL, IMAGES, CrossEntropy(LABELS)).adv
    assert torch.allclose(adv, expected)


@pytest.mark.parametrize('kwargs, message', [(dict(momentum=1.0), 'momentum'), (dict(steps=0), 'steps'),
                                             (dict(step_size=0.0039), 'step_size=1'), (dict(loss='xent'), 'loss')])
def test_pgd_option_errors(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        PGD(4, **kwargs)
