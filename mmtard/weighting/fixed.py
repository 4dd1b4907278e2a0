"""Constant per-teacher weights: the ablation baseline."""
from __future__ import annotations

from typing import Dict, Mapping, Optional

import torch
from torch import Tensor

from ..registry import WEIGHTINGS
from .base import TeacherTerm, Weighting, WeightingOutput, teacher_coefficients


@WEIGHTINGS.register_module()
class FixedWeighting(Weighting):
    """Loss = sum_t w_t * mean_i KL_t,i with constant weights (uniform over teachers if not given)."""

    def __init__(self, weights: Optional[Dict[str, float]] = None) -> None:
        super().__init__()
        self.weights = teacher_coefficients(weights, 'weights') if weights is not None else None

    def forward(self, terms: Mapping[str, TeacherTerm], labels: Tensor) -> WeightingOutput:
        weights = self.weights or {name: 1.0 / len(terms) for name in terms}
        self.require_teachers('FixedWeighting', terms, list(weights))
        kl = {name: terms[name].kl_per_sample.mean() for name in weights}
        parts = {name: weights[name] * kl[name] for name in weights}
        return WeightingOutput(torch.stack(list(parts.values())).sum(),
                               {f'kl_{name}': value.detach() for name, value in kl.items()}, parts)
