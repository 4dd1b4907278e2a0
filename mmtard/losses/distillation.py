"""KL terms between teacher and student logits, and teacher-confidence measures.

All in float32: the terms are small differences of log-probabilities and lose precision in bf16.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def kl_per_class(teacher_logits: Tensor, student_logits: Tensor) -> Tensor:
    """(B, C) terms p_t,k (log p_t,k - log p_s,k); their sum over k is KL(p_t || p_s) per sample."""
    log_p_teacher = F.log_softmax(teacher_logits.float(), dim=-1)
    log_p_student = F.log_softmax(student_logits.float(), dim=-1)
    return torch.exp(log_p_teacher) * (log_p_teacher - log_p_student)


def kl_per_sample(teacher_logits: Tensor, student_logits: Tensor) -> Tensor:
    """(B,) KL(p_teacher || p_student) per sample."""
    return kl_per_class(teacher_logits, student_logits).sum(dim=-1)


def true_class_cosine(embeddings: Tensor, class_embeddings: Tensor, labels: Tensor) -> Tensor:
    """(B,) cosine between each (normalised) image embedding and its true class's text embedding."""
    return (embeddings.float() * class_embeddings.float()[labels]).sum(dim=-1)


def true_class_probability(logits: Tensor, labels: Tensor) -> Tensor:
    """(B,) softmax probability of the true class."""
    return F.softmax(logits.float(), dim=-1).gather(1, labels[:, None]).squeeze(1)
