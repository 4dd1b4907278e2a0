"""What the study trains: each arm is a student stage of the chain with a few config overrides.

Families are swept along one parameter, so each traces a clean/robust frontier instead of a single
point, at both of the release's training radii (its README's 2/255 and its code's 4/255), each with a
robust teacher trained at that radius. The headline methods are repeated with same-base teachers (made
from the student's own base CLIP: the transfer test), with a robust teacher trained at twice the
student's radius (the paper's teacher gap: a robust teacher far less accurate on clean images than the
clean one), and ARD and the release's MMT-ARD at a budget where ARD has stopped improving.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Tuple

from ..chain import (BASE, CLEAN_TEACHER, ROBUST_TEACHER, STUDENT_ARCH, STUDENT_INPUTS, STUDENTS, TEACHER_ARCH,
                     TEACHER_BASE, Stage, robust_teacher_options, student_eps_options)

#: The baseline every comparison is made against, and the release's MMT-ARD.
BASELINE, RELEASE = 'ard', 'mmtard-clean5'
#: The release's training radii (1/255 units): its README trains at 2, its code defaults to 4.
TRAIN_EPS = (2, 4)
#: Teachers pretrained separately from the student, larger ('independent'); made from the student's own
#: base CLIP ('same-base'); or independent with a robust teacher trained at GAP_EPS ('gap').
INDEPENDENT, SAME_BASE, GAP = 'independent', 'same-base', 'gap'
#: The gap regime's robust-teacher radius (1/255 units), twice the students' 4/255: the lever that makes
#: the robust teacher trail the clean one on clean images, as in the paper (a PMG-AFT ViT-L-14).
GAP_EPS = 8

ROBUST_TEACHER_EPS2 = Stage('robust-teacher-eps2', 'PMG-AFT teacher at 2/255', ROBUST_TEACHER.config, 'teacher',
                            ROBUST_TEACHER.inputs, robust_teacher_options(2))
SAME_BASE_CLEAN = Stage('same-base-clean-teacher', 'clean teacher (student\'s base)',
                        'clean-finetune_tiny-vit_none_no-attack_400it_shapes.py', 'teacher', STUDENT_INPUTS)
SAME_BASE_ROBUST = Stage('same-base-robust-teacher', 'PMG-AFT teacher (student\'s base)',
                         'pmg-aft_tiny-vit_frozen-base_pgd3-eps4_500it_shapes.py', 'teacher', STUDENT_INPUTS)
ROBUST_TEACHER_GAP = Stage(f'robust-teacher-eps{GAP_EPS}', f'PMG-AFT teacher at {GAP_EPS}/255', ROBUST_TEACHER.config,
                           'teacher', ROBUST_TEACHER.inputs, robust_teacher_options(GAP_EPS))
UPSTREAM: Tuple[Stage, ...] = (BASE, TEACHER_BASE, CLEAN_TEACHER, ROBUST_TEACHER, ROBUST_TEACHER_EPS2,
                               ROBUST_TEACHER_GAP, SAME_BASE_CLEAN, SAME_BASE_ROBUST)
#: The robust teacher of each (teachers, train eps).
ROBUST_TEACHERS = {(INDEPENDENT, 4): ROBUST_TEACHER.name, (INDEPENDENT, 2): ROBUST_TEACHER_EPS2.name,
                   (SAME_BASE, 4): SAME_BASE_ROBUST.name, (GAP, 4): ROBUST_TEACHER_GAP.name}

_SINGLE, _REFERENCE, _DYNAMIC = (next(s for s in STUDENTS if s.name == name)
                                 for name in ('single-ard', 'mmtard-reference', 'mmtard-dynamic'))
_CLEAN_X_CONFIG = 'mmtard-clean-x_tiny-vit_small-clean-pmg-aft_pgd5-eps4_500it_shapes.py'
#: The robust teacher seen on clean x and compared with the student on x_adv, as ARD does.
ROBUST_ON_CLEAN = {'model.teachers.1.teacher_input': 'clean', 'model.teachers.1.student_input': 'adv'}


@dataclass(frozen=True)
class Arm:
    """One trained configuration: its method family, the family's swept parameter and its value, the
    training radius, which teachers it learns from, its budget (x the base budget) and its stage."""

    method: str
    family: str
    parameter: str
    value: float
    train_eps: int
    teachers: str
    budget: int
    stage: Stage

    @property
    def name(self) -> str:
        return self.stage.name

    @property
    def group(self) -> Tuple[int, str, int]:
        """Arms compared with each other: same radius, same teachers, same budget."""
        return self.train_eps, self.teachers, self.budget


@dataclass(frozen=True)
class Method:
    """A point of a family before its radius, teachers and budget are chosen."""

    method: str
    family: str
    parameter: str
    value: float
    label: str
    source: Stage
    options: Dict[str, Any]
    main: bool = False
    config: str = ''


def _ard_with_clean_term(weight: float) -> Method:
    """Single-teacher ARD plus a clean-teacher term: KL(p_R(x) || p_S(x_adv)) + w KL(p_C(x) || p_S(x))."""
    return Method(f'ard-clean{weight:g}', 'single-teacher ARD', 'clean-term weight', weight,
                  f'ARD + {weight:g} x clean term', _REFERENCE,
                  {**ROBUST_ON_CLEAN, 'model.attack_target': 'robust',
                   'model.weighting': dict(_delete_=True, type='FixedWeighting', weights=dict(robust=1.0, clean=weight))})


#: Frontier families, each swept along one parameter: single-teacher ARD (with an optional clean term),
#: MMT-ARD with the release's weighting over its clean coefficient (5 is the release's), MMT-ARD with
#: dynamic confidence over beta, and the clean-x recipe (both teachers on clean x, both cached).
METHODS: Tuple[Method, ...] = (
    Method('ard', 'single-teacher ARD', 'clean-term weight', 0.0, 'single-teacher ARD', _SINGLE, {}, main=True),
    _ard_with_clean_term(1.0),
    Method('mmtard-clean5', 'MMT-ARD (release)', 'clean coefficient', 5.0, 'MMT-ARD, 50 / 5 (release)', _REFERENCE,
           {}, main=True),
    Method('mmtard-clean25', 'MMT-ARD (release)', 'clean coefficient', 25.0, 'MMT-ARD, 50 / 25', _REFERENCE,
           {'model.weighting.coefficients.clean': 25.0}),
    Method('dynamic-beta0', 'MMT-ARD (dynamic confidence)', 'beta', 0.0, 'MMT-ARD dynamic, beta 0', _DYNAMIC,
           {'model.weighting.beta': 0.0}, main=True),
    Method('dynamic-beta2', 'MMT-ARD (dynamic confidence)', 'beta', 2.0, 'MMT-ARD dynamic, beta 2', _DYNAMIC,
           {'model.weighting.beta': 2.0}),
    Method('clean-x', 'MMT-ARD, both teachers on clean x', 'clean coefficient', 5.0,
           'MMT-ARD, both teachers on clean x', _REFERENCE, {}, main=True, config=_CLEAN_X_CONFIG),
)
MAIN = tuple(m.method for m in METHODS if m.main)


def budget_options(iters: int) -> Dict[str, Any]:
    """A student's schedule at ``iters`` iterations: the stage configs' 20 warm-up steps (fewer for a
    budget under 200), then cosine to ``iters``."""
    warmup = min(20, max(1, iters // 10))
    return {'train_cfg.max_iters': iters, 'default_hooks.checkpoint.interval': iters,
            'param_scheduler': [dict(type='LinearLR', start_factor=0.05, by_epoch=False, begin=0, end=warmup),
                                dict(type='CosineAnnealingLR', by_epoch=False, begin=warmup, end=iters, eta_min=0.0)]}


def teacher_options(teachers: str, stage: Stage) -> Tuple[Dict[str, str], Dict[str, Any]]:
    """Inputs and overrides that swap a student stage's independent teachers for same-base ones."""
    if teachers != SAME_BASE:
        return dict(stage.inputs), {}
    inputs, options = {}, {}
    for key, source in stage.inputs.items():
        swapped = {CLEAN_TEACHER.name: SAME_BASE_CLEAN.name, ROBUST_TEACHER.name: SAME_BASE_ROBUST.name}
        inputs[key] = swapped.get(source, source)
        if source in swapped:
            options[key.replace('.pretrained', '.arch')] = STUDENT_ARCH
    return inputs, options


def make_arm(method: Method, train_eps: int, teachers: str, budget: int, iters: int) -> Arm:
    inputs, options = teacher_options(teachers, method.source)
    robust = ROBUST_TEACHERS[(teachers, train_eps)]
    inputs = {key: robust if source in (ROBUST_TEACHER.name, SAME_BASE_ROBUST.name) else source
              for key, source in inputs.items()}
    suffix = f'-eps{train_eps}' + ('' if teachers == INDEPENDENT else f'-{teachers}') + ('' if budget == 1 else f'-{budget}x')
    label = method.label + TEACHERS_SUFFIX[teachers] + ('' if budget == 1 else f', {budget}x budget')
    stage = Stage(method.method + suffix, f'{label} @ {train_eps}/255', method.config or method.source.config,
                  'student', inputs,
                  {**student_eps_options(train_eps), **options, **budget_options(budget * iters), **method.options})
    return Arm(method.method, method.family, method.parameter, method.value, train_eps, teachers, budget, stage)


#: The verdict's methods: ARD, the release's MMT-ARD and the clean-x recipe. They run on every chain
#: with independent teachers, and on CONTROL_CHAINS chains with same-base teachers and in the gap regime.
HEADLINE = (BASELINE, RELEASE, 'clean-x')
#: ARD and the release's MMT-ARD also run at CONVERGED_BUDGET x the budget (4/255, independent teachers),
#: where ARD's validation robustness has stopped rising.
CONVERGED, CONVERGED_BUDGET = (BASELINE, RELEASE), 4
#: Chains of the control arms (same-base, gap, converged); sweep points and variants run on chain 0.
CONTROL_CHAINS = 3
#: The teacher architecture of each teachers setting (what results.json rows name), and its label.
TEACHER_ARCHS = {INDEPENDENT: TEACHER_ARCH, SAME_BASE: STUDENT_ARCH, GAP: TEACHER_ARCH}
TEACHERS_SUFFIX = {INDEPENDENT: '', SAME_BASE: ', same-base teachers',
                   GAP: f', robust teacher at {GAP_EPS}/255'}


def study_arms(iters: int) -> List[Arm]:
    """Every arm: all methods at both radii with independent teachers; the headline methods at 4/255
    with same-base teachers and in the gap regime; ARD and the release's MMT-ARD at the converged budget
    (4/255). ``iters``: a student's base budget."""
    arms = [make_arm(m, eps, INDEPENDENT, 1, iters) for eps in TRAIN_EPS for m in METHODS]
    arms += [make_arm(m, 4, teachers, 1, iters) for teachers in (SAME_BASE, GAP) for m in METHODS
             if m.method in HEADLINE]
    arms += [make_arm(m, 4, INDEPENDENT, CONVERGED_BUDGET, iters) for m in METHODS if m.method in CONVERGED]
    return arms


def chains_of(arm: Arm, chains: int) -> int:
    """How many chains an arm runs on (student seed k on chain k): the headline methods with independent
    teachers at 1x budget every one; the same-base, gap and converged arms CONTROL_CHAINS; sweep points
    and variants the first."""
    if arm.method in HEADLINE and arm.teachers == INDEPENDENT and arm.budget == 1:
        return chains
    if arm.method in HEADLINE:
        return min(chains, CONTROL_CHAINS)
    return 1


def priority(arm: Arm) -> int:
    """The order arms are run in, so that a study cut short has the verdict first: the headline methods
    (0), the transfer test and the teacher-gap regime (1), the converged budget (2), sweep points and
    variants (3)."""
    if arm.method in HEADLINE and arm.teachers == INDEPENDENT and arm.budget == 1:
        return 0
    if arm.method in HEADLINE and arm.budget == 1:
        return 1
    return 2 if arm.method in HEADLINE else 3

