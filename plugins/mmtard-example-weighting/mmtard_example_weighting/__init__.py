"""An example mmtard plugin: weight each sample by whether its teachers agree."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import Tensor

from mmtard.registry import WEIGHTINGS
from mmtard.weighting import TeacherTerm, Weighting, WeightingOutput


@WEIGHTINGS.register_module()
class TeacherAgreementWeighting(Weighting):
    """Mean KL over teachers, with samples on which the teachers' top-1 classes disagree down-weighted.

    Where two teachers disagree, at least one of them is wrong; ``disagreement_weight`` (default 0.5)
    says how much such samples still count.
    """

    def __init__(self, disagreement_weight: float = 0.5) -> None:
        super().__init__()
        self.disagreement_weight = float(disagreement_weight)

    def forward(self, terms: Mapping[str, TeacherTerm], labels: Tensor) -> WeightingOutput:
        predictions = torch.stack([term.teacher_logits.argmax(dim=-1) for term in terms.values()])
        agree = (predictions == predictions[0]).all(dim=0).float()
        weights = agree + (1.0 - agree) * self.disagreement_weight
        kl = torch.stack([term.kl_per_sample for term in terms.values()]).mean(dim=0)
        return WeightingOutput((weights * kl).mean(), {'teacher_agreement': agree.mean()})
