"""The one attack API used by training (any objective) and by robust evaluation (classifiers).

An attack sees the model only as ``forward: pixels -> output`` and the goal only as an
:class:`~mmtard.attacks.objectives.Objective`, so the same PGD serves the KL attack of distillation,
FARE's embedding attack and a CE attack on a zero-shot classifier. The model is left exactly as the
caller set it: gradients are taken with ``torch.autograd.grad`` w.r.t. the input only (nothing lands
in ``.grad`` of parameters) and train/eval mode is never touched.
"""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor

from ..errors import ConfigError, MMTardError
from ..value_checks import check_choice, check_flag
from .objectives import Objective, classification_objective
from .units import check_norm, to_pixels

Forward = Callable[[Tensor], Tensor]
NAN_POLICIES = ('zero', 'raise')
#: The reference AutoAttack's budgets (fra31/auto-attack): a smaller one makes an attack ``reduced``.
REFERENCE_N_ITER = 100  # APGD and FAB iterations
REFERENCE_N_TARGETS = 9  # APGD-T and FAB-T target classes
REFERENCE_N_QUERIES = 5000  # Square queries


def targets_run(n_target_classes: int, num_classes: Optional[int]) -> int:
    """Target classes a targeted attack aims at on a ``num_classes``-way task: at most every class but
    the true one, so a 4-class task runs 3 of the 9 asked for; ``n_target_classes`` where no task is
    known. Budgets and labels both count them here, so a row never states more targets than ran."""
    return n_target_classes if num_classes is None else min(n_target_classes, max(num_classes - 1, 1))


class NonFiniteGradientError(MMTardError, FloatingPointError):
    """The model produced a NaN or infinite input gradient and ``nan_policy='raise'`` was chosen."""


@dataclass(frozen=True)
class AttackBudget:
    """An attack's strength as results record it: ``iterations`` per run (gradient steps, or queries
    of a black-box attack), ``restarts`` (runs from new random starts) and ``targets`` (target classes,
    each a run of its own; None for an untargeted attack), for a task of a given number of classes."""

    iterations: int
    restarts: int = 1
    targets: Optional[int] = None


@dataclass
class AttackResult:
    """``adv``: detached adversarial pixels; ``nan_grad_count``: (sample, step) pairs whose input
    gradient had a non-finite entry (zeroed under ``nan_policy='zero'``). It stays a device tensor
    (0-d) so that a training step never waits for the GPU to read it; ``int()`` it to inspect."""

    adv: Tensor
    nan_grad_count: Union[Tensor, int] = 0


@dataclass
class RobustEvalResult:
    """``robust``: (B,) True where the sample is still correctly classified after every stage;
    ``clean``: (B,) True where it was correctly classified before any; ``per_attack``: robust
    accuracy after each stage, in the order the stages ran."""

    adv: Tensor
    robust: Tensor
    per_attack: 'OrderedDict[str, float]' = field(default_factory=OrderedDict)
    nan_grad_count: int = 0
    clean: Optional[Tensor] = None


def predict(classifier: Forward, images: Tensor) -> Tensor:
    """Predicted classes, without building a graph."""
    with torch.no_grad():
        return classifier(images).float().argmax(dim=1)


def non_finite_rows(t: Tensor) -> Tensor:
    """(B,) True where a row of ``t`` holds a NaN or an infinity: a row's largest and smallest entries
    are both finite exactly when all of them are (``amax`` and ``amin`` propagate NaN). Two float32
    reductions: 1.8-3.3x faster than a float64 sum, which must first convert the whole tensor, and
    5-8x faster than ``isfinite`` + ``all`` (``python tools/benchmark_layers.py``)."""
    rows = t.flatten(1)
    return ~(torch.isfinite(rows.amax(dim=1)) & torch.isfinite(rows.amin(dim=1)))


@contextlib.contextmanager
def float32_update(device: torch.device) -> Iterator[None]:
    """No graph and no autocast: perturbation updates stay in float32 under a bf16 training step."""
    with torch.no_grad(), torch.autocast(device_type=device.type, enabled=False):
        yield


class Attack:
    """Base class of every attack in the ``ATTACKS`` registry.

    Args:
        eps: budget in 1/255 units (``eps=4`` means 4/255), for both norms.
        norm: ``'Linf'`` or ``'L2'``.
        seed: seeds a generator owned by the attack (one per device) for random starts, so a fresh
            attack with the same seed makes the same sequence of perturbations; ``None`` uses
            torch's global generator.
        nan_policy: ``'zero'`` zeroes non-finite input gradients and counts them;
            ``'raise'`` stops with :class:`NonFiniteGradientError`.
        allow_sub_unit_eps: accept ``eps`` (and step sizes) between 0 and 1, i.e. below one grey
            level; such values are refused by default as budgets written in pixel units by mistake.

    Subclasses implement :meth:`_perturb`; evaluation attacks may override :meth:`attack_remaining`.
    """

    #: Untargeted loss :meth:`evaluate` maximises ('ce', 'dlr' or 'margin'); subclasses with a ``loss`` option set it.
    loss: str = 'ce'
    #: The option holding its iterations per run (what `mmtard eval --n-iter` sets); None: it has none.
    iterations_option: Optional[str] = None
    #: The names `mmtard eval --attack NAME` picks it by, each with the options it stands for.
    command_line_names: Mapping[str, Mapping[str, Any]] = {}

    def __init__(self, eps: float, norm: str = 'Linf', seed: Optional[int] = None,
                 nan_policy: str = 'zero', allow_sub_unit_eps: bool = False) -> None:
        self.allow_sub_unit_eps = check_flag(allow_sub_unit_eps, 'allow_sub_unit_eps')
        self.eps = to_pixels(eps, 'eps', self.allow_sub_unit_eps)
        self.norm = check_norm(norm)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError(f'seed={seed!r} must be a whole number, or None for torch\'s global generator.')
        self.seed = seed
        self.nan_policy = check_choice(nan_policy, NAN_POLICIES, 'nan_policy')
        self._generators: Dict[str, torch.Generator] = {}
        self._nan_grads: Tensor | int = 0

    @property
    def name(self) -> str:
        """Stage name used in :attr:`RobustEvalResult.per_attack`."""
        return type(self).__name__.lower()

    def budget_label(self, num_classes: Optional[int] = None) -> str:
        """The attack's name with the settings that set its strength, e.g. 'APGD-T (9 targets, 100 it)';
        given ``num_classes``, those that run on such a task (:func:`targets_run`), as its budget counts them."""
        return type(self).__name__

    def describe(self, num_classes: Optional[int] = None) -> str:
        """What ran: :meth:`budget_label` (on a ``num_classes``-way task when given), marked '[reduced]'
        when :attr:`reduced`. Results and tables show this label, so a weakened attack is never reported
        under a stronger attack's name, nor a dataset's row with more targets than it has classes."""
        label = self.budget_label(num_classes)
        return f'{label} [reduced]' if self.reduced else label

    @property
    def reduced(self) -> bool:
        """Whether the budget is below the reference implementation's (fewer iterations, targets,
        restarts or queries): such results are labelled ``[reduced]``. A family without a reference of
        its own (PGD, a plugin's attack) is measured against the reference AutoAttack's iterations
        (:data:`REFERENCE_N_ITER`) through the budget it states; one that states none is not labelled."""
        try:
            iterations = self.budget(REFERENCE_N_TARGETS + 1).iterations
        except MMTardError:
            return False
        return iterations < REFERENCE_N_ITER

    def budget(self, num_classes: int) -> AttackBudget:
        """The attack's iterations, restarts and targets on a ``num_classes``-way task (results record
        them). Every attack used in evaluation states its own."""
        raise MMTardError(f'The attack {type(self).__name__} does not state its budget: implement '
                          f'budget(num_classes) -> AttackBudget(iterations, restarts, targets) '
                          f'(docs/interfaces.md, "An attack").')

    def passes_per_sample(self, num_classes: int) -> Dict[str, int]:
        """Upper bound of forward+backward passes of one attacked sample, per stage (every sample
        surviving every iteration, restart and target): what the evaluation plan's cost estimate adds up."""
        budget = self.budget(num_classes)
        return {self.name: budget.iterations * budget.restarts * (budget.targets or 1)}

    # ----------------------------------------------------------------- randomness
    def generator(self, device: torch.device) -> Optional[torch.Generator]:
        """The attack's generator on ``device`` (created from ``seed`` on first use), or None."""
        if self.seed is None:
            return None
        key = str(device)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=device).manual_seed(self.seed)
        return self._generators[key]

    def get_rng_state(self) -> Dict[str, Any]:
        """State of every generator used so far, for checkpoints (mmengine does not save it)."""
        return {device: gen.get_state() for device, gen in self._generators.items()}

    def set_rng_state(self, state: Dict[str, Any]) -> None:
        """Restore :meth:`get_rng_state`'s result, so a resumed run continues the same sequence."""
        for device, gen_state in state.items():
            self.generator(torch.device(device)).set_state(gen_state)

    # ----------------------------------------------------------------- public API
    def perturb(self, forward: Forward, images: Tensor, objective: Objective) -> AttackResult:
        """Maximise ``objective(forward(x))`` over x in the eps-ball around ``images`` and [0,1]."""
        images = images.detach().float()
        if self.eps == 0:
            return AttackResult(images.clone(), 0)
        self._nan_grads = 0
        adv = self._perturb(forward, images, objective)
        count, self._nan_grads = self._nan_grads, 0
        return AttackResult(adv.detach(), count)

    def evaluate(self, classifier: Forward, images: Tensor, labels: Tensor) -> RobustEvalResult:
        """Robust accuracy of ``classifier`` (pixels -> logits) under this attack.

        Only clean-correct samples are attacked; ``adv`` holds the clean image where no
        misclassified point was found.
        """
        images = images.detach().float()
        self._nan_grads = 0
        clean = predict(classifier, images) == labels
        robust, adv = self.attack_remaining(classifier, images, labels, clean, images.clone())
        per_attack = OrderedDict([(self.name, robust.float().mean().item())])
        return RobustEvalResult(adv, robust, per_attack, self._take_nan_count(), clean)

    def attack_remaining(self, classifier: Forward, images: Tensor, labels: Tensor, robust: Tensor,
                         adv: Tensor) -> Tuple[Tensor, Tensor]:
        """Attack the samples still marked ``robust``; return the updated ``(robust, adv)``.

        The default runs :meth:`_perturb` with the ``loss`` objective and keeps the result where it
        is misclassified. AutoAttack chains its stages through this method.
        """
        index = robust.nonzero()[:, 0]
        if index.numel() == 0 or self.eps == 0:
            return robust, adv
        found = self._perturb(classifier, images[index], classification_objective(self.loss, labels[index]))
        fooled = predict(classifier, found) != labels[index]
        robust, adv = robust.clone(), adv.clone()
        robust[index[fooled]] = False
        adv[index[fooled]] = found[fooled].detach()
        return robust, adv

    # ----------------------------------------------------------------- for subclasses
    def _perturb(self, forward: Forward, images: Tensor, objective: Objective) -> Tensor:
        """Return adversarial images (float32, in the ball and [0,1]) for eps > 0."""
        raise NotImplementedError

    def _loss_and_grad(self, forward: Forward, x: Tensor, objective: Objective,
                       with_grad: bool = True) -> Tuple[Tensor, Optional[Tensor], Tensor]:
        """Per-sample objective at ``x``, its float32 input gradient and the detached float32 output.

        The forward runs under the caller's autocast (bf16 speed); its output is cast to float32
        before the objective. Non-finite gradients are handled per ``nan_policy``. Without
        ``with_grad`` the gradient is None and no backward pass runs.
        """
        if not with_grad:
            with torch.no_grad():
                output = forward(x.detach()).float()
                return objective(output), None, output
        x = x.detach().requires_grad_(True)
        with torch.enable_grad():
            output = forward(x).float()
            loss = objective(output)
            grad, = torch.autograd.grad(loss.sum(), x)
        grad = grad.float()
        bad = non_finite_rows(grad)
        if self.nan_policy == 'raise':
            if bool(bad.any()):
                raise NonFiniteGradientError(
                    f'{type(self).__name__}: the input gradient of {int(bad.sum())} sample(s) contains NaN or '
                    f'infinite values, so the attack cannot follow it. This usually comes from the model '
                    f'(e.g. a division by a zero norm, or an fp16/bf16 overflow); fix the model, or set '
                    f"nan_policy='zero' to zero such gradients and count them.")
        else:
            grad = torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)
            self._nan_grads = self._nan_grads + bad.sum()
        return loss.detach(), grad, output.detach()

    def _take_nan_count(self) -> int:
        count, self._nan_grads = int(self._nan_grads), 0
        return count
