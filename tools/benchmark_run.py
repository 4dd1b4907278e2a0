"""End-to-end training speed: `mmtard train` of a config beside the release-equivalent run, epoch by epoch.

    python tools/benchmark_run.py CONFIG [--images 4] [--epochs 2] [--batch-size 2] [--repeats 3] [--cache-teacher]
    python tools/benchmark_run.py CONFIG --warm-only [--release-config PAPER_CONFIG] [--release-steps 2]

End to end: writes a small image folder (random pixels, ``--images`` of them in 2 classes), then, for
``--repeats`` rounds in alternating order, runs

* ``mmtard train`` on the config with random weights, batch ``--batch-size``, for ``--epochs`` epochs
  (the clean-teacher cache filled during the first epoch, as a first run does; with ``--cache-teacher``,
  by ``mmtard cache-teacher`` before it, whose time is added), no validation and no checkpoint;
* a fresh process that builds the same models and steps the release-equivalent step
  (``tools/benchmark_step.py``: no cache, separate student passes, the release's unused third teacher
  forward, per-tensor AdamW) over the same data loader for the same number of steps.

Both time each step as mmengine does (from the end of the previous one: data loading and hooks
count, the first step's warm-up too). Printed per round: every step's seconds of both; then, as
medians over the rounds, each epoch's loop of both and its ratio, the whole commands' and the whole
loop's ("N.NNx on the loop"), each with the rounds' own ratios.

Warm step (both modes): the config's step with its caches warm against the release-equivalent step
of ``--release-config`` (the paper's ViT-B-32 config by default), alternating, median of
``--release-steps`` steps: e.g. a recipe whose teachers both see clean x against the release.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_step import (CLASSES, PartTimer, build_model, config_adamw_is_fused, optim_wrapper_for,  # noqa: E402 (tools are scripts)
                            release_equivalent_loss, summarise, timed_step)

from mmengine.config import Config  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402
from mmengine.runner import Runner  # noqa: E402

from mmtard.config import resolve_config, with_random_weights  # noqa: E402
from mmtard.plugins import ensure_plugins_loaded  # noqa: E402
from mmtard.registry import MODELS  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PAPER_CONFIG = REPO / 'configs' / 'mmtard' / 'mmtard_vit-b-32_vit-l-14-ce-pmg-aft_pgd10-eps4_5000it-b512_imagenet.py'
NO_VALIDATION = 10 ** 9


def write_image_folder(root: Path, images: int, size: int) -> None:
    """``images`` random-pixel JPEGs in two class folders under ``root/train``."""
    generator = np.random.default_rng(0)
    for i in range(images):
        folder = root / 'train' / f'class_{i % 2}'
        folder.mkdir(parents=True, exist_ok=True)
        pixels = generator.integers(0, 256, (size, size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f'{i}.jpg')


def run_config(config: str, data: Path, images: int, epochs: int, batch_size: int, out: Path) -> Tuple[Path, int]:
    """The config resolved, with random weights, the image folder, batch, epochs' worth of iterations,
    no validation and no checkpoint, written as a config file for `mmtard train`; and its steps."""
    cfg = resolve_config(config)
    if cfg.train_dataloader.dataset.get('type') != 'ImageFolderDataset':
        sys.exit(f'{config} trains on {cfg.train_dataloader.dataset.get("type")!r}; the end-to-end run replaces an '
                 f"ImageFolderDataset's root with its generated folder. Use --warm-only for this config.")
    steps = epochs * (images // batch_size)
    cfg.model = with_random_weights(cfg.model.to_dict())
    cfg.train_dataloader.dataset.root = str(data)
    if cfg.get('val_dataloader') and cfg.val_dataloader.dataset.get('type') == 'ImageFolderDataset':
        # never run, but built when training starts: point it at the generated folder too
        cfg.val_dataloader.dataset.update(root=str(data), split='train')
    cfg.train_dataloader.update(batch_size=batch_size, num_workers=0, persistent_workers=False)
    if cfg.train_cfg.get('type') == 'EpochBasedTrainLoop' or 'max_epochs' in cfg.train_cfg:
        cfg.train_cfg.update(max_epochs=epochs, val_begin=NO_VALIDATION)
    else:
        cfg.train_cfg.update(max_iters=steps, val_begin=NO_VALIDATION)
    cfg.default_hooks.checkpoint.update(interval=NO_VALIDATION, save_last=False)
    cfg.default_hooks.logger.update(interval=1)
    cfg.log_processor = dict(cfg.get('log_processor', {}), window_size=1)  # each iteration's own time
    path = out / 'run_config.py'
    cfg.dump(str(path))
    return path, steps


def timed_process(command: List[str], what: str) -> Tuple[float, str]:
    """Wall seconds and standard output of ``command`` in a fresh process on this checkout's mmtard (the
    benchmark stops, showing its output, if it fails)."""
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, 'PYTHONPATH': str(REPO)})
    if result.returncode != 0:
        sys.exit(f'{what} failed (exit {result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
    return time.perf_counter() - start, result.stdout


def mmtard_command(*arguments: str) -> float:
    """Wall seconds of ``mmtard *arguments`` in a fresh process."""
    return timed_process([sys.executable, '-m', 'mmtard', *arguments], f'mmtard {arguments[0]}')[0]


def train_end_to_end(config: Path, work_dir: Path, cache_teacher: bool) -> Tuple[float, List[float], float]:
    """Wall seconds of `mmtard train`, each iteration's seconds from its log (mmengine's iteration timer:
    from the end of the previous iteration, or the epoch's start, so data loading and hooks count), and
    the wall seconds of `mmtard cache-teacher` run before it (0 without ``cache_teacher``)."""
    filling = mmtard_command('cache-teacher', str(config), '--work-dir', str(work_dir)) if cache_teacher else 0.0
    wall = mmtard_command('train', str(config), '--work-dir', str(work_dir))
    logs = sorted(work_dir.glob('*/vis_data/scalars.json'))
    rows = [json.loads(line) for line in logs[-1].read_text().splitlines()] if logs else []
    return wall, [row['time'] for row in rows if 'time' in row and 'iter' in row], filling


def release_end_to_end(config: Path, steps: int) -> Tuple[float, List[float]]:
    """Wall seconds of a fresh process that does what the release's command does with mmtard's components
    (:func:`release_loop`) on the same run config, and each of its steps' seconds."""
    wall, out = timed_process([sys.executable, str(Path(__file__).resolve()), str(config), '--release-loop',
                               str(steps)], 'the release-equivalent run')
    return wall, json.loads(out.splitlines()[-1])


def release_loop(run_config: str, steps: int) -> List[float]:
    """``steps`` release-equivalent steps (:func:`benchmark_step.release_equivalent_loss`: no cache, separate
    student passes, the unused third teacher forward) over the run config's data loader and model, each
    timed as mmengine times an iteration: from the end of the previous one, data loading included."""
    ensure_plugins_loaded()
    init_default_scope('mmtard')
    cfg = resolve_config(run_config)
    model = MODELS.build(cfg.model).train()
    loader = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    model.ensure_classes(loader.dataset.classnames, loader.dataset.templates)
    wrapper = optim_wrapper_for(model, amp=False)
    batches = iter(loader)
    times: List[float] = []
    last = time.perf_counter()
    for _ in range(steps):
        batch = next(batches, None)
        if batch is None:  # a new epoch, as mmengine's iteration-based loop starts one
            batches = iter(loader)
            batch = next(batches)
        data = model.data_preprocessor(batch, True)
        with wrapper.optim_context(model):
            losses = release_equivalent_loss(model, data['inputs'], data['label'])
        loss, _ = model.parse_losses(losses)
        wrapper.update_params(loss)
        now = time.perf_counter()
        times.append(now - last)
        last = now
    return times


def warm_steps(config: str, release_config: str, batch_size: int, steps: int,
               device: torch.device) -> Dict[str, float]:
    """Median seconds of the config's step with warm caches and of the release-equivalent step of
    ``release_config``, alternating on one random batch (one warm-up step each first)."""
    ours = build_model(config, ['model.cache_clean_teacher_outputs=True'], device, random_weights=True)
    release = ours if release_config == config else build_model(release_config, [], device, random_weights=True)
    size = ours.student.image_size
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(batch_size, 3, size, size, generator=generator).to(device)
    labels = torch.randint(0, len(CLASSES), (batch_size,), generator=generator).to(device)
    index = torch.arange(batch_size)
    variants = {'mmtard': (ours, lambda: ours.loss(images, labels, index)),
                'release-equivalent': (release, lambda: release_equivalent_loss(release, images, labels))}
    wrappers = {'mmtard': optim_wrapper_for(ours, amp=False, fused=config_adamw_is_fused(config)),
                'release-equivalent': optim_wrapper_for(release, amp=False)}
    timer = PartTimer(device)
    times: Dict[str, list] = {name: [] for name in variants}
    for step in range(1 + steps):
        for name, (model, loss) in variants.items():
            parts = timed_step(model, wrappers[name], timer, loss)
            if step:
                times[name].append(parts)
    return {name: summarise(found, batch_size).step for name, found in times.items()}


def ratio_line(label: str, ours: List[float], release: List[float]) -> str:
    """``label``: median seconds of each side over the repeats, and the median of the repeats' ratios."""
    ratios = [r / o for o, r in zip(ours, release)]
    return (f'{label}: mmtard {statistics.median(ours):.1f} s, release-equivalent {statistics.median(release):.1f} s: '
            f'{statistics.median(ratios):.2f}x (repeats: {", ".join(f"{r:.2f}x" for r in ratios)})')


def end_to_end(args: argparse.Namespace, cfg: Config) -> None:
    """``--repeats`` rounds of `mmtard train` and the release-equivalent run of the same steps, in
    alternating order; each epoch's loop, the whole loop and the whole commands, compared per round.
    ``cfg``: the config, resolved."""
    epoch_steps = args.images // args.batch_size
    ours: Dict[str, List[float]] = {}
    release: Dict[str, List[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        size = cfg.train_dataloader.dataset.get('image_size', 224)
        write_image_folder(tmp_path / 'data', args.images, size)
        config, steps = run_config(args.config, tmp_path / 'data', args.images, args.epochs, args.batch_size,
                                   tmp_path)
        for repeat in range(args.repeats):
            runs = {'mmtard': lambda: train_end_to_end(config, tmp_path / f'work{repeat}', args.cache_teacher),
                    'release': lambda: (*release_end_to_end(config, steps), 0.0)}
            for name in (['mmtard', 'release'] if repeat % 2 == 0 else ['release', 'mmtard']):
                wall, iterations, filling = runs[name]()
                if len(iterations) != steps:
                    sys.exit(f'{name} logged {len(iterations)} steps, not {steps}.')
                print(f'  {name} steps (s): {" ".join(f"{t:.2f}" for t in iterations)}', flush=True)
                found = ours if name == 'mmtard' else release
                for epoch in range(args.epochs):
                    found.setdefault(f'epoch {epoch + 1}', []).append(
                        sum(iterations[epoch * epoch_steps:(epoch + 1) * epoch_steps]))
                found.setdefault('loop', []).append(sum(iterations))
                found.setdefault('command', []).append(wall + filling)
                found.setdefault('cache-teacher', []).append(filling)
            print(f'repeat {repeat + 1}: loop mmtard {ours["loop"][-1]:.1f} s, release-equivalent '
                  f'{release["loop"][-1]:.1f} s; load average {os.getloadavg()[0]:.2f}', flush=True)
    cached = bool(cfg.model.get('cache_clean_teacher_outputs'))
    filled = ('clean-teacher cache filled by `mmtard cache-teacher` before training (its time in the whole '
              'command and below)' if args.cache_teacher else 'clean-teacher cache filled in epoch 1' if cached
              else 'no clean-teacher cache')
    print(f'end to end, {args.epochs} epochs x {epoch_steps} steps at batch {args.batch_size}, median of '
          f'{args.repeats} repeats, alternating: mmtard train ({filled}) and a process running the '
          f'release-equivalent step over the same data')
    for epoch in range(args.epochs):
        kind = '' if not cached else ' (cache filling)' if epoch == 0 and not args.cache_teacher else ' (cache read)'
        print('  ' + ratio_line(f'epoch {epoch + 1}{kind}', ours[f'epoch {epoch + 1}'], release[f'epoch {epoch + 1}']))
    print('  ' + ratio_line('whole commands (model building, checksums, text embeddings included)',
                            ours['command'], release['command']))
    if args.cache_teacher:
        print('  ' + ratio_line('mmtard cache-teacher + training loop', [f + loop for f, loop in zip(
            ours['cache-teacher'], ours['loop'])], release['loop']) +
              f'; cache-teacher alone {statistics.median(ours["cache-teacher"]):.1f} s')
    ratios = [r / o for o, r in zip(ours['loop'], release['loop'])]
    print(f'  training loop: mmtard {statistics.median(ours["loop"]):.1f} s, release-equivalent '
          f'{statistics.median(release["loop"]):.1f} s: {statistics.median(ratios):.2f}x on the loop '
          f'(repeats: {", ".join(f"{r:.2f}x" for r in ratios)}); load average {os.getloadavg()[0]:.2f} at the end')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--images', type=int, default=4, help='images in the generated training folder')
    parser.add_argument('--epochs', type=int, default=2)
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=3, help='end-to-end rounds of both runs (median)')
    parser.add_argument('--release-steps', type=int, default=2, help='timed warm steps of each (median)')
    parser.add_argument('--release-config', default=str(PAPER_CONFIG),
                        help='config whose release-equivalent step is the warm baseline (default: the paper config)')
    parser.add_argument('--cache-teacher', action='store_true',
                        help='fill the clean-teacher cache with `mmtard cache-teacher` before each training run')
    parser.add_argument('--warm-only', action='store_true', help='only the warm step against the release step')
    parser.add_argument('--release-loop', type=int, help=argparse.SUPPRESS)  # the child process of release_end_to_end
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    if args.release_loop:
        print(json.dumps(release_loop(args.config, args.release_loop)))
        return
    if args.images < args.batch_size:
        sys.exit(f'--images {args.images} is fewer than one batch of {args.batch_size}; give more images.')
    if args.repeats < 1:
        sys.exit(f'--repeats {args.repeats}: give at least 1.')
    cfg = resolve_config(args.config)
    if args.cache_teacher and not cfg.model.get('cache_clean_teacher_outputs'):
        sys.exit(f'--cache-teacher: {args.config} does not cache clean-teacher outputs (model.'
                 f'cache_clean_teacher_outputs), so training would not read what `mmtard cache-teacher` fills.')
    device = torch.device(args.device)
    print(f'{args.config} | batch {args.batch_size} | {device} | threads {torch.get_num_threads()} | '
          f'load average {os.getloadavg()[0]:.2f} at start', flush=True)
    warm = warm_steps(args.config, args.release_config, args.batch_size, args.release_steps, device)
    release_step = warm['release-equivalent']
    print(f'warm step: mmtard {warm["mmtard"]:.2f} s, release-equivalent ({Path(args.release_config).name}) '
          f'{release_step:.2f} s: {release_step / warm["mmtard"]:.2f}x (median of {args.release_steps})', flush=True)
    if not args.warm_only:
        end_to_end(args, cfg)


if __name__ == '__main__':
    main()
