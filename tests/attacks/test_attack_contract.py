"""The Attack contract, checked for every registered attack (a new attack is covered by adding
its fast settings to FAST)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mmtard.attacks import Attack, CrossEntropy, KLToTarget, NonFiniteGradientError, SquaredL2
from mmtard.attacks.base import non_finite_rows
from mmtard.registry import ATTACKS

from attack_toys import N_CLASSES, make_data, make_model

#: Small budgets per registered attack so the whole contract runs in seconds.
FAST = {
    'PGD': dict(steps=5),
    'APGD': dict(n_iter=10),
    'Square': dict(n_queries=30),
    'AutoAttack': dict(version='standard', n_iter=5, n_queries=30),
}
#: Attacks defined for Linf only, and the settings that run an L2 attack where one exists.
L2_SETTINGS = {'PGD': {}, 'APGD': {}, 'AutoAttack': dict(version='custom')}
NAMES = sorted(ATTACKS.module_dict)
EPS = 8


def build(name: str, eps: float = EPS, norm: str = 'Linf', **overrides) -> Attack:
    kwargs = dict(FAST[name], **(L2_SETTINGS[name] if norm == 'L2' else {}))
    kwargs.update(overrides)
    return ATTACKS.build(dict(type=name, eps=eps, norm=norm, seed=0, **kwargs))


class Embedder(nn.Module):
    """Pixels -> L2-normalised 16-d embedding, like an image tower."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 64, 16))

    def forward(self, x):
        return F.normalize(self.net(x), dim=-1)


def problems():
    """(forward, objective factory) pairs: logits with CE and KL, embeddings with squared L2."""
    images, labels = make_data(16, seed=5)
    classifier, embedder = make_model(seed=3), Embedder()
    with torch.no_grad():
        teacher = F.softmax(make_model(seed=4)(images), dim=1)
        clean_embedding = embedder(images)
    return images, {
        'logits-ce': (classifier, CrossEntropy(labels)),
        'logits-kl': (classifier, KLToTarget(teacher)),
        'embedding-l2': (embedder, SquaredL2(clean_embedding)),
    }


IMAGES, PROBLEMS = problems()
NORMS = [(name, norm) for name in NAMES for norm in ('Linf', 'L2') if norm == 'Linf' or name in L2_SETTINGS]


def test_every_registered_attack_has_fast_settings():
    assert set(NAMES) <= set(FAST), f'add fast test settings for {set(NAMES) - set(FAST)} to FAST'


def inside_ball(adv, images, eps, norm):
    delta = (adv - images).flatten(1)
    size = delta.abs().amax(dim=1) if norm == 'Linf' else delta.norm(dim=1)
    return bool((size <= eps / 255 + 1e-6).all()) and bool(((adv >= 0) & (adv <= 1)).all())


@pytest.mark.parametrize('problem', sorted(PROBLEMS))
@pytest.mark.parametrize('name, norm', NORMS)
def test_perturb_stays_in_ball_and_improves_objective(name, norm, problem):
    forward, objective = PROBLEMS[problem]
    eps = EPS if norm == 'Linf' else 64
    result = build(name, eps=eps, norm=norm).perturb(forward, IMAGES, objective)
    assert result.adv.dtype == torch.float32 and not result.adv.requires_grad
    assert result.adv.shape == IMAGES.shape
    assert inside_ball(result.adv, IMAGES, eps, norm)
    with torch.no_grad():
        before, after = objective(forward(IMAGES)), objective(forward(result.adv))
    assert after.mean() > before.mean()
    assert result.nan_grad_count == 0


@pytest.mark.parametrize('name', NAMES)
def test_eps_zero_returns_the_input_exactly(name):
    forward, objective = PROBLEMS['logits-ce']
    attack = build(name, eps=0)
    assert torch.equal(attack.perturb(forward, IMAGES, objective).adv, IMAGES)
    labels = objective.labels
    result = attack.evaluate(forward, IMAGES, labels)
    assert torch.equal(result.adv, IMAGES)
    assert torch.equal(result.robust, forward(IMAGES).argmax(1) == labels)


@pytest.mark.parametrize('name', NAMES)
def test_deterministic_under_a_seed(name):
    forward, objective = PROBLEMS['logits-kl']
    first, second = build(name), build(name)
    assert torch.equal(first.perturb(forward, IMAGES, objective).adv, second.perturb(forward, IMAGES, objective).adv)
    assert torch.equal(first.perturb(forward, IMAGES, objective).adv, second.perturb(forward, IMAGES, objective).adv)


@pytest.mark.parametrize('name', NAMES)
def test_rng_state_round_trip_reproduces_the_next_perturbation(name):
    forward, objective = PROBLEMS['logits-kl']
    attack = build(name)
    attack.perturb(forward, IMAGES, objective)
    state = attack.get_rng_state()
    expected = attack.perturb(forward, IMAGES, objective).adv
    resumed = build(name)
    resumed.set_rng_state(state)
    assert torch.equal(resumed.perturb(forward, IMAGES, objective).adv, expected)


@pytest.mark.parametrize('name', NAMES)
def test_float32_under_bf16_autocast(name):
    forward, objective = PROBLEMS['embedding-l2']
    with torch.autocast('cpu', dtype=torch.bfloat16):
        adv = build(name).perturb(forward, IMAGES, objective).adv
    assert adv.dtype == torch.float32
    assert inside_ball(adv, IMAGES, EPS, 'Linf')


@pytest.mark.parametrize('mode', ['train', 'eval'])
@pytest.mark.parametrize('name', NAMES)
def test_leaves_no_parameter_grads_and_keeps_the_mode(name, mode):
    model = make_model(seed=3).train(mode == 'train')
    labels = PROBLEMS['logits-ce'][1].labels
    with torch.no_grad():  # e.g. an mmengine validation loop: attacks must still get their gradients
        build(name).perturb(model, IMAGES, CrossEntropy(labels))
        build(name).evaluate(model, IMAGES, labels)
    assert all(p.grad is None for p in model.parameters())
    assert model.training == (mode == 'train')


@pytest.mark.parametrize('name', NAMES)
def test_evaluate_on_a_trained_model(name, trained):
    model, images, labels = trained
    images, labels = images[:64], labels[:64]
    clean = model(images).argmax(1) == labels
    result = build(name).evaluate(model, images, labels)
    assert inside_ball(result.adv, images, EPS, 'Linf')
    assert not (result.robust & ~clean).any()
    assert result.robust.float().mean() < clean.float().mean()
    with torch.no_grad():
        adv_correct = model(result.adv).argmax(1) == labels
    assert torch.equal(adv_correct, result.robust), 'robust must mean: adv is still classified correctly'
    assert list(result.per_attack.values()) == sorted(result.per_attack.values(), reverse=True)
    assert list(result.per_attack.values())[-1] == pytest.approx(result.robust.float().mean().item())


def nan_gradient_forward(x):
    """Finite output, NaN input gradient for every sample (d sqrt(u)/du at u = 0 times 0)."""
    return make_model(seed=3)(x) + torch.sqrt(0 * x.flatten(1)[:, :1])


@pytest.mark.parametrize('name', [n for n in NAMES if n != 'Square'])  # Square uses no gradient
def test_nan_gradients_are_zeroed_and_counted_or_raised(name):
    labels = PROBLEMS['logits-ce'][1].labels
    result = build(name).perturb(nan_gradient_forward, IMAGES, CrossEntropy(labels))
    assert result.nan_grad_count >= len(IMAGES)
    assert torch.isfinite(result.adv).all() and inside_ball(result.adv, IMAGES, EPS, 'Linf')
    with pytest.raises(NonFiniteGradientError, match="nan_policy='zero'"):
        build(name, nan_policy='raise').perturb(nan_gradient_forward, IMAGES, CrossEntropy(labels))


def test_non_finite_rows_finds_nan_and_both_infinities():
    t = torch.full((5, 3, 2, 2), 3e38)  # large finite entries are fine: their float32 sum would overflow
    t[1, 0, 0, 0], t[2, 1, 1, 1], t[3, 2, 0, 1] = float('nan'), float('inf'), -float('inf')
    t[4, 0, 0, 0], t[4, 0, 0, 1] = float('inf'), -float('inf')
    assert non_finite_rows(t).tolist() == [False, True, True, True, True]


def test_classes_used_in_tests():
    assert PROBLEMS['logits-ce'][0](IMAGES).shape == (len(IMAGES), N_CLASSES)


@pytest.mark.parametrize('name', NAMES)
def test_every_attack_states_its_budget_and_cost(name):
    """Results record the budget and the plan counts the passes from the attack itself: the cost of
    each stage is at least its iterations x restarts x targets (APGD also evaluates its start)."""
    attack = build(name)
    for num_classes in (2, 10):
        budget = attack.budget(num_classes)
        assert budget.iterations >= 1 and budget.restarts >= 1
        assert budget.targets is None or 1 <= budget.targets <= num_classes - 1
        passes = attack.passes_per_sample(num_classes)
        assert passes and all(isinstance(p, int) and p >= 1 for p in passes.values())
        assert sum(passes.values()) >= budget.iterations
