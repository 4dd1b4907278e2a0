"""PGD options: the release's momentum rule, minimisation, step size."""
import math

import pytest
import torch
from torch import nn

from mmtard.attacks import PGD, CrossEntropy, Objective
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


class Bumpy(Objective):
    """f(z) = w z_0 - (z_1 - c)^2 - relu(z_2 - t)^2 (+ 0 z_3) on the pixels z: nonlinear, so the gradient
    changes along the path; its hand-derived gradient is [w, -2 (z_1 - c), -2 relu(z_2 - t), 0]."""

    per_sample = ('w', 'c', 't')

    def __init__(self, w, c, t):
        self.w, self.c, self.t = torch.tensor(w), torch.tensor(c), torch.tensor(t)

    def __call__(self, z):
        return self.w * z[:, 0] - (z[:, 1] - self.c) ** 2 - torch.relu(z[:, 2] - self.t) ** 2 + 0 * z[:, 3]


def identity(x):
    return x.flatten(1)


def test_linf_momentum_two_steps_by_hand():
    """eps 3/255, step 2/255, x0 = 0.5 everywhere, w = 1, c = 0.5 + 1/255, t = 0.5 - 1/255.
    Step 1: g = [1, +2/255, -2/255, 0] -> v = [1, 1, -1, 0], x1 = 0.5 + [2, 2, -2, 0]/255.
    Step 2: g = [1, -2/255, 0 (z_2 < t), 0] -> v = sign(0.9 v + sign(g)) = [1, -1, -1, 0]:
    coordinate 2 keeps moving on momentum where plain PGD stops; coordinates 0 and 2 hit the ball."""
    x0 = torch.full((1, 1, 2, 2), 0.5)
    objective = Bumpy([1.0], [0.5 + 1 / 255], [0.5 - 1 / 255])
    momentum = PGD(3, steps=2, step_size=2, momentum=0.9, random_start=False).perturb(identity, x0, objective).adv
    plain = PGD(3, steps=2, step_size=2, random_start=False).perturb(identity, x0, objective).adv
    assert torch.allclose(momentum.flatten(), torch.tensor([3, 0, -3, 0]) / 255 + 0.5, atol=1e-6, rtol=0)
    assert torch.allclose(plain.flatten(), torch.tensor([3, 0, -2, 0]) / 255 + 0.5, atol=1e-6, rtol=0)


def _l2_two_steps(x0, grad, a, eps, mu, normalise_grad=True):
    """Two steps of v <- u(mu v + u(g)), x <- proj(x + a v), u = L2 normalisation, in plain floats."""
    def unit(v):
        n = math.sqrt(sum(e * e for e in v))
        return [e / n for e in v]

    def proj(x):
        d = [xi - oi for xi, oi in zip(x, x0)]
        n = math.sqrt(sum(e * e for e in d))
        scale = min(1.0, eps / n)
        return [min(1.0, max(0.0, oi + scale * e)) for oi, e in zip(x0, d)]

    x, v = list(x0), [0.0] * len(x0)
    for _ in range(2):
        g = grad(x)
        g = unit(g) if normalise_grad else g
        v = unit([mu * vi + gi for vi, gi in zip(v, g)])
        x = proj([xi + a * vi for xi, vi in zip(x, v)])
    return x


def test_l2_momentum_two_steps_by_hand():
    """Two samples with gradients of different size (per-sample normalisation); eps 3/255 < two steps
    of 2/255, so the second step is projected back onto the L2 sphere."""
    w, c, t = [0.01, 0.02], [0.5 + 1 / 255, 0.3 + 1 / 255], [0.5 - 1 / 255, 0.6]
    starts = [[0.5, 0.5, 0.5, 0.5], [0.2, 0.3, 0.61, 0.9]]
    x0 = torch.tensor(starts).view(2, 1, 2, 2)
    a, eps = 2 / 255, 3 / 255
    adv = PGD(3, norm='L2', steps=2, step_size=2, momentum=0.9, random_start=False).perturb(
        identity, x0, Bumpy(w, c, t)).adv.flatten(1)
    for i in range(2):
        def grad(z, i=i):
            return [w[i], -2 * (z[1] - c[i]), -2 * max(z[2] - t[i], 0.0), 0.0]
        expected = _l2_two_steps(starts[i], grad, a, eps, 0.9)
        assert torch.allclose(adv[i], torch.tensor(expected), atol=1e-6, rtol=0), i
        # the hand computation discriminates: plain PGD and an un-normalised gradient go elsewhere
        for other in (_l2_two_steps(starts[i], grad, a, eps, 0.0),
                      _l2_two_steps(starts[i], grad, a, eps, 0.9, normalise_grad=False)):
            assert max(abs(e - o) for e, o in zip(expected, other)) > 1e-4
        assert math.sqrt(sum((e - s) ** 2 for e, s in zip(expected, starts[i]))) == pytest.approx(eps)


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


def test_a_weak_attack_of_any_family_is_labelled_reduced():
    """PGD and a plugin's attack have no reference of their own: fewer iterations than the reference
    AutoAttack's 100 are '[reduced]', as a weakened APGD is."""
    from mmtard.attacks.base import Attack, AttackBudget

    assert PGD(eps=4, steps=10).describe().endswith('[reduced]') and PGD(eps=4, steps=10).reduced
    assert not PGD(eps=4, steps=100).reduced and '[reduced]' not in PGD(eps=4, steps=100).describe()

    class PluginAttack(Attack):
        def budget(self, num_classes):
            return AttackBudget(iterations=5)

        def _perturb(self, forward, images, objective):
            return images

    class Unstated(PluginAttack):
        budget = Attack.budget

    assert PluginAttack(eps=4).describe() == 'PluginAttack [reduced]'
    assert Unstated(eps=4).describe() == 'Unstated'
