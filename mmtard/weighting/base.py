"""What a weighting strategy receives (one term per teacher) and what it returns."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Sequence

import torch
from torch import Tensor, nn

from ..errors import ConfigError


@dataclass
class TeacherTerm:
    """One teacher's distillation term for a batch.

    ``kl`` holds the per-sample, per-class terms of KL(p_teacher(x_teacher) || p_student(x_student)),
    shape (B, C); ``teacher_input`` says which input ('clean' or 'adv') the teacher saw.
    """

    name: str
    teacher_input: str
    kl: Tensor
    teacher_logits: Tensor
    teacher_embeddings: Tensor
    class_embeddings: Tensor

    @property
    def kl_per_sample(self) -> Tensor:
        return self.kl.sum(dim=-1)


@dataclass
class WeightingOutput:
    """The scalar loss to minimise and what the strategy decided, for logging.

    ``parts`` (optional) splits ``loss`` into each teacher's contribution (they sum to it): the
    distiller logs them as ``loss_<teacher>``, the per-term shares that show how fixed
    coefficients balance the teachers at a given logit scale and class count.
    """

    loss: Tensor
    logs: Dict[str, Tensor] = field(default_factory=dict)
    parts: Dict[str, Tensor] = field(default_factory=dict)


def spread_logs(prefix: str, values: Tensor) -> Dict[str, Tensor]:
    """Mean and standard deviation of per-sample weights, detached for the logger."""
    values = values.detach().float()
    std = values.std(unbiased=False) if values.numel() > 1 else torch.zeros((), device=values.device)
    return {f'{prefix}_mean': values.mean(), f'{prefix}_std': std}


def teacher_coefficients(value: Mapping[str, float], name: str) -> Dict[str, float]:
    """A ``{teacher name: non-negative number}`` option, checked when the config is built rather
    than at the first training step."""
    if not isinstance(value, Mapping) or not value or not all(
            isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < math.inf
            for k, v in value.items()):
        raise ConfigError(f'{name}={value!r} must map teacher names to finite non-negative numbers (at least '
                          f"one teacher), e.g. {name}=dict(robust=50.0, clean=5.0).")
    return {k: float(v) for k, v in value.items()}


def finite_number(value: float, name: str, low: float = -math.inf, high: float = math.inf) -> float:
    """A finite number option in [low, high], checked when the config is built."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        bounds = '' if (low, high) == (-math.inf, math.inf) else f' in [{low:g}, {high:g}]'
        raise ConfigError(f'{name}={value!r} must be a finite number{bounds}.')
    return float(value)


def teacher_names(value: Sequence[str], name: str) -> List[str]:
    """A non-empty list of teacher names (a bare string would be read letter by letter)."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not value \
            or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name}={value!r} must be a non-empty list of teacher names, e.g. {name}=['robust', "
                          f"'clean'].")
    return list(value)


class Weighting(nn.Module):
    """Base of every weighting strategy: turns teacher terms into one loss.

    A strategy is an ``nn.Module`` so that one with state (e.g. MTARD's running weights) saves it in
    checkpoints and resumes exactly.
    """

    def forward(self, terms: Mapping[str, TeacherTerm], labels: Tensor) -> WeightingOutput:
        raise NotImplementedError

    @staticmethod
    def require_teachers(strategy: str, terms: Mapping[str, TeacherTerm], names: Sequence[str]) -> None:
        """Fail clearly when a strategy's settings name teachers the distiller does not have."""
        missing = [n for n in names if n not in terms]
        if missing:
            raise ConfigError(
                f"{strategy} is configured for teachers {list(names)} but the distiller's teachers are "
                f"{list(terms)}: no {missing}. Make the names in the weighting's settings match the "
                f"'name' of each entry in the model's teachers list.")
