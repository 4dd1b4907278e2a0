"""AutoAttack (Croce & Hein, ICML 2020): a fixed ensemble of parameter-free attacks.

Each stage only attacks the samples every earlier stage failed on, and the robust accuracy after
each stage is reported, so a reader sees which attack did the work (a large drop at Square only
would reveal gradient masking).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..errors import ConfigError
from ..registry import ATTACKS
from ..value_checks import check_choice, check_positive_int
from .apgd import APGD
from .ball import per_sample
from .base import Attack, AttackBudget, Forward, RobustEvalResult
from .fab import FABTargeted
from .objectives import Objective
from .square import Square

#: Named compositions. 'custom' is the CLIP robustness literature's standard (APGD-CE + APGD-T, 9
#: targets); 'apgd-ce' is used for binary tasks, where the DLR losses are undefined.
VERSIONS: Dict[str, Tuple[str, ...]] = {
    'standard': ('apgd-ce', 'apgd-t', 'fab-t', 'square'),
    'custom': ('apgd-ce', 'apgd-t'),
    'apgd-ce+apgd-t': ('apgd-ce', 'apgd-t'),
    'apgd-ce': ('apgd-ce',),
}
UNTARGETED_APGD = ('apgd-ce', 'apgd-dlr')


def reference_restarts(version: str) -> int:
    """Restarts of the untargeted APGD stages in the reference AutoAttack: 1 under 'standard' (its
    ``set_version``), else the constructor's 5, which ``version='custom'`` (the CLIP robustness
    evaluations' and the MMT-ARD release's) never resets. APGD-T always runs 1 restart per target."""
    return 1 if version == 'standard' else 5


@ATTACKS.register_module()
class AutoAttack(Attack):
    """Run the stages of ``version`` (or the explicit list ``attacks``) in order.

    Args:
        version: one of :data:`VERSIONS`.
        attacks: stage names overriding ``version``: 'apgd-ce', 'apgd-dlr', 'apgd-t', 'fab-t',
            'square'.
        n_iter: iterations of the APGD and FAB stages (100 in the reference).
        n_target_classes: targets of APGD-T and FAB-T (9 in the reference).
        n_queries: queries of the Square stage (5000 in the reference).
        n_restarts: restarts of APGD-CE and APGD-DLR; None takes the reference's for ``version``
            (:func:`reference_restarts`: 5, or 1 for 'standard').
        seed: every stage gets this seed, as in the reference.

    :meth:`describe` names the composition with its budgets; one below the reference's
    (:attr:`reduced`) is labelled ``[reduced]`` and not called AutoAttack.

    :meth:`perturb` (an arbitrary objective, e.g. for training) keeps, per sample, the stage
    result with the highest objective among the stages that maximise one (the APGD stages and
    Square; FAB-T has no objective and is skipped there).
    """

    iterations_option = 'n_iter'
    #: 'autoattack' is the robust-CLIP literature's (and the MMT-ARD release's) 'custom' version.
    command_line_names = {'autoattack': {'version': 'custom'}, 'autoattack-standard': {'version': 'standard'},
                          'apgd-ce': {'version': 'apgd-ce'}}

    def __init__(self, eps: float, norm: str = 'Linf', version: str = 'custom',
                 attacks: Optional[Sequence[str]] = None, n_iter: int = 100, n_target_classes: int = 9,
                 n_queries: int = 5000, n_restarts: Optional[int] = None, seed: Optional[int] = None,
                 nan_policy: str = 'zero', allow_sub_unit_eps: bool = False) -> None:
        super().__init__(eps, norm=norm, seed=seed, nan_policy=nan_policy, allow_sub_unit_eps=allow_sub_unit_eps)
        self.version = check_choice(version, tuple(VERSIONS), 'version')
        self.explicit_stages = attacks is not None
        common = dict(eps=eps, norm=norm, seed=seed, nan_policy=nan_policy, allow_sub_unit_eps=allow_sub_unit_eps)
        n_iter = check_positive_int(n_iter, 'n_iter')
        self.n_restarts = reference_restarts(self.version) if n_restarts is None else check_positive_int(
            n_restarts, 'n_restarts')
        restarts = self.n_restarts
        factories: Dict[str, Callable[[], Attack]] = {
            'apgd-ce': lambda: APGD(n_iter=n_iter, n_restarts=restarts, loss='ce', **common),
            'apgd-dlr': lambda: APGD(n_iter=n_iter, n_restarts=restarts, loss='dlr', **common),
            'apgd-t': lambda: APGD(n_iter=n_iter, loss='dlr-targeted', n_target_classes=n_target_classes, **common),
            'fab-t': lambda: FABTargeted(n_iter=n_iter, n_target_classes=n_target_classes, **common),
            'square': lambda: Square(n_queries=n_queries, **common),
        }
        names = list(VERSIONS[version] if attacks is None else attacks)
        if not names:
            raise ConfigError('attacks=[] selects no stage; list at least one of: ' + ', '.join(factories) + '.')
        for name in names:
            check_choice(name, tuple(factories), 'attacks entry')
        if len(set(names)) != len(names):
            raise ConfigError(f'attacks={names} names a stage twice; each stage runs once.')
        if self.norm != 'Linf' and {'fab-t', 'square'} & set(names):
            raise ConfigError(f"FAB-T and Square are implemented for Linf only, so version={version!r} cannot run "
                              f"with norm={norm!r}. Use version='custom' (APGD-CE + APGD-T), as the CLIP "
                              f"robustness literature does.")
        self.stages: List[Attack] = [factories[name]() for name in names]

    @property
    def name(self) -> str:
        return 'autoattack'

    @property
    def reduced(self) -> bool:
        untargeted = any(stage.name in UNTARGETED_APGD for stage in self.stages)
        return any(stage.reduced for stage in self.stages) or (
            untargeted and self.n_restarts < reference_restarts(self.version))

    def budget(self, num_classes: int) -> AttackBudget:
        """Iterations of the gradient stages (Square's queries where it runs alone), the untargeted APGD
        stages' restarts, and the targets of the targeted stages (None without one)."""
        budgets = [stage.budget(num_classes) for stage in self.stages]
        gradient = [b for stage, b in zip(self.stages, budgets) if not isinstance(stage, Square)] or budgets
        targets = [b.targets for b in budgets if b.targets is not None]
        return AttackBudget(max(b.iterations for b in gradient), self.n_restarts, max(targets) if targets else None)

    def passes_per_sample(self, num_classes: int) -> Dict[str, int]:
        passes: Dict[str, int] = {}
        for stage in self.stages:
            passes.update(stage.passes_per_sample(num_classes))
        return passes

    def budget_label(self, num_classes: Optional[int] = None) -> str:
        stages = ' + '.join(stage.budget_label(num_classes) for stage in self.stages)
        if self.reduced:  # not the reference's AutoAttack, so not named so
            return stages
        return f'AutoAttack: {stages}' if self.explicit_stages else f'AutoAttack {self.version}: {stages}'

    def get_rng_state(self) -> Dict[str, Any]:
        return {stage.name: stage.get_rng_state() for stage in self.stages}

    def set_rng_state(self, state: Dict[str, Any]) -> None:
        for stage in self.stages:
            stage.set_rng_state(state.get(stage.name, {}))

    def evaluate(self, classifier: Forward, images: Tensor, labels: Tensor) -> RobustEvalResult:
        images = images.detach().float()
        with torch.no_grad():
            logits = classifier(images).float()
        too_few = [stage.name for stage in self.stages if getattr(stage, 'min_classes', 2) > logits.shape[1]]
        if too_few:
            raise ConfigError(f'The stages {too_few} use DLR losses, undefined for {logits.shape[1]} classes. Use '
                              f"version='apgd-ce' for binary tasks, as the reference evaluation does.")
        clean = logits.argmax(dim=1) == labels
        robust, adv = clean, images.clone()
        per_attack: 'OrderedDict[str, float]' = OrderedDict()
        nan_count = 0
        for stage in self.stages:
            stage._nan_grads = 0
            robust, adv = stage.attack_remaining(classifier, images, labels, robust, adv)
            nan_count += stage._take_nan_count()
            per_attack[stage.name] = robust.float().mean().item()
        return RobustEvalResult(adv, robust, per_attack, nan_count, clean)

    def _perturb(self, forward: Forward, images: Tensor, objective: Objective) -> Tensor:
        best, best_score = None, None
        for stage in self.stages:
            if isinstance(stage, FABTargeted):
                continue
            result = stage.perturb(forward, images, objective)
            self._nan_grads = self._nan_grads + result.nan_grad_count
            with torch.no_grad():
                score = objective(forward(result.adv).float())
            if best is None:
                best, best_score = result.adv, score
            else:
                better = score > best_score
                best = torch.where(per_sample(better, best), result.adv, best)
                best_score = torch.where(better, score, best_score)
        if best is None:
            raise ConfigError('AutoAttack.perturb needs a stage that maximises an objective (APGD or Square); '
                              'this composition only has FAB-T.')
        return best
