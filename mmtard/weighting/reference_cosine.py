"""The MMT-ARD release's loss, reproduced exactly (train/adversarial_distill_clip_ddp.py)."""
from __future__ import annotations

from typing import Dict, Mapping, Optional

import torch
from torch import Tensor

from ..losses import true_class_cosine
from ..registry import WEIGHTINGS
from .base import TeacherTerm, Weighting, WeightingOutput, spread_logs, teacher_coefficients


@WEIGHTINGS.register_module()
class ReferenceCosineWeighting(Weighting):
    """Release formula: mean over batch and classes of sum_t coef_t * c_t * KL_t.

    c_t = cos(f_t(x_t), w_t,y) is the raw cosine of teacher t's embedding to its true-class text
    embedding, so samples a teacher is confident on count *more*. Defaults are the release's
    coefficients (50 for the robust teacher on x_adv, 5 for the clean teacher on x; an earlier
    release used 60 instead of 50).
    """

    def __init__(self, coefficients: Optional[Dict[str, float]] = None) -> None:
        super().__init__()
        self.coefficients = (teacher_coefficients(coefficients, 'coefficients') if coefficients is not None
                             else {'robust': 50.0, 'clean': 5.0})

    def forward(self, terms: Mapping[str, TeacherTerm], labels: Tensor) -> WeightingOutput:
        self.require_teachers('ReferenceCosineWeighting', terms, list(self.coefficients))
        parts, logs = {}, {}
        for name, coefficient in self.coefficients.items():
            term = terms[name]
            confidence = true_class_cosine(term.teacher_embeddings, term.class_embeddings, labels)
            parts[name] = coefficient * (confidence[:, None] * term.kl).mean()
            logs[f'kl_{name}'] = term.kl_per_sample.mean().detach()
            logs.update(spread_logs(f'weight_{name}', coefficient * confidence))
        return WeightingOutput(torch.stack(list(parts.values())).sum(), logs, parts)
