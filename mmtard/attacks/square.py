"""Square attack (Andriushchenko et al., ECCV 2020): gradient-free random search in the Linf ball.

It needs no gradient, so it exposes gradient masking that fools APGD; AutoAttack's 'standard'
version ends with it.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import Tensor

from ..errors import ConfigError
from ..registry import ATTACKS
from ..value_checks import check_positive_int
from .ball import per_sample, project
from .base import REFERENCE_N_QUERIES, Attack, AttackBudget, Forward, float32_update
from .objectives import Margin, Objective

#: (fraction of the query budget, divisor of p_init) from the reference schedule for 10,000 queries.
_SCHEDULE = ((0.001, 1), (0.005, 2), (0.02, 4), (0.05, 8), (0.1, 16), (0.2, 32), (0.4, 64), (0.6, 128),
             (0.8, 256), (float('inf'), 512))


def square_fraction(p_init: float, query: int, n_queries: int) -> float:
    """Fraction of pixels the square covers at ``query``: p_init halved at fixed fractions of the budget."""
    progress = int(query / n_queries * 10000) / 10000
    return p_init / next(divisor for limit, divisor in _SCHEDULE if progress <= limit)


@ATTACKS.register_module()
class Square(Attack):
    """Linf Square attack: start from random vertical stripes at +-eps, then repeatedly set a random
    square window of one sample to +-eps per channel and keep the change if the objective improved.

    Args:
        n_queries: forward passes per sample (5000 in AutoAttack).
        p_init: initial fraction of the image a square covers (0.8 for Linf).

    :meth:`perturb` maximises any objective over all ``n_queries``; :meth:`evaluate` maximises the
    negative margin and stops querying a sample once it is misclassified.
    """

    loss = 'margin'
    iterations_option = 'n_queries'

    def __init__(self, eps: float, norm: str = 'Linf', n_queries: int = 5000, p_init: float = 0.8,
                 seed: Optional[int] = None, nan_policy: str = 'zero', allow_sub_unit_eps: bool = False) -> None:
        super().__init__(eps, norm=norm, seed=seed, nan_policy=nan_policy, allow_sub_unit_eps=allow_sub_unit_eps)
        if self.norm != 'Linf':
            raise ConfigError(f"The Square attack is implemented for norm='Linf' only, not {norm!r}. For L2 "
                              f"use APGD, or AutoAttack(version='custom').")
        self.n_queries = check_positive_int(n_queries, 'n_queries')
        if not 0.0 < p_init <= 1.0:
            raise ConfigError(f'p_init={p_init!r} must be a fraction in (0, 1]; the reference uses 0.8.')
        self.p_init = float(p_init)

    def budget(self, num_classes: int) -> AttackBudget:
        return AttackBudget(self.n_queries)  # one forward pass per query, no gradient

    def budget_label(self, num_classes: Optional[int] = None) -> str:
        return f'Square ({self.n_queries} queries)'

    @property
    def reduced(self) -> bool:
        return self.n_queries < REFERENCE_N_QUERIES

    def _perturb(self, forward: Forward, images: Tensor, objective: Objective) -> Tensor:
        return self._search(forward, images, objective, None)[0]

    def attack_remaining(self, classifier: Forward, images: Tensor, labels: Tensor, robust: Tensor,
                         adv: Tensor) -> Tuple[Tensor, Tensor]:
        index = robust.nonzero()[:, 0]
        if index.numel() == 0 or self.eps == 0:
            return robust, adv
        found, fooled = self._search(classifier, images[index], Margin(labels[index]), labels[index])
        robust, adv = robust.clone(), adv.clone()
        robust[index[fooled]] = False
        adv[index[fooled]] = found[fooled]
        return robust, adv

    def _search(self, forward: Forward, x: Tensor, objective: Objective,
                labels: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        """Random search; returns (best points, misclassified?). With labels, a sample stops being
        queried once misclassified."""
        if x.dim() != 4:
            raise ConfigError(f'The Square attack needs (B, C, H, W) images, got shape {tuple(x.shape)}.')
        gen = self.generator(x.device)
        batch, channels, height, width = x.shape

        def query(points: Tensor, subset: Objective, subset_labels: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
            with torch.no_grad():
                output = forward(points).float()
            score = subset(output)
            wrong = output.argmax(dim=1) != subset_labels if subset_labels is not None else torch.zeros_like(score, dtype=torch.bool)
            return score, wrong

        with float32_update(x.device):
            stripes = self._signs((batch, channels, 1, width), gen, x.device)
            best = project(x + self.eps * stripes, x, self.eps, self.norm)
        best_score, fooled = query(best, objective, labels)
        rows, cols = torch.arange(height, device=x.device), torch.arange(width, device=x.device)
        for i in range(1, self.n_queries):
            active = (~fooled).nonzero()[:, 0] if labels is not None else torch.arange(batch, device=x.device)
            if active.numel() == 0:
                break
            with float32_update(x.device):
                p = square_fraction(self.p_init, i, self.n_queries)
                side = min(max(int(round(math.sqrt(p * height * width))), 1), height, width)
                n = active.numel()
                top = torch.randint(0, height - side + 1, (n,), generator=gen, device=x.device)
                left = torch.randint(0, width - side + 1, (n,), generator=gen, device=x.device)
                window = (((rows >= top[:, None]) & (rows < top[:, None] + side))[:, None, :, None]
                          & ((cols >= left[:, None]) & (cols < left[:, None] + side))[:, None, None, :])
                clean, current = x[active], best[active]
                candidate = self._fill(clean, current, window, gen)
                candidate = project(candidate, clean, self.eps, self.norm)
            score, wrong = query(candidate, objective.subset(active), labels[active] if labels is not None else None)
            with float32_update(x.device):
                better = (score > best_score[active]) | wrong
                best[active] = torch.where(per_sample(better, candidate), candidate, current)
                best_score[active] = torch.where(better, score, best_score[active])
                fooled[active] = fooled[active] | wrong
        return best, fooled

    def _fill(self, clean: Tensor, current: Tensor, window: Tensor, gen: Optional[torch.Generator]) -> Tensor:
        """``current`` with the window set to clean +- eps per channel, redrawing the signs (a few times)
        for samples where that would change nothing."""
        candidate = current
        for _ in range(10):
            signs = self._signs((clean.shape[0], clean.shape[1], 1, 1), gen, clean.device)
            fresh = torch.where(window, (clean + self.eps * signs).clamp(0.0, 1.0), current)
            unchanged = ((fresh - current).abs() < 1e-7).flatten(1).all(dim=1)
            candidate = torch.where(per_sample(unchanged, fresh), candidate, fresh)
            if not bool(unchanged.any()):
                break
        return candidate

    @staticmethod
    def _signs(shape: Tuple[int, ...], gen: Optional[torch.Generator], device: torch.device) -> Tensor:
        return torch.randint(0, 2, shape, generator=gen, device=device).float() * 2 - 1
