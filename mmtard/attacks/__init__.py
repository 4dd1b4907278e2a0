"""Adversarial attacks with one API for logit and embedding objectives.

Importing this package registers PGD, APGD, Square and AutoAttack in ``mmtard.registry.ATTACKS``.
"""
from .apgd import APGD
from .autoattack import VERSIONS, AutoAttack
from .base import Attack, AttackResult, Forward, NonFiniteGradientError, RobustEvalResult
from .fab import FABTargeted
from .objectives import DLR, CrossEntropy, KLToTarget, Margin, Objective, SquaredL2, TargetedDLR
from .pgd import PGD
from .square import Square
from .units import to_pixels

__all__ = [
    'APGD', 'Attack', 'AttackResult', 'AutoAttack', 'CrossEntropy', 'DLR', 'FABTargeted', 'Forward', 'KLToTarget',
    'Margin', 'NonFiniteGradientError', 'Objective', 'PGD', 'RobustEvalResult', 'Square', 'SquaredL2',
    'TargetedDLR', 'VERSIONS', 'to_pixels',
]
