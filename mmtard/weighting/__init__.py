"""Weighting strategies: how much each teacher's distillation term counts, per sample."""
from .base import TeacherTerm, Weighting, WeightingOutput
from .dynamic_confidence import DynamicConfidenceWeighting
from .fixed import FixedWeighting
from .mtard import MTARDWeighting
from .reference_cosine import ReferenceCosineWeighting

__all__ = ['TeacherTerm', 'Weighting', 'WeightingOutput', 'DynamicConfidenceWeighting', 'FixedWeighting',
           'MTARDWeighting', 'ReferenceCosineWeighting']
