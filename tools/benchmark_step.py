"""Where the time of one training step goes, and mmtard's step next to the release's on the same model.

    python tools/benchmark_step.py CONFIG [--batch-size 8] [--steps 5] [--device cpu|cuda] [--random-weights]
                                          [--amp] [--compare-release] [-o KEY=VALUE ...]

Runs real training steps of the config's model on random pixels and prints, per part, the median
time over the measured steps, its share of the step, and images/s. Parts are timed inside the
actual step (hooks on the teachers, a wrapper around the attack), synchronising the GPU only
around the timed regions of this benchmark, never in mmtard's own code path.

``--compare-release`` (MMT-ARD models) times two steps on the same batch, alternating, and prints
them side by side with their ratio:

* release-equivalent: the official release's step, with mmtard's components: the attack, the
  student's forward/backward on x and on x_adv as two passes, and three teacher forwards, one of
  them discarded (the release's 'origin' teacher; here a second forward of the attack target's
  teacher on x, of the same architecture and cost);
* mmtard: the config's step with the clean teacher's outputs cached (``cache_clean_teacher_outputs``,
  per image or per fixed augmented view, ``FixedViewsDataset``) as in every epoch after the first
  one that sees a view, and x, x_adv in one student pass. The loss is the same in both.
"""
from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import init_default_scope
from rich.console import Console
from rich.table import Table

from mmtard.config import parse_cfg_options, resolve_config, with_random_weights
from mmtard.engine.amp import BF16AmpOptimWrapper
from mmtard.plugins import ensure_plugins_loaded
from mmtard.registry import MODELS

CLASSES = [f'class {i}' for i in range(10)]


class PartTimer:
    """Accumulates wall time per named part within one step."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.current: Dict[str, float] = defaultdict(float)
        self._starts: Dict[str, float] = {}

    def sync(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

    def start(self, name: str) -> None:
        self.sync()
        self._starts[name] = time.perf_counter()

    def stop(self, name: str) -> None:
        self.sync()
        self.current[name] += time.perf_counter() - self._starts.pop(name)

    @contextmanager
    def part(self, name: str) -> Iterator[None]:
        self.start(name)
        try:
            yield
        finally:
            self.stop(name)

    def take(self) -> Dict[str, float]:
        step, self.current = dict(self.current), defaultdict(float)
        return step


def instrument(model: torch.nn.Module, timer: PartTimer) -> None:
    """Time every teacher forward and the attack inside the model's own loss."""
    for name, teacher in getattr(model, 'teachers', {}).items():
        teacher.register_forward_pre_hook(lambda *a, n=name: timer.start(f'teacher {n} forward'))
        teacher.register_forward_hook(lambda *a, n=name: timer.stop(f'teacher {n} forward'))
    if hasattr(model, 'original'):
        model.original.register_forward_pre_hook(lambda *a: timer.start('original forward'))
        model.original.register_forward_hook(lambda *a: timer.stop('original forward'))
    attack = getattr(model, 'attack', None)
    if attack is not None:
        perturb = attack.perturb

        def timed_perturb(*args: Any, **kwargs: Any) -> Any:
            with timer.part('attack'):
                return perturb(*args, **kwargs)

        attack.perturb = timed_perturb


def build_model(config: str, options: List[str], device: torch.device, random_weights: bool) -> torch.nn.Module:
    """The config's model on ``device`` in training mode, with 10 placeholder classes."""
    ensure_plugins_loaded()
    init_default_scope('mmtard')
    cfg = resolve_config(config, parse_cfg_options(options))
    model_cfg = with_random_weights(cfg.model.to_dict()) if random_weights else cfg.model
    model = MODELS.build(model_cfg).to(device)
    model.set_classes(CLASSES, ['a photo of a {}.'])
    return model.train()


def config_adamw_is_fused(config: str) -> bool:
    """Whether the config's AdamW runs fused (the paper configs' does; the release's runs per tensor)."""
    return bool(resolve_config(config).get('optim_wrapper', {}).get('optimizer', {}).get('fused', False))


def optim_wrapper_for(model: torch.nn.Module, amp: bool, fused: bool = False) -> OptimWrapper:
    """What ``mmtard train`` steps with: AdamW (fused where the config's is), in bf16 autocast with ``amp``."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5, fused=fused)
    return BF16AmpOptimWrapper(optimizer=optimizer) if amp else OptimWrapper(optimizer=optimizer)


@dataclass
class StepTimes:
    """Median seconds per part and per step over the measured steps."""

    parts: Dict[str, float]
    step: float
    batch_size: int

    @property
    def images_per_second(self) -> float:
        return self.batch_size / self.step


def summarise(steps: List[Dict[str, float]], batch_size: int) -> StepTimes:
    names = sorted({name for step in steps for name in step})
    medians = {name: statistics.median(step.get(name, 0.0) for step in steps) for name in names}
    inner = sum(v for k, v in medians.items() if k.startswith(('teacher', 'original', 'attack')))
    medians['student forward + losses'] = medians.pop('loss forward (all)') - inner
    return StepTimes(medians, medians.pop('step'), batch_size)


def timed_step(model: torch.nn.Module, wrapper: OptimWrapper, timer: PartTimer,
               loss: Callable[[], Dict[str, torch.Tensor]]) -> Dict[str, float]:
    """One optimisation step of ``loss`` under ``wrapper``'s context; the time of each part."""
    timer.start('step')
    timer.start('loss forward (all)')
    with wrapper.optim_context(model):
        out = loss()
    timer.stop('loss forward (all)')
    with timer.part('backward'):
        wrapper.backward(out['loss'])
    with timer.part('optimizer'):
        wrapper.step()
        wrapper.zero_grad()
    timer.stop('step')
    return timer.take()


def release_equivalent_loss(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> Dict[str, Any]:
    """The release's step with mmtard's components: no clean-teacher cache, separate student passes for
    x and x_adv, and a third teacher forward whose output nothing uses (the release's 'origin' teacher)."""
    model.teachers[model.attack_target](images)
    with _release_settings(model):
        return model.loss(images, labels, None)


@contextlib.contextmanager
def _release_settings(model: torch.nn.Module) -> Iterator[None]:
    batched = model.student_has_batch_statistics
    model.student_has_batch_statistics = lambda: True  # one student pass per batch, as the release
    try:
        yield
    finally:
        model.student_has_batch_statistics = batched


def measure(model: torch.nn.Module, device: torch.device, batch_size: int, steps: int, warmup: int,
            amp: bool = False, compare_release: bool = False, fused: bool = False) -> Dict[str, StepTimes]:
    """Median step times of mmtard's step (AdamW fused with ``fused``, as the config's) and, with
    ``compare_release``, the release-equivalent one (per-tensor AdamW), alternating with it step by
    step, on one fixed random batch."""
    timer = PartTimer(device)
    instrument(model, timer)
    wrappers = {'mmtard': optim_wrapper_for(model, amp, fused), 'release-equivalent': optim_wrapper_for(model, amp)}
    size = model.student.image_size
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(batch_size, 3, size, size, generator=generator).to(device)
    labels = torch.randint(0, len(CLASSES), (batch_size,), generator=generator).to(device)
    index = torch.arange(batch_size)  # on the host, as PixelDataPreprocessor leaves it
    variants: Dict[str, Callable[[], Dict[str, Any]]] = {'mmtard': lambda: model.loss(images, labels, index)}
    if compare_release:
        variants['release-equivalent'] = lambda: release_equivalent_loss(model, images, labels)
    samples: Dict[str, List[Dict[str, float]]] = {name: [] for name in variants}
    for step in range(warmup + steps):
        for name, loss in variants.items():
            parts = timed_step(model, wrappers[name], timer, loss)
            if step >= warmup:
                samples[name].append(parts)
    return {name: summarise(found, batch_size) for name, found in samples.items()}


def saved_activation_bytes(model: torch.nn.Module, run: Callable[[], Any]) -> int:
    """Bytes of the tensors autograd keeps for backward while ``run`` executes (each storage once,
    parameters excluded): the activation memory that bf16 halves and gradient checkpointing cuts."""
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages: Dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        run()
    return sum(storages.values())


def parts_table(title: str, times: StepTimes) -> Table:
    table = Table(title=title)
    for column in ('part', 'ms', 'share'):
        table.add_column(column, justify='right' if column != 'part' else 'left')
    for name, value in sorted(times.parts.items(), key=lambda kv: -kv[1]):
        table.add_row(name, f'{1000 * value:.1f}', f'{100 * value / times.step:.1f}%')
    table.add_row('[bold]step', f'[bold]{1000 * times.step:.1f}', '100%')
    return table


def comparison_table(title: str, release: StepTimes, ours: StepTimes) -> Table:
    table = Table(title=title)
    for column in ('part', 'release-equivalent ms', 'mmtard ms'):
        table.add_column(column, justify='right' if column != 'part' else 'left')
    for name in sorted(set(release.parts) | set(ours.parts), key=lambda n: -release.parts.get(n, 0.0)):
        table.add_row(name, f'{1000 * release.parts.get(name, 0.0):.1f}', f'{1000 * ours.parts.get(name, 0.0):.1f}')
    table.add_row('[bold]step', f'[bold]{1000 * release.step:.1f}', f'[bold]{1000 * ours.step:.1f}')
    return table


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--random-weights', action='store_true',
                        help='build every encoder with random weights (timing needs no weight files)')
    parser.add_argument('--amp', action='store_true', help='bf16 autocast, as mmtard train --amp')
    parser.add_argument('--compare-release', action='store_true',
                        help="time the release-equivalent step too, alternating, and print the ratio")
    parser.add_argument('-o', '--cfg-options', nargs='*', default=[])
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    options = list(args.cfg_options) + (['model.cache_clean_teacher_outputs=True'] if args.compare_release else [])
    model = build_model(args.config, options, device, args.random_weights)
    results = measure(model, device, args.batch_size, args.steps, args.warmup, args.amp, args.compare_release,
                      config_adamw_is_fused(args.config))
    precision = ' | bf16' if args.amp else ''
    title = f'{args.config} | batch {args.batch_size} | {device}{precision} | median of {args.steps} steps'
    console = Console()
    ours = results['mmtard']
    if args.compare_release:
        release = results['release-equivalent']
        console.print(comparison_table(title, release, ours))
        console.print(f'release-equivalent {release.step:.3f} s/step, mmtard {ours.step:.3f} s/step: '
                      f'mmtard is {release.step / ours.step:.2f}x faster '
                      f'({release.images_per_second:.2f} vs {ours.images_per_second:.2f} images/s)')
    else:
        console.print(parts_table(title, ours))
        console.print(f'throughput: {ours.images_per_second:.1f} images/s')


if __name__ == '__main__':
    main()
