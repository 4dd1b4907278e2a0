"""MMT-ARD and its baselines: the release's loss, gradients, frozen teachers, N teachers, recipes."""
import pytest
import torch
import torch.nn.functional as F

from mmtard.errors import ConfigError
from mmtard.registry import MODELS

from distiller_helpers import CLASSES, TEMPLATES, TINY, FixedAttack, batch, build

def mmtard_cfg(**overrides):
    cfg = dict(type='MMTARD', student=TINY,
               teachers=[dict(name='clean', encoder=TINY, teacher_input='clean'),
                         dict(name='robust', encoder=TINY, teacher_input='adv')],
               attack=dict(type='PGD', eps=4, steps=2, step_size=1, momentum=0.9, seed=0))
    cfg.update(overrides)
    return cfg


def test_release_loss_is_reproduced_from_the_formulas():
    model = build(mmtard_cfg())
    x, y = batch()
    x_adv = (x + 4 / 255 * torch.sign(torch.randn_like(x))).clamp(0, 1)
    model.attack = FixedAttack(x_adv)
    got = model.loss(x, y, None)['loss']

    # Independent computation, straight from docs/method.md section 2, with torch's own kl_div.
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


def test_zero_shot_logits_are_float32_under_autocast():
    model = build(mmtard_cfg())
    x, _ = batch()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        embeddings = model.student(x)
        logits = model.zero_shot_logits('student', embeddings)
    expected = 100.0 * embeddings.float() @ model.class_embeddings_of('student').float().t()
    assert logits.dtype == torch.float32
    assert torch.allclose(logits, expected, rtol=0, atol=1e-4)  # bf16 would be off by up to 0.25


def test_one_batched_student_forward_for_x_and_x_adv_gives_the_separate_forwards_loss(monkeypatch):
    adv = batch(6, seed=2)[0]
    x, y = batch(6)
    model = build(mmtard_cfg())
    model.attack = FixedAttack(adv)
    sizes = []
    model.student.register_forward_hook(lambda module, args, out: sizes.append(len(args[0])))
    batched = model.loss(x, y, None)
    assert sizes == [12], 'x and x_adv in one student forward'
    monkeypatch.setattr(model, 'student_has_batch_statistics', lambda: True)  # as a batch-norm student
    separate = model.loss(x, y, None)
    assert sizes == [12, 6, 6]
    for key in ('loss', 'kl_clean', 'kl_robust'):
        torch.testing.assert_close(batched[key], separate[key], rtol=1e-5, atol=1e-6)


def test_a_student_with_batch_norm_in_training_sees_each_batch_alone():
    model = build(dict(type='TeCoA', student=dict(type='OpenCLIPEncoder', arch='mmtard-tiny-rn')))
    assert model.train().student_has_batch_statistics()
    assert not model.eval().student_has_batch_statistics()
    assert not build(mmtard_cfg()).train().student_has_batch_statistics()


def test_clean_teacher_outputs_are_cached_by_index():
    cfg = mmtard_cfg(attack=dict(type='PGD', eps=0, steps=1, step_size=1))  # x_adv = x: deterministic
    cached, plain = build(dict(cfg, cache_clean_teacher_outputs=True)), build(cfg)
    seen = []
    cached.teachers['clean'].register_forward_hook(lambda module, args, out: seen.append(len(args[0])))
    x, y = batch(8)
    first = cached.loss(x[:6], y[:6], torch.arange(6))
    assert seen == [6]
    assert torch.equal(first['kl_clean'], plain.loss(x[:6], y[:6], None)['kl_clean'])

    order = torch.tensor([5, 0, 3, 1, 4, 2])  # the same samples, reshuffled as in a later epoch
    again = cached.loss(x[order], y[order], order)
    assert seen == [6], 'a fully cached batch runs no teacher forward'
    assert torch.allclose(again['kl_clean'], plain.loss(x[order], y[order], None)['kl_clean'], atol=1e-6)

    mixed = torch.tensor([7, 2, 6, 0])  # two new samples among cached ones: only those two are computed
    embeddings = cached.clean_teacher_embeddings('clean', x[mixed], mixed)
    assert seen == [6, 2]
    assert torch.allclose(embeddings, plain.teachers['clean'](x[mixed]), atol=1e-6)
    assert len(cached._clean_cache['clean']) == 8 and len(cached._clean_cache['robust']) == 0


def test_teacher_cache_refuses_indices_on_the_accelerator():
    model = build(mmtard_cfg(cache_clean_teacher_outputs=True))
    x, _ = batch()
    with pytest.raises(ConfigError, match='indices on the CPU'):  # .tolist() there would sync every step
        model.clean_teacher_embeddings('clean', x, torch.arange(len(x), device='meta'))


@pytest.mark.parametrize('bad, match', [
    (dict(teachers=[]), 'at least one teacher'),
    (dict(teachers=[dict(name='a', encoder=TINY, teacher_inpt='adv')]), "Did you mean 'teacher_input'"),
    (dict(teachers=[dict(name='a', encoder=TINY, teacher_input='noisy')]), "'clean' or 'adv'"),
    (dict(teachers=[dict(name='a', encoder=TINY)]), "teacher_input='clean'"),
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
    grads = {n: p.grad for n, p in model.student.named_parameters()}
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if 'visual' in n)
    assert [n for n, g in grads.items() if 'visual' not in n and g is not None] == [], 'the text tower stays frozen'
    if hasattr(model, 'original'):
        assert all(p.grad is None for p in model.original.parameters())


@pytest.mark.parametrize('unit_sphere', [False, True])
def test_fare_loss_is_squared_distance_to_the_original_clean_embedding(unit_sphere):
    model = build(dict(type='FARE', student=TINY, unit_sphere=unit_sphere))
    with torch.no_grad():  # move the student away from the original, so the loss is not trivially small
        for p in model.student.model.visual.parameters():
            p.add_(0.01 * torch.randn_like(p))
    x, y = batch()
    model.attack = FixedAttack(x.flip(0))
    got = model.loss(x, y, None)['loss']
    # Independently: the image towers' raw outputs on normalised pixels, as the FARE paper compares them.
    student, original = model.student, model.original.encoder
    mean, std = torch.tensor(student.pixel_mean).view(1, 3, 1, 1), torch.tensor(student.pixel_std).view(1, 3, 1, 1)
    with torch.no_grad():
        adv = student.model.encode_image((x.flip(0) - mean) / std)
        clean = original.model.encode_image((x - mean) / std)
    if unit_sphere:
        adv, clean = F.normalize(adv, dim=-1), F.normalize(clean, dim=-1)
    expected = (adv - clean).pow(2).sum(-1).mean()
    assert got.item() == pytest.approx(expected.item(), rel=1e-5)
    (objective,) = model.attack.calls
    assert torch.allclose(objective.target_embeddings, clean, atol=1e-6)  # the attack pushes away from it


def test_contrastive_pretraining_needs_and_uses_captions():
    """The symmetric InfoNCE, recomputed image by image and caption by caption: identical captions are all
    positives of each other (here 0 and 2), both towers and the temperature get gradients."""
    model = MODELS.build(dict(type='ContrastivePretrain', student=dict(TINY, freeze_text=False)))
    x, _ = batch(4)
    captions = ['a red circle', 'a blue square', 'a red circle', 'a green star']
    out = model(x, mode='loss', caption=captions)
    out['loss'].backward()
    with torch.no_grad():
        images = model.student(x)
        texts = F.normalize(model.student.text_features(captions).float(), dim=-1)
        logits = model.log_temperature.exp() * images @ texts.T
    expected = 0.0
    for i in range(4):
        positives = [j for j in range(4) if captions[j] == captions[i]]
        per_image, per_caption = F.log_softmax(logits[i], 0), F.log_softmax(logits[:, i], 0)
        expected -= (sum(per_image[j] for j in positives) + sum(per_caption[j] for j in positives)) / len(positives)
    assert out['loss'].item() == pytest.approx(expected.item() / 8, rel=1e-5)
    assert model.log_temperature.grad.abs() > 0
    text_tower = [p.grad for n, p in model.student.named_parameters() if not n.startswith('model.visual')]
    assert any(g is not None and g.abs().sum() > 0 for g in text_tower), 'the text tower trains too'
    with pytest.raises(ConfigError, match='freeze_text=False'):
        MODELS.build(dict(type='ContrastivePretrain', student=TINY))


def test_validation_reports_how_the_training_attack_transfers_to_each_teacher():
    from mmtard.evaluation.metrics import ZeroShotAccuracy

    model = build(mmtard_cfg(val_teacher_transfer=True))
    x, y = batch()
    x_adv = (x + 4 / 255 * torch.sign(torch.randn_like(x))).clamp(0, 1)
    model.attack = FixedAttack(x_adv)
    (record,) = model.predict(x, y)
    (objective,) = model.attack.calls  # the training attack's own objective: the clean teacher on clean x
    expected_target = F.softmax(model.zero_shot_logits('clean', model.teachers['clean'](x)), -1)
    assert torch.allclose(objective.target_probs, expected_target, atol=1e-6)
    for name, teacher in model.teachers.items():
        for kind, images in (('clean', x), ('adv', x_adv)):
            expected = model.zero_shot_logits(name, teacher(images)).argmax(-1)
            assert torch.equal(record[f'teacher_{name}_{kind}_pred'], expected)
    assert torch.equal(record['train_attack_pred'], model.student_logits(x_adv).argmax(-1))
    metric = ZeroShotAccuracy()
    metric.process(None, [record])
    values = metric.compute_metrics(metric.results)
    assert values['clean_acc'] == pytest.approx((record['pred'] == y).float().mean().item())
    assert values['teacher_robust_adv_acc'] == pytest.approx((record['teacher_robust_adv_pred'] == y).float().mean().item())
    assert set(values) == {'clean_acc', 'train_attack_acc', 'teacher_clean_clean_acc', 'teacher_clean_adv_acc',
                           'teacher_robust_clean_acc', 'teacher_robust_adv_acc'}


def test_validation_runs_no_extra_attack_by_default():
    model = build(mmtard_cfg())
    model.attack = FixedAttack(batch()[0])
    (record,) = model.predict(*batch())
    assert model.attack.calls == [] and set(record) == {'pred', 'label'}
