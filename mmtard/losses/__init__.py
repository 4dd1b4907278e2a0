"""Distillation and training loss terms."""
from .distillation import kl_per_class, kl_per_sample, true_class_cosine, true_class_probability

__all__ = ['kl_per_class', 'kl_per_sample', 'true_class_cosine', 'true_class_probability']
