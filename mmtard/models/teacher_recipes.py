"""Recipes that make the teachers: clean fine-tuning, TeCoA, FARE and PMG-AFT.

They share the distillers' parts (student encoder, zero-shot head, attack API), so a user makes the
clean and the robust teacher with mmtard itself and hands the checkpoints to MMTARD.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, Optional

import torch.nn.functional as F
from torch import Tensor

from ..attacks.objectives import CrossEntropy, SquaredL2
from ..losses import kl_per_sample
from ..registry import ATTACKS, MODELS
from ..value_checks import check_flag
from .base import ZeroShotModel
from .teacher import FrozenTeacher

ROBUST_FINETUNE_ATTACK = dict(type='PGD', eps=1, steps=10, step_size=0.25, random_start=True,
                              allow_sub_unit_eps=True)  # a step of a quarter grey level, on purpose


@MODELS.register_module()
class CleanFinetune(ZeroShotModel):
    """Cross-entropy on the zero-shot logits of clean images (no attack): the clean teacher."""

    def loss(self, inputs: Tensor, labels: Tensor, index: Optional[Tensor]) -> Dict[str, Tensor]:
        logits = self.student_logits(inputs)
        return {'loss': F.cross_entropy(logits, labels), 'acc_clean': self.batch_accuracy(logits, labels)}


@MODELS.register_module()
class TeCoA(ZeroShotModel):
    """Text-guided contrastive adversarial training (Mao et al. 2023): CE on adversarial zero-shot logits.

    The attack maximises the same cross-entropy (PGD-10 at eps 1/255 by default).
    """

    def __init__(self, student: dict, attack: Optional[dict] = None, **kwargs: Any) -> None:
        super().__init__(student, **kwargs)
        self.attack = ATTACKS.build(attack or ROBUST_FINETUNE_ATTACK)

    def loss(self, inputs: Tensor, labels: Tensor, index: Optional[Tensor]) -> Dict[str, Tensor]:
        result = self.attack_student(self.attack, self.student_logits, inputs, CrossEntropy(labels))
        logits = self.student_logits(result.adv)
        return {'loss': F.cross_entropy(logits, labels), 'acc_adv': self.batch_accuracy(logits, labels)}


class _GuidedByOriginal(ZeroShotModel):
    """A recipe that keeps a frozen copy of the student as it was before fine-tuning."""

    def __init__(self, student: dict, attack: Optional[dict] = None, **kwargs: Any) -> None:
        super().__init__(student, **kwargs)
        self.attack = ATTACKS.build(attack or ROBUST_FINETUNE_ATTACK)
        self.original = FrozenTeacher(copy.deepcopy(self.student), config=student)


@MODELS.register_module()
class FARE(_GuidedByOriginal):
    """FARE (Schlarmann et al. 2024): keep the adversarial embedding where the original put the clean one.

    Attack and loss: ||phi_S(x + delta) - phi_orig(x)||^2. By default phi is the image tower's
    unnormalised output, as in the paper and its release (whose feature norms matter to the vision-
    language models that consume them); ``unit_sphere=True`` compares L2-normalised embeddings
    instead (2 - 2 cos), which constrains only what zero-shot classification uses.
    """

    def __init__(self, student: dict, attack: Optional[dict] = None, unit_sphere: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(student, attack, **kwargs)
        self.unit_sphere = check_flag(unit_sphere, 'unit_sphere')

    def loss(self, inputs: Tensor, labels: Tensor, index: Optional[Tensor]) -> Dict[str, Tensor]:
        features = self.student if self.unit_sphere else self.student.image_features
        target = self.original(inputs) if self.unit_sphere else self.original.image_features(inputs)
        result = self.attack_student(self.attack, features, inputs, SquaredL2(target))
        adv_features = features(result.adv)
        loss = (adv_features - target).pow(2).sum(dim=-1).mean()
        logits = self.zero_shot_logits('student', F.normalize(adv_features, dim=-1))
        return {'loss': loss, 'acc_adv': self.batch_accuracy(logits, labels)}


@MODELS.register_module()
class PMGAFT(_GuidedByOriginal):
    """PMG-AFT (Wang et al. 2024): CE(adv) + alpha KL(p_orig(x_adv) || p_S(x_adv)) + beta KL(p_S(x) || p_S(x_adv)).

    The original model's view of the adversarial image keeps the student near its pre-trained
    generalisation; the clean-to-adversarial term makes it consistent. The attack maximises CE.
    """

    def __init__(self, student: dict, attack: Optional[dict] = None, alpha: float = 1.0, beta: float = 1.0,
                 **kwargs: Any) -> None:
        super().__init__(student, attack, **kwargs)
        self.alpha, self.beta = float(alpha), float(beta)

    def loss(self, inputs: Tensor, labels: Tensor, index: Optional[Tensor]) -> Dict[str, Tensor]:
        result = self.attack_student(self.attack, self.student_logits, inputs, CrossEntropy(labels))
        adv_logits = self.student_logits(result.adv)
        clean_logits = self.student_logits(inputs)
        original_logits = self.zero_shot_logits('student', self.original(result.adv))
        ce = F.cross_entropy(adv_logits, labels)
        kl_original = kl_per_sample(original_logits, adv_logits).mean()
        kl_clean = kl_per_sample(clean_logits, adv_logits).mean()
        return {'loss': ce + self.alpha * kl_original + self.beta * kl_clean, 'ce': ce.detach(),
                'kl_original': kl_original.detach(), 'kl_clean': kl_clean.detach(),
                'acc_adv': self.batch_accuracy(adv_logits, labels),
                'acc_clean': self.batch_accuracy(clean_logits, labels)}
