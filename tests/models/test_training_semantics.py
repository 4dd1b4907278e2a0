"""What one training step does, checked from outside: the student's mode during the attack and the
loss forwards, and the teacher recipes' losses recomputed from their papers' formulas."""
import copy

import pytest
import torch
import torch.nn.functional as F

from mmtard.attacks import CrossEntropy

from distiller_helpers import CLASSES, TEMPLATES, TINY, FixedAttack, batch, build

PGD2 = dict(type='PGD', eps=4, steps=2, step_size=1, momentum=0.9, seed=0)


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """Tiny models gain nothing from a second intra-op thread; on a busy 2-core machine its
    spin-waiting made each forward ~50x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class PhaseMarker:
    """Wraps the model's real attack and marks the time it runs, so hooks can tell its forwards apart."""

    def __init__(self, inner, phase):
        self.inner, self.phase = inner, phase

    def perturb(self, forward, images, objective):
        self.phase[0] = 'attack'
        try:
            return self.inner.perturb(forward, images, objective)
        finally:
            self.phase[0] = 'loss'


# (config, student forwards of the loss after the attack: x_adv and/or x; MMT-ARD's two are one batch)
STEPS = {
    'MMTARD': (dict(type='MMTARD', student=TINY, attack=PGD2,
                    teachers=[dict(name='clean', encoder=TINY, teacher_input='clean'),
                              dict(name='robust', encoder=TINY, teacher_input='adv')]), 1),
    'SingleTeacherARD': (dict(type='SingleTeacherARD', student=TINY, teacher=TINY, attack=PGD2), 1),
    'TeCoA': (dict(type='TeCoA', student=TINY, attack=PGD2), 1),
    'PMGAFT': (dict(type='PMGAFT', student=TINY, attack=PGD2), 2),
    'FARE': (dict(type='FARE', student=TINY, attack=PGD2), 1),
}


@pytest.mark.parametrize('name', list(STEPS))
def test_student_is_in_eval_mode_during_the_attack_and_in_train_mode_for_the_loss(name):
    cfg, loss_forwards = STEPS[name]
    model = build(cfg)
    model.train()
    phase, seen = ['loss'], []
    visual = model.student.model.visual

    def record(module, args):
        modes = [m.training for m in module.modules()]
        seen.append((phase[0], module.training, all(modes), any(modes)))

    visual.register_forward_pre_hook(record)
    model.attack = PhaseMarker(model.attack, phase)
    x, y = batch()
    out = model(x, label=y, mode='loss')
    out['loss'].backward()

    attack = [s for s in seen if s[0] == 'attack']
    loss = [s for s in seen if s[0] == 'loss']
    assert len(attack) == PGD2['steps']  # one student forward per PGD step, every one in eval mode
    assert all(not training and not any_training for _, training, _, any_training in attack)
    assert len(loss) == loss_forwards  # the loss forwards, every one in train mode (all submodules)
    assert all(training and all_training for _, training, all_training, _ in loss)
    assert model.student.training and all(m.training for m in visual.modules())
    assert not any(t.training for t in model.modules() if t is not model and type(t).__name__ == 'FrozenTeacher')


# ----------------------------------------------------------------------------- recipe losses
def class_weights(encoder):
    """W: per class the re-normalised mean of its L2-normalised prompt embeddings."""
    prompts = [t.format(c) for c in CLASSES for t in TEMPLATES]
    return F.normalize(encoder.encode_text(prompts).view(len(CLASSES), len(TEMPLATES), -1).mean(1), dim=-1)


def kl(p_logits, q_logits):
    """KL(p || q) per sample, sum_k p_k (log p_k - log q_k), with torch's kl_div."""
    return F.kl_div(F.log_softmax(q_logits, -1), F.log_softmax(p_logits, -1), reduction='none',
                    log_target=True).sum(-1)


def test_tecoa_loss_is_cross_entropy_of_zero_shot_logits_on_x_adv():
    model = build(dict(type='TeCoA', student=TINY))
    x, y = batch()
    x_adv = (x + 1 / 255 * torch.sign(torch.randn(x.shape, generator=torch.Generator().manual_seed(5)))).clamp(0, 1)
    model.attack = FixedAttack(x_adv)
    got = model.loss(x, y, None)

    student = model.student
    logits = 100 * student(x_adv) @ class_weights(student).T
    expected = F.cross_entropy(logits, y)
    assert got['loss'].item() == pytest.approx(expected.item(), abs=1e-5, rel=1e-5)
    # the attack was asked to maximise the same cross-entropy of the student's zero-shot logits
    (objective,), (forward,) = model.attack.calls, model.attack.forwards
    assert isinstance(objective, CrossEntropy) and torch.equal(objective.labels, y)
    assert torch.allclose(forward(x_adv), logits, atol=1e-4)


@pytest.mark.parametrize('coefficients', [{}, dict(alpha=0.7, beta=1.3)])
def test_pmgaft_loss_is_recomputed_from_the_paper(coefficients):
    """L = CE(z_S(x_adv), y) + alpha KL(p_orig(x_adv) || p_S(x_adv)) + beta KL(p_S(x) || p_S(x_adv))."""
    model = build(dict(type='PMGAFT', student=TINY, **coefficients))
    alpha, beta = coefficients.get('alpha', 1.0), coefficients.get('beta', 1.0)
    original = copy.deepcopy(model.student)  # the pre-trained model, before fine-tuning moves the student
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():  # stands in for some fine-tuning: the student leaves the original
        for p in model.student.model.visual.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    x, y = batch()
    x_adv = x.roll(1, dims=0)  # any fixed point will do; another image makes KL(p_S(x) || p_S(x_adv)) sizeable
    model.attack = FixedAttack(x_adv)
    got = model.loss(x, y, None)

    student = model.student
    W_s, W_o = class_weights(student), class_weights(original)
    with torch.no_grad():
        z_adv, z_clean = 100 * student(x_adv) @ W_s.T, 100 * student(x) @ W_s.T
        z_orig = 100 * original(x_adv) @ W_o.T
    ce = F.cross_entropy(z_adv, y)
    kl_original, kl_clean = kl(z_orig, z_adv).mean(), kl(z_clean, z_adv).mean()
    assert kl_original.item() > 1e-3 and kl_clean.item() > 1e-3  # neither term is vacuous here
    expected = ce + alpha * kl_original + beta * kl_clean
    assert got['loss'].item() == pytest.approx(expected.item(), abs=1e-5, rel=1e-5)
    (objective,) = model.attack.calls
    assert isinstance(objective, CrossEntropy) and torch.equal(objective.labels, y)
