"""Adversarial distillation from one or more frozen teachers: MMT-ARD and its single-teacher baseline."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch
from torch import Tensor, nn

from ..attacks.objectives import KLToTarget
from ..checkpoint import is_weight_file_path
from ..errors import CheckpointError, ConfigError, did_you_mean
from ..losses import kl_per_class, kl_per_sample
from ..registry import ATTACKS, MODELS, TEACHERS, WEIGHTINGS
from ..weighting import TeacherTerm
from .base import ClassNames, ZeroShotModel
from .teacher import FrozenTeacher
from .teacher_cache import TeacherEmbeddingCache

INPUTS = ('clean', 'adv')


@dataclass(frozen=True)
class TeacherSpec:
    """Which input a teacher sees and which student output it is compared with."""

    name: str
    teacher_input: str
    student_input: str


def parse_teacher_specs(teachers: Sequence[dict]) -> List[TeacherSpec]:
    """Validate the ``teachers`` list of a distiller config."""
    if not teachers:
        raise ConfigError('A distiller needs at least one teacher: set model.teachers to a list of '
                          "dict(name=..., encoder=dict(type=...), teacher_input='clean'|'adv').")
    specs, allowed = [], {'name', 'encoder', 'teacher_input', 'student_input', 'precision'}
    for i, entry in enumerate(teachers):
        unknown = set(entry) - allowed
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(f'Teacher #{i} has unknown key {key!r}.{did_you_mean(key, allowed)} '
                              f'A teacher entry takes {sorted(allowed)}.')
        missing = [key for key in ('name', 'encoder', 'teacher_input') if key not in entry]
        if missing:  # no default input: a clean teacher silently fed x_adv would train a different method
            raise ConfigError(f"Teacher #{i} lacks {missing}: every teacher entry needs a 'name', an 'encoder' "
                              f"config and teacher_input='clean' (it sees x, like the paper's clean teacher) "
                              f"or 'adv' (it sees x_adv, like the robust teacher); got keys {sorted(entry)}.")
        teacher_input = entry['teacher_input']
        student_input = entry.get('student_input', teacher_input)
        for key, value in (('teacher_input', teacher_input), ('student_input', student_input)):
            if value not in INPUTS:
                raise ConfigError(f"Teacher {entry['name']!r}: {key} must be 'clean' or 'adv', got {value!r}.")
        specs.append(TeacherSpec(entry['name'], teacher_input, student_input))
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ConfigError(f'Teacher names must be unique, got {names}.')
    return specs


def build_teacher(entry: dict, key: str) -> FrozenTeacher:
    """The frozen teacher of a ``teachers`` entry; weights that cannot be read are named with the
    teacher and its config ``key``: a resumed run rebuilds its teachers from the config's files, and
    one deleted or moved since must be restored, or the config pointed at it."""
    try:
        encoder = TEACHERS.build(entry['encoder'])
    except CheckpointError as err:
        pretrained = entry['encoder'].get('pretrained')
        advice = (f" Restore the file, or point -o {key}.pretrained=<file> at where it is now (a resumed run "
                  f"checks, by checksum, that it is the teacher the run was trained with)."
                  if is_weight_file_path(pretrained) and not os.path.isfile(pretrained) else '')
        raise CheckpointError(f"The teacher {entry['name']!r} ({key}, pretrained={pretrained!r}) cannot be built: "
                              f"{err}{advice}") from None
    return FrozenTeacher(encoder, precision=entry.get('precision', 'fp32'), config=entry['encoder'])


@MODELS.register_module()
class MMTARD(ZeroShotModel):
    """Multi-teacher adversarial robust distillation (MMT-ARD).

    One step: (1) x_adv maximises KL(p_target(x) || p_S(x + delta)) within the eps-ball, student in
    eval mode; (2) every teacher t sees its input (x or x_adv) and gives the per-class terms of
    KL(p_t(x_t) || p_S(x_s)); (3) the weighting strategy turns them into one loss. Each teacher runs
    once per step: the attack target reuses its clean logits when it sees x anyway.

    ``teachers`` entries: ``dict(name, encoder=<TEACHERS config>, teacher_input='clean'|'adv',
    student_input=<default: teacher_input>, precision='fp32'|'bf16')``; the paper's two are 'clean'
    on x and 'robust' on x_adv (``configs/_base_/models/``). Weighting and attack default to the
    release's loss and its PGD-10 attack.
    ``cache_clean_teacher_outputs``: keep clean-input teacher embeddings per dataset index across
    epochs; valid when an index always names the same pixels: no random augmentation, or a fixed
    set of augmented views (:class:`~mmtard.datasets.views.FixedViewsDataset`, whose index names the view).
    ``val_teacher_transfer``: validation also runs the training attack on the validation images and
    reports each teacher's accuracy on them and on clean x (``teacher_<name>_adv_acc``,
    ``teacher_<name>_clean_acc``) and the student's on them (``train_attack_acc``): how far the
    student's adversarial examples transfer to the teachers, whose outputs on x_adv become targets.
    """

    def __init__(self, student: dict, teachers: Sequence[dict], weighting: Optional[dict] = None,
                 attack: Optional[dict] = None, attack_target: str = 'clean',
                 cache_clean_teacher_outputs: bool = False, val_teacher_transfer: bool = False, classnames: ClassNames = None,
                 templates: ClassNames = None, logit_scale: float = 100.0, val_attack: Optional[dict] = None,
                 text_cache_dir: Optional[str] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(student, classnames, templates, logit_scale, val_attack, text_cache_dir,
                         data_preprocessor, init_cfg)
        self.specs = parse_teacher_specs(teachers)
        if attack_target not in [s.name for s in self.specs]:
            raise ConfigError(f'attack_target {attack_target!r} is not one of the teachers '
                              f'{[s.name for s in self.specs]}.{did_you_mean(attack_target, [s.name for s in self.specs])}')
        self.attack_target = attack_target
        self.teachers = nn.ModuleDict({entry['name']: build_teacher(entry, self.teacher_config_key(index))
                                       for index, entry in enumerate(teachers)})
        self.weighting = WEIGHTINGS.build(weighting or dict(type='ReferenceCosineWeighting'))
        self.attack = ATTACKS.build(attack or dict(type='PGD', eps=4, steps=10, step_size=1, momentum=0.9))
        self.cache_clean_teacher_outputs = cache_clean_teacher_outputs
        self.val_teacher_transfer = val_teacher_transfer
        self._clean_cache = {s.name: TeacherEmbeddingCache() for s in self.specs}

    def teacher_config_key(self, index: int) -> str:
        """The config key of teacher ``index``'s encoder, as ``-o`` sets it."""
        return f'model.teachers.{index}.encoder'

    def text_towers(self) -> Dict[str, nn.Module]:
        return {'student': self.student, **{name: teacher for name, teacher in self.teachers.items()}}

    def clean_cache(self, name: str) -> TeacherEmbeddingCache:
        """The store of teacher ``name``'s clean-input embeddings (filled as training sees samples,
        or beforehand by `mmtard cache-teacher`)."""
        return self._clean_cache[name]

    def clean_teacher_embeddings(self, name: str, images: Tensor, index: Optional[Tensor]) -> Tensor:
        """Teacher embeddings of clean images; with the cache on, the teacher runs only on samples
        whose embedding no earlier step has stored."""
        teacher = self.teachers[name]
        if not (self.cache_clean_teacher_outputs and index is not None):
            return teacher(images)
        if index.device.type != 'cpu':  # reading GPU indices would stall every step
            raise ConfigError('cache_clean_teacher_outputs needs the batch indices on the CPU; keep the '
                              "dataset's 'index' out of the data preprocessor's device transfer "
                              '(PixelDataPreprocessor, the default, does).')
        cache = self._clean_cache[name]
        keys = index.tolist()
        hits, missing = cache.partition(keys)
        if not hits:
            embeddings = teacher(images)
            cache.store(keys, embeddings)
            return embeddings
        if not missing:
            return cache.load(keys).to(images.device, non_blocking=True)
        missing_at = torch.tensor(missing).to(images.device, non_blocking=True)
        fresh = teacher(images.index_select(0, missing_at))
        cache.store([keys[pos] for pos in missing], fresh)
        embeddings = fresh.new_empty((len(keys), fresh.shape[1]))
        embeddings[missing_at] = fresh
        embeddings[torch.tensor(hits).to(images.device, non_blocking=True)] = cache.load(
            [keys[pos] for pos in hits]).to(images.device, dtype=fresh.dtype, non_blocking=True)
        return embeddings

    def attack_target_logits(self, clean: Tensor, logits: Dict[str, Tensor], index: Optional[Tensor]) -> Tensor:
        """The training attack's target: the attack target teacher's logits on clean x, from ``logits``
        when that teacher scored x already (one forward per teacher and step)."""
        if self.attack_target in logits:
            return logits[self.attack_target]
        # the target teacher sees x_adv in the loss: one extra clean forward for the attack
        return self.zero_shot_logits(self.attack_target, self.clean_teacher_embeddings(self.attack_target, clean, index))

    @torch.no_grad()
    def predict(self, inputs: Tensor, labels: Optional[Tensor]) -> List[Dict[str, Tensor]]:
        records = super().predict(inputs, labels)
        if self.val_teacher_transfer and labels is not None:
            target = torch.softmax(self.attack_target_logits(inputs, {}, None).float(), dim=-1)
            adv = self.attack_student(self.attack, self.student_logits, inputs, KLToTarget(target)).adv
            records[0]['train_attack_pred'] = self.student_logits(adv).argmax(dim=-1)
            for name, teacher in self.teachers.items():
                for kind, images in (('clean', inputs), ('adv', adv)):
                    records[0][f'teacher_{name}_{kind}_pred'] = self.teacher_outputs(teacher, name, images)[1].argmax(-1)
        return records

    def loss(self, inputs: Tensor, labels: Tensor, index: Optional[Tensor]) -> Dict[str, Tensor]:
        clean = inputs
        embeddings: Dict[str, Tensor] = {}
        logits: Dict[str, Tensor] = {}
        for spec in self.specs:
            if spec.teacher_input == 'clean':
                embeddings[spec.name] = self.clean_teacher_embeddings(spec.name, clean, index)
                logits[spec.name] = self.zero_shot_logits(spec.name, embeddings[spec.name])
        target_logits = self.attack_target_logits(clean, logits, index)
        target_probs = torch.softmax(target_logits.float(), dim=-1)
        result = self.attack_student(self.attack, self.student_logits, clean, KLToTarget(target_probs))
        adv = result.adv
        for spec in self.specs:
            if spec.teacher_input == 'adv':
                embeddings[spec.name], logits[spec.name] = self.teacher_outputs(self.teachers[spec.name],
                                                                                spec.name, adv)
        student_logits = self.student_logits_of({kind: clean if kind == 'clean' else adv for kind in INPUTS
                                                 if kind in {spec.student_input for spec in self.specs}})
        terms = {spec.name: TeacherTerm(spec.name, spec.teacher_input,
                                        kl_per_class(logits[spec.name], student_logits[spec.student_input]),
                                        logits[spec.name], embeddings[spec.name],
                                        self.class_embeddings_of(spec.name))
                 for spec in self.specs}
        decided = self.weighting(terms, labels)
        out: Dict[str, Tensor] = {'loss': decided.loss}
        out.update(decided.logs)
        out.update({f'loss_{name}': part.detach() for name, part in decided.parts.items()})
        count = result.nan_grad_count
        out['nan_grads'] = count.float() if torch.is_tensor(count) else clean.new_full((), float(count))
        if 'adv' in student_logits:
            out['acc_adv'] = self.batch_accuracy(student_logits['adv'], labels)
            out['attack_kl'] = kl_per_sample(target_logits, student_logits['adv']).mean().detach()
        if 'clean' in student_logits:
            out['acc_clean'] = self.batch_accuracy(student_logits['clean'], labels)
        return out


@MODELS.register_module()
class SingleTeacherARD(MMTARD):
    """Single-teacher adversarial distillation (the release's ``_origin`` baseline, ARD/RSLAD style).

    The attack maximises KL(p_R(x) || p_S(x + delta)); the loss is KL(p_R(x) || p_S(x_adv)), batch mean.
    Give one ``teacher`` encoder config (the robust teacher); the rest are MMTARD's settings, spelt out
    so that the config check sees them (``teachers``, ``weighting`` and ``attack_target`` are fixed:
    use MMTARD to choose them).
    """

    def __init__(self, student: dict, teacher: dict, attack: Optional[dict] = None,
                 cache_clean_teacher_outputs: bool = False, val_teacher_transfer: bool = False,
                 classnames: ClassNames = None, templates: ClassNames = None, logit_scale: float = 100.0,
                 val_attack: Optional[dict] = None, text_cache_dir: Optional[str] = None,
                 data_preprocessor: Optional[dict] = None, init_cfg: Optional[dict] = None) -> None:
        super().__init__(student, teachers=[dict(name='robust', encoder=teacher, teacher_input='clean',
                                                 student_input='adv')],
                         weighting=dict(type='FixedWeighting', weights={'robust': 1.0}), attack=attack,
                         attack_target='robust', cache_clean_teacher_outputs=cache_clean_teacher_outputs,
                         val_teacher_transfer=val_teacher_transfer, classnames=classnames, templates=templates,
                         logit_scale=logit_scale, val_attack=val_attack, text_cache_dir=text_cache_dir,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)

    def teacher_config_key(self, index: int) -> str:
        return 'model.teacher'
