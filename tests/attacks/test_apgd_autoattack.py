"""APGD's schedule, AutoAttack's compositions and FAB's projection."""
import pytest
import torch
import torch.nn.functional as F

import mmtard.attacks.apgd as apgd_module
from mmtard.attacks import APGD, DLR, PGD, VERSIONS, AutoAttack, CrossEntropy
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


# --------------------------------------------------------------------------------------------------
# APGD against an independent transcription of Croce & Hein's reference ``attack_single_run``
# (auto-attack autopgd_base.py; torchattacks 3.5.1 APGD), written here from the algorithm.

def _fixed_start_delta(x, eps, norm, generator=None, on_sphere=False):
    """A deterministic stand-in for APGD's random start: a function of each image only, so that a
    subset of the batch gets the same start as in the full batch. Linf: on the cube's surface."""
    t = torch.sin(997.0 * x + 0.5)
    if norm == 'Linf':
        return eps * t / t.flatten(1).abs().amax(1).view(-1, *[1] * (x.dim() - 1))
    return eps * t / t.flatten(1).norm(dim=1).view(-1, *[1] * (x.dim() - 1))


def _ce(logits, y):
    return F.cross_entropy(logits, y, reduction='none')


def _dlr(logits, y):
    z, _ = logits.sort(dim=1)
    true = logits[torch.arange(len(y)), y]
    top_is_true = logits.argmax(1) == y
    other = torch.where(top_is_true, z[:, -2], z[:, -1])
    return -(true - other) / (z[:, -1] - z[:, -3] + 1e-12)


def reference_apgd(model, x, y, eps, norm, n_iter, loss_fn, rho=0.75, start=None):
    """Returns (x_best, still correct at every iterate, per-sample step sizes, first misclassified iterate).

    The reference keeps the last misclassified iterate; mmtard keeps the first (any misclassified point
    of the ball is an equally valid witness) so that it can stop attacking a sample there."""
    view = (-1,) + (1,) * (x.dim() - 1)

    def proj(z):
        if norm == 'Linf':
            return torch.min(torch.max(z, x - eps), x + eps).clamp(0, 1)
        d = z - x
        n = d.flatten(1).norm(dim=1).view(view)
        return (x + d * torch.clamp(eps / (n + 1e-12), max=1.0)).clamp(0, 1)

    def loss_and_grad(z):
        z = z.clone().requires_grad_(True)
        with torch.enable_grad():
            logits = model(z)
            loss = loss_fn(logits, y)
            grad, = torch.autograd.grad(loss.sum(), z)
        return loss.detach(), grad.detach(), logits.detach()

    def unit(g):
        return g.sign() if norm == 'Linf' else g / (g.flatten(1).norm(dim=1).view(view) + 1e-12)

    # checkpoints w_j: gap 22% of the budget, shrinking by 3% down to 6%
    k, k_decr, k_min = max(int(0.22 * n_iter), 1), max(int(0.03 * n_iter), 1), max(int(0.06 * n_iter), 1)
    x_adv = proj(x + _fixed_start_delta(x, eps, norm) if start is None else start)
    loss, grad, logits = loss_and_grad(x_adv)
    correct = logits.argmax(1) == y
    x_first_wrong = x_adv.clone()
    x_best, loss_best, grad_best = x_adv.clone(), loss.clone(), grad.clone()
    step = torch.full((len(x),), 2.0 * eps)
    x_old = x_adv.clone()
    history = [loss]                           # f(x^(0)), f(x^(1)), ...
    since, reduced_last = 0, torch.ones(len(x), dtype=torch.bool)
    loss_best_last = loss_best.clone()
    with torch.no_grad():
        for i in range(n_iter):
            alpha = 0.75 if i > 0 else 1.0
            z = proj(x_adv + step.view(view) * unit(grad))
            x_new = proj(x_adv + alpha * (z - x_adv) + (1 - alpha) * (x_adv - x_old))
            x_old, x_adv = x_adv, x_new
            loss, grad, logits = loss_and_grad(x_adv)
            wrong = logits.argmax(1) != y
            x_first_wrong[wrong & correct] = x_adv[wrong & correct]
            correct &= ~wrong
            history.append(loss)
            better = loss > loss_best
            x_best[better], grad_best[better], loss_best[better] = x_adv[better], grad[better], loss[better]
            since += 1
            if since == k:
                # condition 1: at most rho * k of the window's steps increased the loss
                ups = sum((history[-j] > history[-j - 1]).float() for j in range(1, k + 1))
                oscillating = ups <= rho * k
                # condition 2: not halved at the previous checkpoint and no improvement since
                stalled = ~reduced_last & (loss_best_last >= loss_best)
                halve = oscillating | stalled
                reduced_last, loss_best_last = halve.clone(), loss_best.clone()
                step[halve] /= 2
                x_adv[halve], grad[halve] = x_best[halve], grad_best[halve]   # restart from the best point
                since, k = 0, max(k - k_decr, k_min)
    return x_best, correct, step, x_first_wrong


@pytest.mark.parametrize('norm, eps, loss', [('Linf', 8, 'ce'), ('Linf', 8, 'dlr'), ('L2', 48, 'ce')])
def test_apgd_matches_an_independent_transcription_of_the_reference(trained, monkeypatch, norm, eps, loss):
    model, images, labels = trained
    x, y = images[:64], labels[:64]
    monkeypatch.setattr(apgd_module, 'random_delta', _fixed_start_delta)
    loss_fn = _ce if loss == 'ce' else _dlr
    ref_best, ref_correct, ref_step, ref_wrong = reference_apgd(model, x, y, eps / 255, norm, 50, loss_fn)
    # the run is informative: the step size was halved for some samples and not for others, and
    # the attack fools some but not all samples
    assert ref_step.unique().numel() >= 2
    clean_correct = model(x).argmax(1) == y
    assert 0 < (clean_correct & ~ref_correct).sum() < clean_correct.sum()

    objective = CrossEntropy(y) if loss == 'ce' else DLR(y)
    best = APGD(eps, norm=norm, n_iter=50, loss=loss).perturb(model, x, objective).adv
    assert (best - ref_best).abs().max().item() <= 1e-6

    result = APGD(eps, norm=norm, n_iter=50, loss=loss).evaluate(model, x, y)
    assert torch.equal(result.robust, clean_correct & ref_correct)
    fooled = ~result.robust
    assert (result.adv[fooled & clean_correct] - ref_wrong[fooled & clean_correct]).abs().max().item() <= 1e-6
    assert torch.equal(result.adv[~fooled | ~clean_correct], x[~fooled | ~clean_correct])


# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('version', sorted(VERSIONS))
def test_versions_report_their_stages_in_order(version, trained):
    model, images, labels = trained
    result = AutoAttack(8, version=version, n_iter=5, n_queries=20, seed=0).evaluate(model, images[:32], labels[:32])
    assert tuple(result.per_attack) == VERSIONS[version]


def test_each_stage_only_attacks_the_samples_still_robust(trained):
    """Record every classifier call and the stage that made it; identify each input row by the clean
    image it is closest to. A stage may only query samples that no earlier stage broke, must query all
    of them, and must leave the adversarial images of samples broken earlier bit-identical."""
    model, images, labels = trained
    x, y = images[:64], labels[:64]
    eps = 8
    order = ['square', 'apgd-ce', 'apgd-t', 'fab-t']  # an order (and budget) in which every stage breaks some
    attack = AutoAttack(eps, attacks=order, n_iter=2, n_target_classes=3, n_queries=40, seed=3)
    current, calls, log = [None], [], []

    def classifier(batch):
        calls.append((current[0], batch.detach().clone()))
        return model(batch)

    for stage in attack.stages:
        def wrapped(clf, imgs, lbls, robust, adv, _orig=stage.attack_remaining, _name=stage.name):
            current[0] = _name
            log.append(dict(name=_name, robust_in=robust.clone(), adv_in=adv.clone()))
            robust_out, adv_out = _orig(clf, imgs, lbls, robust, adv)
            log[-1].update(robust_out=robust_out.clone(), adv_out=adv_out.clone())
            current[0] = None
            return robust_out, adv_out
        stage.attack_remaining = wrapped

    result = attack.evaluate(classifier, x, y)
    assert [entry['name'] for entry in log] == order

    pairwise = (x[:, None] - x[None]).abs().flatten(2).amax(2) + 2 * torch.eye(len(x))
    separation = pairwise.min().item() / 2  # a row this close to a clean image belongs to it
    assert separation > 2 * eps / 255
    with torch.no_grad():
        clean_correct = model(x).argmax(1) == y
    expected_robust = clean_correct
    for s, entry in enumerate(log):
        name, robust_in, robust_out = entry['name'], entry['robust_in'], entry['robust_out']
        # each stage starts from what the previous stages left robust
        assert torch.equal(robust_in, expected_robust), name
        assert (robust_in & ~robust_out).any(), f'{name} broke nothing: the checks below would be vacuous'
        assert not (robust_out & ~robust_in).any()
        broken = ~robust_out & clean_correct
        with torch.no_grad():  # "broken" is real: the stored adversarial image is misclassified
            assert (model(entry['adv_out'][broken]).argmax(1) != y[broken]).all(), name
        # samples broken before this stage (or never correct): adversarial images untouched
        assert torch.equal(entry['adv_out'][~robust_in], entry['adv_in'][~robust_in]), name
        if s > 0:
            assert (~robust_in & clean_correct).any()  # the filter is exercised
        queried = torch.zeros_like(robust_in)
        for stage_name, batch in calls:
            if stage_name != name:
                continue
            if batch.shape == x.shape and torch.equal(batch, x):
                continue  # APGD-T / FAB-T rank the target classes on the clean images: no perturbation
            distance = (batch[:, None] - x[None]).abs().flatten(2).amax(2)
            nearest, owner = distance.min(1)
            assert (nearest < separation).all()
            if name != 'fab-t':  # FAB is a minimum-norm attack: its iterates may leave the ball
                assert (nearest <= eps / 255 + 1e-6).all()
            assert len(batch) <= len(x)  # APGD's runs share batches, never larger than the caller's
            assert robust_in[owner].all(), f'{name} queried a sample an earlier stage had already broken'
            queried[owner] = True
        assert torch.equal(queried, robust_in), name  # ... and it attacks every sample still robust
        assert result.per_attack[name] == pytest.approx(robust_out.float().mean().item())
        expected_robust = robust_out
    assert torch.equal(result.robust, log[-1]['robust_out'])
    assert torch.equal(result.adv, log[-1]['adv_out'])


def _targeted_dlr(target):
    def loss(logits, y):
        z, _ = logits.sort(dim=1)
        rows = torch.arange(len(y))
        return -(logits[rows, y] - logits[rows, target]) / (z[:, -1] - 0.5 * (z[:, -3] + z[:, -4]) + 1e-12)
    return loss


def one_run_after_the_other(attack, model, x, y):
    """APGD's evaluation without shortcuts, as the reference loops: run after run (restarts within
    targets) over the samples still robust, each to its last iteration on all of them, from the
    attack's per-run random starts."""
    base_seed = attack.base_seed(x.device)
    with torch.no_grad():
        logits = model(x)
    robust, adv, ranked = logits.argmax(1) == y, x.clone(), logits.argsort(dim=1, descending=True)
    for run in range(attack.runs(logits.shape[1])):
        index = robust.nonzero()[:, 0]
        loss = _ce if attack.loss == 'ce' else _targeted_dlr(ranked[index, run // attack.n_restarts + 1])
        _, correct, _, first_wrong = reference_apgd(model, x[index], y[index], attack.eps, attack.norm, attack.n_iter,
                                                    loss, start=attack.run_starts(x, base_seed, run)[index])
        robust[index[~correct]] = False
        adv[index[~correct]] = first_wrong[~correct]
    return robust, adv


@pytest.mark.parametrize('loss, restarts, targets, norm, eps, n_iter', [
    ('ce', 4, 9, 'Linf', 8, 3), ('dlr-targeted', 2, 3, 'Linf', 8, 3), ('ce', 3, 9, 'L2', 40, 5)])
def test_batched_runs_give_the_results_of_one_run_after_the_other(trained, loss, restarts, targets, norm, eps,
                                                                  n_iter):
    """APGD's evaluation drops a sample from a run at its first misclassified iterate (or when an
    earlier run fooled it) and refills the batch with the next runs' rows, so rows of one batch are
    at different passes of their runs: per sample, the same robust flag and adversarial image as
    the straightforward loop."""
    model, images, labels = trained
    x, y = images[:96], labels[:96]
    make = lambda runs=restarts, aims=targets: APGD(eps, norm=norm, n_iter=n_iter, n_restarts=runs, loss=loss,
                                                    n_target_classes=aims, seed=0)
    sizes = []

    def classifier(batch):
        if torch.is_grad_enabled():  # an attack pass (the clean prediction and the ranking build no graph)
            sizes.append(len(batch))
        return model(batch)

    result = make().evaluate(classifier, x, y)
    robust, adv = one_run_after_the_other(make(), model, x, y)
    assert torch.equal(result.robust, robust)
    assert (result.adv - adv).abs().max().item() <= 1e-6
    # informative: later runs broke samples the first left robust
    first_only = one_run_after_the_other(make(1, 1), model, x, y)[0]
    assert int(robust.sum()) < int(first_only.sum()) < int((model(x).argmax(1) == y).sum())
    # the batch stays full (rows refilled as others leave) until the queue of runs is empty, then
    # only shrinks; it was refilled: more full passes than one run has
    full = next((i for i, size in enumerate(sizes) if size < len(x)), len(sizes))
    assert full > n_iter + 1 and set(sizes[:full]) == {len(x)}
    assert all(later <= earlier for earlier, later in zip(sizes[full:], sizes[full + 1:]))


def test_runs_start_from_per_sample_streams(trained):
    """A sample's random start depends on its position and the run, not on which samples are left."""
    _, images, _ = trained
    attack = APGD(8, seed=0)
    starts = [attack.run_starts(images[:8], 123, run) for run in (0, 1)]
    assert torch.equal(starts[0], attack.run_starts(images[:8], 123, 0))
    assert not torch.equal(starts[0], starts[1])
    assert ((starts[0] - images[:8]).abs().flatten(1).amax(1) - 8 / 255).abs().max() <= 1e-6  # on the sphere


def test_autoattack_keeps_the_reference_restarts_of_each_version():
    custom = AutoAttack(4)  # the reference's 'custom' keeps APGD's constructor default of 5 restarts
    assert {s.name: s.n_restarts for s in custom.stages} == {'apgd-ce': 5, 'apgd-t': 1}
    assert {s.name: s.n_restarts for s in AutoAttack(4, version='standard').stages if hasattr(s, 'n_restarts')} == {
        'apgd-ce': 1, 'apgd-t': 1}
    assert AutoAttack(4, version='apgd-ce').stages[0].n_restarts == 5
    assert [s.n_restarts for s in AutoAttack(4, n_restarts=2).stages] == [2, 1]


@pytest.mark.parametrize('kwargs, label', [
    (dict(), 'AutoAttack custom: APGD-CE (100 it, 5 restarts) + APGD-T (9 targets, 100 it)'),
    (dict(version='apgd-ce'), 'AutoAttack apgd-ce: APGD-CE (100 it, 5 restarts)'),
    (dict(version='standard'), 'AutoAttack standard: APGD-CE (100 it, 1 restart) + APGD-T (9 targets, 100 it) + '
                               'FAB-T (9 targets, 100 it) + Square (5000 queries)'),
    (dict(n_restarts=8, n_iter=200), 'AutoAttack custom: APGD-CE (200 it, 8 restarts) + APGD-T (9 targets, 200 it)'),
    (dict(n_iter=20, n_target_classes=3), 'APGD-CE (20 it, 5 restarts) + APGD-T (3 targets, 20 it) [reduced]'),
    (dict(n_restarts=1), 'APGD-CE (100 it, 1 restart) + APGD-T (9 targets, 100 it) [reduced]'),
    (dict(n_target_classes=5), 'APGD-CE (100 it, 5 restarts) + APGD-T (5 targets, 100 it) [reduced]'),
    (dict(version='standard', n_queries=1000), 'APGD-CE (100 it, 1 restart) + APGD-T (9 targets, 100 it) + '
                                               'FAB-T (9 targets, 100 it) + Square (1000 queries) [reduced]'),
    (dict(attacks=['apgd-ce', 'apgd-t'], n_iter=50), 'APGD-CE (50 it, 5 restarts) + APGD-T (9 targets, 50 it) [reduced]'),
])
def test_attack_labels_state_their_budget_and_never_call_a_reduced_one_autoattack(kwargs, label):
    attack = AutoAttack(4, **kwargs)
    assert attack.describe() == label
    assert attack.reduced == label.endswith('[reduced]')
    assert attack.reduced == ('AutoAttack' not in attack.describe())


def test_a_label_on_a_task_states_the_targets_that_run_there():
    """A 4-class task has 3 classes to aim at: its label says 3 targets, as its budget does, and a
    1000-class task's the 9 asked for."""
    attack = AutoAttack(4, version='standard')
    assert attack.budget(4).targets == 3
    assert attack.describe(4) == ('AutoAttack standard: APGD-CE (100 it, 1 restart) + APGD-T (3 targets, 100 it) + '
                                  'FAB-T (3 targets, 100 it) + Square (5000 queries)')
    assert attack.describe(1000) == attack.describe() and attack.budget(1000).targets == 9
    assert APGD(4, loss='dlr-targeted', n_iter=10).describe(5) == 'APGD-T (4 targets, 10 it) [reduced]'


def test_single_attack_labels():
    assert PGD(4, steps=10, step_size=1, momentum=0.9).describe() == 'PGD-10 (step 1/255, momentum 0.9) [reduced]'
    assert PGD(4, steps=5, random_start=False).describe() == 'PGD-5 (step 2/255, no random start) [reduced]'
    assert (APGD(4, n_iter=10).describe(), APGD(4, n_iter=10).reduced) == ('APGD-CE (10 it, 1 restart) [reduced]',
                                                                            True)
    assert (APGD(4, loss='dlr-targeted').describe(), APGD(4, loss='dlr-targeted').reduced) == (
        'APGD-T (9 targets, 100 it)', False)


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
