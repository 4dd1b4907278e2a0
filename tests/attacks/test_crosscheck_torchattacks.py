"""Cross-check against torchattacks 3.5.1, an independent implementation, on a trained toy MLP.

Same model, same 256 inputs, same eps and budgets. The numbers cannot be bit-identical: the random
starts come from different generators, torchattacks compares the first window's losses against a
zero row (a quirk of the reference code; mmtard counts from the starting loss), and float
summation orders differ. So each robust accuracy must agree within TOLERANCE, 3 points (about 8 of
256 samples), and the eps is chosen where robust accuracy is far from 0 and 1, so that a broken
attack could not pass by saturation.
"""
import pytest
import torch

from mmtard.attacks import APGD, PGD, AutoAttack

torchattacks = pytest.importorskip('torchattacks')

EPS = 8
TOLERANCE = 0.03


def accuracy(model, images, labels):
    with torch.no_grad():
        return model(images).argmax(1) == labels


def test_apgd_ce_and_autoattack_custom_match_torchattacks(trained):
    model, images, labels = trained
    ours_ce = APGD(EPS, n_iter=100, loss='ce', seed=0).evaluate(model, images, labels)
    ours_aa = AutoAttack(EPS, version='custom', seed=0).evaluate(model, images, labels)

    adv_ce = torchattacks.APGD(model, eps=EPS / 255, steps=100, loss='ce', seed=0)(images, labels)
    adv_t = torchattacks.APGDT(model, eps=EPS / 255, steps=100, n_classes=10, seed=0)(images, labels)
    theirs_ce = accuracy(model, adv_ce, labels)
    theirs_aa = theirs_ce & accuracy(model, adv_t, labels)

    clean = accuracy(model, images, labels).float().mean().item()
    assert 0.2 < theirs_ce.float().mean().item() < clean - 0.2, 'eps no longer gives an informative robust accuracy'
    assert abs(ours_ce.robust.float().mean().item() - theirs_ce.float().mean().item()) <= TOLERANCE
    assert abs(ours_aa.per_attack['apgd-ce'] - theirs_ce.float().mean().item()) <= TOLERANCE
    assert abs(ours_aa.per_attack['apgd-t'] - theirs_aa.float().mean().item()) <= TOLERANCE
    assert ours_aa.per_attack['apgd-t'] < ours_aa.per_attack['apgd-ce']  # the targeted stage adds something


def test_pgd_matches_torchattacks(trained):
    model, images, labels = trained
    ours = PGD(EPS, steps=10, step_size=EPS / 4, seed=0).evaluate(model, images, labels)
    theirs = accuracy(model, torchattacks.PGD(model, eps=EPS / 255, alpha=EPS / 4 / 255, steps=10)(images, labels),
                      labels)
    assert abs(ours.robust.float().mean().item() - theirs.float().mean().item()) <= TOLERANCE


@pytest.mark.slow
def test_fab_t_and_square_match_or_beat_torchattacks(trained):
    """FAB-T must agree within TOLERANCE; our Square draws one window per sample (the original
    paper) instead of one per batch (torchattacks), so it may only be stronger."""
    model, images, labels = trained
    images, labels = images[:128], labels[:128]
    ours = AutoAttack(EPS, attacks=['fab-t'], seed=0).evaluate(model, images, labels).robust.float().mean().item()
    fab = torchattacks.FAB(model, norm='Linf', eps=EPS / 255, steps=100, multi_targeted=True, n_classes=10, seed=0)
    assert abs(ours - accuracy(model, fab(images, labels), labels).float().mean().item()) <= TOLERANCE
    ours = AutoAttack(EPS, attacks=['square'], n_queries=1000, seed=0).evaluate(model, images, labels)
    square = torchattacks.Square(model, norm='Linf', eps=EPS / 255, n_queries=1000, seed=0)
    assert ours.robust.float().mean().item() <= accuracy(model, square(images, labels), labels).float().mean().item() + TOLERANCE
