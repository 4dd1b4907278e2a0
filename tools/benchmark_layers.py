"""Torch's patch-embedding convolution and multi-head attention beside mmtard's CPU equivalents, and
the attacks' check of a gradient for non-finite rows beside the ways it was or could be written.

    python tools/benchmark_layers.py [--repeats 15] [--threads 1]

Times, for the demo's student and a ViT-B-32 image tower, each layer's forward pass, its forward and
backward to the input (an attack step) and to the input and weights (a training step), alternating
torch's layer and :mod:`mmtard.models.encoders.fast_equivalents`' on the same weights and inputs, and
prints medians and their ratio with the largest difference between the two layers' outputs; then
:func:`mmtard.attacks.base.non_finite_rows` on an input gradient of each tower's batch.
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from typing import Callable, Dict, List, Tuple

import torch
from rich.console import Console
from rich.table import Table
from torch import nn

from mmtard.attacks.base import non_finite_rows
from mmtard.models.encoders.fast_equivalents import use_fast_equivalents

#: (name, batch, image size, patch, width, heads): the demo's student at its training batch, ViT-B-32
#: (the paper's student) at batch 32.
TOWERS = (('mmtard-tiny-vit', 128, 32, 8, 64, 2), ('ViT-B-32', 32, 224, 32, 768, 12))
PASSES = ('forward', 'to the input', 'to input and weights')
#: Ways to find a gradient's rows that hold a NaN or an infinity, mmtard's first.
NON_FINITE_CHECKS: Dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    'mmtard (row amax and amin)': non_finite_rows,
    'float64 row sum': lambda t: ~torch.isfinite(t.flatten(1).sum(dim=1, dtype=torch.float64)),
    'isfinite + all': lambda t: ~torch.isfinite(t.flatten(1)).all(dim=1),
}


def layers(batch: int, size: int, patch: int, width: int, heads: int) -> Dict[str, Tuple[nn.Module, torch.Tensor, Callable]]:
    """Each layer of the tower with an input of its shape and how to call it."""
    tokens = (size // patch) ** 2 + 1
    return {
        'patch embedding': (nn.Conv2d(3, width, patch, stride=patch, bias=False), torch.rand(batch, 3, size, size),
                            lambda module, x: module(x)),
        'self-attention': (nn.MultiheadAttention(width, heads, batch_first=True), torch.randn(batch, tokens, width),
                           lambda module, x: module(x, x, x, need_weights=False)[0]),
    }


def timed_pass(module: nn.Module, call: Callable, x: torch.Tensor, kind: str) -> float:
    start = time.perf_counter()
    if kind == 'forward':
        with torch.no_grad():
            call(module, x)
    else:
        x = x.clone().requires_grad_(True)
        wrt = [x] + (list(module.parameters()) if kind == 'to input and weights' else [])
        torch.autograd.grad(call(module, x).square().sum(), wrt)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeats', type=int, default=15)
    parser.add_argument('--threads', type=int, default=1, help='torch threads (the demo runs 1 per worker)')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    console = Console(width=120)  # seven columns: never squeeze them
    table = Table(title=f'CPU, {args.threads} thread(s), median of {args.repeats} | load average '
                        f'{os.getloadavg()[0]:.2f}')
    for column in ('tower', 'layer', 'pass', 'torch ms', 'mmtard ms', 'ratio', 'max |difference|'):
        table.add_column(column, justify='right' if column.endswith(('ms', 'ratio', 'difference|')) else 'left')
    for tower, *shape in TOWERS:
        for layer, (standard, x, call) in layers(*shape).items():
            fast = copy.deepcopy(standard)
            use_fast_equivalents(fast)
            with torch.no_grad():
                difference = (call(standard, x) - call(fast, x)).abs().max().item()
            for kind in PASSES:
                times: Dict[str, List[float]] = {'torch': [], 'mmtard': []}
                for _ in range(args.repeats + 1):  # the first of each is a warm-up
                    times['torch'].append(timed_pass(standard, call, x, kind))
                    times['mmtard'].append(timed_pass(fast, call, x, kind))
                before, after = (statistics.median(times[k][1:]) * 1000 for k in ('torch', 'mmtard'))
                table.add_row(tower, layer, kind, f'{before:.2f}', f'{after:.2f}', f'{before / after:.2f}x',
                              f'{difference:.1e}')
    console.print(table)
    checks = Table(title=f'non-finite rows of an input gradient | median of {args.repeats}')
    for column in ('tower', 'batch', *NON_FINITE_CHECKS):
        checks.add_column(column, justify='left' if column == 'tower' else 'right')
    for tower, batch, size, *_ in TOWERS:
        gradient = torch.randn(batch, 3, size, size)
        gradient[1, 0, 0, 0] = float('nan')
        times = {name: [] for name in NON_FINITE_CHECKS}
        for _ in range(args.repeats + 1):
            for name, check in NON_FINITE_CHECKS.items():
                start = time.perf_counter()
                found = check(gradient)
                times[name].append(time.perf_counter() - start)
                assert found.nonzero().flatten().tolist() == [1], name
        checks.add_row(tower, str(batch), *(f'{statistics.median(t[1:]) * 1000:.3f} ms' for t in times.values()))
    console.print(checks)


if __name__ == '__main__':
    main()
