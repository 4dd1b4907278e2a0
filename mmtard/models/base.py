"""What every mmtard training model shares: a student, its zero-shot head, attacks and prediction.

Models are mmengine ``BaseModel``s whose training logic lives in ``forward(mode='loss')`` so that
mmengine's DDP wrapper (which calls forward, not ``train_step``) synchronises the student's gradients.
"""
from __future__ import annotations

import contextlib
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

import torch
from mmengine.model import BaseModel
from torch import Tensor, nn

from ..datasets.templates import class_names_and_templates
from ..errors import ConfigError
from ..registry import ATTACKS, STUDENTS
from .data_preprocessor import PixelDataPreprocessor
from .teacher import FrozenTeacher
from .zero_shot import zero_shot_logits

ClassNames = Optional[Union[Sequence[str], str]]


class ZeroShotModel(BaseModel):
    """A trainable student image encoder scored by zero-shot logits s * f(x) W^T over a class list.

    Class names and templates come from the config (a list, or a named set such as 'imagenet'), or,
    when left out, from the training dataset through ``ZeroShotClassesHook`` before training starts.
    ``val_attack`` (optional) makes validation report robust accuracy too.
    """

    #: Whether training changes the text tower (then class embeddings are recomputed before validation).
    trains_text_tower = False

    def __init__(self, student: dict, classnames: ClassNames = None, templates: ClassNames = None,
                 logit_scale: float = 100.0, val_attack: Optional[dict] = None,
                 text_cache_dir: Optional[str] = None, data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor or PixelDataPreprocessor(),
                         init_cfg=init_cfg)
        self.student = STUDENTS.build(student)
        self.logit_scale = float(logit_scale)
        self.text_cache_dir = text_cache_dir
        self.val_attack = ATTACKS.build(val_attack) if val_attack is not None else None
        self.classnames: Optional[List[str]] = None
        self.templates: Optional[List[str]] = None
        self._pending_classes = class_names_and_templates(classnames, templates)

    # ----------------------------------------------------------------- class text embeddings
    def text_towers(self) -> Dict[str, nn.Module]:
        """Every model whose class embeddings the loss needs, by name ('student' first)."""
        return {'student': self.student}

    def set_classes(self, classnames: Sequence[str], templates: Sequence[str]) -> None:
        """Compute (or load from the disk cache) each text tower's class embeddings for these classes."""
        if not classnames or not templates:
            raise ConfigError('A zero-shot model needs a non-empty list of class names and of prompt templates.')
        self.classnames, self.templates = list(classnames), list(templates)
        for name, model in self.text_towers().items():
            weights = model.class_embeddings(self.classnames, self.templates, cache_dir=self.text_cache_dir)
            self.register_buffer(f'class_embeddings_{name}', weights.float(), persistent=False)

    def ensure_classes(self, fallback_classnames: Optional[Sequence[str]] = None,
                       fallback_templates: Optional[Sequence[str]] = None) -> None:
        """Set classes from the config if given, else from the fallback (the dataset's), once."""
        if self.classnames is not None:
            return
        classnames, templates = self._pending_classes
        classnames = classnames or fallback_classnames
        templates = templates or fallback_templates
        if not classnames or not templates:
            raise ConfigError(
                'The model has no class names or prompt templates: set model.classnames and model.templates '
                "in the config (lists, or a named set such as 'imagenet'), or train on a dataset that has "
                '`classnames` and `templates` attributes.')
        self.set_classes(classnames, templates)

    def class_embeddings_of(self, name: str) -> Tensor:
        if self.classnames is None:
            self.ensure_classes()
        return getattr(self, f'class_embeddings_{name}')

    # ----------------------------------------------------------------- logits
    def zero_shot_logits(self, name: str, embeddings: Tensor) -> Tensor:
        """The zero-shot head (:func:`~mmtard.models.zero_shot.zero_shot_logits`, as evaluation's) over
        model ``name``'s class embeddings."""
        return zero_shot_logits(embeddings, self.class_embeddings_of(name), self.logit_scale)

    def student_logits(self, images: Tensor) -> Tensor:
        return self.zero_shot_logits('student', self.student(images))

    def student_logits_of(self, batches: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """Student logits of several batches (e.g. x and x_adv). A student without batch statistics
        sees them as one concatenated batch: the same per-sample maths, one larger (faster) pass;
        one with batch-norm in training mode sees each batch alone, as it would at test time."""
        if len(batches) < 2 or self.student_has_batch_statistics():
            return {name: self.student_logits(images) for name, images in batches.items()}
        logits = self.student_logits(torch.cat(list(batches.values())))
        return dict(zip(batches, logits.split([len(images) for images in batches.values()])))

    def student_has_batch_statistics(self) -> bool:
        """Whether the student's output for a sample depends on the rest of its batch right now."""
        return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training for m in self.student.modules())

    def teacher_outputs(self, teacher: FrozenTeacher, name: str, images: Tensor) -> tuple:
        """(embeddings, logits) of a frozen teacher; no graph is kept."""
        embeddings = teacher(images)
        return embeddings, self.zero_shot_logits(name, embeddings)

    @contextlib.contextmanager
    def attack_mode(self) -> Iterator[None]:
        """Student in eval mode (dropout/BN frozen) with gradients on; its mode is restored after."""
        was_training = self.student.training
        self.student.eval()
        try:
            with torch.enable_grad():
                yield
        finally:
            self.student.train(was_training)

    def attack_student(self, attack: Any, forward: Any, images: Tensor, objective: Any) -> Any:
        """Run ``attack`` on the student in :meth:`attack_mode`."""
        with self.attack_mode():
            return attack.perturb(forward, images, objective)

    # ----------------------------------------------------------------- mmengine entry points
    def forward(self, inputs: Tensor, label: Optional[Tensor] = None, index: Optional[Tensor] = None,
                mode: str = 'tensor', **unused: Any) -> Any:
        if mode == 'loss':
            if label is None:
                raise ConfigError('Training needs labelled batches: the dataset items must carry a "label".')
            return self.loss(inputs, label, index)
        if mode == 'predict':
            return self.predict(inputs, label)
        if mode == 'tensor':
            return self.student_logits(inputs)
        raise ConfigError(f"Unknown forward mode {mode!r}: use 'loss', 'predict' or 'tensor'.")

    def loss(self, inputs: Tensor, labels: Tensor, index: Optional[Tensor]) -> Dict[str, Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def predict(self, inputs: Tensor, labels: Optional[Tensor]) -> List[Dict[str, Tensor]]:
        """One record per batch: clean predictions, and robust ones when ``val_attack`` is set."""
        record = {'pred': self.student_logits(inputs).argmax(dim=-1)}
        if labels is not None:
            record['label'] = labels
            if self.val_attack is not None:  # as `mmtard eval`: attack the correct samples, keep any miss
                with self.attack_mode():
                    adv = self.val_attack.evaluate(self.student_logits, inputs, labels).adv
                record['robust_pred'] = self.student_logits(adv).argmax(dim=-1)
        return [record]

    @staticmethod
    def batch_accuracy(logits: Tensor, labels: Tensor) -> Tensor:
        return (logits.argmax(dim=-1) == labels).float().mean().detach()
