"""Projected gradient descent (Madry et al. 2018) with the MMT-ARD release's momentum rule.

This is the training attack: cheap, fixed number of steps, returns the last iterate.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..errors import ConfigError
from ..registry import ATTACKS
from ..value_checks import check_choice, check_flag, check_positive_int
from .ball import project, random_delta, unit_direction
from .base import Attack, AttackBudget, Forward, float32_update
from .objectives import CLASSIFICATION_LOSSES, Objective
from .units import to_pixels


@ATTACKS.register_module()
class PGD(Attack):
    """PGD in the Linf or L2 ball.

    Args:
        steps: number of gradient steps.
        step_size: step in 1/255 units; ``None`` uses 2.5 * eps / steps (Madry et al.), so the
            last iterate can reach any point of the ball. The MMT-ARD release uses 1 (1/255).
        random_start: start from a uniform point of the Linf cube (L2: uniform direction, radius
            uniform in [0, eps]) instead of the clean image.
        momentum: mu of the release's rule (RobustVLM ``pgd_train.pgd``, used by MMT-ARD):
            ``g = u(grad); v = u(mu * v + g); x += step_size * v`` with ``u`` = sign for Linf and
            L2-normalisation for L2. For Linf, |mu| < 1 makes ``v = sign(grad)`` wherever the
            gradient is non-zero, so momentum only changes coordinates with zero gradient; for L2
            it is a real heavy-ball direction. 0 is plain PGD.
        maximize: False descends the objective (e.g. to make a targeted attack reach its target).
        loss: untargeted loss for :meth:`evaluate` ('ce', 'dlr' or 'margin').
    """

    iterations_option = 'steps'
    command_line_names = {'pgd': {}}

    def __init__(self, eps: float, norm: str = 'Linf', steps: int = 10, step_size: Optional[float] = None,
                 random_start: bool = True, momentum: float = 0.0, maximize: bool = True, loss: str = 'ce',
                 seed: Optional[int] = None, nan_policy: str = 'zero', allow_sub_unit_eps: bool = False) -> None:
        super().__init__(eps, norm=norm, seed=seed, nan_policy=nan_policy, allow_sub_unit_eps=allow_sub_unit_eps)
        self.steps = check_positive_int(steps, 'steps')
        self.step_size = (self.eps * 2.5 / steps if step_size is None
                          else to_pixels(step_size, 'step_size', allow_sub_unit_eps))
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0.0 <= momentum < 1.0:
            raise ConfigError(f'momentum={momentum!r} must be a number in [0, 1); the MMT-ARD release uses 0.9.')
        self.momentum = float(momentum)
        self.random_start = check_flag(random_start, 'random_start')
        self.maximize = check_flag(maximize, 'maximize')
        self.loss = check_choice(loss, tuple(CLASSIFICATION_LOSSES), 'loss')

    def budget(self, num_classes: int) -> AttackBudget:
        return AttackBudget(self.steps)

    def budget_label(self, num_classes: Optional[int] = None) -> str:
        settings = [f'step {self.step_size * 255:.3g}/255'] + (
            [f'momentum {self.momentum:g}'] if self.momentum else []) + ([] if self.random_start else ['no random start'])
        return f'PGD-{self.steps} ({", ".join(settings)})'

    def _perturb(self, forward: Forward, images: Tensor, objective: Objective) -> Tensor:
        with float32_update(images.device):
            x_adv = images.clone()
            if self.random_start:
                x_adv = project(images + random_delta(images, self.eps, self.norm, self.generator(images.device)),
                                images, self.eps, self.norm)
            velocity = torch.zeros_like(images)
        sign = 1.0 if self.maximize else -1.0
        for _ in range(self.steps):
            _, grad, _ = self._loss_and_grad(forward, x_adv, objective)
            with float32_update(images.device):
                direction = unit_direction(grad, self.norm)
                velocity = unit_direction(self.momentum * velocity + direction, self.norm) if self.momentum else direction
                x_adv = project(x_adv + sign * self.step_size * velocity, images, self.eps, self.norm)
        return x_adv
