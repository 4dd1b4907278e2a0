"""Where the time of one training step goes: attack, each teacher, student forward/backward, optimizer.

    python tools/benchmark_step.py CONFIG [--batch-size 8] [--steps 5] [--device cpu|cuda] [--random-weights]
                                          [-o KEY=VALUE ...]

Runs real training steps of the config's model on random pixels and prints, per part, the median
time over the measured steps, its share of the step, and images/s. Parts are timed inside the
actual step (hooks on the teachers, a wrapper around the attack), synchronising the GPU only
around the timed regions of this benchmark, never in mmtard's own code path.
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Dict, Iterator, List

import torch
from mmengine.registry import init_default_scope
from rich.console import Console
from rich.table import Table

from mmtard.config import parse_cfg_options, resolve_config, with_random_weights
from mmtard.plugins import ensure_plugins_loaded
from mmtard.registry import MODELS


class PartTimer:
    """Accumulates wall time per named part within one step."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.current: Dict[str, float] = defaultdict(float)
        self.steps: List[Dict[str, float]] = []
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

    def end_step(self) -> None:
        self.steps.append(dict(self.current))
        self.current.clear()


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

        def timed_perturb(*args, **kwargs):
            with timer.part('attack'):
                return perturb(*args, **kwargs)

        attack.perturb = timed_perturb


def run(config: str, batch_size: int, steps: int, warmup: int, device: str, options: List[str],
        random_weights: bool) -> None:
    ensure_plugins_loaded()
    init_default_scope('mmtard')
    cfg = resolve_config(config, parse_cfg_options(options))
    dev = torch.device(device)
    model_cfg = with_random_weights(cfg.model.to_dict()) if random_weights else cfg.model
    model = MODELS.build(model_cfg).to(dev)
    size = model.student.image_size
    model.set_classes([f'class {i}' for i in range(10)], ['a photo of a {}.'])
    model.train()
    optim = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    timer = PartTimer(dev)
    instrument(model, timer)
    images = torch.rand(batch_size, 3, size, size, device=dev)
    labels = torch.randint(0, 10, (batch_size,), device=dev)
    totals = []
    for step in range(warmup + steps):
        timer.start('step')
        timer.start('loss forward (all)')
        out = model.loss(images, labels, None)
        timer.stop('loss forward (all)')
        with timer.part('backward'):
            out['loss'].backward()
        with timer.part('optimizer'):
            optim.step()
            optim.zero_grad(set_to_none=True)
        timer.stop('step')
        if step >= warmup:
            totals.append(timer.current['step'])
            timer.end_step()
        else:
            timer.current.clear()
    medians = {name: statistics.median(s.get(name, 0.0) for s in timer.steps) for name in timer.steps[0]}
    inner = sum(v for k, v in medians.items() if k.startswith(('teacher', 'original', 'attack')))
    medians['student forward + losses'] = medians.pop('loss forward (all)') - inner
    step_time = medians.pop('step')
    table = Table(title=f'{config} | batch {batch_size} | {dev} | median of {steps} steps')
    for column in ('part', 'ms', 'share'):
        table.add_column(column, justify='right' if column != 'part' else 'left')
    for name, value in sorted(medians.items(), key=lambda kv: -kv[1]):
        table.add_row(name, f'{1000 * value:.1f}', f'{100 * value / step_time:.1f}%')
    table.add_row('[bold]step', f'[bold]{1000 * step_time:.1f}', '100%')
    console = Console()
    console.print(table)
    console.print(f'throughput: {batch_size / statistics.median(totals):.1f} images/s')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--steps', type=int, default=5)
    parser.add_argument('--warmup', type=int, default=1)
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--random-weights', action='store_true',
                        help='build every encoder with random weights (timing needs no weight files)')
    parser.add_argument('-o', '--cfg-options', nargs='*', default=[])
    args = parser.parse_args()
    run(args.config, args.batch_size, args.steps, args.warmup, args.device, args.cfg_options, args.random_weights)


if __name__ == '__main__':
    main()
