"""Auto-PGD (Croce & Hein, ICML 2020): PGD without a step-size to tune.

The step size starts at 2 * eps and is halved at checkpoints when progress stalls; each halving
restarts from the best point found. With the DLR losses it is the backbone of AutoAttack.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from ..checks import check_choice, check_positive_int
from ..registry import ATTACKS
from .ball import per_sample, project, random_delta, unit_direction
from .base import REFERENCE_N_ITER, REFERENCE_N_TARGETS, Attack, AttackBudget, Forward, float32_update
from .objectives import Objective, TargetedDLR, classification_objective

LOSSES = ('ce', 'dlr', 'dlr-targeted')


def checkpoint_lengths(n_iter: int) -> List[int]:
    """Iterations between successive checkpoints w_j = ceil(p_j * n_iter).

    p_0 = 0, p_1 = 0.22, p_{j+1} = p_j + max(p_j - p_{j-1} - 0.03, 0.06): the gap starts at 22% of the
    budget and shrinks by 3% per checkpoint down to 6%, as in the reference implementation
    (integer gaps max(int(0.22 n), 1), decreasing by max(int(0.03 n), 1) to max(int(0.06 n), 1)).
    """
    gap, decrease, smallest = max(int(0.22 * n_iter), 1), max(int(0.03 * n_iter), 1), max(int(0.06 * n_iter), 1)
    lengths, total = [], 0
    while total + gap <= n_iter:
        lengths.append(gap)
        total += gap
        gap = max(gap - decrease, smallest)
    return lengths


@ATTACKS.register_module()
class APGD(Attack):
    """APGD-CE, APGD-DLR and APGD-T (targeted DLR) in the Linf or L2 ball.

    Args:
        n_iter: gradient steps per run (100 in AutoAttack).
        n_restarts: random restarts, each from a new random start (the attack's generator runs on);
            in :meth:`evaluate` each restart only attacks the samples still robust (per target for
            APGD-T), in :meth:`perturb` the point with the highest objective is kept.
        loss: ``'ce'``, ``'dlr'`` or ``'dlr-targeted'`` (APGD-T) for :meth:`evaluate`;
            :meth:`perturb` maximises whatever objective it is given.
        n_target_classes: APGD-T runs once per target: the 2nd, 3rd, ... highest clean logit
            (9 in AutoAttack, capped at classes - 1).
        rho: a checkpoint halves the step size when at most ``rho`` of its steps increased the loss
            (or when the step size was not halved at the previous checkpoint and the best loss has
            not improved since).
    """

    def __init__(self, eps: float, norm: str = 'Linf', n_iter: int = 100, n_restarts: int = 1, loss: str = 'ce',
                 n_target_classes: int = 9, rho: float = 0.75, seed: Optional[int] = None,
                 nan_policy: str = 'zero', allow_sub_unit_eps: bool = False) -> None:
        super().__init__(eps, norm=norm, seed=seed, nan_policy=nan_policy, allow_sub_unit_eps=allow_sub_unit_eps)
        self.n_iter = check_positive_int(n_iter, 'n_iter')
        self.n_restarts = check_positive_int(n_restarts, 'n_restarts')
        self.loss = check_choice(loss, LOSSES, 'loss')
        self.n_target_classes = check_positive_int(n_target_classes, 'n_target_classes')
        self.rho = float(rho)

    @property
    def name(self) -> str:
        return {'ce': 'apgd-ce', 'dlr': 'apgd-dlr', 'dlr-targeted': 'apgd-t'}[self.loss]

    def budget_label(self) -> str:
        targeted = self.loss == 'dlr-targeted'
        restarts = f'{self.n_restarts} restart{"s" if self.n_restarts > 1 else ""}'
        settings = ([f'{self.n_target_classes} targets'] if targeted else []) + [f'{self.n_iter} it'] + (
            [restarts] if self.n_restarts > 1 or not targeted else [])  # APGD-T: 1 restart per target, always
        return f'{self.name.upper()} ({", ".join(settings)})'

    @property
    def reduced(self) -> bool:
        """Fewer iterations (or APGD-T targets) than AutoAttack's; restarts are judged by
        :class:`~mmtard.attacks.autoattack.AutoAttack`, whose versions differ in them."""
        return self.n_iter < REFERENCE_N_ITER or (self.loss == 'dlr-targeted' and
                                                   self.n_target_classes < REFERENCE_N_TARGETS)

    def budget(self, num_classes: int) -> AttackBudget:
        targets = min(self.n_target_classes, max(num_classes - 1, 1)) if self.loss == 'dlr-targeted' else None
        return AttackBudget(self.n_iter, self.n_restarts, targets)

    def passes_per_sample(self, num_classes: int) -> Dict[str, int]:
        budget = self.budget(num_classes)  # each run also evaluates its start point
        return {self.name: (budget.iterations + 1) * budget.restarts * (budget.targets or 1)}

    @property
    def min_classes(self) -> int:
        """Fewest classes :meth:`evaluate`'s loss is defined for (DLR ranks the top 3 or 4 logits)."""
        return {'ce': 2, 'dlr': 3, 'dlr-targeted': 4}[self.loss]

    def _perturb(self, forward: Forward, images: Tensor, objective: Objective) -> Tensor:
        best, best_loss = None, None
        for _ in range(self.n_restarts):
            x_best, loss_best = self._run(forward, images, objective)
            if best is None:
                best, best_loss = x_best, loss_best
            else:
                better = loss_best > best_loss
                best = torch.where(per_sample(better, best), x_best, best)
                best_loss = torch.where(better, loss_best, best_loss)
        return best

    def attack_remaining(self, classifier: Forward, images: Tensor, labels: Tensor, robust: Tensor,
                         adv: Tensor) -> Tuple[Tensor, Tensor]:
        if self.eps == 0 or not bool(robust.any()):
            return robust, adv
        if self.loss == 'dlr-targeted':
            with torch.no_grad():
                ranked = classifier(images).float().argsort(dim=1, descending=True)
            n_targets = min(self.n_target_classes, ranked.shape[1] - 1)
            objectives = [TargetedDLR(labels, ranked[:, rank]) for rank in range(1, n_targets + 1)]
        else:
            objectives = [classification_objective(self.loss, labels)]
        robust, adv = robust.clone(), adv.clone()
        for objective in objectives:
            for _ in range(self.n_restarts):
                index = robust.nonzero()[:, 0]
                if index.numel() == 0:
                    return robust, adv
                x_fooled, fooled = self._run(classifier, images[index], objective.subset(index), labels[index])
                robust[index[fooled]] = False
                adv[index[fooled]] = x_fooled[fooled]
        return robust, adv

    def _run(self, forward: Forward, x: Tensor, objective: Objective,
             labels: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """One APGD run from a random start.

        Without ``labels``: (best point, its objective) per sample. With ``labels`` (evaluation):
        (first misclassified iterate, whether one was found) per sample. A sample leaves the batch at
        its first misclassified iterate, since nothing later can change its result: the iterations
        after it only pay for the samples still robust, and the other samples' iterates are the same
        as if it had stayed (every update is per sample).
        """
        eps, norm = self.eps, self.norm
        with float32_update(x.device):
            x_adv = project(x + random_delta(x, eps, norm, self.generator(x.device), on_sphere=True), x, eps, norm)
        loss, grad, output = self._loss_and_grad(forward, x_adv, objective)
        run = dict(x=x, x_adv=x_adv, x_prev=x_adv, grad=grad, x_best=x_adv, loss_best=loss, grad_best=grad,
                   loss_prev=loss, loss_best_at_check=loss, step=torch.full_like(loss, 2 * eps),
                   increases=torch.zeros_like(loss), halved_at_check=torch.ones_like(loss, dtype=torch.bool))
        if labels is not None:
            x_fooled, fooled = x_adv.clone(), torch.zeros_like(labels, dtype=torch.bool)
            run.update(labels=labels, rows=torch.arange(len(x), device=x.device))
            run, objective = self._retire_fooled(run, objective, output, x_adv, x_fooled, fooled)
        lengths = iter(checkpoint_lengths(self.n_iter))
        checkpoint, since_check = next(lengths, self.n_iter + 1), 0
        for i in range(self.n_iter):
            if labels is not None and run['rows'].numel() == 0:
                break
            last = i == self.n_iter - 1
            x, x_adv = run['x'], run['x_adv']
            with float32_update(x.device):
                momentum = 0.75 if i > 0 else 1.0
                step = per_sample(run['step'], x)
                z = project(x_adv + step * unit_direction(run['grad'], norm), x, eps, norm)
                x_next = project(x_adv + momentum * (z - x_adv) + (1 - momentum) * (x_adv - run['x_prev']), x, eps,
                                 norm)
                run['x_prev'], run['x_adv'] = x_adv, x_next
            # the last iterate's gradient would never be followed: its loss and prediction suffice
            loss, grad, output = self._loss_and_grad(forward, x_next, objective, with_grad=not last)
            with float32_update(x.device):
                run['increases'] = run['increases'] + (loss > run['loss_prev']).float()
                run['loss_prev'] = loss
                improved = loss > run['loss_best']
                run['x_best'] = torch.where(per_sample(improved, x), x_next, run['x_best'])
                run['loss_best'] = torch.where(improved, loss, run['loss_best'])
                if not last:
                    run['grad'] = grad
                    run['grad_best'] = torch.where(per_sample(improved, x), grad, run['grad_best'])
                since_check += 1
                if since_check == checkpoint and not last:  # a last halving would only move unused state
                    halve = (run['increases'] <= self.rho * checkpoint) | (
                        ~run['halved_at_check'] & (run['loss_best_at_check'] >= run['loss_best']))
                    run['step'] = torch.where(halve, run['step'] / 2, run['step'])
                    run['x_adv'] = torch.where(per_sample(halve, x), run['x_best'], x_next)
                    run['grad'] = torch.where(per_sample(halve, x), run['grad_best'], grad)
                    run['halved_at_check'], run['loss_best_at_check'] = halve, run['loss_best']
                    checkpoint, since_check = next(lengths, self.n_iter + 1), 0
                    run['increases'] = torch.zeros_like(run['increases'])
            if labels is not None:
                run, objective = self._retire_fooled(run, objective, output, x_next, x_fooled, fooled)
        if labels is not None:
            return x_fooled, fooled
        return run['x_best'], run['loss_best']

    @staticmethod
    def _retire_fooled(run: Dict[str, Tensor], objective: Objective, output: Tensor, point: Tensor,
                       x_fooled: Tensor, fooled: Tensor) -> Tuple[Dict[str, Tensor], Objective]:
        """Record the samples that ``output`` (the model's at ``point``) misclassifies into ``x_fooled``
        and ``fooled`` (in place) and drop them from the run (one host sync, to learn the new batch size)."""
        wrong = output.argmax(dim=1) != run['labels']
        if not bool(wrong.any()):
            return run, objective
        rows = run['rows'][wrong]
        fooled[rows] = True
        x_fooled[rows] = point[wrong]
        keep = ~wrong
        return {key: value[keep] for key, value in run.items()}, objective.subset(keep)
