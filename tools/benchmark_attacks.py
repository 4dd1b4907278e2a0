"""Attack throughput of mmtard next to torchattacks on the same model, inputs and budget.

    python tools/benchmark_attacks.py --quick            # a few minutes on a 2-core CPU
    python tools/benchmark_attacks.py --device cuda

Models: a tiny conv net on 32 px and a ViT-B-32-sized image tower (open_clip ``ViT-B-32``, random
weights, 224 px) with a 10-class linear head. Labels are the model's own clean predictions, so
every sample is attacked for the full budget by both libraries. Reported: images per second, the
median of ``--repeats`` runs after one warm-up run, the two libraries' runs alternating.
"""
from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable, List, Tuple

import torch
from torch import Tensor, nn

from mmtard.attacks import APGD, PGD, CrossEntropy

EPS = 4


def tiny_model() -> Tuple[nn.Module, int]:
    return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10)), 32


def vit_b32() -> Tuple[nn.Module, int]:
    import open_clip

    visual = open_clip.create_model('ViT-B-32', pretrained=None).visual
    return nn.Sequential(visual, nn.Linear(visual.output_dim, 10)), 224


def median_seconds(runs: List[Callable[[], object]], repeats: int) -> List[float]:
    """Median wall time of each run; runs alternate within every repeat so that a change of
    machine load (shared CI boxes) hits every library alike."""
    for run in runs:
        run()  # warm-up
    times: List[List[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for run, bucket in zip(runs, times):
            start = time.perf_counter()
            run()
            bucket.append(time.perf_counter() - start)
    return [statistics.median(bucket) for bucket in times]


def rows_for(model_name: str, model: nn.Module, images: Tensor, apgd_iter: int, repeats: int) -> List[tuple]:
    import torchattacks

    with torch.no_grad():
        labels = model(images).argmax(1)
    objective = CrossEntropy(labels)
    cases = [
        ('PGD-10', lambda: PGD(EPS, steps=10, step_size=1, seed=0).perturb(model, images, objective),
         lambda: torchattacks.PGD(model, eps=EPS / 255, alpha=1 / 255, steps=10)(images, labels)),
        (f'APGD-CE-{apgd_iter}', lambda: APGD(EPS, n_iter=apgd_iter, seed=0).perturb(model, images, objective),
         lambda: torchattacks.APGD(model, eps=EPS / 255, steps=apgd_iter, seed=0)(images, labels)),
    ]
    rows = []
    for attack, ours, theirs in cases:
        t_ours, t_theirs = median_seconds([ours, theirs], repeats)
        rows.append((model_name, attack, len(images), len(images) / t_ours, len(images) / t_theirs))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true',
                        help='ViT: batch 2, APGD 10 iterations, 1 repeat (instead of batch 8, 100 iterations, 3)')
    parser.add_argument('--device', default='cpu', help="torch device, e.g. 'cpu' or 'cuda'")
    parser.add_argument('--repeats', type=int, default=None, help='timed runs per entry (median reported)')
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    torch.manual_seed(0)
    device = torch.device(args.device)
    rows = []
    for name, build, batch, apgd_iter in (('tiny-cnn 32px', tiny_model, 64, 100),
                                           ('ViT-B-32 224px', vit_b32, 2 if args.quick else 8,
                                            10 if args.quick else 100)):
        model, size = build()
        model = model.to(device).eval()
        images = torch.rand(batch, 3, size, size, device=device)
        rows += rows_for(name, model, images, apgd_iter, repeats)
    print(f'device={device}  threads={torch.get_num_threads()}  eps={EPS}/255  repeats={repeats} (median)')
    print(f'{"model":<16} {"attack":<13} {"batch":>5} {"mmtard img/s":>13} {"torchattacks img/s":>19} {"ratio":>6}')
    for model_name, attack, batch, ours, theirs in rows:
        print(f'{model_name:<16} {attack:<13} {batch:>5} {ours:>13.2f} {theirs:>19.2f} {ours / theirs:>6.2f}')


if __name__ == '__main__':
    main()
