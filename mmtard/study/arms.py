"""What the study trains: each arm is a demo student stage with a few config overrides.

Families are swept along one parameter, so each traces a clean/robust frontier instead of a single
point; design variants change one thing against the release's MMT-ARD.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from ..demo.stages import STAGES, Stage

#: The demo's own stages the study builds on (trained once, in the demo's folder, and reused).
UPSTREAM = tuple(s for s in STAGES if s.kind != 'student')
ROBUST_TEACHER = next(s for s in STAGES if s.name == 'robust-teacher')
#: A weaker robust teacher for the teacher-strength variant: the same recipe at 1/255 instead of 4/255.
WEAK_TEACHER = Stage('weak-robust-teacher', 'PMG-AFT teacher at 1/255', ROBUST_TEACHER.config, 'teacher',
                     ROBUST_TEACHER.inputs, {'model.attack.eps': 1})

_SINGLE = next(s for s in STAGES if s.name == 'single-ard')
_REFERENCE = next(s for s in STAGES if s.name == 'mmtard-reference')
_DYNAMIC = next(s for s in STAGES if s.name == 'mmtard-dynamic')
#: The robust teacher seen on clean x and compared with the student on x_adv, as ARD does.
_ROBUST_ON_CLEAN = {'model.teachers.1.teacher_input': 'clean', 'model.teachers.1.student_input': 'adv'}


@dataclass(frozen=True)
class Arm:
    """One trained configuration: its family, the family's swept parameter and its value here."""

    family: str
    parameter: str
    value: float
    stage: Stage

    @property
    def name(self) -> str:
        return self.stage.name


def _arm(family: str, parameter: str, value: float, name: str, label: str, source: Stage,
         options: Dict[str, Any], inputs: Optional[Dict[str, str]] = None) -> Arm:
    return Arm(family, parameter, value, Stage(name, label, source.config, 'student',
                                               dict(inputs or source.inputs), options))


def _ard_with_clean_term(weight: float) -> Arm:
    """Single-teacher ARD plus a clean-teacher term: KL(p_R(x) || p_S(x_adv)) + w KL(p_C(x) || p_S(x))."""
    return _arm('single-teacher ARD', 'clean-term weight', weight, f'ard-clean{weight:g}',
                f'ARD + {weight:g} x clean term', _REFERENCE,
                {**_ROBUST_ON_CLEAN, 'model.attack_target': 'robust',
                 'model.weighting': dict(_delete_=True, type='FixedWeighting', weights=dict(robust=1.0, clean=weight))})


#: Frontier families: single-teacher ARD (with an optional clean term), MMT-ARD with the release's
#: weighting over its clean coefficient (5 is the release's), MMT-ARD with dynamic confidence over beta.
FRONTIER: Tuple[Arm, ...] = (
    _arm('single-teacher ARD', 'clean-term weight', 0.0, 'ard', 'single-teacher ARD', _SINGLE, {}),
    _ard_with_clean_term(1.0),
    *(_arm('MMT-ARD (release weighting)', 'clean coefficient', c, f'mmtard-clean{c:g}',
           f'MMT-ARD, 50 / {c:g}', _REFERENCE, {'model.weighting.coefficients.clean': c}) for c in (1.0, 5.0, 25.0)),
    *(_arm('MMT-ARD (dynamic confidence)', 'beta', b, f'dynamic-beta{b:g}', f'MMT-ARD dynamic, beta {b:g}',
           _DYNAMIC, {'model.weighting.beta': b}) for b in (0.0, 2.0)),
)
#: One-line design variants of the release's MMT-ARD (coefficient 5).
VARIANTS: Tuple[Arm, ...] = (
    _arm('variant', 'robust teacher input', 0.0, 'variant-robust-on-clean', 'MMT-ARD, robust teacher on clean x',
         _REFERENCE, dict(_ROBUST_ON_CLEAN)),
    _arm('variant', 'attack target', 0.0, 'variant-attack-robust', 'MMT-ARD, attack targets the robust teacher',
         _REFERENCE, {'model.attack_target': 'robust'}),
    _arm('variant', 'robust teacher strength', 0.0, 'variant-weak-teacher', 'MMT-ARD, robust teacher at 1/255',
         _REFERENCE, {}, {**_REFERENCE.inputs, 'model.teachers.1.encoder.pretrained': WEAK_TEACHER.name}),
)
ARMS: Tuple[Arm, ...] = FRONTIER + VARIANTS
#: The baseline every claim is measured against, and the release's MMT-ARD.
BASELINE = 'ard'
RELEASE = 'mmtard-clean5'
