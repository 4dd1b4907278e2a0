"""What a benchmark does with one dataset: the :class:`Task` contract and the two built-in tasks.

The :class:`~mmtard.evaluation.benchmark.Benchmark` owns everything common to every task: building
the dataset, checking its image size, drawing the clean and robust samples, the plan and its cost,
seeding and building each batch's attack, storing every batch so a killed run resumes, and the
identity fields of each result row. A task owns the rest: its text side and attack
(:meth:`Task.prepare`), what one batch yields clean and under attack (JSON-able, as it is stored),
and how the batches become a row's numbers (:meth:`Task.summarise`). A new task is one module with
a ``Task`` subclass registered in ``EVAL_TASKS`` (docs/interfaces.md, "An evaluation task").
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from ..attacks.base import Attack
from ..attacks.objectives import CaptionSetCrossEntropy
from ..datasets.sampling import dataset_labels
from ..datasets.templates import dataset_class_text
from ..errors import ConfigError
from ..models.encoders.base import ImageTextEncoder
from ..models.zero_shot import ZeroShotClassifier
from ..registry import EVAL_TASKS
from .attack_choice import attack_config
from .retrieval import caption_gallery, distinct_images, retrieval_recall
from .spec import BenchmarkSpec, DatasetSpec

#: Template that embeds a caption as it is (captions go through ``class_embeddings`` for its disk cache).
CAPTION_TEMPLATE = ['{}']
Batch = Dict[str, Any]


@dataclass
class TaskSetup:
    """What :meth:`Task.prepare` finds out before any model pass.

    ``count``: items the samples are drawn from; ``labels``: one per item, for class-balanced samples
    (None: not known without loading images); ``num_classes``: the classes an attack's budget and cost
    are counted for; ``attack``: this dataset's attack config (ATTACKS, without eps and seed);
    ``classnames`` / ``templates``: the text side, part of what a stored batch depends on.
    """

    count: int
    labels: Optional[List[int]]
    num_classes: int
    attack: Dict[str, Any]
    classnames: List[str] = field(default_factory=list)
    templates: List[str] = field(default_factory=list)


@dataclass
class Summary:
    """A result row's numbers (:class:`~mmtard.evaluation.results.BenchmarkResult` has their meaning);
    ``sample_indices``: dataset indices of the attacked samples where they are not the robust subset's;
    ``clean_correct`` / ``robust_correct``: per-sample outcomes ('1' right, '0' wrong) of the clean
    samples and of the attacked ones, in sample order ('' when a task or a stored batch has none)."""

    clean_acc: float
    robust_acc: Optional[float] = None
    attacked_clean_acc: Optional[float] = None
    per_attack: Dict[str, float] = field(default_factory=dict)
    metrics: Dict[str, float] = field(default_factory=dict)
    sample_indices: Optional[List[int]] = None
    clean_correct: str = ''
    robust_correct: str = ''


class Task:
    """Base class of evaluation tasks (registry ``EVAL_TASKS``, chosen by ``evaluation.datasets[i].task``;
    the name it is registered under is the one configs and results use).

    One instance per dataset. The benchmark calls, in this order: :meth:`prepare` (no model pass:
    errors come before any work), :meth:`start` with the chosen sample indices (text embeddings,
    galleries), :meth:`clean_batch` per batch of clean indices, :meth:`robust_batch` per batch of
    robust indices and eps with that batch's seeded attack, then :meth:`summarise` per eps. Batch
    values must be JSON-able: they are stored as they come, and a resumed run reads them back
    instead of calling the task again.
    """

    def __init__(self, dataset: Any, entry: DatasetSpec, spec: BenchmarkSpec, encoder: ImageTextEncoder,
                 device: torch.device, cache_dir: str) -> None:
        self.dataset, self.entry, self.spec = dataset, entry, spec
        self.encoder, self.device, self.cache_dir = encoder, device, cache_dir

    @classmethod
    def handles(cls, dataset: Any) -> bool:
        """Whether this task scores ``dataset`` when its entry names no task."""
        return False

    def prepare(self) -> TaskSetup:
        raise NotImplementedError

    def start(self, clean_indices: List[int], robust_indices: List[int]) -> None:
        """Model work done once per dataset before its batches (e.g. class embeddings)."""

    def clean_batch(self, indices: List[int]) -> Batch:
        raise NotImplementedError

    def robust_batch(self, indices: List[int], attack: Attack) -> Batch:
        raise NotImplementedError

    def summarise(self, clean: List[Batch], robust: Optional[List[Batch]], attack: Optional[Attack]) -> Summary:
        """One row's numbers from the clean batches and one eps's robust batches (None without an attack)."""
        raise NotImplementedError

    def load(self, indices: Sequence[int]) -> Tuple[Tensor, Optional[Tensor]]:
        """Images (and labels, where items have them) of dataset ``indices`` on the device."""
        items = [self.dataset[int(i)] for i in indices]
        images = torch.stack([item['inputs'] for item in items]).to(self.device)
        labels = torch.tensor([item['label'] for item in items], device=self.device) if 'label' in items[0] else None
        return images, labels


def _fraction(values: List[Batch], key: str) -> float:
    return sum(v[key] for v in values) / max(sum(v['n'] for v in values), 1)


def outcome_bits(correct: Tensor) -> str:
    """Per-sample outcomes as a string of '0'/'1': compact in JSON, and what paired bootstraps need."""
    return ''.join('1' if value else '0' for value in correct.tolist())


def _joined_bits(values: List[Batch], key: str) -> str:
    """The batches' per-sample outcomes in order; '' if any batch lacks them (stored by an older mmtard)."""
    return ''.join(v[key] for v in values) if all(key in v for v in values) else ''


@EVAL_TASKS.register_module(name='classification')
class ClassificationTask(Task):
    """Zero-shot classification: logits ``s * f(x) W^T`` over the class embeddings of the encoder's own
    text tower; robust accuracy under the attack composition (each stage attacks what earlier ones missed)."""

    @classmethod
    def handles(cls, dataset: Any) -> bool:
        return hasattr(dataset, 'classnames')

    def prepare(self) -> TaskSetup:
        classnames, templates = dataset_class_text(self.dataset, self.entry.classnames, self.entry.templates)
        if len(classnames) < 2:
            raise ConfigError(f'The dataset {self.entry.name!r} has {len(classnames)} class ({classnames}): zero-shot '
                              f'classification picks one of several classes, so with one every prediction is '
                              f'right. Point it at a dataset with at least 2 classes (an image folder needs one '
                              f'sub-folder per class).')
        self.classnames, self.templates = classnames, templates
        return TaskSetup(len(self.dataset), dataset_labels(self.dataset), len(classnames),
                         attack_config(self.spec, self.entry, len(classnames)), classnames, templates)

    def start(self, clean_indices: List[int], robust_indices: List[int]) -> None:
        weights = self.encoder.class_embeddings(self.classnames, self.templates, cache_dir=self.cache_dir)
        self.classifier = ZeroShotClassifier(self.encoder, weights.to(self.device), self.spec.logit_scale)

    def clean_batch(self, indices: List[int]) -> Batch:
        images, labels = self.load(indices)
        with torch.no_grad():
            correct = self.classifier(images).argmax(dim=1) == labels
        return {'n': len(indices), 'correct': int(correct.sum()), 'correct_bits': outcome_bits(correct)}

    def robust_batch(self, indices: List[int], attack: Attack) -> Batch:
        images, labels = self.load(indices)
        result = attack.evaluate(self.classifier, images, labels)
        return {'n': len(indices), 'robust': int(result.robust.sum()), 'clean': int(result.clean.sum()),
                'per_attack': {name: round(acc * len(indices)) for name, acc in result.per_attack.items()},
                'nan_grads': result.nan_grad_count, 'robust_bits': outcome_bits(result.robust)}

    def summarise(self, clean: List[Batch], robust: Optional[List[Batch]], attack: Optional[Attack]) -> Summary:
        clean_acc, clean_bits = _fraction(clean, 'correct'), _joined_bits(clean, 'correct_bits')
        if robust is None:
            return Summary(clean_acc, clean_correct=clean_bits)
        n = sum(v['n'] for v in robust)
        nan_grads = sum(v['nan_grads'] for v in robust)
        return Summary(clean_acc, _fraction(robust, 'robust'), _fraction(robust, 'clean'),
                       {name: sum(v['per_attack'][name] for v in robust) / n for name in robust[0]['per_attack']},
                       {'nan_grads': nan_grads} if nan_grads else {}, clean_correct=clean_bits,
                       robust_correct=_joined_bits(robust, 'robust_bits'))


def _encode(tensor: Tensor) -> str:
    return base64.b64encode(tensor.detach().float().cpu().numpy().astype('<f4').tobytes()).decode('ascii')


def _decode(text: str, dim: int) -> Tensor:
    return torch.from_numpy(np.frombuffer(base64.b64decode(text), dtype='<f4').copy()).view(-1, dim)


@EVAL_TASKS.register_module(name='retrieval')
class RetrievalTask(Task):
    """Image<->text retrieval on a caption dataset: recall@k of the distinct images clean, and of the
    attacked ones with their images pushed away from all their own captions. The attacked images are
    scored against their own, smaller gallery, clean and attacked, so a row's attacked-clean and robust
    recall describe the same retrieval task."""

    @classmethod
    def handles(cls, dataset: Any) -> bool:
        return not hasattr(dataset, 'classnames') and hasattr(dataset, 'captions')

    def prepare(self) -> TaskSetup:
        return TaskSetup(distinct_images(self.dataset.image_files), None, 2, dict(self.spec.retrieval_attack))

    def _gallery(self, image_order: List[int]) -> Tuple[List[int], Tensor, List[List[int]]]:
        rows, texts, truths = caption_gallery(self.dataset.image_files, self.dataset.captions, image_order)
        text = self.encoder.class_embeddings(texts, CAPTION_TEMPLATE, cache_dir=self.cache_dir)
        return rows, text.to(self.device), truths

    def start(self, clean_indices: List[int], robust_indices: List[int]) -> None:
        self.clean_indices, self.robust_indices = clean_indices, robust_indices
        rows, self.clean_text, self.clean_truths = self._gallery(clean_indices)
        self.clean_row = dict(zip(clean_indices, rows))
        if robust_indices:
            rows, self.robust_text, self.robust_truths = self._gallery(robust_indices)
            self.robust_rows = rows
            self.attacked = {image: (row, k) for k, (image, row) in enumerate(zip(robust_indices, rows))}
            self.positives = torch.zeros(len(rows), self.robust_text.shape[0], dtype=torch.bool, device=self.device)
            for image, captions in enumerate(self.robust_truths):
                self.positives[image, captions] = True
            self.classifier = ZeroShotClassifier(self.encoder, self.robust_text, self.spec.logit_scale)

    def clean_batch(self, indices: List[int]) -> Batch:
        images, _ = self.load([self.clean_row[i] for i in indices])
        with torch.no_grad():
            return {'embeddings': _encode(self.encoder(images))}

    def robust_batch(self, indices: List[int], attack: Attack) -> Batch:
        images, _ = self.load([self.attacked[i][0] for i in indices])
        objective = CaptionSetCrossEntropy(self.positives[[self.attacked[i][1] for i in indices]])
        adv = attack.perturb(self.classifier, images, objective).adv
        with torch.no_grad():
            return {'embeddings': _encode(self.encoder(adv))}

    def _embeddings(self, values: List[Batch]) -> Tensor:
        return torch.cat([_decode(v['embeddings'], self.encoder.embed_dim) for v in values]).to(self.device)

    def summarise(self, clean: List[Batch], robust: Optional[List[Batch]], attack: Optional[Attack]) -> Summary:
        clean_embeddings = self._embeddings(clean)
        metrics = retrieval_recall(clean_embeddings @ self.clean_text.T, self.clean_truths)
        if robust is None or attack is None:
            return Summary(metrics['i2t_r1'], metrics=metrics)
        position = {image: i for i, image in enumerate(self.clean_indices)}
        attacked_clean = retrieval_recall(
            clean_embeddings[[position[i] for i in self.robust_indices]] @ self.robust_text.T, self.robust_truths)
        recalls = retrieval_recall(self._embeddings(robust) @ self.robust_text.T, self.robust_truths)
        stage = '+'.join(attack.passes_per_sample(2))
        return Summary(metrics['i2t_r1'], recalls['i2t_r1'], attacked_clean['i2t_r1'], {stage: recalls['i2t_r1']},
                       {**metrics, **{f'attacked_clean_{k}': v for k, v in attacked_clean.items()},
                        **{f'robust_{k}': v for k, v in recalls.items()}},
                       sample_indices=self.robust_rows)
