"""The MMT-ARD release's loss, reproduced exactly (train/adversarial_distill_clip_ddp.py)."""
from __future__ import annotations

import warnings
from typing import Dict, Mapping, Optional, Set

import torch
from torch import Tensor

from ..errors import ConfigError
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

    A raw cosine can be negative (a weak teacher, a hard sample): that sample's KL then enters the
    loss with a negative weight and pushes the student *away* from the teacher. The release does
    this; a warning says so once per teacher (checked one step late, so no GPU sync is added), and
    ``clamp_min`` (e.g. 0) floors the cosines instead, departing from the release's loss.
    """

    def __init__(self, coefficients: Optional[Dict[str, float]] = None, clamp_min: Optional[float] = None) -> None:
        super().__init__()
        self.coefficients = (teacher_coefficients(coefficients, 'coefficients') if coefficients is not None
                             else {'robust': 50.0, 'clean': 5.0})
        if clamp_min is not None and (isinstance(clamp_min, bool) or not isinstance(clamp_min, (int, float))
                                      or not -1 <= clamp_min <= 1):
            raise ConfigError(f'clamp_min={clamp_min!r} must be a cosine in [-1, 1] (e.g. 0), or None for the '
                              f"release's raw cosines.")
        self.clamp_min = clamp_min
        self._lowest: Dict[str, Tensor] = {}  # each teacher's lowest weight in the previous batch
        self._warned: Set[str] = set()

    def _warn_about_negative_weights(self) -> None:
        for name, lowest in self._lowest.items():
            if name not in self._warned and float(lowest) < 0:
                self._warned.add(name)
                warnings.warn(
                    f"ReferenceCosineWeighting: teacher {name!r}'s cosine to the true class went negative (as low as "
                    f'{float(lowest):.3f}), so its KL term entered the loss with a negative weight, pushing the '
                    f'student away from that teacher on those samples. The release does this; set '
                    f'model.weighting.clamp_min=0 to floor the weights (which departs from the release), or use a '
                    f'stronger teacher. (Said once per teacher.)', RuntimeWarning, stacklevel=2)

    def forward(self, terms: Mapping[str, TeacherTerm], labels: Tensor) -> WeightingOutput:
        self.require_teachers('ReferenceCosineWeighting', terms, list(self.coefficients))
        self._warn_about_negative_weights()
        parts, logs = {}, {}
        for name, coefficient in self.coefficients.items():
            term = terms[name]
            confidence = true_class_cosine(term.teacher_embeddings, term.class_embeddings, labels)
            if self.clamp_min is not None:
                confidence = confidence.clamp(min=self.clamp_min)
            if name not in self._warned:
                self._lowest[name] = confidence.detach().min()
            parts[name] = coefficient * (confidence[:, None] * term.kl).mean()
            logs[f'kl_{name}'] = term.kl_per_sample.mean().detach()
            logs.update(spread_logs(f'weight_{name}', coefficient * confidence))
        return WeightingOutput(torch.stack(list(parts.values())).sum(), logs, parts)
