"""MMT-ARD and its baselines: the release's loss, gradients, frozen teachers, N teachers, recipes."""
import pytest
import torch
import torch.nn.functional as F

from mmtard.attacks import AttackResult
from mmtard.errors import ConfigError
from mmtard.registry import MODELS

TINY = dict(type='OpenCLIPEncoder', arch='mmtard-tiny-vit', pretrained=None)
CLASSES = ['red circle', 'blue square', 'green star', 'white ring']
TEMPLATES = ['a photo of a {}.', 'a drawing of a {}.']


def build(cfg):
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.set_classes(CLASSES, TEMPLATES)
    return model


def mmtard_cfg(**overrides):
    cfg = dict(type='MMTARD', student=TINY,
               teachers=[dict(name='clean', encoder=TINY, teacher_input='clean'),
                         dict(name='robust', encoder=TINY, teacher_input='adv')],
               attack=dict(type='PGD', eps=4, steps=2, step_size=1, momentum=0.9, seed=0))
    cfg.update(overrides)
    return cfg


def batch(n=6, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, len(CLASSES), (n,), generator=g)


class FixedAttack:
    """Stands in for the attack so the test knows x_adv exactly."""

    def __init__(self, adv):
        self.adv, self.calls = adv, []

    def perturb(self, forward, images, objective):
        self.calls.append(objective)
        return AttackResult(self.adv, 0)


def test_release_loss_is_reproduced_from_the_formulas():
    model = build(mmtard_cfg())
    x, y = batch()
    x_adv = (x + 4 / 255 * torch.sign(torch.randn_like(x))).clamp(0, 1)
    model.attack = FixedAttack(x_adv)
    got = model.loss(x, y, None)['loss']

    # Independent computation, straight from DESIGN.md section 2, with torch's own kl_div.
    with torch.no_grad():
        student, clean_t, robust_t = model.student, model.teachers['clean'].encoder, model.teachers['robust'].encoder
        W = {name: F.normalize(m.encode_text([t.format(c) for c in CLASSES for t in TEMPLATES])
                               .view(len(CLASSES), len(TEMPLATES), -1).mean(1), dim=-1)
             for name, m in (('s', student), ('c', clean_t), ('r', robust_t))}
        f_r, f_c = robust_t(x_adv), clean_t(x)
        p_r, p_c = F.softmax(100 * f_r @ W['r'].T, -1), F.softmax(100 * f_c @ W['c'].T, -1)
        c_r, c_c = (f_r * W['r'][y]).sum(-1), (f_c * W['c'][y]).sum(-1)
    log_s_adv = F.log_softmax(100 * student(x_adv) @ W['s'].T, -1)
    log_s_clean = F.log_softmax(100 * student(x) @ W['s'].T, -1)
    kl_adv = F.kl_div(log_s_adv, p_r, reduction='none')
    kl_clean = F.kl_div(log_s_clean, p_c, reduction='none')
    expected = (50 * c_r[:, None] * kl_adv + 5 * c_c[:, None] * kl_clean).mean()
    assert got.item() == pytest.approx(expected.item(), abs=1e-5, rel=1e-5)


def test_attack_maximises_kl_to_the_clean_teachers_clean_output():
    model = build(mmtard_cfg())
    x, y = batch()
    model.attack = FixedAttack(x.clone())
    model.loss(x, y, None)
    (objective,) = model.attack.calls
    expected = F.softmax(model.zero_shot_logits('clean', model.teachers['clean'](x)), -1)
    assert torch.allclose(objective.target_probs, expected, atol=1e-6)


def test_each_teacher_runs_once_per_step():
    model = build(mmtard_cfg())
    calls = {'clean': 0, 'robust': 0}
    for name, teacher in model.teachers.items():
        teacher.register_forward_hook(lambda *a, name=name: calls.__setitem__(name, calls[name] + 1))
    model.loss(*batch(), None)
    assert calls == {'clean': 1, 'robust': 1}


def test_gradients_reach_only_the_student_and_teachers_stay_bit_identical():
    model = build(mmtard_cfg())
    before = {k: v.clone() for k, v in model.teachers.state_dict().items()}
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    for step in range(2):
        optim.zero_grad()
        out = model.loss(*batch(seed=step), None)
        out['loss'].backward()
        assert all(p.grad is None for p in model.teachers.parameters())
        visual_grads = [p.grad for n, p in model.student.named_parameters() if 'visual' in n]
        assert visual_grads and all(g is not None for g in visual_grads)
        assert all(p.grad is None for n, p in model.student.named_parameters() if 'visual' not in n)
        optim.step()
    after = model.teachers.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not model.teachers['robust'].training


def test_three_teachers_run_and_are_all_weighted():
    cfg = mmtard_cfg(teachers=[dict(name='clean', encoder=TINY, teacher_input='clean'),
                               dict(name='robust', encoder=TINY, teacher_input='adv'),
                               dict(name='extra', encoder=TINY, teacher_input='adv', precision='bf16')],
                     weighting=dict(type='DynamicConfidenceWeighting'))
    out = build(cfg).loss(*batch(), None)
    assert torch.isfinite(out['loss'])
    assert {'kl_clean', 'kl_robust', 'kl_extra', 'balance_extra_mean'} <= set(out)


def test_single_teacher_ard_is_the_release_baseline():
    model = build(dict(type='SingleTeacherARD', student=TINY, teacher=TINY,
                       attack=dict(type='PGD', eps=4, steps=2, step_size=1, seed=0)))
    x, y = batch()
    x_adv = x.flip(0)
    model.attack = FixedAttack(x_adv)
    got = model.loss(x, y, None)
    with torch.no_grad():
        p_r = F.softmax(model.zero_shot_logits('robust', model.teachers['robust'](x)), -1)
    expected = F.kl_div(F.log_softmax(model.student_logits(x_adv), -1), p_r, reduction='batchmean')
    assert got['loss'].item() == pytest.approx(expected.item(), rel=1e-5)
    assert torch.allclose(model.attack.calls[0].target_probs, p_r, atol=1e-6)  # attack target: R on clean x
    assert 'acc_clean' not in got  # no student forward on clean images: nothing uses it


def test_clean_teacher_outputs_are_cached_by_index():
    model = build(mmtard_cfg(cache_clean_teacher_outputs=True))
    calls = []
    model.teachers['clean'].register_forward_hook(lambda *a: calls.append(1))
    x, y = batch()
    index = torch.arange(len(x))
    first = model.loss(x, y, index)['kl_clean']
    second = model.loss(x, y, index)['kl_clean']
    assert len(calls) == 1
    assert torch.isfinite(first) and torch.isfinite(second)


@pytest.mark.parametrize('bad, match', [
    (dict(teachers=[]), 'at least one teacher'),
    (dict(teachers=[dict(name='a', encoder=TINY, teacher_inpt='adv')]), "Did you mean 'teacher_input'"),
    (dict(teachers=[dict(name='a', encoder=TINY, teacher_input='noisy')]), "'clean' or 'adv'"),
    (dict(attack_target='robsut'), "Did you mean 'robust'"),
])
def test_bad_teacher_configs_are_explained(bad, match):
    with pytest.raises(ConfigError, match=match):
        MODELS.build(mmtard_cfg(**bad))


@pytest.mark.parametrize('recipe', ['CleanFinetune', 'TeCoA', 'FARE', 'PMGAFT'])
def test_teacher_recipes_train_the_image_tower(recipe):
    cfg = dict(type=recipe, student=TINY)
    if recipe != 'CleanFinetune':
        cfg['attack'] = dict(type='PGD', eps=4, steps=2, step_size=2, seed=0)
    model = build(cfg)
    out = model.loss(*batch(), None)
    out['loss'].backward()
    assert torch.isfinite(out['loss'])
    assert any(p.grad is not None for n, p in model.student.named_parameters() if 'visual' in n)
    if hasattr(model, 'original'):
        assert all(p.grad is None for p in model.original.parameters())


def test_fare_loss_is_squared_distance_to_the_original_clean_embedding():
    model = build(dict(type='FARE', student=TINY))
    x, y = batch()
    model.attack = FixedAttack(x.flip(0))
    got = model.loss(x, y, None)['loss']
    expected = (model.student(x.flip(0)) - model.original(x)).pow(2).sum(-1).mean()
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)


def test_contrastive_pretraining_needs_and_uses_captions():
    model = MODELS.build(dict(type='ContrastivePretrain', student=dict(TINY, freeze_text=False)))
    x, _ = batch(4)
    out = model(x, mode='loss', caption=['a red circle', 'a blue square', 'a red circle', 'a green star'])
    out['loss'].backward()
    assert torch.isfinite(out['loss'])
    assert model.log_temperature.grad is not None
    with pytest.raises(ConfigError, match='freeze_text=False'):
        MODELS.build(dict(type='ContrastivePretrain', student=TINY))
