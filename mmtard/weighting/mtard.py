"""MTARD's adaptive balance (Zhao et al., ECCV 2022): lean on the teacher the student learns slowest from."""
from __future__ import annotations

from typing import Mapping, Sequence

import torch
from torch import Tensor

from ..registry import WEIGHTINGS
from .base import TeacherTerm, Weighting, WeightingOutput, finite_number, teacher_names


@WEIGHTINGS.register_module()
class MTARDWeighting(Weighting):
    """Loss = sum_t w_t * mean_i KL_t,i with weights that follow relative learning progress.

    Each term is normalised by its first value, r_t = L_t / L_t(first step): a large r_t means the
    student has learnt little from teacher t. At every training step, before the loss is formed (as
    in MTARD's code), the weights move toward the normalised ratios, w <- (1 - lr) * w + lr * r / sum(r),
    so they stay a convex combination. The
    weights and first losses are buffers: they are saved in checkpoints and resume exactly, and all
    updates stay on the device (no host synchronisation).
    """

    def __init__(self, teachers: Sequence[str] = ('robust', 'clean'), lr: float = 0.025) -> None:
        super().__init__()
        self.teachers = teacher_names(teachers, 'teachers')
        self.lr = finite_number(lr, 'lr', 0.0, 1.0)  # MTARD used 0.025
        n = len(self.teachers)
        self.register_buffer('weights', torch.full((n,), 1.0 / n))
        self.register_buffer('first_losses', torch.full((n,), float('nan')))

    def forward(self, terms: Mapping[str, TeacherTerm], labels: Tensor) -> WeightingOutput:
        self.require_teachers('MTARDWeighting', terms, self.teachers)
        losses = torch.stack([terms[n].kl_per_sample.mean() for n in self.teachers])
        if self.training:  # as MTARD's code: update the weights with this step's losses, then use them
            with torch.no_grad():
                current = losses.detach()
                self.first_losses.copy_(torch.where(torch.isnan(self.first_losses), current, self.first_losses))
                ratio = current / self.first_losses.clamp(min=1e-12)
                self.weights.mul_(1.0 - self.lr).add_(self.lr * ratio / ratio.sum().clamp(min=1e-12))
        weights = self.weights.clone()  # the next step's in-place update must not touch this graph's copy
        weighted = weights * losses
        logs = {f'kl_{n}': losses[i].detach() for i, n in enumerate(self.teachers)}
        logs.update({f'weight_{n}': weights[i] for i, n in enumerate(self.teachers)})
        return WeightingOutput(weighted.sum(), logs, {n: weighted[i] for i, n in enumerate(self.teachers)})
