"""End-to-end training speed: a real multi-epoch `mmtard train` of a config next to the release-equivalent step.

    python tools/benchmark_run.py CONFIG [--images 4] [--epochs 2] [--batch-size 2] [--release-steps 2]
    python tools/benchmark_run.py CONFIG --warm-only [--release-config PAPER_CONFIG]

End to end: writes a small image folder (random pixels, ``--images`` of them in 2 classes), then runs
``mmtard train`` on the config with random weights, batch ``--batch-size``, for ``--epochs`` epochs
(the clean-teacher cache filled during the first epoch, as a first run does), no validation and no
checkpoint. Printed: the command's wall time, its training loop's time (the sum of the iterations'
times in its log) and, beside them, the release-equivalent step (``tools/benchmark_step.py``:
no cache, separate student passes, the release's unused third teacher forward) times the same
number of steps, plus a fresh process's time to build the release-equivalent models, with the ratios
of the loops and of the whole commands.

Warm step (both modes): the config's step with its caches warm against the release-equivalent step
of ``--release-config`` (the paper's ViT-B-32 config by default), alternating, median of
``--release-steps`` steps: e.g. a recipe whose teachers both see clean x against the release.
"""
from __future__ import annotations

import argparse
import json
import os
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
from benchmark_step import (CLASSES, PartTimer, build_model, optim_wrapper_for,  # noqa: E402 (tools are scripts)
                            release_equivalent_loss, summarise, timed_step)

from mmtard.config import resolve_config, with_random_weights  # noqa: E402

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
    path = out / 'run_config.py'
    cfg.dump(str(path))
    return path, steps


def train_end_to_end(config: Path, work_dir: Path) -> Tuple[float, List[float]]:
    """Wall seconds of `mmtard train`, and each iteration's seconds from its log."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, '-m', 'mmtard', 'train', str(config), '--work-dir', str(work_dir)],
                            capture_output=True, text=True, env={**os.environ, 'PYTHONPATH': str(REPO)})
    wall = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f'mmtard train failed (exit {result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
    logs = sorted(work_dir.glob('*/vis_data/scalars.json'))
    rows = [json.loads(line) for line in logs[-1].read_text().splitlines()] if logs else []
    return wall, [row['time'] for row in rows if 'time' in row and 'iter' in row]


def release_setup_seconds(config: str) -> float:
    """Wall seconds of a fresh process that imports torch and open_clip and builds ``config``'s models with
    random weights (:func:`benchmark_step.build_model`): the part of the release's own command that is
    not its training loop, so that whole commands compare with whole commands."""
    code = ('import sys, time; start = time.perf_counter(); sys.path.insert(0, sys.argv[2]); '
            'import torch; from benchmark_step import build_model; '
            "build_model(sys.argv[1], [], torch.device('cpu'), random_weights=True); "
            'print(time.perf_counter() - start)')
    started = time.perf_counter()
    result = subprocess.run([sys.executable, '-c', code, config, str(Path(__file__).resolve().parent)],
                            capture_output=True, text=True, env={**os.environ, 'PYTHONPATH': str(REPO)})
    if result.returncode != 0:
        sys.exit(f'building the release-equivalent models failed:\n{result.stderr[-3000:]}')
    return time.perf_counter() - started


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
    wrappers = {name: optim_wrapper_for(model, amp=False) for name, (model, _) in variants.items()}
    timer = PartTimer(device)
    times: Dict[str, list] = {name: [] for name in variants}
    for step in range(1 + steps):
        for name, (model, loss) in variants.items():
            parts = timed_step(model, wrappers[name], timer, loss)
            if step:
                times[name].append(parts)
    return {name: summarise(found, batch_size).step for name, found in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('--images', type=int, default=4, help='images in the generated training folder')
    parser.add_argument('--epochs', type=int, default=2)
    parser.add_argument('--batch-size', type=int, default=2)
    parser.add_argument('--release-steps', type=int, default=2, help='timed release-equivalent steps (median)')
    parser.add_argument('--release-config', default=str(PAPER_CONFIG),
                        help='config whose release-equivalent step is the baseline (default: the paper config)')
    parser.add_argument('--warm-only', action='store_true', help='only the warm step against the release step')
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    if args.images < args.batch_size:
        sys.exit(f'--images {args.images} is fewer than one batch of {args.batch_size}; give more images.')
    device = torch.device(args.device)
    print(f'{args.config} | batch {args.batch_size} | {device} | threads {torch.get_num_threads()} | '
          f'load average {os.getloadavg()[0]:.2f} at start', flush=True)
    warm = warm_steps(args.config, args.release_config, args.batch_size, args.release_steps, device)
    release_step = warm['release-equivalent']
    print(f'warm step: mmtard {warm["mmtard"]:.2f} s, release-equivalent ({Path(args.release_config).name}) '
          f'{release_step:.2f} s: {release_step / warm["mmtard"]:.2f}x (median of {args.release_steps})', flush=True)
    if args.warm_only:
        return
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        size = resolve_config(args.config).train_dataloader.dataset.get('image_size', 224)
        write_image_folder(tmp_path / 'data', args.images, size)
        config, steps = run_config(args.config, tmp_path / 'data', args.images, args.epochs, args.batch_size,
                                   tmp_path)
        wall, iterations = train_end_to_end(config, tmp_path / 'work')
    setup = release_setup_seconds(args.release_config)
    loop = sum(iterations)
    release = release_step * steps
    print(f'end to end: mmtard train {args.epochs} epochs x {steps // args.epochs} steps: {wall:.1f} s wall '
          f'(training loop {loop:.1f} s over {len(iterations)} logged steps); release-equivalent step x {steps} = '
          f'{release:.1f} s: {release / loop:.2f}x on the loop. Whole commands: mmtard\'s (which also computes the '
          f'teachers\' checksums) against a process that builds the release-equivalent models ({setup:.1f} s) plus '
          f'those steps: {(setup + release) / wall:.2f}x; load average {os.getloadavg()[0]:.2f} at the end')


if __name__ == '__main__':
    main()
