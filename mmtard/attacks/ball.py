"""Geometry of the threat model: the eps-ball around the clean images intersected with [0,1].

Every attack moves, projects and samples with these few functions, so "inside the ball and inside
[0,1]" is implemented once. Tensors are (B, ...) and every norm is per sample.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def per_sample(values: Tensor, like: Tensor) -> Tensor:
    """Reshape (B,) values to broadcast over a (B, ...) tensor."""
    return values.reshape((-1,) + (1,) * (like.dim() - 1))


def l2_norm(t: Tensor) -> Tensor:
    """(B,) Euclidean norm of each sample."""
    return t.flatten(1).norm(dim=1)


def unit_direction(v: Tensor, norm: str) -> Tensor:
    """The steepest-ascent step of unit size for ``norm``: sign(v) for Linf, v / ||v||_2 for L2."""
    if norm == 'Linf':
        return v.sign()
    return v / per_sample(l2_norm(v) + 1e-12, v)


def project(x_adv: Tensor, x: Tensor, eps: float, norm: str) -> Tensor:
    """Nearest point to ``x_adv`` in the ``norm`` ball of radius eps around ``x``, clipped to [0,1].

    Clipping after the ball projection keeps the point in the ball: with x in [0,1], clipping only
    moves a coordinate towards x.
    """
    delta = x_adv - x
    if norm == 'Linf':
        delta = delta.clamp(-eps, eps)
    else:
        delta = delta * per_sample((eps / (l2_norm(delta) + 1e-12)).clamp(max=1.0), delta)
    return (x + delta).clamp(0.0, 1.0)


def random_delta(x: Tensor, eps: float, norm: str, generator: Optional[torch.Generator],
                 on_sphere: bool = False) -> Tensor:
    """A random perturbation of size <= eps: uniform in the Linf cube, or a uniformly random L2
    direction with a uniform radius in [0, eps]; ``on_sphere`` rescales to size exactly eps (APGD)."""
    if norm == 'Linf':
        delta = torch.rand(x.shape, generator=generator, device=x.device) * 2 - 1
        if on_sphere:
            delta = delta / per_sample(delta.flatten(1).abs().amax(dim=1) + 1e-12, delta)
        return eps * delta
    direction = unit_direction(torch.randn(x.shape, generator=generator, device=x.device), 'L2')
    if on_sphere:
        return eps * direction
    return eps * direction * per_sample(torch.rand(x.shape[0], generator=generator, device=x.device), x)
