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
from .base import (REFERENCE_N_ITER, REFERENCE_N_TARGETS, Attack, AttackBudget, Forward, float32_update,
                   targets_run)
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

    def budget_label(self, num_classes: Optional[int] = None) -> str:
        targeted = self.loss == 'dlr-targeted'
        restarts = f'{self.n_restarts} restart{"s" if self.n_restarts > 1 else ""}'
        targets = [f'{targets_run(self.n_target_classes, num_classes)} targets'] if targeted else []
        settings = targets + [f'{self.n_iter} it'] + (
            [restarts] if self.n_restarts > 1 or not targeted else [])  # APGD-T: 1 restart per target, always
        return f'{self.name.upper()} ({", ".join(settings)})'

    @property
    def reduced(self) -> bool:
        """Fewer iterations (or APGD-T targets) than AutoAttack's; restarts are judged by
        :class:`~mmtard.attacks.autoattack.AutoAttack`, whose versions differ in them."""
        return self.n_iter < REFERENCE_N_ITER or (self.loss == 'dlr-targeted' and
                                                   self.n_target_classes < REFERENCE_N_TARGETS)

    def budget(self, num_classes: int) -> AttackBudget:
        targets = targets_run(self.n_target_classes, num_classes) if self.loss == 'dlr-targeted' else None
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

        The runs of all samples wait in one queue (:class:`_RunQueue`) and share full batches:
        ``images`` has as many rows as the caller sized for its memory, and a row that leaves (its run
        fooled the sample or ended, or an earlier run of its sample fooled it) is refilled from the
        queue at the next pass. The result is the same as one run after the other: each run of a
        sample starts from :meth:`run_starts` and evolves on its own (every update is per row).
        """
        if self.eps == 0 or not bool(robust.any()):
            return robust, adv
        index = robust.nonzero()[:, 0]
        x, y, ranked = images[index], labels[index], None
        if self.loss == 'dlr-targeted':  # only the samples still robust need their classes ranked
            with torch.no_grad():
                ranked = classifier(x).float().argsort(dim=1, descending=True)
        total, base_seed = self.runs(ranked.shape[1] if ranked is not None else 2), self.base_seed(images.device)
        schedule, queue = _Schedule(self.n_iter, self.rho, images.device), _RunQueue(x, total)
        state = self._enter(x[:0], x[:0], position=queue.position[:0], run=queue.run[:0], labels=y[:0])
        starts: Tuple[int, Optional[Tensor]] = (-1, None)  # the random starts of the last run admitted
        entering, with_grad = False, True
        while True:
            keep = torch.zeros_like(state['pass'], dtype=torch.bool)
            if len(keep):
                objective = self.run_objective(ranked[state['position']] if ranked is not None else None,
                                               state['labels'], state['run'])
                point, output = self._pass(classifier, state, objective, schedule, entering, with_grad)
                winner, keep = queue.record(state['position'], state['run'], output.argmax(dim=1) != state['labels'])
                keep &= state['pass'] <= self.n_iter
            else:
                winner = keep
            per_run = queue.admit(len(images) - keep.sum())
            lowest = torch.cat([torch.where(keep, state['pass'], self.n_iter), per_run.new_full((1,), self.n_iter)])
            counts = torch.cat([torch.stack([winner.sum(), keep.sum(), lowest.min()]), per_run]).tolist()  # one sync
            winners, kept, lowest_pass, per_run = counts[0], counts[1], counts[2], counts[3:]
            if winners:
                queue.found.index_copy_(0, torch.where(winner, state['position'], len(index)), point)
            taken = sum(per_run)
            if kept + taken == 0:
                break
            new = None
            if taken:
                position, run = queue.admitted_now(taken)
                chunks, offset = [], 0
                for r, n in enumerate(per_run):  # admitted pairs are in run order
                    if n:
                        if starts[0] != r:
                            starts = (r, self.run_starts(images, base_seed, r)[index])
                        chunks.append(starts[1][position[offset:offset + n]])
                        offset += n
                new = self._enter(x[position], torch.cat(chunks), position=position, run=run, labels=y[position])
            if new is not None and kept + taken == len(keep):  # new rows take the places of those that left
                slots = torch.argsort(keep.to(torch.uint8), stable=True)[:taken]
                for key, value in state.items():  # no two keys share a tensor after a pass
                    value.index_copy_(0, slots, new[key])
            elif kept < len(keep) or new is not None:  # the first batch, or the queue ran dry: fewer rows
                rows = torch.argsort((~keep).to(torch.uint8), stable=True)[:kept]
                state = {key: value[rows] if new is None else torch.cat([value[rows], new[key]])
                         for key, value in state.items()}
            entering, with_grad = taken > 0, taken > 0 or lowest_pass < self.n_iter
        fooled = queue.first_run < total
        robust, adv = robust.clone(), adv.clone()
        robust[index[fooled]] = False
        adv[index[fooled]] = queue.found[:len(index)][fooled]
        return robust, adv

    def _run(self, forward: Forward, x: Tensor, objective: Objective, start: Tensor) -> Tuple[Tensor, Tensor]:
        """One APGD run per row of ``x`` from ``start`` (projected into the ball): its best point and
        that point's objective."""
        state, schedule = self._enter(x, start), _Schedule(self.n_iter, self.rho, x.device)
        for p in range(self.n_iter + 1):
            self._pass(forward, state, objective, schedule, entering=p == 0, with_grad=p < self.n_iter)
        return state['x_best'], state['loss_best']

    def _enter(self, x: Tensor, start: Tensor, **extra: Tensor) -> Dict[str, Tensor]:
        """The state of new rows (clean images ``x``) about to evaluate their start (pass 0).

        Linf keeps the box the ball meets [0,1] in, so that projecting is one clamp (the reference's
        min/max form, bit for bit); L2 keeps the clean images."""
        eps = self.eps
        with float32_update(x.device):
            if self.norm == 'Linf':
                state = dict(low=(x - eps).clamp(min=0.0), high=(x + eps).clamp(max=1.0))
            else:
                state = dict(x=x)
            x_adv = self._project(start, state)
            zeros = torch.zeros(len(x), device=x.device)
        state.update(extra, x_adv=x_adv, x_prev=x_adv, grad=torch.zeros_like(x), x_best=x_adv,
                     grad_best=torch.zeros_like(x), loss_prev=torch.full_like(zeros, float('inf')), loss_best=zeros,
                     loss_best_at_check=zeros, step=torch.full_like(zeros, 2 * eps), increases=zeros,
                     halved_at_check=torch.ones_like(zeros, dtype=torch.bool),
                     **{'pass': torch.zeros_like(zeros, dtype=torch.long)})
        return state

    def _project(self, point: Tensor, state: Dict[str, Tensor]) -> Tensor:
        if self.norm == 'Linf':
            return torch.clamp(point, state['low'], state['high'])
        return project(point, state['x'], self.eps, self.norm)

    def _pass(self, forward: Forward, state: Dict[str, Tensor], objective: Objective, schedule: '_Schedule',
              entering: bool, with_grad: bool) -> Tuple[Tensor, Tensor]:
        """One model pass for every row, each at its own pass of its run (``state['pass']``: 0
        evaluates the start, p the iterate of step p); returns the points evaluated and the output.

        ``entering``: some rows are at pass 0; ``with_grad``: some row will follow its gradient (not
        all are at their last pass, whose gradient would never be used).
        """
        p, x_adv = state['pass'], state['x_adv']
        fresh = p == 0
        with float32_update(x_adv.device):
            direction = per_sample(state['step'], x_adv) * unit_direction(state['grad'], self.norm)
            z = self._project(x_adv + direction, state)
            momentum = per_sample(schedule.momentum[p], x_adv)
            point = self._project(x_adv + momentum * (z - x_adv) + (1 - momentum) * (x_adv - state['x_prev']),
                                  state)
            if entering:
                point = torch.where(per_sample(fresh, x_adv), x_adv, point)
        loss, grad, output = self._loss_and_grad(forward, point, objective, with_grad=with_grad)
        with float32_update(x_adv.device):
            increases = state['increases'] + (loss > state['loss_prev']).float()
            state['loss_prev'] = loss
            improved = (loss > state['loss_best']) | fresh
            state['x_best'] = torch.where(per_sample(improved, x_adv), point, state['x_best'])
            loss_best = state['loss_best'] = torch.where(improved, loss, state['loss_best'])
            at_check_before = torch.where(fresh, loss, state['loss_best_at_check'])
            window = schedule.window[p]
            check = window > 0
            halve = check & ((increases <= schedule.threshold[p]) | (
                ~state['halved_at_check'] & (at_check_before >= loss_best)))
            state['step'] = torch.where(halve, state['step'] / 2, state['step'])
            state['x_prev'] = x_adv
            state['x_adv'] = torch.where(per_sample(halve, x_adv), state['x_best'], point)
            if grad is not None:
                state['grad_best'] = torch.where(per_sample(improved, x_adv), grad, state['grad_best'])
                state['grad'] = torch.where(per_sample(halve, x_adv), state['grad_best'], grad)
            state['halved_at_check'] = torch.where(check, halve, state['halved_at_check'])
            state['loss_best_at_check'] = torch.where(check, loss_best, at_check_before)
            state['increases'] = torch.where(check, torch.zeros_like(increases), increases)
            state['pass'] = p + 1
        return point, output


class _Schedule:
    """Per pass p of a run (0: its start; p: the iterate of step p): the momentum of the step that
    reaches it, and the length of the checkpoint window that ends there (0: none) with the most loss
    increases in it that still halve the step size; computed once per run, not per iteration."""

    def __init__(self, n_iter: int, rho: float, device: torch.device) -> None:
        window, end = [0] * (n_iter + 1), 0
        for length in checkpoint_lengths(n_iter):
            end += length
            if end < n_iter:  # a halving at the last pass would only move unused state
                window[end] = length
        self.momentum = torch.tensor([1.0 if p <= 1 else 0.75 for p in range(n_iter + 1)], device=device)
        self.window = torch.tensor(window, device=device)
        self.threshold = torch.tensor([rho * length for length in window], dtype=torch.float32, device=device)


class _RunQueue:
    """The (sample, run) pairs of an evaluation in run order (run r of every sample, then run r + 1),
    which of them have been admitted to the batch, and per sample the first run that fooled it
    (``first_run``; the number of runs if none) with that run's first misclassified iterate (``found``).
    Samples are numbered by their row of ``x`` (``position``)."""

    def __init__(self, x: Tensor, total: int) -> None:
        count, device = len(x), x.device
        self.total = total
        self.position = torch.arange(count, device=device).repeat(total)
        self.run = torch.arange(total, device=device).repeat_interleave(count)
        self.admitted = torch.zeros_like(self.run, dtype=torch.bool)
        self.first_run = torch.full((count,), total, device=device)
        self.found = torch.empty((count + 1,) + x.shape[1:], device=device)  # row `count` absorbs the other rows
        self._now = self.admitted

    def record(self, position: Tensor, run: Tensor, wrong: Tensor) -> Tuple[Tensor, Tensor]:
        """Record the rows (pairs ``position``, ``run``) that ``wrong`` marks misclassified; return the
        rows whose point is now their sample's ``found`` (the caller copies it, at most one row per
        sample) and the rows that stay: not misclassified, and no earlier run fooled their sample."""
        self.first_run.scatter_reduce_(0, position, torch.where(wrong, run, self.total), 'amin')
        return wrong & (run == self.first_run[position]), ~wrong & (run < self.first_run[position])

    def admit(self, free: Tensor) -> Tensor:
        """Admit the next ``free`` waiting pairs (skipping those whose sample an earlier run fooled);
        return how many of each run (on the device: read them with the pass's other counts)."""
        waiting = ~self.admitted & (self.first_run[self.position] > self.run)
        self._now = waiting & (waiting.cumsum(0) <= free)
        self.admitted |= self._now
        return self._now.view(self.total, -1).sum(1)

    def admitted_now(self, count: int) -> Tuple[Tensor, Tensor]:
        """``position`` and ``run`` of the ``count`` pairs the last :meth:`admit` admitted, in run order."""
        order = torch.argsort((~self._now).to(torch.uint8), stable=True)[:count]
        return self.position[order], self.run[order]
