"""Zero-shot clean and robust benchmark of one image-text encoder over several datasets.

:meth:`Benchmark.run` owns the phase order: build every dataset and its task and draw the samples
(bad input is refused before any model pass), plan the work and time one batch (the caller sees the
plan and its cost before anything long runs), then per dataset its clean batches and, per eps, its
attacked batches, and finally one row per dataset and eps. What a dataset's batches compute is its
:class:`~mmtard.evaluation.tasks.Task`'s (classification, retrieval). Every batch is stored as soon
as it is done (:mod:`.partial`), and every batch's attack is seeded by (seed, dataset, eps, batch)
alone, so an interrupted run resumes to the very numbers an uninterrupted one gives, and several
processes (torchrun, :mod:`.distributed`) each computing every n-th batch give the numbers of one.
"""
from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from .. import __version__
from ..attacks.base import Attack
from ..datasets.clip_benchmark_wds import clip_benchmark_selection
from ..datasets.sampling import balanced_subset
from ..errors import ConfigError
from ..models.encoders.base import ImageTextEncoder
from ..registry import DATASETS, EVAL_TASKS
from .attack_choice import build_attack
from .distributed import Shard, current_shard
from .hashing import derived_seed, fingerprint
from .partial import PartialResults, partial_file, partial_files
from .results import BenchmarkResult, EvaluatedModel, eps_label
from .spec import BenchmarkSpec, DatasetSpec
from .tasks import Batch, Summary, Task, TaskSetup


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
    """A built dataset with its task, its sample subsets and what its stored batches depend on."""

    spec: DatasetSpec
    task: Task
    task_name: str
    setup: TaskSetup
    split: str
    clean_indices: List[int]
    robust_indices: List[int]
    fingerprint: str
    sampling: str
    notes: List[str] = field(default_factory=list)


@dataclass
class PlanRow:
    """One dataset of the plan: what runs on it and its attack cost (passes of one image); ``eps``: the
    radii attacked (eps 0 is the clean row); ``attack``: the attack's label on this dataset
    (:meth:`~mmtard.attacks.base.Attack.describe`)."""

    dataset: str
    task: str
    num_classes: int
    n_clean: int
    n_robust: int
    eps: List[float]
    stages: Dict[str, int]
    attack: str = ''
    sampling: str = ''

    @property
    def passes(self) -> int:
        """Upper bound of forward(+backward) passes of one image: clean forwards plus every stage
        of every eps on every attacked sample."""
        return self.n_clean + self.n_robust * len(self.eps) * sum(self.stages.values())


@dataclass
class Plan:
    """What :meth:`Benchmark.run` is about to do, reported before any long work: per dataset its
    :class:`PlanRow`, the seconds one batch (of ``batch_size`` images) took forward+backward, the batches to
    go through and how many finished ones the partial results already hold."""

    datasets: List[PreparedDataset]
    rows: List[PlanRow]
    seconds_per_batch: float
    batch_size: int
    batches: int
    reused: int

    @property
    def notes(self) -> List[str]:
        """Warnings the datasets' preparation raised (e.g. images resized to the model's input size)."""
        return [note for dataset in self.datasets for note in dataset.notes]


#: Changes whenever what a stored batch means changes (an objective, a metric), so partial results
#: written by an older mmtard are recomputed rather than mixed in. 2: retrieval attacks every caption,
#: classification batches record the attacked samples' clean accuracy.
PROTOCOL = 2


def evaluation_subset(count: int, labels: Optional[Sequence[int]], n: Optional[int], seed: int,
                      sampling: str = 'class-balanced-random',
                      shard_sizes: Optional[Sequence[int]] = None) -> List[int]:
    """Sorted indices of ``n`` of ``count`` items, chosen by ``sampling`` (:data:`~.spec.SAMPLINGS`;
    'class-balanced-random' needs ``labels``; 'clip-benchmark' reads ``shard_sizes``, one shard of
    all items without). A smaller ``n`` under the same seed picks a subset of a larger one's, so the
    robust samples are among the clean ones."""
    if n is None or n >= count:
        return list(range(count))
    if sampling == 'first-n':
        return list(range(n))
    if sampling == 'clip-benchmark':
        return clip_benchmark_selection(shard_sizes or [count], n, seed)
    if sampling == 'class-balanced-random' and labels is not None:
        return balanced_subset(labels, n, seed)
    return sorted(int(i) for i in np.random.default_rng(seed).permutation(count)[:n])


class Benchmark:
    """Runs a :class:`BenchmarkSpec` on ``encoder``, storing batches under ``out_dir``.

    Args:
        encoder: the evaluated image-text encoder (pixels in [0,1] -> unit embeddings).
        spec: datasets, eps, budgets and attacks.
        out_dir: holds the partial results (``partial.jsonl``) and, by default, the text cache.
        device: where the encoder and the batches go.
        source: the model's architecture and weights as results name them.
        shard: this process's rank among the evaluating processes (default: the running process
            group's, alone without one); every rank gets every row. Ranks whose models differ are refused.
    """

    def __init__(self, encoder: ImageTextEncoder, spec: BenchmarkSpec, out_dir: Path,
                 device: Optional[torch.device] = None, source: Optional[EvaluatedModel] = None,
                 shard: Optional[Shard] = None) -> None:
        self.device = torch.device(device) if device is not None else encoder.device
        self.encoder = encoder.to(self.device).eval().requires_grad_(False)
        self.spec = spec
        self.source = source or EvaluatedModel(encoder.architecture)
        self.out_dir = Path(out_dir)
        self.cache_dir = str(spec.cache_dir or self.out_dir / 'text_cache')
        self.model_checksum = encoder.model_checksum()
        self.shard = shard or current_shard()
        self.shard.check_same_model(self.model_checksum)
        self.partial = PartialResults(self.out_dir / partial_file(self.shard.rank), self.model_checksum,
                                      partial_files(self.out_dir))
        self.shard.barrier()  # every rank has read the stored batches before any rank adds to them

    def run(self, on_plan: Optional[Callable[[Plan], None]] = None,
            on_batch: Optional[Callable[[BatchEvent], None]] = None) -> List[BenchmarkResult]:
        """Evaluate every dataset at every eps; finished batches are taken from the partial results.
        ``on_plan`` sees the :class:`Plan` before the first batch, ``on_batch`` every batch."""
        prepared = [self._prepare(entry) for entry in self.spec.datasets]
        if on_plan is not None:
            batches = sum(len(self._batches(dataset.clean_indices))
                          + len(self.spec.attacked_eps) * len(self._batches(dataset.robust_indices))
                          for dataset in prepared)
            on_plan(Plan(prepared, [self._plan_row(dataset) for dataset in prepared], self._calibrate(prepared[0]),
                         self.spec.batch_size, batches, len(self.partial)))
        records: List[BenchmarkResult] = []
        for dataset in prepared:
            records.extend(self._evaluate(dataset, on_batch))
        return records

    # ----------------------------------------------------------------- preparing
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

    def _task(self, entry: DatasetSpec, dataset: Any) -> Tuple[str, Task]:
        """The entry's task, or the first registered one that handles the dataset, with its name."""
        name = entry.task or next((name for name in EVAL_TASKS.module_dict
                                   if EVAL_TASKS.get(name).handles(dataset)), None)
        if name is None:
            raise ConfigError(f'No evaluation task scores the dataset {entry.name!r} ({type(dataset).__name__}): '
                              f'it has neither class names nor captions. Name its task with task=... in its '
                              f'evaluation.datasets entry ({", ".join(EVAL_TASKS.module_dict)}).')
        return name, EVAL_TASKS.get(name)(dataset, entry, self.spec, self.encoder, self.device, self.cache_dir)

    def _prepare(self, entry: DatasetSpec) -> PreparedDataset:
        """Build the dataset (a missing one raises its own DatasetNotFoundError), its task and its subsets."""
        config, notes = self._sized_config(entry)
        dataset = DATASETS.build(config)
        self._check_image_size(entry, dataset)
        task_name, task = self._task(entry, dataset)
        setup = task.prepare()
        spec = self.spec
        n_clean, n_robust = spec.budget(entry.name)
        # what is recorded is what ran: without labels, a class-balanced subset is a plain random one
        sampling = 'random' if spec.sampling == 'class-balanced-random' and setup.labels is None else spec.sampling
        settings = dict(protocol=PROTOCOL, dataset=config, task=task_name, classnames=setup.classnames,
                        templates=setup.templates, n_clean=n_clean, n_robust=n_robust, sampling=sampling,
                        batch_size=spec.batch_size, attack=setup.attack, logit_scale=spec.logit_scale)
        shards = getattr(dataset, 'shard_sizes', None)
        attacked = bool(spec.attacked_eps)
        asked = [f'{k} {what}' for k, what in ((n_clean, 'clean'), (n_robust if attacked else None, 'attacked'))
                 if k is not None and k > setup.count]
        if asked:  # an empty shard, a smaller split than the preset assumes: say it, rows record what ran
            notes = notes + [f'{entry.name}: {setup.count} samples, fewer than the {" and ".join(asked)} asked for; '
                             f'every one is scored, and its rows record the counts that ran (n, n_robust).']
        return PreparedDataset(
            spec=entry, task=task, task_name=task_name, setup=setup, split=str(entry.dataset.get('split', '')),
            clean_indices=evaluation_subset(setup.count, setup.labels, n_clean, spec.seed, sampling, shards),
            robust_indices=evaluation_subset(setup.count, setup.labels, n_robust, spec.seed, sampling, shards)
            if attacked else [],
            fingerprint=fingerprint(settings), sampling=sampling, notes=notes)

    # ----------------------------------------------------------------- planning
    def _attack(self, dataset: PreparedDataset, eps: float, seed: int = 0) -> Attack:
        return build_attack(dataset.setup.attack, eps, seed)

    def _plan_row(self, dataset: PreparedDataset) -> PlanRow:
        """What runs on a dataset and what its attack costs (its stages' own passes per sample)."""
        eps = self.spec.attacked_eps
        num_classes = dataset.setup.num_classes
        attack = self._attack(dataset, eps[0]) if eps else None
        return PlanRow(dataset.spec.name, dataset.task_name, len(dataset.setup.classnames),
                       len(dataset.clean_indices), len(dataset.robust_indices), eps,
                       attack.passes_per_sample(num_classes) if attack else {},
                       attack.describe(num_classes) if attack else '', dataset.sampling)

    def _calibrate(self, dataset: PreparedDataset) -> float:
        """Seconds of one forward+backward pass (input gradient) on one batch of real images."""
        images, _ = dataset.task.load(dataset.clean_indices[:self.spec.batch_size])
        self._input_gradient(images[:2])  # warm-up: first calls pay for allocations
        start = time.perf_counter()
        self._input_gradient(images)
        return time.perf_counter() - start

    def _input_gradient(self, images: Tensor) -> None:
        x = images.detach().requires_grad_(True)
        with torch.enable_grad():
            torch.autograd.grad(self.encoder(x).sum(), x)

    # ----------------------------------------------------------------- running
    def _batches(self, indices: List[int]) -> List[List[int]]:
        size = self.spec.batch_size
        return [indices[i:i + size] for i in range(0, len(indices), size)]

    def _reused_or_computed(self, dataset: PreparedDataset, stage: str, eps: float, indices: List[int],
                            compute: Callable[[int, List[int]], Batch],
                            on_batch: Optional[Callable[[BatchEvent], None]]) -> List[Batch]:
        """Per batch: the stored result when this batch was done before, else, if this process owns the
        batch, ``compute`` it and store it; then every process's batches, in batch order."""
        batches = self._batches(indices)
        results: Dict[int, Batch] = {}
        reused = set()
        for b, batch in enumerate(batches):
            key = dict(dataset=dataset.spec.name, plan=dataset.fingerprint, stage=stage, eps=eps, batch=b,
                       seed=self.spec.seed)
            result = self.partial.get(key)
            if result is not None:
                reused.add(b)
            elif self.shard.owns(b):
                start = time.perf_counter()
                result = compute(b, batch)
                result['time_s'] = time.perf_counter() - start
                self.partial.put(key, result)
            else:
                continue
            results[b] = result
            if on_batch is not None:
                on_batch(BatchEvent(dataset.spec.name, stage, eps, b, len(batches), b in reused))
        gathered = self.shard.gather(results)
        if on_batch is not None:
            for b in sorted(set(gathered) - set(results)):
                on_batch(BatchEvent(dataset.spec.name, stage, eps, b, len(batches), False))
        return [gathered[b] for b in range(len(batches))]

    def _evaluate(self, dataset: PreparedDataset,
                  on_batch: Optional[Callable[[BatchEvent], None]]) -> List[BenchmarkResult]:
        """The dataset's clean batches, then per eps its attacked batches, each batch's attack seeded
        by (seed, dataset, eps, batch) alone; one row per eps, the clean row at eps 0 (and without eps)."""
        dataset.task.start(dataset.clean_indices, dataset.robust_indices)
        clean = self._reused_or_computed(dataset, 'clean', 0.0, dataset.clean_indices,
                                         lambda b, batch: dataset.task.clean_batch(batch), on_batch)
        clean_time = sum(result['time_s'] for result in clean)
        records = []
        for eps in self.spec.eps or [0.0]:
            if eps == 0:
                records.append(self._record(dataset, 0.0, dataset.task.summarise(clean, None, None), clean_time))
                continue

            def robust_batch(b: int, batch: List[int], eps: float = eps) -> Batch:
                seed = derived_seed(self.spec.seed, dataset.spec.name, eps, b)
                return dataset.task.robust_batch(batch, self._attack(dataset, eps, seed))

            robust = self._reused_or_computed(dataset, 'robust', eps, dataset.robust_indices, robust_batch, on_batch)
            summary = dataset.task.summarise(clean, robust, self._attack(dataset, eps))
            records.append(self._record(dataset, eps, summary,
                                        clean_time + sum(result['time_s'] for result in robust)))
        return records

    def _record(self, dataset: PreparedDataset, eps: float, summary: Summary, time_s: float) -> BenchmarkResult:
        """A result row: the task's numbers with the model, threat model, attack and samples they belong to."""
        attack = self._attack(dataset, eps) if summary.robust_acc is not None else None
        budget = attack.budget(dataset.setup.num_classes) if attack else None
        sample_indices = (summary.sample_indices if summary.sample_indices is not None
                          else list(dataset.robust_indices))
        return BenchmarkResult(
            dataset=dataset.spec.name, split=dataset.split, task=dataset.task_name, n=len(dataset.clean_indices),
            n_robust=len(dataset.robust_indices) if attack else 0, eps=float(eps),
            attack=attack.describe(dataset.setup.num_classes) if attack else '',
            clean_acc=summary.clean_acc, robust_acc=summary.robust_acc, per_attack=summary.per_attack,
            metrics=summary.metrics, time_s=round(time_s, 3), model_checksum=self.model_checksum,
            mmtard_version=__version__, seed=self.spec.seed, sample_indices=sample_indices if attack else [],
            attack_reduced=attack.reduced if attack else False, sampling=dataset.sampling, model=self.source.model,
            pretrained=self.source.pretrained, norm=attack.norm if attack else '',
            eps_255=eps_label(eps) if attack else '', attack_iterations=budget.iterations if budget else None,
            attack_restarts=budget.restarts if budget else None,
            attack_targets=budget.targets if budget else None, attacked_clean_acc=summary.attacked_clean_acc,
            preset=self.spec.preset, weights_folder=self.source.weights_folder, model_key=self.source.model_key,
            logit_scale=self.spec.logit_scale,
            prompts=fingerprint([list(dataset.setup.classnames), list(dataset.setup.templates)]),
            clean_correct=summary.clean_correct, robust_correct=summary.robust_correct if attack else '')
