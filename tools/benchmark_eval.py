"""mmtard's evaluation attack next to the reference AutoAttack (fra31/auto-attack), same model, samples and budget.

    git clone https://github.com/fra31/auto-attack /tmp/auto-attack     # once; never vendored into mmtard
    python tools/benchmark_eval.py --reference /tmp/auto-attack [--samples 64] [--eps 1 4] [--repeats 3]
                                   [--n-iter 100] [--n-targets 9] [--device cpu|cuda]

Both run AutoAttack 'custom' (APGD-CE with 5 restarts, then APGD-T with 1 restart per target) as
``mmtard eval`` builds it and as the MMT-ARD release calls the reference, on a tiny CLIP-like model:
open_clip's ``mmtard-tiny-vit`` image tower (random weights, pixels in [0,1], normalisation inside)
with a zero-shot head over the class embeddings of its own text tower, logit scale 100. Labels
are the model's clean predictions, so every sample is attacked. For each radius the two
implementations alternate for ``--repeats`` timed runs after a warm-up; printed: the median times,
their ratio, both robust accuracies, per-sample agreement of the robust flags (the random starts
differ, so a few samples near the boundary may disagree), and where the time goes (images passed
through the model, calls, the shares of time in the forward, the backward and the rest, host reads); with
several radii, also the summed medians (a preset evaluates every model at all of them).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Tuple

import torch
from torch import Tensor, nn

from mmtard.evaluation.attack_choice import build_attack
from mmtard.models.encoders import OpenCLIPEncoder
from mmtard.models.zero_shot import ZeroShotClassifier

CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')
SEED = 0
MISSING_REFERENCE = ('The reference AutoAttack was not found under {path!r}: --reference must be a folder that holds '
                     "its 'autoattack' package. Get it with\n    git clone https://github.com/fra31/auto-attack "
                     '{path}\n(it is not vendored into mmtard) and run this command again.')


class CountingModel(nn.Module):
    """The classifier, counting calls, images passed and seconds spent in its forward."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.reset()

    def reset(self) -> None:
        self.calls, self.images, self.forward_s = 0, 0, 0.0

    def forward(self, images: Tensor) -> Tensor:
        start = time.perf_counter()
        out = self.model(images)
        self.calls, self.images, self.forward_s = self.calls + 1, self.images + len(images), (
            self.forward_s + time.perf_counter() - start)
        return out


@contextlib.contextmanager
def backward_and_host_reads(usage: Dict[str, float]) -> Iterator[None]:
    """Time ``torch.autograd.grad`` (both implementations take input gradients with it) and count the
    explicit host reads of tensors (``item``, ``tolist``, ``bool``, ``nonzero``: each waits for an
    accelerator; boolean-mask indexing waits too and is not counted) while the block runs."""
    grad, patched = torch.autograd.grad, {name: getattr(Tensor, name) for name in ('item', 'tolist', '__bool__',
                                                                                     'nonzero')}
    usage.update(backward_s=0.0, host_reads=0)

    def timed_grad(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return grad(*args, **kwargs)
        finally:
            usage['backward_s'] += time.perf_counter() - start

    def counted(method: Callable) -> Callable:
        def read(*args: Any, **kwargs: Any) -> Any:
            usage['host_reads'] += 1
            return method(*args, **kwargs)
        return read

    torch.autograd.grad = timed_grad
    for name, method in patched.items():
        setattr(Tensor, name, counted(method))
    try:
        yield
    finally:
        torch.autograd.grad = grad
        for name, method in patched.items():
            setattr(Tensor, name, method)


def tiny_clip(device: torch.device) -> nn.Module:
    """A random-weight tiny CLIP classifying zero-shot over :data:`CLASSES`."""
    torch.manual_seed(SEED)
    encoder = OpenCLIPEncoder(arch='mmtard-tiny-vit', pretrained=None).to(device).eval()
    weights = encoder.class_embeddings(list(CLASSES), ['a photo of a {}.'])
    classifier = ZeroShotClassifier(encoder, weights.to(device)).eval()
    for parameter in classifier.parameters():
        parameter.requires_grad_(False)
    return classifier


def load_reference(path: Path) -> Any:
    """The reference ``AutoAttack`` class, imported from ``path`` (a checkout of fra31/auto-attack)."""
    if not (path / 'autoattack' / '__init__.py').is_file():
        sys.exit(MISSING_REFERENCE.format(path=str(path)))
    sys.path.insert(0, str(path))
    return importlib.import_module('autoattack').AutoAttack


def reference_run(reference: Any, model: nn.Module, eps: float, n_iter: int, n_targets: int,
                  device: torch.device) -> Callable[[Tensor, Tensor], Tensor]:
    def run(images: Tensor, labels: Tensor) -> Tensor:
        attack = reference(model, norm='Linf', eps=eps / 255, version='custom', attacks_to_run=['apgd-ce', 'apgd-t'],
                           seed=SEED, verbose=False, device=str(device))
        for apgd in (attack.apgd, attack.apgd_targeted):  # the reference sets its schedule from n_iter at init
            apgd.n_iter, apgd.n_iter_2 = n_iter, max(int(0.22 * n_iter), 1)
            apgd.n_iter_min, apgd.size_decr = max(int(0.06 * n_iter), 1), max(int(0.03 * n_iter), 1)
        attack.apgd_targeted.n_target_classes = n_targets
        adv = attack.run_standard_evaluation(images, labels, bs=len(images))
        with torch.no_grad():
            return model(adv).argmax(1) == labels
    return run


def mmtard_run(model: nn.Module, eps: float, n_iter: int, n_targets: int) -> Callable[[Tensor, Tensor], Tensor]:
    def run(images: Tensor, labels: Tensor) -> Tensor:
        attack = build_attack(dict(type='AutoAttack', version='custom', n_iter=n_iter, n_target_classes=n_targets),
                              eps, SEED)
        return attack.evaluate(model, images, labels).robust
    return run


def timed(model: CountingModel, run: Callable[[Tensor, Tensor], Tensor], images: Tensor,
          labels: Tensor) -> Tuple[float, Tensor, Dict[str, float]]:
    model.reset()
    usage: Dict[str, float] = {}
    if images.is_cuda:
        torch.cuda.synchronize()
    with backward_and_host_reads(usage):
        start, cpu = time.perf_counter(), time.process_time()
        robust = run(images, labels)
        if images.is_cuda:
            torch.cuda.synchronize()
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return seconds, robust, dict(usage, cpu_s=cpu, calls=model.calls, images=model.images, forward_s=model.forward_s)


def compare(model: CountingModel, runs: Dict[str, Callable], images: Tensor, labels: Tensor,
            repeats: int) -> Dict[str, Dict[str, Any]]:
    """Median time and time split, robust flags (identical over repeats: both are seeded) and model
    usage of each run; the implementations alternate, so a change of the machine's load hits both."""
    stats: Dict[str, Dict[str, Any]] = {name: dict(times=[], cpu=[], forward=[], backward=[]) for name in runs}
    for repeat in range(repeats + 1):  # the first round warms up
        for name, run in runs.items():
            seconds, robust, usage = timed(model, run, images, labels)
            entry = stats[name]
            if repeat:
                entry['times'].append(seconds)
                entry['cpu'].append(usage['cpu_s'])
                entry['forward'].append(usage['forward_s'] / seconds)
                entry['backward'].append(usage['backward_s'] / seconds)
            entry.update(robust=robust, calls=usage['calls'], images=usage['images'], host_reads=usage['host_reads'])
    for entry in stats.values():
        entry.update(median_s=statistics.median(entry['times']), cpu_s=statistics.median(entry['cpu']),
                     forward_share=statistics.median(entry['forward']),
                     backward_share=statistics.median(entry['backward']))
    return stats


def report(eps: float, stats: Dict[str, Dict[str, Any]], n: int) -> List[str]:
    ours, ref = stats['mmtard'], stats['reference']
    agree = (ours['robust'] == ref['robust']).float().mean().item()
    lines = [f'eps {eps:g}/255: mmtard {ours["median_s"]:.2f} s, reference {ref["median_s"]:.2f} s, '
             f'speed-up {ref["median_s"] / ours["median_s"]:.2f}x (process CPU time: mmtard {ours["cpu_s"]:.2f} s, '
             f'reference {ref["cpu_s"]:.2f} s, {ref["cpu_s"] / ours["cpu_s"]:.2f}x); robust accuracy mmtard '
             f'{ours["robust"].float().mean().item():.4f}, reference {ref["robust"].float().mean().item():.4f}; '
             f'per-sample agreement {agree:.4f} ({n} samples)']
    for name, entry in stats.items():
        rest, per_call = 1 - entry['forward_share'] - entry['backward_share'], entry['images'] / max(entry['calls'], 1)
        lines.append(f'    {name:<9} times {", ".join(f"{t:.2f}" for t in entry["times"])} s; images through the '
                     f'model {entry["images"]:>8}, calls {entry["calls"]:>5} ({per_call:.1f} images/call); '
                     f'forward {entry["forward_share"]:.0%}, backward {entry["backward_share"]:.0%}, attack '
                     f'arithmetic and bookkeeping {rest:.0%} of the time; host reads {entry["host_reads"]}')
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--reference', type=Path, default=Path('/tmp/auto-attack'),
                        help='folder holding the reference autoattack package (a clone of fra31/auto-attack)')
    parser.add_argument('--samples', type=int, default=64, help='images attacked (random pixels in [0,1])')
    parser.add_argument('--eps', type=float, nargs='+', default=[1.0, 4.0], help='radii in 1/255 units')
    parser.add_argument('--repeats', type=int, default=3, help='timed runs of each implementation (median)')
    parser.add_argument('--n-iter', type=int, default=100, help='APGD iterations (100 in the reference)')
    parser.add_argument('--n-targets', type=int, default=9, help='APGD-T target classes (9 in the reference)')
    parser.add_argument('--device', default='cpu', help="torch device, e.g. 'cpu' or 'cuda'")
    args = parser.parse_args()
    reference = load_reference(args.reference)
    device = torch.device(args.device)
    model = CountingModel(tiny_clip(device))
    images = torch.rand(args.samples, 3, 32, 32, generator=torch.Generator().manual_seed(SEED)).to(device)
    with torch.no_grad():
        labels = model(images).argmax(1)
    print(f'device={device} threads={torch.get_num_threads()} samples={args.samples} classes={len(CLASSES)} '
          f"budget: AutoAttack 'custom', {args.n_iter} it, APGD-CE 5 restarts, APGD-T {args.n_targets} targets; "
          f'{args.repeats} timed repeats (median), alternating')
    totals = {'mmtard': 0.0, 'reference': 0.0}
    for eps in args.eps:
        runs = {'mmtard': mmtard_run(model, eps, args.n_iter, args.n_targets),
                'reference': reference_run(reference, model, eps, args.n_iter, args.n_targets, device)}
        stats = compare(model, runs, images, labels, args.repeats)
        for name in totals:
            totals[name] += stats[name]['median_s']
        print('\n'.join(report(eps, stats, args.samples)), flush=True)
    if len(args.eps) > 1:  # a preset evaluates every model at all its radii: what a user waits for
        print(f'all radii ({", ".join(f"{eps:g}" for eps in args.eps)}/255): mmtard {totals["mmtard"]:.2f} s, '
              f'reference {totals["reference"]:.2f} s, speed-up {totals["reference"] / totals["mmtard"]:.2f}x')


if __name__ == '__main__':
    main()
