"""Zero-shot clean and robust benchmark of one image-text encoder over several datasets.

Per classification dataset: class embeddings from the encoder's own text tower, logits
``s * f(x) W^T``, clean accuracy on a deterministic subset and robust accuracy at every eps on a
nested smaller subset under the attack composition (AutoAttack-style: each stage only attacks the
samples every earlier stage failed on). Per caption dataset: image<->text recall@k, clean and with
images attacked to push their own caption away. Every batch is stored as soon as it is done
(:mod:`.partial`), and every batch's attack is seeded by (seed, dataset, eps, batch) alone, so an
interrupted run resumes to the very numbers an uninterrupted one gives.
"""
from __future__ import annotations

import base64
import inspect
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from .. import __version__
from ..attacks.objectives import CaptionSetCrossEntropy
from ..datasets.sampling import balanced_subset, dataset_labels
from ..datasets.templates import dataset_class_text
from ..models.encoders.base import ImageTextEncoder
from ..errors import ConfigError
from ..models.zero_shot import ZeroShotClassifier
from ..registry import DATASETS
from .partial import PARTIAL_FILE, PartialResults
from .plan import BenchmarkSpec, DatasetSpec, PlanRow, attack_config, build_attack, derived_seed, fingerprint
from .results import BenchmarkResult, ModelSource, eps_label
from .retrieval import caption_gallery, distinct_images, retrieval_recall

#: Template that embeds a caption as it is (captions go through ``class_embeddings`` for its disk cache).
CAPTION_TEMPLATE = ['{}']


@dataclass
class BatchEvent:
    """Reported after every batch (progress bars; ``reused``: taken from the partial results)."""

    dataset: str
    stage: str
    eps: float
    batch: int
    n_batches: int
    reused: bool


@dataclass
class PreparedDataset:
    """A built dataset with its text side, its sample subsets and its attack."""

    spec: DatasetSpec
    dataset: Any
    task: str
    split: str
    classnames: List[str]
    templates: List[str]
    clean_indices: List[int]
    robust_indices: List[int]
    attack_cfg: Dict[str, Any]
    fingerprint: str
    sampling: str
    notes: List[str] = field(default_factory=list)


#: Changes whenever what a stored batch means changes (an objective, a metric), so partial results
#: written by an older mmtard are recomputed rather than mixed in. 2: retrieval attacks every caption,
#: classification batches record the attacked samples' clean accuracy.
PROTOCOL = 2


def evaluation_subset(count: int, labels: Optional[Sequence[int]], n: Optional[int], seed: int,
                      sampling: str = 'class-balanced-random') -> List[int]:
    """Sorted indices of ``n`` of ``count`` items, chosen by ``sampling`` (:data:`~.plan.SAMPLINGS`;
    'class-balanced-random' needs ``labels``). A smaller ``n`` under the same seed picks a subset of
    a larger one's, so the robust samples are among the clean ones."""
    if n is None or n >= count:
        return list(range(count))
    if sampling == 'first-n':
        return list(range(n))
    if sampling == 'class-balanced-random' and labels is not None:
        return balanced_subset(labels, n, seed)
    return sorted(int(i) for i in np.random.default_rng(seed).permutation(count)[:n])


def _encode(tensor: Tensor) -> str:
    return base64.b64encode(tensor.detach().float().cpu().numpy().astype('<f4').tobytes()).decode('ascii')


def _decode(text: str, dim: int) -> Tensor:
    return torch.from_numpy(np.frombuffer(base64.b64decode(text), dtype='<f4').copy()).view(-1, dim)


class Benchmark:
    """Runs a :class:`BenchmarkSpec` on ``encoder``, storing batches under ``out_dir``.

    Args:
        encoder: the evaluated image-text encoder (pixels in [0,1] -> unit embeddings).
        spec: datasets, eps, budgets and attacks.
        out_dir: holds the partial results (``partial.jsonl``) and, by default, the text cache.
        device: where the encoder and the batches go.
        source: the model's architecture and weights as results name them.
    """

    def __init__(self, encoder: ImageTextEncoder, spec: BenchmarkSpec, out_dir: Path,
                 device: Optional[torch.device] = None, source: Optional[ModelSource] = None) -> None:
        self.device = torch.device(device) if device is not None else encoder.device
        self.encoder = encoder.to(self.device).eval().requires_grad_(False)
        self.spec = spec
        self.source = source or ModelSource(encoder.architecture)
        self.out_dir = Path(out_dir)
        self.cache_dir = str(spec.cache_dir or self.out_dir / 'text_cache')
        self.model_checksum = encoder.model_checksum()
        self.partial = PartialResults(self.out_dir / PARTIAL_FILE, self.model_checksum)

    # ----------------------------------------------------------------- planning
    def prepare(self) -> List[PreparedDataset]:
        """Build every dataset (a missing one raises its own DatasetNotFoundError) and its subsets."""
        return [self._prepare(entry) for entry in self.spec.datasets]

    def _sized_config(self, entry: DatasetSpec) -> Tuple[Dict[str, Any], List[str]]:
        """The entry's dataset config with ``image_size`` set to the model's input size where the
        dataset takes that option and the config leaves it out (a 224 px default would otherwise
        be fed to, say, a 32 px model), and the note saying so."""
        cfg = dict(entry.dataset)
        dataset_type = DATASETS.find(cfg['type']) if isinstance(cfg.get('type'), str) else cfg.get('type')
        try:
            parameter = inspect.signature(dataset_type).parameters.get('image_size') if dataset_type else None
        except (TypeError, ValueError):
            parameter = None
        if parameter is None or 'image_size' in cfg or parameter.default == self.encoder.image_size:
            return cfg, []
        cfg['image_size'] = self.encoder.image_size
        return cfg, [f'{entry.name}: image_size is not set, so images are resized to the model\'s input size, '
                     f'{self.encoder.image_size} px (the dataset\'s default is {parameter.default} px).']

    def _check_image_size(self, entry: DatasetSpec, dataset: Any) -> None:
        """Refuse a dataset whose images are not the model's input size: attacks perturb the pixels the
        dataset delivers, so resized inside the model the eps-ball would not bound what the model sees."""
        if len(dataset) == 0:
            return
        shape = tuple(dataset[0]['inputs'].shape[-2:])
        size = self.encoder.image_size
        if shape != (size, size):
            raise ConfigError(
                f'The dataset {entry.name!r} delivers {shape[0]}x{shape[1]} px images but the model takes '
                f'{size}x{size} px. Resized inside the model, an attack\'s eps-ball would be defined on other '
                f'pixels than the model sees, and the robust accuracy would not be at the stated eps. Set '
                f'image_size={size} in its dataset config (or leave image_size out: it then follows the model).')

    def _prepare(self, entry: DatasetSpec) -> PreparedDataset:
        config, notes = self._sized_config(entry)
        dataset = DATASETS.build(config)
        self._check_image_size(entry, dataset)
        task = entry.task or ('retrieval' if not hasattr(dataset, 'classnames') and hasattr(dataset, 'captions')
                              else 'classification')
        spec = self.spec
        if task == 'classification':
            classnames, templates = dataset_class_text(dataset, entry.classnames, entry.templates)
            if len(classnames) < 2:
                raise ConfigError(f'The dataset {entry.name!r} has {len(classnames)} class ({classnames}): zero-shot '
                                  f'classification picks one of several classes, so with one every prediction is '
                                  f'right. Point it at a dataset with at least 2 classes (an image folder needs one '
                                  f'sub-folder per class).')
            count, labels = len(dataset), dataset_labels(dataset)
            attack_cfg = attack_config(spec, entry, len(classnames))
        else:
            classnames, templates = [], []
            count, labels = distinct_images(dataset.image_files), None
            attack_cfg = dict(spec.retrieval_attack)
        n_clean, n_robust = spec.budget(entry.name)
        # what is recorded is what ran: without labels, a class-balanced subset is a plain random one
        sampling = 'random' if spec.sampling == 'class-balanced-random' and labels is None else spec.sampling
        settings = dict(protocol=PROTOCOL, dataset=config, task=task, classnames=classnames, templates=templates,
                        n_clean=n_clean, n_robust=n_robust, sampling=sampling, batch_size=spec.batch_size,
                        attack=attack_cfg, logit_scale=spec.logit_scale)
        return PreparedDataset(
            spec=entry, dataset=dataset, task=task, split=str(entry.dataset.get('split', '')),
            classnames=classnames, templates=templates,
            clean_indices=evaluation_subset(count, labels, n_clean, spec.seed, sampling),
            robust_indices=evaluation_subset(count, labels, n_robust, spec.seed, sampling) if spec.eps else [],
            attack_cfg=attack_cfg, fingerprint=fingerprint(settings), sampling=sampling, notes=notes)

    def stages(self, prepared: PreparedDataset) -> Dict[str, int]:
        """Attack stages of a dataset with their passes per attacked sample (upper bound)."""
        if not self.spec.eps:
            return {}
        num_classes = len(prepared.classnames) if prepared.task == 'classification' else 2  # retrieval: untargeted
        return build_attack(prepared.attack_cfg, self.spec.eps[0], 0).passes_per_sample(num_classes)

    def attack_label(self, prepared: PreparedDataset) -> Tuple[str, bool]:
        """The dataset's attack as results name it (its budget; '[reduced]' below the reference's),
        and whether it is reduced; ('', False) without eps."""
        if not self.spec.eps:
            return '', False
        attack = build_attack(prepared.attack_cfg, self.spec.eps[0], 0)
        return attack.describe(), attack.reduced

    def plan(self, prepared: Sequence[PreparedDataset]) -> List[PlanRow]:
        return [PlanRow(p.spec.name, p.task, len(p.classnames), len(p.clean_indices), len(p.robust_indices),
                        list(self.spec.eps), self.stages(p), self.attack_label(p)[0], p.sampling) for p in prepared]

    def calibrate(self, prepared: PreparedDataset) -> float:
        """Seconds of one forward+backward pass (input gradient) on one batch of real images."""
        images, _ = self._load(prepared, prepared.clean_indices[:self.spec.batch_size])
        self._input_gradient(images[:2])  # warm-up: first calls pay for allocations
        start = time.perf_counter()
        self._input_gradient(images)
        return time.perf_counter() - start

    def _input_gradient(self, images: Tensor) -> None:
        x = images.detach().requires_grad_(True)
        with torch.enable_grad():
            torch.autograd.grad(self.encoder(x).sum(), x)

    # ----------------------------------------------------------------- running
    def run(self, prepared: Sequence[PreparedDataset],
            on_batch: Optional[Callable[[BatchEvent], None]] = None) -> List[BenchmarkResult]:
        """Evaluate every dataset at every eps; finished batches are taken from the partial results."""
        records: List[BenchmarkResult] = []
        for p in prepared:
            run = self._classification if p.task == 'classification' else self._retrieval
            records.extend(run(p, on_batch))
        return records

    def n_batches(self, prepared: Sequence[PreparedDataset]) -> int:
        """Batches :meth:`run` goes through (for progress bars)."""
        return sum(len(self._batches(p.clean_indices)) + len(self.spec.eps) * len(self._batches(p.robust_indices))
                   for p in prepared)

    def _batches(self, indices: List[int]) -> List[List[int]]:
        size = self.spec.batch_size
        return [indices[i:i + size] for i in range(0, len(indices), size)]

    def _stored(self, p: PreparedDataset, stage: str, eps: float, batches: List[List[int]],
                compute: Callable[[int, List[int]], Dict[str, Any]],
                on_batch: Optional[Callable[[BatchEvent], None]]) -> List[Dict[str, Any]]:
        """Per batch: the stored value when this batch was done before, else ``compute`` it and store it."""
        values = []
        for b, indices in enumerate(batches):
            key = dict(dataset=p.spec.name, plan=p.fingerprint, stage=stage, eps=eps, batch=b, seed=self.spec.seed)
            value = self.partial.get(key)
            reused = value is not None
            if value is None:
                start = time.perf_counter()
                value = compute(b, indices)
                value['time_s'] = time.perf_counter() - start
                self.partial.put(key, value)
            values.append(value)
            if on_batch is not None:
                on_batch(BatchEvent(p.spec.name, stage, eps, b, len(batches), reused))
        return values

    def _load(self, p: PreparedDataset, indices: Sequence[int]) -> Tuple[Tensor, Optional[Tensor]]:
        items = [p.dataset[int(i)] for i in indices]
        images = torch.stack([item['inputs'] for item in items]).to(self.device)
        labels = torch.tensor([item['label'] for item in items], device=self.device) if 'label' in items[0] else None
        return images, labels

    def _attack_seed(self, p: PreparedDataset, eps: float, batch: int) -> int:
        return derived_seed(self.spec.seed, p.spec.name, eps, batch)

    def _record(self, p: PreparedDataset, eps: float, clean_acc: float, robust_acc: Optional[float],
                per_attack: Dict[str, float], metrics: Dict[str, float], time_s: float,
                sample_indices: Optional[List[int]] = None,
                attacked_clean_acc: Optional[float] = None) -> BenchmarkResult:
        """``sample_indices``: dataset indices of the attacked samples (default the robust subset)."""
        if sample_indices is None:
            sample_indices = list(p.robust_indices)
        attacked = robust_acc is not None
        attack, reduced = self.attack_label(p) if attacked else ('', False)
        threat = build_attack(p.attack_cfg, eps, 0) if attacked else None
        budget = threat.budget(len(p.classnames) if p.task == 'classification' else 2) if threat else None
        return BenchmarkResult(
            dataset=p.spec.name, split=p.split, task=p.task, n=len(p.clean_indices),
            n_robust=len(p.robust_indices) if attacked else 0, eps=float(eps), attack=attack,
            clean_acc=clean_acc, robust_acc=robust_acc, per_attack=per_attack, metrics=metrics,
            time_s=round(time_s, 3), model_checksum=self.model_checksum, mmtard_version=__version__,
            seed=self.spec.seed, sample_indices=sample_indices if attacked else [], attack_reduced=reduced,
            sampling=p.sampling, model=self.source.model, pretrained=self.source.pretrained,
            norm=threat.norm if threat else '', eps_255=eps_label(eps) if attacked else '',
            attack_iterations=budget.iterations if budget else None,
            attack_restarts=budget.restarts if budget else None, attack_targets=budget.targets if budget else None,
            attacked_clean_acc=attacked_clean_acc if attacked else None, preset=self.spec.preset)

    # ----------------------------------------------------------------- classification
    def _classification(self, p: PreparedDataset,
                        on_batch: Optional[Callable[[BatchEvent], None]]) -> List[BenchmarkResult]:
        weights = self.encoder.class_embeddings(p.classnames, p.templates, cache_dir=self.cache_dir)
        classifier = ZeroShotClassifier(self.encoder, weights.to(self.device), self.spec.logit_scale)

        def clean_batch(b: int, indices: List[int]) -> Dict[str, Any]:
            images, labels = self._load(p, indices)
            with torch.no_grad():
                correct = classifier(images).argmax(dim=1) == labels
            return {'n': len(indices), 'correct': int(correct.sum())}

        clean = self._stored(p, 'clean', 0.0, self._batches(p.clean_indices), clean_batch, on_batch)
        clean_acc = sum(v['correct'] for v in clean) / max(sum(v['n'] for v in clean), 1)
        clean_time = sum(v['time_s'] for v in clean)
        if not self.spec.eps:
            return [self._record(p, 0.0, clean_acc, None, {}, {}, clean_time)]
        records = []
        for eps in self.spec.eps:
            def robust_batch(b: int, indices: List[int], eps: float = eps) -> Dict[str, Any]:
                images, labels = self._load(p, indices)
                result = build_attack(p.attack_cfg, eps, self._attack_seed(p, eps, b)).evaluate(
                    classifier, images, labels)
                return {'n': len(indices), 'robust': int(result.robust.sum()), 'clean': int(result.clean.sum()),
                        'per_attack': {name: round(acc * len(indices)) for name, acc in result.per_attack.items()},
                        'nan_grads': result.nan_grad_count}

            robust = self._stored(p, 'robust', eps, self._batches(p.robust_indices), robust_batch, on_batch)
            n = sum(v['n'] for v in robust)
            stages = list(robust[0]['per_attack'])
            records.append(self._record(
                p, eps, clean_acc, sum(v['robust'] for v in robust) / n,
                {name: sum(v['per_attack'][name] for v in robust) / n for name in stages},
                {'nan_grads': sum(v['nan_grads'] for v in robust)} if any(v['nan_grads'] for v in robust) else {},
                clean_time + sum(v['time_s'] for v in robust),
                attacked_clean_acc=sum(v['clean'] for v in robust) / n))
        return records

    # ----------------------------------------------------------------- retrieval
    def _retrieval(self, p: PreparedDataset,
                   on_batch: Optional[Callable[[BatchEvent], None]]) -> List[BenchmarkResult]:
        dataset = p.dataset

        def gallery(image_order: List[int]) -> Tuple[List[int], Tensor, List[List[int]]]:
            rows, texts, truths = caption_gallery(dataset.image_files, dataset.captions, image_order)
            text = self.encoder.class_embeddings(texts, CAPTION_TEMPLATE, cache_dir=self.cache_dir)
            return rows, text.to(self.device), truths

        def embed(values: List[Dict[str, Any]]) -> Tensor:
            return torch.cat([_decode(v['embeddings'], self.encoder.embed_dim) for v in values]).to(self.device)

        rows, text, truths = gallery(p.clean_indices)
        position = {image: row for image, row in zip(p.clean_indices, rows)}

        def clean_batch(b: int, indices: List[int]) -> Dict[str, Any]:
            images, _ = self._load(p, [position[i] for i in indices])
            with torch.no_grad():
                return {'embeddings': _encode(self.encoder(images))}

        clean = self._stored(p, 'clean', 0.0, self._batches(p.clean_indices), clean_batch, on_batch)
        clean_embeddings = embed(clean)
        metrics = retrieval_recall(clean_embeddings @ text.T, truths)
        clean_time = sum(v['time_s'] for v in clean)
        if not self.spec.eps:
            return [self._record(p, 0.0, metrics['i2t_r1'], None, {}, metrics, clean_time)]
        rows, text, truths = gallery(p.robust_indices)
        # The attacked images are scored against their own, smaller gallery: so is their clean
        # recall, so that clean and robust numbers of a row describe the same retrieval task.
        clean_row = {image: i for i, image in enumerate(p.clean_indices)}
        attacked_clean = retrieval_recall(
            clean_embeddings[[clean_row[i] for i in p.robust_indices]] @ text.T, truths)
        classifier = ZeroShotClassifier(self.encoder, text, self.spec.logit_scale)
        positives = torch.zeros(len(truths), text.shape[0], dtype=torch.bool, device=self.device)
        for image, captions in enumerate(truths):
            positives[image, captions] = True
        attacked = {image: (row, k) for k, (image, row) in enumerate(zip(p.robust_indices, rows))}
        records = []
        for eps in self.spec.eps:
            def robust_batch(b: int, indices: List[int], eps: float = eps) -> Dict[str, Any]:
                images, _ = self._load(p, [attacked[i][0] for i in indices])
                objective = CaptionSetCrossEntropy(positives[[attacked[i][1] for i in indices]])
                attack = build_attack(p.attack_cfg, eps, self._attack_seed(p, eps, b))
                adv = attack.perturb(classifier, images, objective).adv
                with torch.no_grad():
                    return {'embeddings': _encode(self.encoder(adv))}

            robust = self._stored(p, 'robust', eps, self._batches(p.robust_indices), robust_batch, on_batch)
            recalls = retrieval_recall(embed(robust) @ text.T, truths)
            stage = '+'.join(self.stages(p))
            records.append(self._record(
                p, eps, metrics['i2t_r1'], recalls['i2t_r1'], {stage: recalls['i2t_r1']},
                {**metrics, **{f'attacked_clean_{k}': v for k, v in attacked_clean.items()},
                 **{f'robust_{k}': v for k, v in recalls.items()}},
                clean_time + sum(v['time_s'] for v in robust), sample_indices=rows,
                attacked_clean_acc=attacked_clean['i2t_r1']))
        return records
