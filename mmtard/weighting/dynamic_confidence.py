"""Our reading of the MMT-ARD paper's weighting: hard samples up-weighted, teachers balanced by a sigmoid."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import torch
from torch import Tensor

from ..errors import ConfigError
from ..losses import true_class_probability
from ..registry import WEIGHTINGS
from ..value_checks import check_flag
from .base import TeacherTerm, Weighting, WeightingOutput, finite_number, spread_logs, teacher_names


@WEIGHTINGS.register_module()
class DynamicConfidenceWeighting(Weighting):
    """L = mean_i h_i * sum_t a_t,i * KL_t,i, with per-sample teacher confidence q_t = p_t(y | x_t).

    * hardness h = 1 - q (q averaged over ``hardness_teachers``, by default those that see x_adv),
      floored at ``hardness_floor`` and divided by its batch mean, so hard samples count more while
      the loss scale stays that of the plain mean;
    * teacher balance a = softmax_t(gamma * c_t + beta * [t sees x_adv]); for two teachers this is
      exactly a_R = sigmoid(gamma * (c_R - c_C) + beta): lean on whichever teacher is surer about
      this sample. With ``center=True`` (default) c_t = q_t - mean_batch(q_t): a clean teacher on
      clean images is systematically surer than a robust teacher on adversarial ones, and without
      centring that offset alone would hand almost every sample to the clean teacher (on the demo,
      a_R ~ 0.1 and a student barely more robust than an undefended one). Centred, the balance
      averages sigmoid(beta) over the batch and moves per sample with the *relative* confidence.

    Both weights are built from frozen teachers' outputs, so they carry no gradient (no ``detach``
    switch is needed). gamma=4 makes a 0.25 confidence gap a 73/27 split; beta=0 is neutral.
    """

    def __init__(self, gamma: float = 4.0, beta: float = 0.0, hardness_floor: float = 0.1,
                 use_hardness: bool = True, hardness_teachers: Optional[Sequence[str]] = None,
                 center: bool = True) -> None:
        super().__init__()
        if finite_number(hardness_floor, 'hardness_floor', 0.0, 1.0) == 0.0:
            raise ConfigError(f'DynamicConfidenceWeighting: hardness_floor must be in (0, 1], got {hardness_floor}; '
                              f'it keeps easy samples from being ignored entirely (default 0.1).')
        self.gamma, self.beta = finite_number(gamma, 'gamma'), finite_number(beta, 'beta')
        self.hardness_floor = float(hardness_floor)
        self.use_hardness = check_flag(use_hardness, 'use_hardness')
        self.center = check_flag(center, 'center')
        self.hardness_teachers = (teacher_names(hardness_teachers, 'hardness_teachers')
                                  if hardness_teachers is not None else None)

    def forward(self, terms: Mapping[str, TeacherTerm], labels: Tensor) -> WeightingOutput:
        names = list(terms)
        confidence = torch.stack([true_class_probability(terms[n].teacher_logits, labels) for n in names])
        relative = confidence - confidence.mean(dim=1, keepdim=True) if self.center else confidence
        scores = torch.stack([self.gamma * relative[i] + (self.beta if terms[n].teacher_input == 'adv' else 0.0)
                              for i, n in enumerate(names)])  # Python-side bias: no host-to-device copy
        balance = torch.softmax(scores, dim=0)  # (T, B)
        kl = torch.stack([terms[n].kl_per_sample for n in names])  # (T, B)
        weighted = balance * kl  # (T, B)
        logs = {f'kl_{n}': kl[i].mean().detach() for i, n in enumerate(names)}
        for i, n in enumerate(names):
            logs.update(spread_logs(f'balance_{n}', balance[i]))
        if self.use_hardness:
            hardness = self.hardness(confidence, names, [terms[n].teacher_input for n in names])
            weighted = hardness * weighted
            logs.update(spread_logs('hardness', hardness))
        parts = weighted.mean(dim=1)
        return WeightingOutput(parts.sum(), logs, {n: parts[i] for i, n in enumerate(names)})

    def hardness(self, confidence: Tensor, names: Sequence[str], inputs: Sequence[str]) -> Tensor:
        """(B,) hardness weights with batch mean 1."""
        chosen = self.hardness_teachers or [n for n, i in zip(names, inputs) if i == 'adv'] or list(names)
        self.require_teachers('DynamicConfidenceWeighting', dict.fromkeys(names), chosen)
        rows = [names.index(n) for n in chosen]
        raw = (1.0 - confidence[rows].mean(dim=0)).clamp(min=self.hardness_floor)
        return raw / raw.mean()
