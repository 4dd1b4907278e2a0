"""Every weighting strategy on small tensors, with the numbers worked out by hand."""
import math

import pytest
import torch

from mmtard.errors import ConfigError
from mmtard.registry import WEIGHTINGS
from mmtard.weighting import (DynamicConfidenceWeighting, FixedWeighting, MTARDWeighting,
                              ReferenceCosineWeighting, TeacherTerm)


def term(name, teacher_input, kl, logits=None, embeddings=None, class_embeddings=None):
    kl = torch.tensor(kl, dtype=torch.float32)
    batch, classes = kl.shape
    return TeacherTerm(name, teacher_input, kl,
                       torch.zeros(batch, classes) if logits is None else torch.tensor(logits),
                       torch.zeros(batch, 2) if embeddings is None else torch.tensor(embeddings),
                       torch.zeros(classes, 2) if class_embeddings is None else torch.tensor(class_embeddings))


def test_fixed_weighting_is_weighted_mean_of_per_sample_kl():
    terms = {'robust': term('robust', 'adv', [[0.1, 0.3], [0.2, 0.0]]),   # per-sample KL 0.4, 0.2
             'clean': term('clean', 'clean', [[1.0, 0.0], [0.5, 0.5]])}   # per-sample KL 1.0, 1.0
    out = FixedWeighting({'robust': 0.25, 'clean': 0.75})(terms, torch.tensor([0, 1]))
    assert out.loss.item() == pytest.approx(0.25 * 0.3 + 0.75 * 1.0)
    assert out.logs['kl_robust'].item() == pytest.approx(0.3)


def test_fixed_weighting_defaults_to_uniform():
    terms = {'a': term('a', 'adv', [[0.2, 0.2]]), 'b': term('b', 'clean', [[0.6, 0.0]])}
    assert FixedWeighting()(terms, torch.tensor([0])).loss.item() == pytest.approx(0.5)


def test_reference_cosine_weighting_by_hand():
    # Two classes with orthogonal unit text embeddings; teacher embeddings chosen so the cosine to the
    # true class is known: robust: sample0 cos 0.6 (label 0), sample1 cos 0.8 (label 1).
    class_embeddings = [[1.0, 0.0], [0.0, 1.0]]
    robust = term('robust', 'adv', [[0.2, 0.4], [0.1, 0.1]], embeddings=[[0.6, 0.8], [0.6, 0.8]],
                  class_embeddings=class_embeddings)
    clean = term('clean', 'clean', [[1.0, 0.0], [0.0, 2.0]], embeddings=[[1.0, 0.0], [0.0, 1.0]],
                 class_embeddings=class_embeddings)
    labels = torch.tensor([0, 1])
    out = ReferenceCosineWeighting()({'robust': robust, 'clean': clean}, labels)
    # mean over 2 samples x 2 classes of 50*c_R*KL_R: (0.6*0.2 + 0.6*0.4 + 0.8*0.1 + 0.8*0.1) / 4 * 50
    robust_part = 50 * (0.12 + 0.24 + 0.08 + 0.08) / 4
    # clean cosines are 1 and 1: 5 * (1.0 + 0 + 0 + 2.0) / 4
    clean_part = 5 * 3.0 / 4
    assert out.loss.item() == pytest.approx(robust_part + clean_part)
    assert out.logs['weight_robust_mean'].item() == pytest.approx(50 * 0.7)
    assert out.parts['robust'].item() == pytest.approx(robust_part)
    assert out.parts['clean'].item() == pytest.approx(clean_part)
    assert out.logs['weight_robust_std'].item() == pytest.approx(50 * 0.1)


def test_dynamic_confidence_weighting_by_hand():
    # Logits make the true-class probabilities known: softmax([log 3, 0]) = [0.75, 0.25].
    log3 = math.log(3.0)
    robust = term('robust', 'adv', [[0.5, 0.5], [1.0, 1.0]], logits=[[log3, 0.0], [log3, 0.0]])  # KL 1, 2
    clean = term('clean', 'clean', [[0.25, 0.25], [2.0, 0.0]], logits=[[0.0, 0.0], [0.0, 0.0]])  # KL 0.5, 2
    labels = torch.tensor([0, 1])  # q_R = 0.75, 0.25 ; q_C = 0.5, 0.5
    strategy = DynamicConfidenceWeighting(gamma=4.0, beta=0.0, hardness_floor=0.1, center=False)
    out = strategy({'robust': robust, 'clean': clean}, labels)
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    a0, a1 = sig(4 * (0.75 - 0.5)), sig(4 * (0.25 - 0.5))
    per_sample = [a0 * 1.0 + (1 - a0) * 0.5, a1 * 2.0 + (1 - a1) * 2.0]
    hardness = [0.25 / 0.5, 0.75 / 0.5]  # 1 - q_R = 0.25, 0.75; batch mean 0.5
    expected = (hardness[0] * per_sample[0] + hardness[1] * per_sample[1]) / 2
    assert out.loss.item() == pytest.approx(expected, rel=1e-6)
    assert out.logs['hardness_mean'].item() == pytest.approx(1.0)
    assert out.logs['balance_robust_mean'].item() == pytest.approx((a0 + a1) / 2, rel=1e-6)


def test_dynamic_confidence_centring_removes_a_teachers_constant_confidence_offset():
    log3, log9 = math.log(3.0), math.log(9.0)
    robust = term('robust', 'adv', [[1.0, 0.0], [1.0, 0.0]], logits=[[log3, 0.0], [0.0, log3]])  # q_R = .75, .75
    clean = term('clean', 'clean', [[0.0, 0.0], [0.0, 0.0]], logits=[[log9, 0.0], [log9, 0.0]])  # q_C = .9, .1
    labels = torch.tensor([0, 1])
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    centred = DynamicConfidenceWeighting(gamma=4.0, use_hardness=False)({'robust': robust, 'clean': clean}, labels)
    # centred: c_R = (0, 0), c_C = (+0.4, -0.4) -> a_R = sigmoid(-1.6), sigmoid(1.6); KL_R = 1, KL_C = 0
    assert centred.loss.item() == pytest.approx((sig(-1.6) + sig(1.6)) / 2, rel=1e-6)
    assert centred.logs['balance_robust_mean'].item() == pytest.approx(0.5, rel=1e-6)
    raw = DynamicConfidenceWeighting(gamma=4.0, use_hardness=False, center=False)({'robust': robust, 'clean': clean},
                                                                                 labels)
    assert raw.loss.item() == pytest.approx((sig(4 * (0.75 - 0.9)) + sig(4 * (0.75 - 0.1))) / 2, rel=1e-6)


def test_dynamic_confidence_hardness_floor():
    log19 = math.log(19.0)
    # q_R = 0.95 (1 - q = 0.05, raised to the floor 0.1) and 0.5; both teachers agree on the KL, so
    # the balance cannot matter: per-sample KL 1 and 2.
    robust = term('robust', 'adv', [[1.0, 0.0], [2.0, 0.0]], logits=[[log19, 0.0], [0.0, 0.0]])
    clean = term('clean', 'clean', [[1.0, 0.0], [2.0, 0.0]], logits=[[0.0, 0.0], [0.0, 0.0]])
    labels = torch.tensor([0, 0])
    out = DynamicConfidenceWeighting(hardness_floor=0.1)({'robust': robust, 'clean': clean}, labels)
    hardness = [0.1 / 0.3, 0.5 / 0.3]  # floored (0.1, 0.5), divided by their mean 0.3
    assert out.loss.item() == pytest.approx((hardness[0] * 1.0 + hardness[1] * 2.0) / 2, rel=1e-6)
    unfloored = DynamicConfidenceWeighting(hardness_floor=0.01)({'robust': robust, 'clean': clean}, labels)
    assert unfloored.loss.item() == pytest.approx((0.05 * 1.0 + 0.5 * 2.0) / 0.275 / 2, rel=1e-5)


def test_dynamic_confidence_rejects_bad_floor():
    with pytest.raises(ConfigError, match='hardness_floor'):
        DynamicConfidenceWeighting(hardness_floor=0.0)


def test_mtard_weighting_moves_toward_slower_teacher():
    strategy = MTARDWeighting(teachers=('robust', 'clean'), lr=0.5)
    labels = torch.tensor([0])
    first = {'robust': term('robust', 'adv', [[2.0]]), 'clean': term('clean', 'clean', [[4.0]])}
    out = strategy(first, labels)
    assert out.loss.item() == pytest.approx(0.5 * 2.0 + 0.5 * 4.0)
    # first step: ratios 1, 1 -> weights stay 0.5, 0.5
    assert strategy.weights.tolist() == pytest.approx([0.5, 0.5])
    second = {'robust': term('robust', 'adv', [[2.0]]), 'clean': term('clean', 'clean', [[1.0]])}
    out = strategy(second, labels)
    # ratios r = (1.0, 0.25) -> normalised (0.8, 0.2); w = 0.5 * w + 0.5 * (0.8, 0.2), used at once
    assert strategy.weights.tolist() == pytest.approx([0.65, 0.35])
    assert out.loss.item() == pytest.approx(0.65 * 2.0 + 0.35 * 1.0)


def test_mtard_weighting_state_is_saved_and_frozen_in_eval():
    strategy = MTARDWeighting(lr=0.5)
    terms = {'robust': term('robust', 'adv', [[1.0]]), 'clean': term('clean', 'clean', [[1.0]])}
    strategy(terms, torch.tensor([0]))
    state = strategy.state_dict()
    assert set(state) == {'weights', 'first_losses'}
    strategy.eval()
    before = strategy.weights.clone()
    strategy({'robust': term('robust', 'adv', [[5.0]]), 'clean': term('clean', 'clean', [[1.0]])}, torch.tensor([0]))
    assert torch.equal(before, strategy.weights)


def test_strategy_names_unknown_teachers_clearly():
    terms = {'robust': term('robust', 'adv', [[1.0]])}
    with pytest.raises(ConfigError, match="no \\['clean'\\]"):
        ReferenceCosineWeighting()(terms, torch.tensor([0]))


@pytest.mark.parametrize('name', sorted(WEIGHTINGS.module_dict))
def test_every_registered_weighting_gives_a_finite_differentiable_loss(name):
    strategy = WEIGHTINGS.build(dict(type=name))
    student = torch.randn(4, 3, requires_grad=True)
    teacher_logits = torch.randn(4, 3)
    kl = torch.softmax(teacher_logits, -1) * (torch.log_softmax(teacher_logits, -1) - torch.log_softmax(student, -1))
    emb = torch.nn.functional.normalize(torch.randn(4, 2), dim=-1)
    cls = torch.nn.functional.normalize(torch.randn(3, 2), dim=-1)
    terms = {'robust': TeacherTerm('robust', 'adv', kl, teacher_logits, emb, cls),
             'clean': TeacherTerm('clean', 'clean', kl, teacher_logits, emb, cls)}
    out = strategy(terms, torch.tensor([0, 1, 2, 0]))
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    assert student.grad is not None and torch.isfinite(student.grad).all()


@pytest.mark.parametrize('strategy', [FixedWeighting({'robust': 0.25, 'clean': 0.75}), ReferenceCosineWeighting(),
                                      DynamicConfidenceWeighting(), MTARDWeighting()],
                         ids=lambda s: type(s).__name__)
def test_builtin_strategies_split_their_loss_into_per_teacher_parts(strategy):
    """The parts are each teacher's share of the loss (logged as loss_<teacher>): they must sum to it."""
    torch.manual_seed(0)
    labels = torch.tensor([0, 1, 1])
    terms = {name: term(name, kind, torch.rand(3, 2).tolist(), logits=torch.randn(3, 2).tolist(),
                        embeddings=torch.rand(3, 2).add(0.1).tolist(), class_embeddings=[[1.0, 0.0], [0.0, 1.0]])
             for name, kind in (('robust', 'adv'), ('clean', 'clean'))}
    out = strategy(terms, labels)
    assert set(out.parts) == {'robust', 'clean'}
    assert torch.stack(list(out.parts.values())).sum().item() == pytest.approx(out.loss.item(), rel=1e-6)
    assert all(part.item() > 0 for part in out.parts.values())


def test_reference_weighting_warns_once_per_teacher_about_negative_cosines_and_clamp_min_floors_them():
    import warnings

    kl = [[0.2, 0.2], [0.4, 0.4]]
    classes = [[1.0, 0.0], [0.0, 1.0]]
    robust = term('robust', 'adv', kl, embeddings=[[-0.6, 0.8], [0.0, 1.0]], class_embeddings=classes)  # c = -0.6, 1
    clean = term('clean', 'clean', kl, embeddings=[[1.0, 0.0], [0.0, 1.0]], class_embeddings=classes)  # c = 1, 1
    terms, labels = {'robust': robust, 'clean': clean}, torch.tensor([0, 1])
    release = ReferenceCosineWeighting()
    raw = release(terms, labels)
    # robust part: 50 * mean(-0.6*0.2, -0.6*0.2, 1*0.4, 1*0.4) = 50 * 0.56 / 4, smaller than unclamped-at-0
    assert raw.parts['robust'].item() == pytest.approx(50 * (-0.24 + 0.8) / 4)
    with pytest.warns(RuntimeWarning, match="teacher 'robust'.*-0.600.*clamp_min=0"):
        release(terms, labels)  # checked one step late: no GPU sync in the step that made it
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        release(terms, labels)  # once
        clamped = ReferenceCosineWeighting(clamp_min=0)
        out = clamped(terms, labels)
        clamped(terms, labels)  # floored at 0: nothing negative to warn about
    assert out.parts['robust'].item() == pytest.approx(50 * 0.8 / 4)
    assert out.parts['clean'].item() == raw.parts['clean'].item()


@pytest.mark.parametrize('value', [-2, 1.5, 'zero', True])
def test_reference_weighting_refuses_a_clamp_min_that_is_no_cosine(value):
    from mmtard.errors import ConfigError

    with pytest.raises(ConfigError, match='clamp_min'):
        ReferenceCosineWeighting(clamp_min=value)
