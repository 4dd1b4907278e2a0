"""Auto-PGD (Croce & Hein, ICML 2020): PGD without a step-size to tune.

The step size starts at 2 * eps and is halved at checkpoints when progress stalls; each halving
restarts from the best point found. With the DLR losses it is the backbone of AutoAttack.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import torch
from torch import Tensor

from ..registry import ATTACKS
from ..value_checks import check_choice, check_positive_int
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
        n_restarts: random restarts, each from a new random start; in :meth:`evaluate` each restart
            only attacks the samples still robust (per target for APGD-T; see :meth:`attack_remaining`),
            in :meth:`perturb` the point with the highest objective is kept.
        loss: ``'ce'``, ``'dlr'`` or ``'dlr-targeted'`` (APGD-T) for :meth:`evaluate`;
            :meth:`perturb` maximises whatever objective it is given.
        n_target_classes: APGD-T runs once per target: the 2nd, 3rd, ... highest clean logit
            (9 in AutoAttack, capped at classes - 1).
        rho: a checkpoint halves the step size when at most ``rho`` of its steps increased the loss
            (or when the step size was not halved at the previous checkpoint and the best loss has
            not improved since).
    """

    iterations_option = 'n_iter'

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
            with float32_update(images.device):
                start = random_delta(images, self.eps, self.norm, self.generator(images.device), on_sphere=True)
            x_best, loss_best = self._run(forward, images, objective, images + start)
            if best is None:
                best, best_loss = x_best, loss_best
            else:
                better = loss_best > best_loss
                best = torch.where(per_sample(better, best), x_best, best)
                best_loss = torch.where(better, loss_best, best_loss)
        return best

    def runs(self, num_classes: int) -> int:
        """Runs :meth:`attack_remaining` makes per sample at most: restarts x targets."""
        return self.n_restarts * (self.budget(num_classes).targets or 1)

    def run_objective(self, ranked: Optional[Tensor], labels: Tensor, run: Tensor) -> Objective:
        """The objective of run ``run`` (per sample) of :meth:`attack_remaining`: run r of APGD-T aims at
        the (r // restarts + 2)-th highest clean logit (``ranked``: clean classes, best first)."""
        if self.loss != 'dlr-targeted':
            return classification_objective(self.loss, labels)
        return TargetedDLR(labels, ranked.gather(1, (run // self.n_restarts + 1)[:, None])[:, 0])

    def run_starts(self, images: Tensor, base_seed: int, run: int) -> Tensor:
        """Random start of every sample of ``images`` in run ``run``: a function of the sample's position
        and the run only, so it is the same whichever samples are still attacked, and with them."""
        generator = torch.Generator(device=images.device).manual_seed(base_seed + run)
        with float32_update(images.device):
            return images + random_delta(images, self.eps, self.norm, generator, on_sphere=True)

    def base_seed(self, device: torch.device) -> int:
        """One draw from the attack's generator per evaluated batch, seeding :meth:`run_starts`."""
        return int(torch.randint(0, 2 ** 62, (1,), generator=self.generator(device), device=device).item())

    def attack_remaining(self, classifier: Forward, images: Tensor, labels: Tensor, robust: Tensor,
                         adv: Tensor) -> Tuple[Tensor, Tensor]:
        """Every sample still robust goes through the runs (restarts, x targets for APGD-T) in order
        until one fools it; that run's first misclassified iterate is its adversarial image.

        Runs share batches: while few samples remain, several runs of them run side by side (never
        more rows than ``images`` has, the batch the caller sized for its memory), and a run stops on
        a sample as soon as an earlier run fooled it. The result is the same as one run after the
        other: each run of a sample starts from :meth:`run_starts` and evolves on its own.
        """
        if self.eps == 0 or not bool(robust.any()):
            return robust, adv
        ranked = None
        if self.loss == 'dlr-targeted':
            with torch.no_grad():
                ranked = classifier(images).float().argsort(dim=1, descending=True)
        total, base_seed = self.runs(ranked.shape[1] if ranked is not None else 2), self.base_seed(images.device)
        robust, adv = robust.clone(), adv.clone()
        first_run = 0
        while first_run < total:
            index = robust.nonzero()[:, 0]
            if index.numel() == 0:
                break
            group = range(first_run, min(total, first_run + max(1, len(images) // index.numel())))
            sample = index.repeat(len(group))
            run = torch.arange(group.start, group.stop, device=images.device).repeat_interleave(index.numel())
            start = torch.cat([self.run_starts(images, base_seed, r)[index] for r in group])
            objective = self.run_objective(ranked[sample] if ranked is not None else None, labels[sample], run)
            x_fooled, fooled = self._run(classifier, images[sample], objective, start, labels[sample], sample, run)
            first = torch.full_like(labels, total).scatter_reduce(0, sample[fooled], run[fooled], 'amin')
            winner = fooled & (run == first[sample])
            robust[sample[winner]] = False
            adv[sample[winner]] = x_fooled[winner]
            first_run = group.stop
        return robust, adv

    def _run(self, forward: Forward, x: Tensor, objective: Objective, start: Tensor, labels: Optional[Tensor] = None,
             sample: Optional[Tensor] = None, run: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """One APGD run per row of ``x`` from ``start`` (projected into the ball).

        Without ``labels``: (best point, its objective) per row. With ``labels`` (evaluation):
        (first misclassified iterate, whether one was found) per row. A row leaves the batch at its
        first misclassified iterate, since nothing later can change its result, or when a row of the
        same ``sample`` with a smaller ``run`` number got there first: the iterations after that only
        pay for the rows still needed, and the other rows' iterates are the same as if it had stayed
        (every update is per row).
        """
        eps, norm = self.eps, self.norm
        with float32_update(x.device):
            x_adv = project(start, x, eps, norm)
        loss, grad, output = self._loss_and_grad(forward, x_adv, objective)
        state = dict(x=x, x_adv=x_adv, x_prev=x_adv, grad=grad, x_best=x_adv, loss_best=loss, grad_best=grad,
                     loss_prev=loss, loss_best_at_check=loss, step=torch.full_like(loss, 2 * eps),
                     increases=torch.zeros_like(loss), halved_at_check=torch.ones_like(loss, dtype=torch.bool))
        if labels is not None:
            rows = torch.arange(len(x), device=x.device)
            fooling = _FirstFooled(x_adv.clone(), torch.zeros_like(labels, dtype=torch.bool),
                                   torch.full((int(sample.max()) + 1,), int(run.max()) + 1, device=x.device))
            state.update(labels=labels, rows=rows, sample=sample, run=run)
            state, objective = fooling.retire(state, objective, output, x_adv)
        lengths = iter(checkpoint_lengths(self.n_iter))
        checkpoint, since_check = next(lengths, self.n_iter + 1), 0
        for i in range(self.n_iter):
            if labels is not None and state['rows'].numel() == 0:
                break
            last = i == self.n_iter - 1
            x, x_adv = state['x'], state['x_adv']
            with float32_update(x.device):
                momentum = 0.75 if i > 0 else 1.0
                z = project(x_adv + per_sample(state['step'], x) * unit_direction(state['grad'], norm), x, eps, norm)
                x_next = project(x_adv + momentum * (z - x_adv) + (1 - momentum) * (x_adv - state['x_prev']), x, eps,
                                 norm)
                state['x_prev'], state['x_adv'] = x_adv, x_next
            # the last iterate's gradient would never be followed: its loss and prediction suffice
            loss, grad, output = self._loss_and_grad(forward, x_next, objective, with_grad=not last)
            with float32_update(x.device):
                state['increases'] = state['increases'] + (loss > state['loss_prev']).float()
                state['loss_prev'] = loss
                improved = loss > state['loss_best']
                state['x_best'] = torch.where(per_sample(improved, x), x_next, state['x_best'])
                state['loss_best'] = torch.where(improved, loss, state['loss_best'])
                if not last:
                    state['grad'] = grad
                    state['grad_best'] = torch.where(per_sample(improved, x), grad, state['grad_best'])
                since_check += 1
                if since_check == checkpoint and not last:  # a last halving would only move unused state
                    halve = (state['increases'] <= self.rho * checkpoint) | (
                        ~state['halved_at_check'] & (state['loss_best_at_check'] >= state['loss_best']))
                    state['step'] = torch.where(halve, state['step'] / 2, state['step'])
                    state['x_adv'] = torch.where(per_sample(halve, x), state['x_best'], x_next)
                    state['grad'] = torch.where(per_sample(halve, x), state['grad_best'], grad)
                    state['halved_at_check'], state['loss_best_at_check'] = halve, state['loss_best']
                    checkpoint, since_check = next(lengths, self.n_iter + 1), 0
                    state['increases'] = torch.zeros_like(state['increases'])
            if labels is not None:
                state, objective = fooling.retire(state, objective, output, x_next)
        if labels is not None:
            return fooling.x_fooled, fooling.fooled
        return state['x_best'], state['loss_best']


class _FirstFooled:
    """Per row of an evaluation run: its first misclassified iterate (``x_fooled``) and whether it has
    one (``fooled``); per sample: the smallest run number that fooled it (``first_run``)."""

    def __init__(self, x_fooled: Tensor, fooled: Tensor, first_run: Tensor) -> None:
        self.x_fooled, self.fooled, self.first_run = x_fooled, fooled, first_run

    def retire(self, state: Dict[str, Tensor], objective: Objective, output: Tensor,
               point: Tensor) -> Tuple[Dict[str, Tensor], Objective]:
        """Record the rows that ``output`` (the model's at ``point``) misclassifies, then drop them and
        the rows whose sample an earlier run fooled (one host sync, to learn the new batch size)."""
        wrong = output.argmax(dim=1) != state['labels']
        if bool(wrong.any()):
            rows = state['rows'][wrong]
            self.fooled[rows] = True
            self.x_fooled[rows] = point[wrong]
            self.first_run.scatter_reduce_(0, state['sample'][wrong], state['run'][wrong], 'amin')
        keep = ~wrong & (state['run'] < self.first_run[state['sample']])
        if bool(keep.all()):
            return state, objective
        return {key: value[keep] for key, value in state.items()}, objective.subset(keep)
