"""Targeted FAB (Croce & Hein, ICML 2020), Linf: a minimum-norm attack, AutoAttack's third stage.

FAB walks to the linearised decision boundary between the true class and a target class, biased
towards the clean image, and backtracks after each success; a sample counts as broken when the
smallest adversarial perturbation found is within eps. It answers "how far is the boundary", so it
only evaluates classifiers: it has no objective to maximise.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from torch import Tensor

from ..errors import ConfigError
from ..value_checks import check_positive_int
from .ball import per_sample
from .base import (REFERENCE_N_ITER, REFERENCE_N_TARGETS, Attack, AttackBudget, Forward, float32_update, predict,
                   targets_run)
from .objectives import Objective, TargetedObjective


class _LogitGap(TargetedObjective):
    """z_target - z_true: negative while the target has not overtaken the true class."""

    def __call__(self, output: Tensor) -> Tensor:
        logits = output.float()
        return (logits.gather(1, self.target_labels[:, None]) - logits.gather(1, self.labels[:, None]))[:, 0]


def project_to_hyperplane_linf(point: Tensor, w: Tensor, change: Tensor) -> Tensor:
    """Smallest-Linf displacement d with w . d = change and point + d in [0,1], per sample.

    With budget t, coordinate i can move w . d by |w_i| * min(t, room_i) (room: distance to the box
    edge in the useful direction), so the reachable change R(t) is piecewise linear and increasing:
    sorting the rooms gives the breakpoints and t is solved exactly. Where even t = max(room) falls
    short, the whole room is used (the best the box allows).
    """
    flat_w = w.flatten(1)
    direction = flat_w.sign() * change.sign()[:, None]
    room = torch.where(direction > 0, 1 - point.flatten(1), point.flatten(1))
    weight = flat_w.abs() * (direction != 0)
    room_sorted, order = room.sort(dim=1)
    weight_sorted = weight.gather(1, order)
    before = torch.cumsum(weight_sorted * room_sorted, dim=1) - weight_sorted * room_sorted
    remaining = weight_sorted.flip(1).cumsum(dim=1).flip(1)
    reach = before + room_sorted * remaining
    target = change.abs()[:, None]
    k = torch.searchsorted(reach.contiguous(), target.contiguous()).clamp(max=room.shape[1] - 1)
    budget = ((target - before.gather(1, k)) / remaining.gather(1, k).clamp_min(1e-12))[:, 0]
    budget = torch.minimum(budget, room_sorted[:, -1]).clamp_min(0)
    return (direction * torch.minimum(room, budget[:, None])).reshape(point.shape)


class FABTargeted(Attack):
    """FAB-T, Linf, as run by AutoAttack: one run per target (2nd, 3rd, ... highest clean logit).

    Args:
        n_iter: steps per target (100 in AutoAttack).
        n_target_classes: targets per sample (9 in AutoAttack, capped at classes - 1).
        alpha_max, eta, beta: largest bias towards the clean image, overshoot of the projection,
            and backtracking factor after a success (0.1, 1.05, 0.9 in the paper).
    """

    def __init__(self, eps: float, norm: str = 'Linf', n_iter: int = 100, n_target_classes: int = 9,
                 alpha_max: float = 0.1, eta: float = 1.05, beta: float = 0.9, seed: Optional[int] = None,
                 nan_policy: str = 'zero', allow_sub_unit_eps: bool = False) -> None:
        super().__init__(eps, norm=norm, seed=seed, nan_policy=nan_policy, allow_sub_unit_eps=allow_sub_unit_eps)
        if self.norm != 'Linf':
            raise ConfigError(f"FAB-T is implemented for norm='Linf' only, not {norm!r}. For L2 use "
                              f"AutoAttack(version='custom') (APGD-CE + APGD-T).")
        self.n_iter = check_positive_int(n_iter, 'n_iter')
        self.n_target_classes = check_positive_int(n_target_classes, 'n_target_classes')
        self.alpha_max, self.eta, self.beta = float(alpha_max), float(eta), float(beta)

    @property
    def name(self) -> str:
        return 'fab-t'

    def budget(self, num_classes: int) -> AttackBudget:
        return AttackBudget(self.n_iter, 1, targets_run(self.n_target_classes, num_classes))

    def budget_label(self, num_classes: Optional[int] = None) -> str:
        return f'FAB-T ({targets_run(self.n_target_classes, num_classes)} targets, {self.n_iter} it)'

    @property
    def reduced(self) -> bool:
        return self.n_iter < REFERENCE_N_ITER or self.n_target_classes < REFERENCE_N_TARGETS

    def _perturb(self, forward: Forward, images: Tensor, objective: Objective) -> Tensor:
        raise ConfigError('FAB-T is a minimum-norm attack on a classifier\'s decision boundary and has no '
                          'objective to maximise: use it through evaluate() or AutoAttack, and PGD or APGD '
                          'for perturb().')

    def attack_remaining(self, classifier: Forward, images: Tensor, labels: Tensor, robust: Tensor,
                         adv: Tensor) -> Tuple[Tensor, Tensor]:
        if self.eps == 0 or not bool(robust.any()):
            return robust, adv
        with torch.no_grad():
            ranked = classifier(images).float().argsort(dim=1, descending=True)
        robust, adv = robust.clone(), adv.clone()
        for rank in range(1, min(self.n_target_classes, ranked.shape[1] - 1) + 1):
            index = robust.nonzero()[:, 0]
            if index.numel() == 0:
                break
            found, distance = self._run(classifier, images[index], labels[index], ranked[index, rank])
            fooled = distance <= self.eps * (1 + 1e-6)
            robust[index[fooled]] = False
            adv[index[fooled]] = found[fooled]
        return robust, adv

    def _run(self, classifier: Forward, x0: Tensor, labels: Tensor, targets: Tensor) -> Tuple[Tensor, Tensor]:
        """(closest misclassified point found, its Linf distance to x0; inf where none was found)."""
        gap = _LogitGap(labels, targets)
        x = x0.clone()
        best, best_distance = x0.clone(), torch.full((x0.shape[0],), float('inf'), device=x0.device)
        for _ in range(self.n_iter):
            value, w, _ = self._loss_and_grad(classifier, x, gap)
            with float32_update(x0.device):
                linear_at_x0 = value + (w * (x0 - x)).flatten(1).sum(dim=1)
                d1 = project_to_hyperplane_linf(x, w, -value)
                d2 = project_to_hyperplane_linf(x0, w, -linear_at_x0)
                a1, a2 = d1.flatten(1).abs().amax(dim=1), d2.flatten(1).abs().amax(dim=1)
                alpha = per_sample((a1 / (a1 + a2 + 1e-12)).clamp(0.0, self.alpha_max), x)
                x = ((1 - alpha) * (x + self.eta * d1) + alpha * (x0 + self.eta * d2)).clamp(0.0, 1.0)
            wrong = predict(classifier, x) != labels
            with float32_update(x0.device):
                distance = (x - x0).flatten(1).abs().amax(dim=1)
                closer = wrong & (distance < best_distance)
                best = torch.where(per_sample(closer, x), x, best)
                best_distance = torch.where(closer, distance, best_distance)
                x = torch.where(per_sample(wrong, x), x0 + self.beta * (x - x0), x)
        return best, best_distance
